import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { connect, settled, type Connected } from '../helpers/banking';
import { parseGlobalId } from '../../src/api/relay/global-id';
import { BoundedLabel, Metrics, OPERATION_NAME_LIMIT, bankStatusLabel, graphqlOutcome, routeLabel } from '../../src/platform/metrics';
import { BankErrorCode } from '../../src/banking/errors';

/** One sample of the Prometheus text exposition. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A small parser of the text format (0.0.4): comments skipped, label values unescaped. */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

async function scrape(gw: TestGateway, authorization?: string) {
  const res = await fetch(`${gw.gateway.baseUrl}/metrics`, { headers: authorization ? { authorization } : {} });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

async function samples(gw: TestGateway): Promise<Sample[]> {
  const r = await scrape(gw);
  expect(r.status).toBe(200);
  return parseExposition(r.text);
}

/** Sum of the samples named `name` whose labels include `labels`. */
function total(all: Sample[], name: string, labels: Record<string, string> = {}): number {
  return all.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('metric label normalisation', () => {
  it('keeps only a fixed set of routes, so raw paths with ids never become labels', () => {
    expect(routeLabel('/graphql')).toBe('/graphql');
    expect(routeLabel('/connect/3f1c0b9e-5d0e-4a53-9d2b-1f0c3a7e9b21')).toBe('/connect');
    expect(routeLabel('/sandbox/nordlicht/v1/accounts/DE123/transactions')).toBe('/sandbox');
    expect(routeLabel('/graphqlx')).toBe('other');
    expect(routeLabel('/tenants/42')).toBe('other');
  });

  it('names a bank call status by its HTTP status, else by the error that left no answer', () => {
    expect(bankStatusLabel({ status: 429 })).toBe('429');
    expect(bankStatusLabel({ errorCode: BankErrorCode.UNAVAILABLE })).toBe('bank_unavailable');
    expect(bankStatusLabel({})).toBe('no_response');
  });

  it('caps the distinct values of a label and refuses values outside its pattern', () => {
    const label = new BoundedLabel(2, /^[a-z]+$/);
    expect([label.of('a'), label.of('b'), label.of('c'), label.of('a')]).toEqual(['a', 'b', 'other', 'a']);
    expect(label.of('has space')).toBe('invalid');
  });

  it(`calls unnamed operations "anonymous", unresolved ones "invalid", and names past the ${OPERATION_NAME_LIMIT}th "other"`, async () => {
    const m = new Metrics({ defaultMetrics: false });
    const observe = (name: string | null | undefined) => m.graphqlOperation({ name, type: 'query', outcome: 'ok', seconds: 0.001 });
    for (let i = 0; i <= OPERATION_NAME_LIMIT; i++) observe(`Op${i}`);
    observe(null);
    observe(undefined);
    const parsed = parseExposition((await m.exposition()).body);
    const operations = new Set(parsed.filter((s) => s.name === 'passerelle_graphql_operation_duration_seconds_count').map((s) => s.labels.operation));
    expect(operations.size).toBe(OPERATION_NAME_LIMIT + 3);
    expect(operations.has(`Op${OPERATION_NAME_LIMIT - 1}`)).toBe(true);
    expect(operations.has(`Op${OPERATION_NAME_LIMIT}`)).toBe(false);
    for (const name of ['other', 'anonymous', 'invalid']) expect(operations.has(name), name).toBe(true);
  });

  it('tells ok, user errors, coded rejections and internal errors apart', () => {
    expect(graphqlOutcome({ data: { accounts: { nodes: [] } } })).toBe('ok');
    expect(graphqlOutcome({ data: { accountSync: { userErrors: [] } } })).toBe('ok');
    expect(graphqlOutcome({ data: { accountSync: { userErrors: [{ code: 'NOT_FOUND' }] } } })).toBe('user_error');
    expect(graphqlOutcome({ errors: [{ extensions: { code: 'UNAUTHENTICATED' } }] })).toBe('rejected');
    expect(graphqlOutcome({ data: null, errors: [{ extensions: { code: 'BAD_USER_INPUT' } }, { extensions: { code: 'INTERNAL_SERVER_ERROR' } }] })).toBe(
      'error',
    );
    expect(graphqlOutcome({ errors: [{}] })).toBe('error');
  });
});

describe('GET /metrics', () => {
  let t: TestGateway;
  let key: string;
  let tenantId: string;
  let endUserId: string;
  let c: Connected;
  let client: Client;
  const events: unknown[] = [];
  const hooks: string[] = [];
  let hookServer: http.Server;

  beforeAll(async () => {
    t = await startTestGateway({ env: { WEBHOOK_RETRY_BASE_MS: '100' } });
    ({ key, tenantId } = await t.createTenant('Metrics'));
    const u = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
      'mutation { endUserCreate(input: { externalRef: "metrics" }) { endUser { id } } }',
      {},
      key,
    );
    endUserId = u.body.data!.endUserCreate.endUser.id;
    // A webhook receiver and a live subscriber, both there before the consent's events are written.
    hookServer = http.createServer((req, res) => {
      hooks.push(String(req.headers['webhook-id']));
      req.resume().on('end', () => res.writeHead(204).end());
    });
    await new Promise<void>((resolve) => hookServer.listen(0, '127.0.0.1', resolve));
    const created = await t.gql<{ webhookEndpointCreate: { userErrors: unknown[] } }>(
      'mutation($input: WebhookEndpointCreateInput!) { webhookEndpointCreate(input: $input) { userErrors { code } } }',
      { input: { url: `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}/hooks`, eventTypes: ['CONSENT_ACTIVATED', 'ACCOUNT_DISCOVERED'] } },
      key,
    );
    expect(created.body.data?.webhookEndpointCreate.userErrors).toEqual([]);
    client = createClient({
      url: t.gateway.graphqlUrl.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${key}` },
      retryAttempts: 0,
    });
    client.subscribe({ query: 'subscription { events { id } }' }, { next: (r) => void events.push(r), error: () => undefined, complete: () => undefined });
    await until(async () => total(await samples(t), 'passerelle_graphql_subscriptions_active') === 1, 'the subscription to open');

    c = await connect(t, key, endUserId, 'nordlicht');
    for (const a of c.accounts) await settled(t, key, a.id, null);
    await until(() => events.length > 0 && hooks.length > 0, 'an event on the subscription and at the webhook receiver');
  });

  afterAll(async () => {
    await client?.dispose();
    await t?.close();
    await new Promise<void>((resolve) => (hookServer ? hookServer.close(() => resolve()) : resolve()));
  });

  it('serves the Prometheus text format with process metrics and the database pool', async () => {
    const r = await scrape(t);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(r.text).toContain('# TYPE passerelle_http_request_duration_seconds histogram');
    const all = parseExposition(r.text);
    expect(total(all, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(all.some((s) => s.name === 'passerelle_db_pool_connections' && s.labels.state === 'idle')).toBe(true);
  });

  it('times GraphQL operations by name, type and outcome, on the compiled read path and through Apollo alike, once each', async () => {
    const before = await samples(t);
    const named = 'query MetricsAccounts { accounts(first: 5) { nodes { id } } }';
    for (let i = 0; i < 3; i++) expect((await t.gql(named, {}, key)).body.errors).toBeUndefined();
    const userError = await t.gql('mutation MetricsBadSync { accountSync(id: "nope", input: { mode: BACKGROUND }) { userErrors { code } } }', {}, key);
    expect(userError.body.data).toBeDefined();
    await t.gql('query MetricsInvalid { noSuchField }', {}, key);

    const after = await samples(t);
    const count = (labels: Record<string, string>) =>
      total(after, 'passerelle_graphql_operation_duration_seconds_count', labels) -
      total(before, 'passerelle_graphql_operation_duration_seconds_count', labels);
    // Three answers of the compiled read path, none counted twice.
    expect(count({ operation: 'MetricsAccounts', type: 'query', outcome: 'ok' })).toBe(3);
    expect(count({ operation: 'MetricsBadSync', type: 'mutation', outcome: 'user_error' })).toBe(1);
    // A document that does not validate names no operation: its name is never a label.
    expect(count({ operation: 'invalid', outcome: 'rejected' })).toBe(1);
    expect(after.some((s) => s.labels.operation === 'MetricsInvalid')).toBe(false);
    // The consent's creation in the set-up was an unnamed mutation.
    expect(total(after, 'passerelle_graphql_operation_duration_seconds_count', { operation: 'anonymous', type: 'mutation' })).toBeGreaterThan(0);
    expect(total(after, 'passerelle_http_request_duration_seconds_count', { method: 'POST', route: '/graphql', status: '200' })).toBeGreaterThan(0);
    expect(total(after, 'passerelle_http_request_duration_seconds_count', { route: '/callback' })).toBeGreaterThan(0);
  });

  it('counts bank calls by institution, operation and status, syncs, vault operations, event lag and webhook deliveries', async () => {
    const all = await samples(t);
    const bank = all.filter((s) => s.name === 'passerelle_bank_calls_total' && s.labels.institution === 'nordlicht');
    expect(bank.length).toBeGreaterThan(0);
    expect(bank.some((s) => s.labels.operation === 'accounts.transactions' && s.labels.status === '200' && s.value > 0)).toBe(true);
    for (const s of bank) expect(s.labels.operation).toMatch(/^[a-z][a-z0-9_.-]*$/i);
    expect(
      total(all, 'passerelle_bank_call_duration_seconds_count', { institution: 'nordlicht', operation: 'accounts.transactions', status: '200' }),
    ).toBeGreaterThan(0);

    expect(total(all, 'passerelle_sync_jobs_total', { outcome: 'succeeded' })).toBeGreaterThanOrEqual(c.accounts.length);
    expect(total(all, 'passerelle_sync_job_duration_seconds_count', { outcome: 'succeeded' })).toBeGreaterThanOrEqual(c.accounts.length);
    expect(total(all, 'passerelle_sync_running')).toBe(0);

    expect(total(all, 'passerelle_vault_operations_total', { operation: 'seal', outcome: 'ok' })).toBeGreaterThan(0);
    expect(total(all, 'passerelle_vault_operations_total', { operation: 'open', outcome: 'ok' })).toBeGreaterThan(0);
    expect(total(all, 'passerelle_vault_operation_duration_seconds_count', { operation: 'seal' })).toBeGreaterThan(0);

    expect(total(all, 'passerelle_event_lag_seconds_count', { channel: 'subscription' })).toBeGreaterThan(0);
    expect(total(all, 'passerelle_event_lag_seconds_count', { channel: 'webhook' })).toBeGreaterThan(0);
    expect(total(all, 'passerelle_webhook_deliveries_total', { outcome: 'delivered' })).toBeGreaterThan(0);
    expect(total(all, 'passerelle_webhook_attempt_duration_seconds_count', { outcome: 'delivered' })).toBeGreaterThan(0);
  });

  it('puts no tenant, end user, consent or account id, API key or URL in any label', async () => {
    const values = (await samples(t)).flatMap((s) => Object.values(s.labels));
    expect(values.length).toBeGreaterThan(100);
    const secrets = [
      tenantId,
      key,
      endUserId,
      c.consentId,
      parseGlobalId(c.consentId)!.id,
      ...c.accounts.flatMap((a) => [a.id, a.internalId, a.bankAccountId, a.iban ?? a.id]),
    ];
    const uuid = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;
    const leaks = values.filter((v) => secrets.some((s) => v.includes(s)) || uuid.test(v) || /https?:|\?/.test(v));
    expect(leaks).toEqual([]);
  });

  it('is not a GraphQL operation: scraping changes no GraphQL count', async () => {
    const count = (all: Sample[]) => total(all, 'passerelle_graphql_operation_duration_seconds_count');
    const first = count(await samples(t));
    await samples(t);
    expect(count(await samples(t))).toBe(first);
  });

  it('lowers the subscription gauge when a subscriber goes away', async () => {
    await client.dispose();
    await until(async () => total(await samples(t), 'passerelle_graphql_subscriptions_active') === 0, 'the gauge to drop');
  });
});

describe('GET /metrics access', () => {
  const token = 'metrics-token-5b7e1c9a4d';
  let guarded: TestGateway;
  let live: TestGateway;

  beforeAll(async () => {
    // A live gateway with a token (and a rate limit of 1 a minute, which /metrics must ignore), and one without.
    const liveEnv = { PASSERELLE_ENV: 'live', ALLOW_LOCAL_KMS_IN_LIVE: 'true', ALLOW_HTTP_PUBLIC_URL_IN_LIVE: 'true' };
    [guarded, live] = await Promise.all([
      startTestGateway({ env: { ...liveEnv, METRICS_TOKEN: token, RATE_LIMIT_PER_MINUTE: '1' } }),
      startTestGateway({ env: liveEnv }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([guarded?.close(), live?.close()]);
  });

  it('asks for the METRICS_TOKEN bearer when one is set: 401 without it or with another, 200 with it, never rate-limited', async () => {
    const missing = await scrape(guarded);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(missing.text).not.toContain('passerelle_');
    expect((await scrape(guarded, `Bearer ${token}x`)).status).toBe(401);
    expect((await scrape(guarded, `Bearer ${token.slice(0, -1)}`)).status).toBe(401);
    expect((await scrape(guarded, token)).status).toBe(401);
    for (let i = 0; i < 3; i++) {
      const ok = await scrape(guarded, `Bearer ${token}`);
      expect(ok.status).toBe(200);
      expect(ok.text).toContain('passerelle_http_request_duration_seconds_count');
    }
    expect(guarded.logs.join('')).not.toContain(token);
  });

  it('refuses in live without a token, saying which setting to make', async () => {
    const r = await scrape(live);
    expect(r.status).toBe(403);
    expect(JSON.parse(r.text).errors[0]).toMatchObject({ extensions: { code: 'FORBIDDEN' }, message: expect.stringContaining('METRICS_TOKEN') });
  });
});
