/**
 * Done-when of issue 21: an end user connected through the GoCardless Bank Account Data upstream
 * (the sandbox upstream over real sockets), two years synced, ids that survive the upstream
 * reissuing them, an agreement followed to EXPIRING and renewed with the same accounts and
 * transaction ids, and verified webhooks for all of it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { accountState, authorise, connect, gatewayLedger, institutionGid, RETURN_URL, sandboxCopyUrl, settled, type Connected } from '../helpers/banking';
import { sandboxAdminToken } from '../../src/gateway';

interface Received {
  id: string;
  timestamp: string;
  signature: string;
  body: string;
}

let t: TestGateway;
let key: string;
let endUserId: string;
let rx: { url: string; received: Received[]; close(): Promise<void> };
let secret: string;
let c: Connected;
let tenantId: string;

/** The sandbox upstream's control API, in this tenant's own copy of the sandbox. */
async function upstream<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${sandboxCopyUrl(t, tenantId)}/upstreams/gocardless/control${path}`, {
    method,
    headers: { authorization: `Bearer ${sandboxAdminToken(t.config)}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 400) throw new Error(`upstream control ${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

const dayAgo = (days: number) => new Date(Date.now() - days * 86_400_000).toISOString().slice(0, 10);

async function upstreamLedger(bankAccountId: string, dateFrom: string): Promise<string[]> {
  const r = await upstream<{ transactions: { status: string; amount: string; bookingDate: string }[] }>(
    'GET',
    `/accounts/${bankAccountId}/ledger?dateFrom=${dateFrom}`,
  );
  return r.transactions.map((x) => (x.status === 'booked' ? `BOOKED|${x.amount}|${x.bookingDate}` : `PENDING|${x.amount}`)).sort();
}

async function transactionIds(accountInternalId: string): Promise<string[]> {
  const { rows } = await t.gateway.db.sql.query<{ id: string }>('select id from bank_transaction where account_id = $1 and removed_at is null order by id', [
    accountInternalId,
  ]);
  return rows.map((r) => r.id);
}

async function syncNow(accountId: string) {
  const before = (await accountState(t, key, accountId)).lastSyncedAt;
  const r = await t.gql<{ accountSync: { userErrors: unknown[] } }>(
    'mutation($id: ID!) { accountSync(id: $id, input: { mode: USER_PRESENT, psuIpAddress: "198.51.100.9" }) { userErrors { code message } } }',
    { id: accountId },
    key,
  );
  expect(r.body.data!.accountSync.userErrors).toEqual([]);
  return settled(t, key, accountId, before);
}

const consentNode = async (id: string) =>
  (
    await t.gql<{ node: { status: string; validUntil: string; accounts: { id: string }[] } }>(
      'query($id: ID!) { node(id: $id) { ... on Consent { status validUntil accounts { id } } } }',
      { id },
      key,
    )
  ).body.data!.node;

beforeAll(async () => {
  t = await startTestGateway({ env: { WEBHOOK_RETRY_BASE_MS: '100', WEBHOOK_TIMEOUT_MS: '2000' } });
  ({ key, tenantId } = await t.createTenant('Upstream'));
  const u = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
    'mutation { endUserCreate(input: { externalRef: "upstream-alice" }) { endUser { id } } }',
    {},
    key,
  );
  endUserId = u.body.data!.endUserCreate.endUser.id;
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      received.push({
        id: String(req.headers['webhook-id']),
        timestamp: String(req.headers['webhook-timestamp']),
        signature: String(req.headers['webhook-signature']),
        body,
      });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  rx = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const created = await t.gql<{ webhookEndpointCreate: { secret: string; userErrors: unknown[] } }>(
    'mutation($input: WebhookEndpointCreateInput!) { webhookEndpointCreate(input: $input) { secret userErrors { code } } }',
    { input: { url: rx.url, eventTypes: ['CONSENT_ACTIVATED', 'TRANSACTIONS_ADDED', 'CONSENT_EXPIRING'] } },
    key,
  );
  expect(created.body.data!.webhookEndpointCreate.userErrors).toEqual([]);
  secret = created.body.data!.webhookEndpointCreate.secret;
});

afterAll(async () => {
  await rx?.close();
  await t?.close();
});

describe('GoCardless Bank Account Data upstream, end to end', () => {
  it('lists the upstream’s institutions beside the direct banks, flagged with how they are reached and offering no payments', async () => {
    const r = await t.gql<{
      institutions: {
        nodes: {
          id: string;
          name: string;
          standard: string;
          reachedThrough: string;
          upstream: { provider: string; institutionId: string } | null;
          paymentSchemes: string[];
          maxHistoryDays: number;
        }[];
      };
    }>('{ institutions(first: 50) { nodes { id name standard reachedThrough upstream { provider institutionId } paymentSchemes maxHistoryDays } } }', {}, key);
    const nodes = r.body.data!.institutions.nodes;
    const direct = nodes.find((i) => i.id === institutionGid('nordlicht'))!;
    const through = nodes.find((i) => i.id === institutionGid('gc-nordlicht'))!;
    expect(direct).toMatchObject({ reachedThrough: 'DIRECT', upstream: null });
    expect(through).toMatchObject({
      standard: 'GOCARDLESS',
      reachedThrough: 'GOCARDLESS',
      upstream: { provider: 'GOCARDLESS', institutionId: 'NORDLICHT_NRDLDEFF' },
      paymentSchemes: [],
      maxHistoryDays: 730,
    });
  });

  it('connects alice through the upstream and syncs two years of history, exactly what the upstream holds', async () => {
    // Valid for 5 days: the agreement's access_valid_for_days, inside the 7-day warning lead time.
    c = await connect(t, key, endUserId, 'gc-nordlicht', 'alice', { historyDays: 730, validForDays: 5 });
    expect(c.accounts.length).toBe(3);
    for (const a of c.accounts) await settled(t, key, a.id, null);
    const checking = c.accounts.find((a) => a.iban)!;
    const state = await accountState(t, key, checking.id);
    expect(state.syncStatus).toBe('SUCCEEDED');
    // The upstream counts the end user's first read too: syncBudget shows what the bank has left today.
    expect(state.syncBudget.remaining).toBe(3);
    const ours = await gatewayLedger(t, checking.internalId);
    expect(ours.length).toBeGreaterThan(300);
    expect(ours).toEqual(await upstreamLedger(checking.bankAccountId, dayAgo(730)));
    const { rows } = await t.gateway.db.sql.query<{ min: string }>('select min(booking_date)::text as min from bank_transaction where account_id = $1', [
      checking.internalId,
    ]);
    expect(rows[0]!.min <= dayAgo(700)).toBe(true);
  });

  it('keeps every transaction id, with 0 duplicates, when the upstream reissues transactionId and internalTransactionId', async () => {
    await upstream('POST', '/behaviour', { reissueIds: true });
    for (const a of c.accounts) {
      const before = await transactionIds(a.internalId);
      const ledgerBefore = await gatewayLedger(t, a.internalId);
      expect((await syncNow(a.id)).syncStatus).toBe('SUCCEEDED');
      expect(await transactionIds(a.internalId)).toEqual(before);
      expect(await gatewayLedger(t, a.internalId)).toEqual(ledgerBefore);
    }
    await upstream('POST', '/behaviour', { reissueIds: false });
    expect((await accountState(t, key, c.accounts[0]!.id)).syncBudget.remaining).toBe(2);
  });

  it('books a pending entry (no id at the upstream) in place: same gateway id, now BOOKED, nothing added or removed', async () => {
    // From here the checking account goes past the bank's 4 reads a day (booking, renewal): the upstream's limit is raised
    // until the end of the renewal test; the limit itself is tested in gocardless.adapter.test.ts.
    await upstream('POST', '/behaviour', { dailyLimit: 10 });
    const a = c.accounts.find((x) => x.iban)!;
    const pending = async () =>
      (
        await t.gateway.db.sql.query<{ id: string; amount: string }>(
          `select id, amount::text as amount from bank_transaction where account_id = $1 and status = 'PENDING' and removed_at is null`,
          [a.internalId],
        )
      ).rows;
    const before = await pending();
    expect(before.length).toBeGreaterThan(0);
    const ids = await transactionIds(a.internalId);
    const booked = await upstream<{ amount: string }>('POST', `/accounts/${a.bankAccountId}/book-pending`, {});
    const row = before.find((p) => Number(p.amount) === Number(booked.amount))!;
    expect((await syncNow(a.id)).syncStatus).toBe('SUCCEEDED');
    expect(await transactionIds(a.internalId)).toEqual(ids);
    const { rows } = await t.gateway.db.sql.query<{ status: string }>('select status from bank_transaction where id = $1', [row.id]);
    expect(rows[0]!.status).toBe('BOOKED');
    expect((await pending()).length).toBe(before.length - 1);
  });

  it('follows the agreement to EXPIRING, and renewal makes a new agreement and requisition keeping the accounts and transaction ids', async () => {
    const before = await consentNode(c.consentId);
    expect(before.status).toBe('ACTIVE');
    expect(new Date(before.validUntil).getTime() - Date.now()).toBeLessThan(5 * 86_400_000 + 60_000);
    expect((await t.gateway.services.consents.checkExpiry()).expiring).toBe(1);
    expect((await consentNode(c.consentId)).status).toBe('EXPIRING');
    const requisitionsBefore = (await upstream<{ requisitions: { id: string; agreement: string }[] }>('GET', '/requisitions')).requisitions;
    const idsBefore = await Promise.all(c.accounts.map((a) => transactionIds(a.internalId)));

    const renewed = await t.gql<{ consentRenew: { authorizationUrl: string; userErrors: unknown[] } }>(
      'mutation($id: ID!) { consentRenew(id: $id) { authorizationUrl userErrors { code message } } }',
      { id: c.consentId },
      key,
    );
    expect(renewed.body.data?.consentRenew.userErrors ?? renewed.body).toEqual([]);
    const back = await authorise(t, renewed.body.data!.consentRenew.authorizationUrl, 'alice');
    expect(back.searchParams.get('outcome')).toBe('success');
    const after = await consentNode(c.consentId);
    expect(after.status).toBe('ACTIVE');
    // The new agreement keeps the consent's validity (5 days), counted from its own acceptance.
    expect(new Date(after.validUntil).getTime()).toBeGreaterThan(new Date(before.validUntil).getTime());
    expect(after.accounts.map((a) => a.id).sort()).toEqual(c.accounts.map((a) => a.id).sort());
    const requisitionsAfter = (await upstream<{ requisitions: { id: string; agreement: string }[] }>('GET', '/requisitions')).requisitions;
    expect(requisitionsAfter.length).toBe(requisitionsBefore.length + 1);
    expect(new Set(requisitionsAfter.map((r) => r.agreement)).size).toBe(requisitionsAfter.length);
    for (const [i, a] of c.accounts.entries()) {
      await settled(t, key, a.id);
      expect((await syncNow(a.id)).syncStatus).toBe('SUCCEEDED');
      expect(await transactionIds(a.internalId)).toEqual(idsBefore[i]);
    }
  });

  it('refuses an upstream answer that breaks its OpenAPI file as BANK_RESPONSE_INVALID, changes no transaction, and journals the call with its request id', async () => {
    const a = c.accounts.find((x) => x.iban)!;
    const ids = await transactionIds(a.internalId);
    await upstream('POST', '/behaviour', { breakNextResponse: true });
    const s = await syncNow(a.id);
    expect(s.syncStatus).toBe('FAILED');
    expect(s.syncError).toContain('BANK_RESPONSE_INVALID');
    expect(await transactionIds(a.internalId)).toEqual(ids);
    const journal = await t.gql<{ auditEvents: { nodes: { details: Record<string, unknown> }[] } }>(
      '{ auditEvents(action: BANK_CALL, first: 100) { nodes { details } } }',
      {},
      key,
    );
    const refused = journal.body.data!.auditEvents.nodes.map((n) => n.details).filter((d) => d.errorCode === 'BANK_RESPONSE_INVALID');
    expect(refused.length).toBeGreaterThan(0);
    expect(refused[0]).toMatchObject({
      institutionId: 'gc-nordlicht',
      operation: 'accounts.transactions',
      requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    // The operator's secret key reaches neither the journal nor any log line.
    const secretKey = t.gateway.sandbox!.clients['gc-nordlicht']!.clientSecret!;
    expect(JSON.stringify(journal.body)).not.toContain(secretKey);
    expect(t.logs.join('\n')).not.toContain(secretKey);
    await upstream('POST', '/behaviour', { dailyLimit: 4 });
  });

  it('delivered every event of the journey as verified Standard Webhooks', async () => {
    const deadline = Date.now() + 30_000;
    const types = () =>
      rx.received.map(
        (r) =>
          (new Webhook(secret).verify(r.body, { 'webhook-id': r.id, 'webhook-timestamp': r.timestamp, 'webhook-signature': r.signature }) as { type: string })
            .type,
      );
    while (!(types().includes('CONSENT_EXPIRING') && types().filter((x) => x === 'CONSENT_ACTIVATED').length >= 2) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 200));
    const seen = types();
    expect(seen).toContain('TRANSACTIONS_ADDED');
    expect(seen).toContain('CONSENT_EXPIRING');
    expect(seen.filter((x) => x === 'CONSENT_ACTIVATED').length).toBeGreaterThanOrEqual(2);
    // A tampered body fails verification: the signature covers it.
    const first = rx.received[0]!;
    expect(() =>
      new Webhook(secret).verify(`${first.body} `, { 'webhook-id': first.id, 'webhook-timestamp': first.timestamp, 'webhook-signature': first.signature }),
    ).toThrow();
  });

  it('answers paymentInitiate at an institution reached only through the upstream with a coded userError, calling nobody', async () => {
    const r = await t.gql<{ paymentInitiate: { payment: unknown; userErrors: { field: string[]; code: string }[] } }>(
      `mutation($input: PaymentInitiateInput!, $key: String!) { paymentInitiate(input: $input, idempotencyKey: $key) { payment { id } userErrors { field code message } } }`,
      {
        key: 'upstream-payment-0001',
        input: {
          endUserId,
          institutionId: institutionGid('gc-nordlicht'),
          scheme: 'SEPA_CREDIT_TRANSFER',
          amount: { amount: '10.00', currency: 'EUR' },
          creditor: { name: 'Ada Lovelace', iban: 'DE89370400440532013000' },
          redirectUri: RETURN_URL,
        },
      },
      key,
    );
    expect(r.body.data?.paymentInitiate ?? r.body).toMatchObject({ payment: null, userErrors: [{ field: ['input', 'scheme'], code: 'NOT_SUPPORTED' }] });
  });

  it('lets sandboxConsentAuthorize walk the upstream’s link as a test user, and a rejecting user ends REJECTED (RJ)', async () => {
    const create = async () => {
      const r = await t.gql<{ consentCreate: { consent: { id: string } } }>(
        'mutation($input: ConsentCreateInput!) { consentCreate(input: $input) { consent { id } } }',
        { input: { endUserId, institutionId: institutionGid('gc-thames'), scopes: ['ACCOUNTS', 'TRANSACTIONS'], redirectUri: RETURN_URL } },
        key,
      );
      return r.body.data!.consentCreate.consent.id;
    };
    const authorize = async (consentId: string, username: string) =>
      (
        await t.gql<{ sandboxConsentAuthorize: { consent: { status: string } | null; userErrors: unknown[] } }>(
          'mutation($input: SandboxConsentAuthorizeInput!) { sandboxConsentAuthorize(input: $input) { consent { status } userErrors { code message } } }',
          { input: { consentId, username } },
          key,
        )
      ).body.data!.sandboxConsentAuthorize;
    expect(await authorize(await create(), 'sme')).toEqual({ consent: { status: 'ACTIVE' }, userErrors: [] });
    expect(await authorize(await create(), 'rejecter')).toEqual({ consent: { status: 'REJECTED' }, userErrors: [] });
  });

  it('changes nothing when the end user comes back with an unknown or replayed reference', async () => {
    const callback = `${t.gateway.baseUrl}/callback`;
    const before = await consentNode(c.consentId);
    const unknown = await fetch(`${callback}?state=${'x'.repeat(32)}&ref=${'x'.repeat(32)}`, { redirect: 'manual' });
    expect(unknown.status).toBeGreaterThanOrEqual(400);
    // The last requisition's redirect, replayed as it was.
    const reqs = (await upstream<{ requisitions: { redirect: string; reference: string }[] }>('GET', '/requisitions')).requisitions;
    const last = new URL(reqs.at(-1)!.redirect);
    last.searchParams.set('ref', reqs.at(-1)!.reference);
    const replay = await fetch(last.href.replace(t.gateway.publicUrl, t.gateway.baseUrl), { redirect: 'manual' });
    expect(replay.status).toBeGreaterThanOrEqual(400);
    expect(await consentNode(c.consentId)).toEqual(before);
  });
});
