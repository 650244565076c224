import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { accountState, authorise, connect, control, institutionGid, RETURN_URL, settled, type Connected } from '../helpers/banking';
import { parseGlobalId } from '../../src/api/relay/global-id';

/** What a receiver saw: the raw body and the Standard Webhooks headers. */
interface Received {
  id: string;
  timestamp: string;
  signature: string;
  body: string;
  at: number;
  answered: number;
}

/** A local webhook receiver whose answer the test decides per request. */
async function receiver(answer: (n: number, body: string) => number | 'hang' = () => 200) {
  const received: Received[] = [];
  let n = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const status = answer(++n, body);
      const r = {
        id: String(req.headers['webhook-id']),
        timestamp: String(req.headers['webhook-timestamp']),
        signature: String(req.headers['webhook-signature']),
        body,
        at: Date.now(),
        answered: status === 'hang' ? 0 : status,
      };
      received.push(r);
      if (status === 'hang') return; // never answers: the gateway's timeout decides
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  return {
    url,
    received,
    set answer(fn: (n: number, body: string) => number | 'hang') {
      answer = fn;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
type Receiver = Awaited<ReturnType<typeof receiver>>;

const headersOf = (r: Received) => ({ 'webhook-id': r.id, 'webhook-timestamp': r.timestamp, 'webhook-signature': r.signature });
const verified = (secret: string, r: Received) =>
  new Webhook(secret).verify(r.body, headersOf(r)) as { type: string; data: { id: string; resourceId: string; resourceSequence: string } };
const delivered = (r: Receiver) => r.received.filter((x) => x.answered >= 200 && x.answered < 300);

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Fast retries and a short retry window, so backoff and dead-lettering can be watched in seconds.
const WEBHOOK_ENV = { WEBHOOK_RETRY_BASE_MS: '100', WEBHOOK_TIMEOUT_MS: '1000', WEBHOOK_RETRY_WINDOW_SECONDS: '6' };

const CREATE = `mutation($input: WebhookEndpointCreateInput!) { webhookEndpointCreate(input: $input) {
  webhookEndpoint { id url eventTypes } secret userErrors { field code message } } }`;

let t: TestGateway;
let worker: TestGateway | undefined;
let key: string;
let endUserId: string;

beforeAll(async () => {
  // `t` syncs but sends no webhook (an API-and-sync instance); `worker`, started in the first test, delivers.
  t = await startTestGateway({ env: { ...WEBHOOK_ENV, WEBHOOK_CONCURRENCY: '0' } });
  ({ key } = await t.createTenant('Hooks'));
  const u = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
    'mutation { endUserCreate(input: { externalRef: "hooks" }) { endUser { id } } }',
    {},
    key,
  );
  endUserId = u.body.data!.endUserCreate.endUser.id;
});
afterAll(async () => {
  await worker?.close();
  await t?.close();
});

async function createEndpoint(url: string, eventTypes: string[], apiKey = key) {
  const r = await t.gql<{
    webhookEndpointCreate: { webhookEndpoint: { id: string } | null; secret: string | null; userErrors: { field: string[]; code: string }[] };
  }>(CREATE, { input: { url, eventTypes } }, apiKey);
  return r.body.data!.webhookEndpointCreate;
}

async function deliveries(endpointId: string) {
  const r = await t.gql<{
    webhookDeliveries: {
      nodes: {
        id: string;
        status: string;
        attemptCount: number;
        attempts: { number: number; at: string; responseStatus: number | null; error: string | null }[];
        event: { id: string };
      }[];
    };
  }>(
    'query($e: ID) { webhookDeliveries(endpointId: $e, first: 100) { nodes { id status attemptCount attempts { number at responseStatus error } event { id } } } }',
    { e: endpointId },
    key,
  );
  return r.body.data!.webhookDeliveries.nodes;
}

async function addAndSync(account: Connected['accounts'][number], amount: string) {
  await control(t, 'POST', `/banks/nordlicht/accounts/${encodeURIComponent(account.bankAccountId)}/transactions`, {
    amount,
    counterpartyName: `Shop ${amount}`,
  });
  const before = (await accountState(t, key, account.id)).lastSyncedAt;
  await t.gql(
    'mutation($id: ID!) { accountSync(id: $id, input: { mode: USER_PRESENT, psuIpAddress: "198.51.100.2" }) { userErrors { code } } }',
    { id: account.id },
    key,
  );
  await settled(t, key, account.id, before);
}

describe('webhook deliveries', () => {
  let rx: Receiver;
  let secret: string;
  let endpointId: string;
  let c: Connected;

  it('keeps every event committed while no process delivers, and a worker that starts later (or outlives a crashed one’s lease) sends them all', async () => {
    rx = await receiver();
    const created = await createEndpoint(rx.url, ['CONSENT_ACTIVATED', 'ACCOUNT_DISCOVERED', 'TRANSACTIONS_ADDED', 'BALANCE_UPDATED']);
    expect(created.userErrors).toEqual([]);
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    secret = created.secret!;
    endpointId = created.webhookEndpoint!.id;

    c = await connect(t, key, endUserId, 'nordlicht');
    for (const a of c.accounts) await settled(t, key, a.id, null);
    // An event is readable once every older transaction on the database server has ended (the
    // no-skip rule): under load it may lag its commit. Each account's sync ends with its balances.
    let nodes: { id: string; type: string }[] = [];
    await until(async () => {
      const log = await t.gql<{ events: { nodes: { id: string; type: string }[] } }>(
        '{ events(first: 500, types: [CONSENT_ACTIVATED, ACCOUNT_DISCOVERED, TRANSACTIONS_ADDED, BALANCE_UPDATED]) { nodes { id type } } }',
        {},
        key,
      );
      nodes = log.body.data!.events.nodes;
      return nodes.filter((e) => e.type === 'BALANCE_UPDATED').length >= c.accounts.length;
    }, 'the syncs’ events');
    const expected = nodes.map((e) => e.id);
    expect(expected.length).toBeGreaterThan(5);
    await new Promise((r) => setTimeout(r, 1500));
    expect(rx.received).toEqual([]); // committed, not sent: no process delivers yet
    expect(new Set((await deliveries(endpointId)).map((d) => d.status))).toEqual(new Set(['PENDING']));

    // A worker that died while holding a lane leaves a lease that has not ended yet.
    await t.gateway.db.sql.query(
      `update webhook_lane set leased_until = now() + interval '3 seconds' where resource_id = (select resource_id from webhook_lane order by resource_id limit 1)`,
    );
    worker = await startTestGateway({ sameDataAs: t, env: { ...WEBHOOK_ENV, SYNC_CONCURRENCY: '0' } });
    await until(() => expected.every((id) => delivered(rx).some((r) => r.id === id)), 'every pending delivery', 60_000);
    // The log read again (an event becomes readable only once older transactions on the server
    // have ended, so the first read may have been short of the newest): exactly what was sent.
    const after = await t.gql<{ events: { nodes: { id: string }[] } }>(
      '{ events(first: 500, types: [CONSENT_ACTIVATED, ACCOUNT_DISCOVERED, TRANSACTIONS_ADDED, BALANCE_UPDATED]) { nodes { id } } }',
      {},
      key,
    );
    const all = after.body.data!.events.nodes.map((e) => e.id);
    await until(() => new Set(delivered(rx).map((r) => r.id)).size >= all.length, 'the deliveries of the events read again', 30_000);
    expect(
      delivered(rx)
        .map((r) => r.id)
        .sort(),
    ).toEqual([...all].sort());
    expect(delivered(rx).length).toBe(all.length); // once each
  });

  it('signs every request so the standardwebhooks package verifies it, with the event id as webhook-id and the event as body', async () => {
    for (const r of rx.received) {
      const body = verified(secret, r);
      expect(body.data.id).toBe(r.id);
      expect(Math.abs(Number(r.timestamp) - Date.now() / 1000)).toBeLessThan(60);
    }
    const tampered = { ...rx.received[0]!, body: rx.received[0]!.body.replace('"type"', '"typ\\u0065"') };
    expect(() => verified(secret, tampered)).toThrow();
    expect(() => verified(`whsec_${Buffer.alloc(32, 7).toString('base64')}`, rx.received[0]!)).toThrow();
  });

  it('sends the events of one resource in their sequence', async () => {
    const account = c.accounts.find((a) => a.iban)!;
    await addAndSync(account, '-1.11');
    await addAndSync(account, '-2.22');
    await until(async () => (await deliveries(endpointId)).every((d) => d.status === 'DELIVERED'), 'the new events');
    const perResource = new Map<string, number[]>();
    for (const r of delivered(rx)) {
      const e = verified(secret, r).data;
      perResource.set(e.resourceId, [...(perResource.get(e.resourceId) ?? []), Number(e.resourceSequence)]);
    }
    for (const seqs of perResource.values()) expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  });

  it('retries a receiver that fails with growing delays until it recovers, and logs every attempt', async () => {
    const account = c.accounts.find((a) => a.iban)!;
    const before = rx.received.length;
    rx.answer = (n) => (n <= before + 3 ? 500 : 200);
    await addAndSync(account, '-3.33');
    await until(() => rx.received.length >= before + 4 && delivered(rx).length > 0 && rx.received.at(-1)!.answered === 200, 'the recovery', 15_000);
    const tries = rx.received.slice(before, before + 4);
    expect(new Set(tries.map((r) => r.id)).size).toBe(1); // the same delivery, retried (later ones wait behind it)
    const gaps = tries.slice(1).map((r, i) => r.at - tries[i]!.at);
    expect(gaps[0]).toBeGreaterThanOrEqual(40); // base 100 ms, equal jitter: at least half
    expect(gaps[2]!).toBeGreaterThan(gaps[0]!); // doubling
    const d = (await deliveries(endpointId)).find((x) => x.event.id === tries[0]!.id)!;
    expect(d.status).toBe('DELIVERED');
    expect(d.attemptCount).toBe(4);
    expect(d.attempts.map((a) => a.responseStatus)).toEqual([500, 500, 500, 200]);
    expect(d.attempts[0]!.error).toBe('the receiver answered HTTP 500');
  });

  it('dead-letters a delivery whose receiver never recovers within the retry window, and replays it on request', async () => {
    const account = c.accounts.find((a) => a.iban)!;
    rx.answer = () => 503;
    const seen = rx.received.length;
    await addAndSync(account, '-4.44');
    let dead: Awaited<ReturnType<typeof deliveries>>[number] | undefined;
    await until(async () => !!(dead = (await deliveries(endpointId)).find((d) => d.status === 'DEAD')), 'a dead letter', 20_000);
    expect(dead!.attemptCount).toBeGreaterThan(3);
    const span = Date.parse(dead!.attempts.at(-1)!.at) - Date.parse(dead!.attempts[0]!.at);
    expect(span).toBeGreaterThanOrEqual(5_500); // retried for the whole 6 s window
    expect(rx.received.length).toBeGreaterThan(seen);

    rx.answer = () => 200;
    const replay = await t.gql<{ webhookDeliveryReplay: { webhookDelivery: { status: string } | null; userErrors: { code: string }[] } }>(
      'mutation($id: ID!) { webhookDeliveryReplay(id: $id) { webhookDelivery { status } userErrors { code } } }',
      { id: dead!.id },
      key,
    );
    expect(replay.body.data!.webhookDeliveryReplay).toEqual({ webhookDelivery: { status: 'PENDING' }, userErrors: [] });
    await until(async () => (await deliveries(endpointId)).find((d) => d.id === dead!.id)!.status === 'DELIVERED', 'the replay');
    expect(delivered(rx).filter((r) => r.id === dead!.event.id)).toHaveLength(1); // never acknowledged before the replay
  });

  it('signs with both the old and the new secret for a day after a rotation', async () => {
    const rotated = await t.gql<{ webhookEndpointRotateSecret: { secret: string; webhookEndpoint: { previousSecretExpiresAt: string } } }>(
      'mutation($id: ID!) { webhookEndpointRotateSecret(id: $id) { secret webhookEndpoint { previousSecretExpiresAt } userErrors { code } } }',
      { id: endpointId },
      key,
    );
    const fresh = rotated.body.data!.webhookEndpointRotateSecret;
    expect(fresh.secret).not.toBe(secret);
    const hours = (Date.parse(fresh.webhookEndpoint.previousSecretExpiresAt) - Date.now()) / 3600_000;
    expect(hours).toBeGreaterThan(23.9);
    const seen = rx.received.length;
    await addAndSync(
      c.accounts.find((a) => a.iban)!,
      '-5.55',
    );
    await until(() => delivered(rx).length > 0 && rx.received.length > seen, 'a delivery after the rotation');
    const after = rx.received.slice(seen)[0]!;
    expect(after.signature.split(' ')).toHaveLength(2);
    expect(verified(fresh.secret, after).data.id).toBe(after.id);
    expect(verified(secret, after).data.id).toBe(after.id);
  });

  it('never shows a secret again, and deletes an endpoint with its deliveries', async () => {
    const list = await t.gql<{ webhookEndpoints: { nodes: Record<string, unknown>[] } }>(
      '{ webhookEndpoints { nodes { id url eventTypes createdAt secretRotatedAt } } }',
      {},
      key,
    );
    expect(JSON.stringify(list.body)).not.toContain('whsec_');
    const { rows } = await t.gateway.db.sql.query<{ s: string }>('select secret_sealed as s from webhook_endpoint');
    for (const r of rows) expect(r.s.startsWith('vault:v1:')).toBe(true);
    const del = await t.gql<{ webhookEndpointDelete: { deletedWebhookEndpointId: string } }>(
      'mutation($id: ID!) { webhookEndpointDelete(id: $id) { deletedWebhookEndpointId userErrors { code } } }',
      { id: endpointId },
      key,
    );
    expect(del.body.data!.webhookEndpointDelete.deletedWebhookEndpointId).toBe(endpointId);
    expect(await deliveries(endpointId)).toEqual([]);
    const { rows: left } = await t.gateway.db.sql.query('select 1 from webhook_delivery where endpoint_id = $1', [parseGlobalId(endpointId)!.id]);
    expect(left).toEqual([]);
  });
});

describe('payment webhooks', () => {
  it('sends each status change of a payment, signed, in order, up to EXECUTED', { timeout: 90_000 }, async () => {
    const rx = await receiver();
    try {
      const { secret } = await createEndpoint(rx.url, ['PAYMENT_STATUS_CHANGED']);
      const accounts = await control<{ accounts: { iban: string | null; kind: string }[] }>(t, 'GET', '/banks/nordlicht/users/alice/accounts');
      const r = await t.gql<{ paymentInitiate: { payment: { id: string }; authorizationUrl: string; userErrors: unknown[] } }>(
        `mutation($input: PaymentInitiateInput!) { paymentInitiate(input: $input, idempotencyKey: "hook-pay-1") { payment { id } authorizationUrl userErrors { field code } } }`,
        {
          input: {
            institutionId: institutionGid('nordlicht'),
            endUserId,
            scheme: 'SEPA_CREDIT_TRANSFER',
            debtorAccount: { iban: accounts.accounts.find((a) => a.iban && a.kind !== 'CARD')!.iban },
            creditor: { name: 'Keller Bau GmbH', iban: 'FR1420041010050500013M02606' },
            amount: { amount: '42.00', currency: 'EUR' },
            remittanceInformation: 'Invoice 77',
            redirectUri: RETURN_URL,
          },
        },
        key,
      );
      const started = r.body.data!.paymentInitiate;
      expect(started.userErrors).toEqual([]);
      expect((await authorise(t, started.authorizationUrl, 'alice')).searchParams.get('outcome')).toBe('success');
      await control(t, 'POST', '/banks/nordlicht/clock/advance', { seconds: 61 });
      const statuses = () =>
        delivered(rx).map((x) => (verified(secret!, x) as unknown as { data: { payload: { paymentId: string; status: string } } }).data.payload);
      await until(() => statuses().some((p) => p.status === 'EXECUTED'), 'the EXECUTED webhook', 45_000);
      expect(statuses().every((p) => p.paymentId === started.payment.id)).toBe(true);
      expect(statuses().at(-1)!.status).toBe('EXECUTED');
      const seqs = delivered(rx).map((x) => Number(verified(secret!, x).data.resourceSequence));
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    } finally {
      await rx.close();
    }
  });
});

describe('webhook endpoint input', () => {
  const codes = (r: Awaited<ReturnType<typeof createEndpoint>>) => r.userErrors.map((e) => `${e.field.join('.')}:${e.code}`);

  it('refuses what is not a URL, plain http beyond localhost, credentials and an empty type list in the sandbox', async () => {
    expect(codes(await createEndpoint('not a url', ['TRANSACTIONS_ADDED']))).toEqual(['input.url:INVALID']);
    expect(codes(await createEndpoint('ftp://example.com/x', ['TRANSACTIONS_ADDED']))).toEqual(['input.url:INVALID']);
    expect(codes(await createEndpoint('http://example.com/hooks', ['TRANSACTIONS_ADDED']))).toEqual(['input.url:INSECURE_URL']);
    expect(codes(await createEndpoint('https://user:pw@example.com/hooks', ['TRANSACTIONS_ADDED']))).toEqual(['input.url:INVALID']);
    expect(codes(await createEndpoint('https://example.com/hooks', []))).toEqual(['input.eventTypes:BLANK']);
    expect(codes(await createEndpoint(`https://example.com/${'x'.repeat(2050)}`, ['TRANSACTIONS_ADDED']))).toEqual(['input.url:TOO_LONG']);
  });

  it('refuses plain http and every private, loopback or link-local address for a live tenant', async () => {
    const { key: live } = await t.createTenant('Live hooks', 'live');
    expect(codes(await createEndpoint('http://example.com/hooks', ['TRANSACTIONS_ADDED'], live))).toEqual(['input.url:INSECURE_URL']);
    for (const url of [
      'https://127.0.0.1/h',
      'https://localhost/h',
      'https://10.1.2.3/h',
      'https://192.168.1.1/h',
      'https://172.20.0.1/h',
      'https://169.254.169.254/latest',
      'https://[::1]/h',
      'https://[fd00::1]/h',
      'https://[::ffff:10.0.0.1]/h',
      'https://100.64.0.1/h',
    ]) {
      expect(codes(await createEndpoint(url, ['TRANSACTIONS_ADDED'], live)), url).toEqual(['input.url:PRIVATE_ADDRESS']);
    }
  });

  it('refuses an unknown event type with a coded error', async () => {
    const r = await t.gql(CREATE, { input: { url: 'https://example.com/h', eventTypes: ['NOT_A_TYPE'] } }, key);
    expect(r.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('keeps endpoints and deliveries to their tenant', async () => {
    const mine = await createEndpoint('https://example.com/mine', ['PAYMENT_STATUS_CHANGED']);
    const { key: other } = await t.createTenant('Other hooks');
    const list = await t.gql<{ webhookEndpoints: { nodes: unknown[] } }>('{ webhookEndpoints { nodes { id } } }', {}, other);
    expect(list.body.data!.webhookEndpoints.nodes).toEqual([]);
    const node = await t.gql<{ node: unknown }>('query($id: ID!) { node(id: $id) { id } }', { id: mine.webhookEndpoint!.id }, other);
    expect(node.body.data!.node).toBeNull();
    for (const m of ['webhookEndpointDelete', 'webhookEndpointRotateSecret']) {
      const r = await t.gql<Record<string, { userErrors: { code: string }[] }>>(
        `mutation($id: ID!) { ${m}(id: $id) { userErrors { code } } }`,
        { id: mine.webhookEndpoint!.id },
        other,
      );
      expect(r.body.data![m]!.userErrors.map((e) => e.code)).toEqual(['NOT_FOUND']);
    }
    const replay = await t.gql<{ webhookDeliveryReplay: { userErrors: { code: string }[] } }>(
      'mutation { webhookDeliveryReplay(id: "garbage") { userErrors { code } } }',
      {},
      other,
    );
    expect(replay.body.data!.webhookDeliveryReplay.userErrors.map((e) => e.code)).toEqual(['NOT_FOUND']);
    const foreign = await t.gql<{ webhookDeliveries: { nodes: unknown[] } }>(
      'query($e: ID) { webhookDeliveries(endpointId: $e) { nodes { id } } }',
      { e: mine.webhookEndpoint!.id },
      other,
    );
    expect(foreign.body.data!.webhookDeliveries.nodes).toEqual([]);
    const badCursor = await t.gql('{ webhookDeliveries(after: "nope") { nodes { id } } }', {}, key);
    expect(badCursor.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});
