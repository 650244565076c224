import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validate } from 'node-iso11649';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { parseGlobalId } from '../../src/api/relay/global-id';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { connect, settled } from '../helpers/banking';

type UserErrors = { field: string[]; code: string; message: string }[];
type EP = {
  id: string;
  status: string;
  creditorReference: string | null;
  ukReference: string | null;
  externalId: string | null;
  paidAmount: { amount: string };
  amount: { amount: string; currency: string };
};
type Match = {
  id: string;
  status: string;
  rule: string;
  confidence: number;
  agreeingFields: string[];
  transactionId: string;
  allocations: { expectedPaymentId: string; amount: { amount: string } }[];
  decidedBy: string | null;
};

const EP_FIELDS = 'id status creditorReference ukReference externalId amount { amount currency } paidAmount { amount }';
const MATCH_FIELDS = 'id status rule confidence agreeingFields transactionId allocations { expectedPaymentId amount { amount } } decidedBy';
const CREATE = `mutation($input: ExpectedPaymentCreateInput!) { expectedPaymentCreate(input: $input) { expectedPayment { ${EP_FIELDS} } userErrors { field code message } } }`;
const BULK = `mutation($input: ExpectedPaymentBulkCreateInput!) { expectedPaymentBulkCreate(input: $input) { expectedPayments { ${EP_FIELDS} } userErrors { field code message } } }`;
const MATCHES = `query($status: ReconciliationMatchStatus, $ep: ID) { reconciliationMatches(status: $status, expectedPaymentId: $ep, first: 100) { nodes { ${MATCH_FIELDS} } } }`;
const MANUAL = `mutation($input: ReconciliationMatchInput!) { reconciliationMatch(input: $input) { match { ${MATCH_FIELDS} } userErrors { field code message } } }`;
const decideMutation = (name: string) => `mutation($id: ID!) { ${name}(id: $id) { match { ${MATCH_FIELDS} } userErrors { field code message } } }`;
const TX_CREATE = `mutation($input: SandboxTransactionsCreateInput!) { sandboxTransactionsCreate(input: $input) { transactions { bankTransactionId } userErrors { field code message } } }`;
const SYNC = `mutation($id: ID!) { accountSync(id: $id, input: { mode: USER_PRESENT, psuIpAddress: "203.0.113.7" }) { userErrors { code message } } }`;

let t: TestGateway;
let key: string;
let otherKey: string;
let alice: string;
let bob: string;
let otherUser: string;
let account: string;

async function endUser(k: string, ref: string): Promise<string> {
  const r = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
    'mutation($r: String!) { endUserCreate(input: { externalRef: $r }) { endUser { id } } }',
    { r: ref },
    k,
  );
  return r.body.data!.endUserCreate.endUser.id;
}

async function create(input: Record<string, unknown>, k = key): Promise<{ expectedPayment: EP | null; userErrors: UserErrors }> {
  const r = await t.gql<{ expectedPaymentCreate: { expectedPayment: EP | null; userErrors: UserErrors } }>(
    CREATE,
    { input: { endUserId: alice, direction: 'INCOMING', amount: { amount: '120.00', currency: 'EUR' }, dueDate: '2026-12-31', ...input } },
    k,
  );
  if (!r.body.data) throw new Error(JSON.stringify(r.body.errors));
  return r.body.data.expectedPaymentCreate;
}

async function count(): Promise<number> {
  const { rows } = await t.gateway.db.sql.query<{ n: string }>('select count(*)::text as n from expected_payment');
  return Number(rows[0]!.n);
}

async function gql<T>(query: string, variables: Record<string, unknown>, k = key): Promise<T> {
  const r = await t.gql<Record<string, T>>(query, variables, k);
  if (!r.body.data) throw new Error(JSON.stringify(r.body.errors));
  return Object.values(r.body.data)[0]!;
}

/**
 * The event log's payloads of some types, once `found` holds: the log shows an event only when every
 * older transaction on the server has ended (it never skips one), so a busy shared server delays it.
 */
async function eventsUntil<P>(types: string, found: (payloads: P[]) => boolean, timeoutMs = 30_000): Promise<P[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const payloads = (await gql<{ nodes: { payload: P }[] }>(`query { events(types: [${types}], first: 500) { nodes { payload } } }`, {})).nodes.map(
      (n) => n.payload,
    );
    if (found(payloads) || Date.now() > deadline) return payloads;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function syncNow(accountId: string) {
  const before = (await t.gql<{ account: { lastSyncedAt: string | null } }>('query($id: ID!) { account(id: $id) { lastSyncedAt } }', { id: accountId }, key))
    .body.data!.account.lastSyncedAt;
  const r = await gql<{ userErrors: UserErrors }>(SYNC, { id: accountId });
  expect(r.userErrors).toEqual([]);
  return settled(t, key, accountId, before);
}

async function bankPays(transactions: Record<string, unknown>[]) {
  const r = await gql<{ userErrors: UserErrors }>(TX_CREATE, { input: { accountId: account, transactions } });
  expect(r.userErrors).toEqual([]);
}

beforeAll(async () => {
  t = await startTestGateway();
  key = (await t.createTenant('Invoicer')).key;
  otherKey = (await t.createTenant('Someone else')).key;
  alice = await endUser(key, 'alice');
  bob = await endUser(key, 'bob');
  otherUser = await endUser(otherKey, 'mallory');
  const c = await connect(t, key, alice, 'nordlicht');
  account = c.accounts[0]!.id;
  await settled(t, key, account);
});
afterAll(async () => {
  await t?.close();
});

describe('expected payments', () => {
  it('creates an incoming expected payment with a valid ISO 11649 reference, refetchable by node id', async () => {
    const r = await create({ invoiceReference: 'INV-2026-0001', counterpartyName: 'Acme SARL', counterpartyIban: 'FR76 3000 6000 0112 3456 7890 189' });
    expect(r.userErrors).toEqual([]);
    const ep = r.expectedPayment!;
    expect(ep.status).toBe('OPEN');
    expect(ep.creditorReference).toMatch(/^RF\d{2}[0-9A-Z]+$/);
    expect(validate(ep.creditorReference!)).toBe(true);
    expect(ep.ukReference).toBeNull();
    const node = await gql<{ id: string; status: string } | null>('query($id: ID!) { node(id: $id) { id ... on ExpectedPayment { status } } }', { id: ep.id });
    expect(node).toEqual({ id: ep.id, status: 'OPEN' });
    expect(await gql<unknown>('query($id: ID!) { node(id: $id) { id } }', { id: ep.id }, otherKey)).toBeNull();
  });

  it('gives GBP expected payments a UK reference within the 18 characters of Faster Payments', async () => {
    const ep = (await create({ amount: { amount: '50.00', currency: 'GBP' } })).expectedPayment!;
    expect(ep.ukReference!.length).toBeLessThanOrEqual(18);
    expect(validate(ep.ukReference!)).toBe(true);
  });

  it('answers the same expected payment for an external id sent again with the same body, and EXTERNAL_ID_REUSED for another body', async () => {
    const first = (await create({ externalId: 'inv-77', amount: { amount: '10.5', currency: 'EUR' } })).expectedPayment!;
    const again = (await create({ externalId: 'inv-77', amount: { amount: '10.50', currency: 'EUR' } })).expectedPayment!;
    expect(again.id).toBe(first.id);
    const before = await count();
    const other = await create({ externalId: 'inv-77', amount: { amount: '11.00', currency: 'EUR' } });
    expect(other.expectedPayment).toBeNull();
    expect(other.userErrors).toEqual([expect.objectContaining({ field: ['input', 'externalId'], code: 'EXTERNAL_ID_REUSED' })]);
    expect(await count()).toBe(before);
  });

  it('creates one expected payment when the same external id is sent twice at once', async () => {
    const [a, b] = await Promise.all([create({ externalId: 'race-1' }), create({ externalId: 'race-1' })]);
    expect(a.expectedPayment!.id).toBe(b.expectedPayment!.id);
  });

  it.each([
    ['too many decimals for EUR', { amount: { amount: '12.345', currency: 'EUR' } }, ['input', 'amount'], 'AMOUNT_PRECISION'],
    ['decimals on a currency without minor units', { amount: { amount: '1000.5', currency: 'JPY' } }, ['input', 'amount'], 'AMOUNT_PRECISION'],
    ['a zero amount', { amount: { amount: '0.00', currency: 'EUR' } }, ['input', 'amount'], 'INVALID_AMOUNT'],
    ['an unknown currency', { amount: { amount: '12.00', currency: 'XYZ' } }, ['input', 'currency'], 'UNKNOWN_CURRENCY'],
    ['a due date that is not a date', { dueDate: '2026-02-30' }, ['input', 'dueDate'], 'INVALID_DATE'],
    ['a due date in words', { dueDate: 'tomorrow' }, ['input', 'dueDate'], 'INVALID_DATE'],
    ['an IBAN failing its check digits', { counterpartyIban: 'FR7630006000011234567890188' }, ['input', 'counterpartyIban'], 'INVALID_IBAN'],
    ['a negative tolerance', { toleranceAmount: '-1.00' }, ['input', 'toleranceAmount'], 'INVALID_AMOUNT'],
    ['a tolerance of 400 days', { toleranceDays: 400 }, ['input', 'toleranceDays'], 'OUT_OF_RANGE'],
  ])('refuses %s with a userError on its field and writes nothing', async (_name, input, field, code) => {
    const before = await count();
    const r = await create(input);
    expect(r.expectedPayment).toBeNull();
    expect(r.userErrors).toEqual([expect.objectContaining({ field, code })]);
    expect(await count()).toBe(before);
  });

  it("refuses another tenant's end user as NOT_FOUND", async () => {
    const r = await create({ endUserId: otherUser });
    expect(r.userErrors).toEqual([expect.objectContaining({ field: ['input', 'endUserId'], code: 'NOT_FOUND' })]);
  });

  it('refuses an account of another end user with END_USER_MISMATCH', async () => {
    const r = await create({ endUserId: bob, accountId: account });
    expect(r.userErrors).toEqual([expect.objectContaining({ field: ['input', 'accountId'], code: 'END_USER_MISMATCH' })]);
  });

  it('creates a bulk of expected payments all or none: one bad item and nothing is written', async () => {
    const item = (n: number, extra: Record<string, unknown> = {}) => ({
      endUserId: alice,
      direction: 'OUTGOING',
      amount: { amount: `${n}.00`, currency: 'EUR' },
      dueDate: '2026-12-20',
      ...extra,
    });
    const before = await count();
    const bad = await gql<{ expectedPayments: EP[]; userErrors: UserErrors }>(BULK, {
      input: { items: [item(1), item(2, { counterpartyIban: 'DE00123' }), item(3)] },
    });
    expect(bad.expectedPayments).toEqual([]);
    expect(bad.userErrors).toEqual([expect.objectContaining({ field: ['input', 'items', '1', 'counterpartyIban'], code: 'INVALID_IBAN' })]);
    expect(await count()).toBe(before);
    const ok = await gql<{ expectedPayments: EP[]; userErrors: UserErrors }>(BULK, { input: { items: [item(1), item(2), item(3)] } });
    expect(ok.userErrors).toEqual([]);
    expect(ok.expectedPayments.map((e) => e.creditorReference)).toEqual([null, null, null]);
    expect(await count()).toBe(before + 3);
    const tooMany = await gql<{ userErrors: UserErrors }>(BULK, { input: { items: Array.from({ length: 1001 }, (_, i) => item(i + 1)) } });
    expect(tooMany.userErrors).toEqual([expect.objectContaining({ field: ['input', 'items'], code: 'OUT_OF_RANGE' })]);
  });

  it('lists expected payments with filters, within the tenant', async () => {
    const list = await gql<{ nodes: EP[] }>(
      'query { expectedPayments(status: OPEN, dueBefore: "2026-12-25", first: 100) { nodes { id amount { amount } } } }',
      {},
    );
    expect(list.nodes.map((n) => n.amount.amount).sort()).toEqual(['1.00', '2.00', '3.00']);
    const byName = await gql<{ nodes: EP[] }>('query { expectedPayments(counterparty: "acme", first: 100) { nodes { id } } }', {});
    expect(byName.nodes).toHaveLength(1);
    expect((await gql<{ nodes: EP[] }>('query { expectedPayments(first: 100) { nodes { id } } }', {}, otherKey)).nodes).toEqual([]);
  });
});

describe('matching during a sync, and review', () => {
  it('confirms a customer transfer carrying the RF reference automatically: PAID, EXPECTED_PAYMENT_PAID in the log, the decision journaled', async () => {
    const ep = (await create({ amount: { amount: '240.00', currency: 'EUR' }, accountId: account })).expectedPayment!;
    const spaced = ep.creditorReference!.replace(/(.{4})/g, '$1 ').trim();
    await bankPays([{ amount: '240.00', counterpartyName: 'Client One', remittanceInformation: `Invoice ${spaced}` }]);
    await syncNow(account);
    const after = await gql<EP>(`query($id: ID!) { node(id: $id) { ... on ExpectedPayment { ${EP_FIELDS} } } }`, { id: ep.id });
    expect(after.status).toBe('PAID');
    expect(after.paidAmount.amount).toBe('240.00');
    const [m] = (await gql<{ nodes: Match[] }>(MATCHES, { ep: ep.id })).nodes;
    expect(m).toMatchObject({ status: 'CONFIRMED', rule: 'STRUCTURED_REFERENCE', decidedBy: 'matcher' });
    expect(m!.agreeingFields).toEqual(expect.arrayContaining(['creditorReference', 'amount']));
    const paid = await eventsUntil<{ expectedPaymentId: string }>('EXPECTED_PAYMENT_PAID', (ps) => ps.some((p) => p.expectedPaymentId === ep.id));
    expect(paid.map((p) => p.expectedPaymentId)).toContain(ep.id);
    const audit = await gql<{ nodes: { actor: string }[] }>('query { auditEvents(action: RECONCILIATION_AUTO_CONFIRMED, first: 10) { nodes { actor } } }', {});
    expect(audit.nodes.map((a) => a.actor)).toContain('matcher');
  });

  it('suggests a truncated reference, and a reviewer confirms, undoes and rejects it, each journaled with the API key', async () => {
    const ep = (await create({ amount: { amount: '75.00', currency: 'EUR' }, invoiceReference: 'FA-2026-99871' })).expectedPayment!;
    await bankPays([{ amount: '75.00', remittanceInformation: `Paiement facture ${ep.creditorReference!.slice(0, 10)}` }]);
    await syncNow(account);
    const [m] = (await gql<{ nodes: Match[] }>(MATCHES, { ep: ep.id })).nodes;
    expect(m).toMatchObject({ status: 'SUGGESTED', rule: 'REFERENCE_FUZZY' });
    const suggested = await eventsUntil<{ matchId: string }>('RECONCILIATION_SUGGESTED', (ps) => ps.some((p) => p.matchId === m!.id));
    expect(suggested.map((p) => p.matchId)).toContain(m!.id);

    const confirmed = await gql<{ match: Match; userErrors: UserErrors }>(decideMutation('reconciliationConfirm'), { id: m!.id });
    expect(confirmed.match.status).toBe('CONFIRMED');
    expect(confirmed.match.decidedBy).toMatch(/^apiKey:/);
    expect((await gql<EP>(`query($id: ID!) { node(id: $id) { ... on ExpectedPayment { ${EP_FIELDS} } } }`, { id: ep.id })).status).toBe('PAID');
    const again = await gql<{ match: Match | null; userErrors: UserErrors }>(decideMutation('reconciliationConfirm'), { id: m!.id });
    expect(again.userErrors).toEqual([expect.objectContaining({ field: ['id'], code: 'INVALID_STATE' })]);

    const undone = await gql<{ match: Match }>(decideMutation('reconciliationUndo'), { id: m!.id });
    expect(undone.match.status).toBe('UNDONE');
    expect((await gql<EP>(`query($id: ID!) { node(id: $id) { ... on ExpectedPayment { ${EP_FIELDS} } } }`, { id: ep.id })).status).toBe('OPEN');
    const rejected = await gql<{ userErrors: UserErrors }>(decideMutation('reconciliationReject'), { id: m!.id });
    expect(rejected.userErrors).toEqual([expect.objectContaining({ code: 'INVALID_STATE' })]);
    const foreign = await gql<{ userErrors: UserErrors }>(decideMutation('reconciliationConfirm'), { id: m!.id }, otherKey);
    expect(foreign.userErrors).toEqual([expect.objectContaining({ code: 'NOT_FOUND' })]);

    const audit = await gql<{ nodes: { action: string; actor: string }[] }>('query { auditEvents(first: 100) { nodes { action actor } } }', {});
    const decisions = audit.nodes.filter((a) => a.action === 'RECONCILIATION_CONFIRMED' || a.action === 'RECONCILIATION_UNDONE');
    expect(decisions).toHaveLength(2);
    for (const d of decisions) expect(d.actor).toMatch(/^apiKey:/);
  });

  it('matches by hand in part, refusing amounts beyond either side, other end users and other tenants; concurrent manual matches of one transaction: one wins', async () => {
    const ep = (await create({ amount: { amount: '100.00', currency: 'EUR' } })).expectedPayment!;
    const bobs = (await create({ endUserId: bob, amount: { amount: '10.00', currency: 'EUR' } })).expectedPayment!;
    await bankPays([{ amount: '60.00', remittanceInformation: 'no reference at all', counterpartyName: 'Zed' }]);
    await syncNow(account);
    const txs = (
      await gql<{ transactions: { nodes: { id: string; remittanceInformation: string | null }[] } }>(
        'query($id: ID!) { account(id: $id) { transactions(first: 100) { nodes { id remittanceInformation } } } }',
        { id: account },
      )
    ).transactions;
    const tx = txs.nodes.find((x) => x.remittanceInformation === 'no reference at all');
    expect(tx).toBeDefined();
    const attempt = (allocations: { expectedPaymentId: string; amount: string }[], k = key) =>
      gql<{ match: Match | null; userErrors: UserErrors }>(MANUAL, { input: { transactionId: tx!.id, allocations } }, k);
    const before = (await t.gateway.db.sql.query<{ n: string }>('select count(*)::text as n from reconciliation_match')).rows[0]!.n;
    expect((await attempt([{ expectedPaymentId: ep.id, amount: '60.001' }])).userErrors).toEqual([
      expect.objectContaining({ field: ['input', 'allocations', '0', 'amount'], code: 'AMOUNT_PRECISION' }),
    ]);
    expect((await attempt([{ expectedPaymentId: ep.id, amount: '61.00' }])).userErrors).toEqual([
      expect.objectContaining({ field: ['input', 'allocations'], code: 'AMOUNT_EXCEEDED' }),
    ]);
    expect((await attempt([{ expectedPaymentId: bobs.id, amount: '5.00' }])).userErrors).toEqual([
      expect.objectContaining({ field: ['input', 'allocations', '0', 'expectedPaymentId'], code: 'END_USER_MISMATCH' }),
    ]);
    expect((await attempt([{ expectedPaymentId: ep.id, amount: '5.00' }], otherKey)).userErrors).toEqual([
      expect.objectContaining({ field: ['input', 'transactionId'], code: 'NOT_FOUND' }),
    ]);
    expect((await t.gateway.db.sql.query<{ n: string }>('select count(*)::text as n from reconciliation_match')).rows[0]!.n).toBe(before);

    const results = await Promise.all([attempt([{ expectedPaymentId: ep.id, amount: '40.00' }]), attempt([{ expectedPaymentId: ep.id, amount: '30.00' }])]);
    const won = results.filter((r) => r.match);
    expect(won).toHaveLength(1);
    expect(results.find((r) => !r.match)!.userErrors).toEqual([expect.objectContaining({ code: 'ALREADY_MATCHED' })]);
    const after = await gql<EP>(`query($id: ID!) { node(id: $id) { ... on ExpectedPayment { ${EP_FIELDS} } } }`, { id: ep.id });
    expect(after.status).toBe('PARTIALLY_PAID');
    expect(after.paidAmount.amount).toBe(won[0]!.match!.allocations[0]!.amount.amount);
  });
});

describe('changes over time', () => {
  it("streams an end user's reconciliation changes over graphql-ws, and not another end user's", async () => {
    const client = createClient({
      url: t.gateway.graphqlUrl.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${key}` },
      retryAttempts: 0,
    });
    const received: { type: string; expectedPayment: { id: string; status: string } | null }[] = [];
    const forBob: unknown[] = [];
    const sub = (endUserId: string, into: unknown[]) =>
      client.subscribe<{ reconciliationChanged: { type: string; expectedPayment: { id: string; status: string } | null } }>(
        {
          query: 'subscription($u: ID!) { reconciliationChanged(endUserId: $u) { type expectedPayment { id status } match { id } } }',
          variables: { u: endUserId },
        },
        { next: (r) => void into.push(r.data?.reconciliationChanged ?? r.errors), error: (e) => void into.push(e), complete: () => undefined },
      );
    const stopA = sub(alice, received);
    const stopB = sub(bob, forBob);
    try {
      await new Promise((r) => setTimeout(r, 300));
      const ep = (await create({ amount: { amount: '33.30', currency: 'EUR' } })).expectedPayment!;
      await bankPays([{ amount: '33.30', remittanceInformation: ep.creditorReference }]);
      await syncNow(account);
      const deadline = Date.now() + 30_000;
      while (!received.some((r) => r.expectedPayment?.id === ep.id) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(received.find((r) => r.expectedPayment?.id === ep.id)).toEqual({
        type: 'EXPECTED_PAYMENT_PAID',
        expectedPayment: { id: ep.id, status: 'PAID' },
        match: null,
      });
      expect(forBob).toEqual([]);
    } finally {
      stopA();
      stopB();
      await client.dispose();
    }
  });

  it('announces an unpaid expected payment once when the daily tick finds it past its due date plus tolerance days', async () => {
    const ep = (await create({ dueDate: '2026-01-10', toleranceDays: 5, externalId: 'late-1' })).expectedPayment!;
    const rec = t.gateway.services.reconciliation;
    await rec.overdueTick('2026-01-15');
    const mine = (ps: { expectedPaymentId: string }[]) => ps.filter((p) => p.expectedPaymentId === ep.id);
    expect(mine(await eventsUntil<{ expectedPaymentId: string }>('EXPECTED_PAYMENT_OVERDUE', () => true))).toHaveLength(0);
    await rec.overdueTick('2026-01-16');
    await rec.overdueTick('2026-01-17');
    expect(mine(await eventsUntil<{ expectedPaymentId: string }>('EXPECTED_PAYMENT_OVERDUE', (ps) => mine(ps).length > 0))).toHaveLength(1);
  });

  it('keeps the match when the pending transaction books (same gateway id), and matches again when the booked amount no longer covers it', async () => {
    const ep = (await create({ amount: { amount: '55.00', currency: 'EUR' } })).expectedPayment!;
    const bankId = `pending-${Date.now()}`;
    await bankPays([{ amount: '55.00', status: 'PENDING', bankTransactionId: bankId, remittanceInformation: ep.creditorReference }]);
    await syncNow(account);
    const [first] = (await gql<{ nodes: Match[] }>(MATCHES, { ep: ep.id })).nodes;
    expect(first).toMatchObject({ status: 'CONFIRMED', rule: 'STRUCTURED_REFERENCE' });
    const BOOK = 'mutation($input: SandboxTransactionBookInput!) { sandboxTransactionBook(input: $input) { userErrors { field code message } } }';

    expect((await gql<{ userErrors: UserErrors }>(BOOK, { input: { accountId: account, bankTransactionId: bankId } })).userErrors).toEqual([]);
    await syncNow(account);
    const afterBooking = (await gql<{ nodes: Match[] }>(MATCHES, { ep: ep.id })).nodes;
    expect(afterBooking.map((m) => [m.id, m.status, m.transactionId])).toEqual([[first!.id, 'CONFIRMED', first!.transactionId]]);
    expect((await gql<EP>(`query($id: ID!) { node(id: $id) { ... on ExpectedPayment { ${EP_FIELDS} } } }`, { id: ep.id })).status).toBe('PAID');

    // A card-style correction: booked for less than the pending amount the match allocated.
    const ep2 = (await create({ amount: { amount: '80.00', currency: 'EUR' } })).expectedPayment!;
    const bankId2 = `pending2-${Date.now()}`;
    await bankPays([{ amount: '80.00', status: 'PENDING', bankTransactionId: bankId2, remittanceInformation: ep2.creditorReference }]);
    await syncNow(account);
    expect((await gql<EP>(`query($id: ID!) { node(id: $id) { ... on ExpectedPayment { ${EP_FIELDS} } } }`, { id: ep2.id })).status).toBe('PAID');
    expect((await gql<{ userErrors: UserErrors }>(BOOK, { input: { accountId: account, bankTransactionId: bankId2, amount: '50.00' } })).userErrors).toEqual(
      [],
    );
    await syncNow(account);
    const rematched = (await gql<{ nodes: Match[] }>(MATCHES, { ep: ep2.id })).nodes;
    expect(rematched.map((m) => [m.status, m.decidedBy === 'sync' ? 'sync' : m.decidedBy, m.allocations[0]!.amount.amount])).toEqual([
      ['UNDONE', 'sync', '80.00'],
      ['CONFIRMED', 'matcher', '50.00'],
    ]);
    const after = await gql<EP>(`query($id: ID!) { node(id: $id) { ... on ExpectedPayment { ${EP_FIELDS} } } }`, { id: ep2.id });
    expect([after.status, after.paidAmount.amount]).toEqual(['PARTIALLY_PAID', '50.00']);
  });

  it('reopens an expected payment when the bank no longer reports the transaction that paid it', async () => {
    const ep = (await create({ amount: { amount: '44.40', currency: 'EUR' } })).expectedPayment!;
    await bankPays([{ amount: '44.40', remittanceInformation: ep.creditorReference }]);
    await syncNow(account);
    const [m] = (await gql<{ nodes: Match[] }>(MATCHES, { ep: ep.id })).nodes;
    expect(m!.status).toBe('CONFIRMED');
    // What a sync does when the bank stops listing a transaction: mark it removed, then the hook, in one transaction.
    const txId = parseGlobalId(m!.transactionId)!.id;
    const accountId = parseGlobalId(account)!.id;
    const client = await t.gateway.db.sql.connect();
    try {
      await client.query('begin');
      await client.query('update bank_transaction set removed_at = now() where id = $1', [txId]);
      const { rows } = await client.query<{ tenant_id: string }>('select tenant_id from bank_transaction where id = $1', [txId]);
      const events = await t.gateway.services.reconciliation.onSyncWrite(client, {
        tenantId: rows[0]!.tenant_id,
        accountId,
        added: [],
        modified: [],
        removed: [txId],
      });
      await client.query('commit');
      expect(events).toEqual([]);
    } finally {
      client.release();
    }
    expect((await gql<EP>(`query($id: ID!) { node(id: $id) { ... on ExpectedPayment { ${EP_FIELDS} } } }`, { id: ep.id })).status).toBe('OPEN');
    expect((await gql<Match>(`query($id: ID!) { node(id: $id) { ... on ReconciliationMatch { ${MATCH_FIELDS} } } }`, { id: m!.id })).status).toBe('REVERSED');
  });
});

describe('the walkthrough: an invoice paid end to end', () => {
  it('expected payment → RF reference → the customer’s transfer at the sandbox bank → a signed EXPECTED_PAYMENT_PAID webhook', async () => {
    const bodies: { body: string; headers: Record<string, string> }[] = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        bodies.push({
          body,
          headers: {
            'webhook-id': String(req.headers['webhook-id']),
            'webhook-timestamp': String(req.headers['webhook-timestamp']),
            'webhook-signature': String(req.headers['webhook-signature']),
          },
        });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const hook = await gql<{ secret: string; userErrors: UserErrors }>(
        'mutation($input: WebhookEndpointCreateInput!) { webhookEndpointCreate(input: $input) { secret userErrors { field code message } } }',
        { input: { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`, eventTypes: ['EXPECTED_PAYMENT_PAID'] } },
      );
      expect(hook.userErrors).toEqual([]);
      const ep = (await create({ amount: { amount: '120.00', currency: 'EUR' }, invoiceReference: 'INV-2026-0042', externalId: 'walkthrough-42' }))
        .expectedPayment!;
      await bankPays([{ amount: '120.00', counterpartyName: 'Café Lumière', remittanceInformation: `Facture ${ep.creditorReference}` }]);
      await syncNow(account);
      const deadline = Date.now() + 30_000;
      const mine = () =>
        bodies
          .map((b) => ({
            ...b,
            event: new Webhook(hook.secret).verify(b.body, b.headers) as {
              type: string;
              data: { payload: { expectedPaymentId: string; status: string; externalId: string } };
            },
          }))
          .find((b) => b.event.data.payload.expectedPaymentId === ep.id);
      while (!mine() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(mine()?.event).toMatchObject({
        type: 'EXPECTED_PAYMENT_PAID',
        data: { payload: { expectedPaymentId: ep.id, status: 'PAID', externalId: 'walkthrough-42' } },
      });
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('refuses sandboxCustomerPaymentsBook for unknown expected payments and another tenant’s account', async () => {
    const BOOK =
      'mutation($input: SandboxCustomerPaymentsBookInput!) { sandboxCustomerPaymentsBook(input: $input) { truth { kind } userErrors { field code message } } }';
    const ep = (await create({})).expectedPayment!;
    const unknown = await gql<{ truth: unknown; userErrors: UserErrors }>(BOOK, {
      input: { accountId: account, expectedPaymentIds: [ep.id, 'bm9wZQ'], seed: 7 },
    });
    expect(unknown.userErrors).toEqual([expect.objectContaining({ field: ['input', 'expectedPaymentIds'], code: 'NOT_FOUND' })]);
    const foreign = await gql<{ truth: unknown; userErrors: UserErrors }>(
      BOOK,
      { input: { accountId: account, expectedPaymentIds: [ep.id], seed: 7 } },
      otherKey,
    );
    expect(foreign.userErrors).toEqual([expect.objectContaining({ field: ['input', 'accountId'], code: 'NOT_FOUND' })]);
  });
});
