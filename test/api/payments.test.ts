import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { MiniBrowser } from '../../sandbox/testing/harness';
import { parseGlobalId } from '../../src/api/relay/global-id';
import { PAYMENT_POLL_QUEUE } from '../../src/modules/payments/payments.service';
import { ciConfig, startTestGateway, type TestGateway } from '../helpers/gateway';
import { authorise, control, debtorIbanAt, institutionGid, RETURN_URL } from '../helpers/banking';

let t: TestGateway;
let key: string;
let endUserId: string;
const debtor: Record<string, string> = {};
const clients: Client[] = [];

const BANKS = ['nordlicht', 'brabant', 'rivage', 'thames'] as const;
const CREDITOR_EUR = { name: 'Keller Bau GmbH', iban: 'FR1420041010050500013M02606' };
const CREDITOR_GBP = { name: 'Harbour Supplies Ltd', iban: 'GB33BUKB20201555555555' };

beforeAll(async () => {
  t = await startTestGateway();
  ({ key } = await t.createTenant('Paying'));
  const u = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
    'mutation { endUserCreate(input: { externalRef: "payer-1" }) { endUser { id } } }',
    {},
    key,
  );
  endUserId = u.body.data!.endUserCreate.endUser.id;
  for (const bank of BANKS) {
    debtor[bank] = await debtorIbanAt(t, bank);
  }
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
  await t?.close();
});

const INITIATE = `mutation($input: PaymentInitiateInput!, $key: String!) {
  paymentInitiate(input: $input, idempotencyKey: $key) {
    payment { id status rawStatus reasonCode terminal amount { amount currency } scheme creditor { name iban bic } debtorAccount { iban } institution { id } endUser { id } }
    authorizationUrl
    userErrors { field code message }
  }
}`;
type PaymentView = {
  id: string;
  status: string;
  rawStatus: string | null;
  reasonCode: string | null;
  terminal: boolean;
  amount: { amount: string; currency: string };
};
type InitiatePayload = {
  paymentInitiate: { payment: PaymentView | null; authorizationUrl: string | null; userErrors: { field: string[]; code: string; message: string }[] };
};

function input(bank: (typeof BANKS)[number], over: Record<string, unknown> = {}) {
  const gbp = bank === 'thames';
  return {
    institutionId: institutionGid(bank),
    endUserId,
    scheme: gbp ? 'FASTER_PAYMENTS' : 'SEPA_CREDIT_TRANSFER',
    debtorAccount: { iban: debtor[bank] },
    creditor: gbp ? CREDITOR_GBP : CREDITOR_EUR,
    amount: { amount: '12.30', currency: gbp ? 'GBP' : 'EUR' },
    remittanceInformation: gbp ? 'INV 2026-114' : 'Invoice 2026-114',
    redirectUri: RETURN_URL,
    ...over,
  };
}

let keys = 0;
const newKey = () => `test-${Date.now()}-${++keys}`;

async function initiate(bank: (typeof BANKS)[number], over: Record<string, unknown> = {}, idempotencyKey = newKey(), apiKey = key) {
  const r = await t.gql<InitiatePayload>(INITIATE, { input: input(bank, over), key: idempotencyKey }, apiKey);
  if (!r.body.data) throw new Error(JSON.stringify(r.body));
  return r.body.data.paymentInitiate;
}

async function paymentById(id: string) {
  const r = await t.gql<{ node: PaymentView & { statusReason: string | null } }>(
    'query($id: ID!) { node(id: $id) { ... on Payment { id status rawStatus reasonCode statusReason terminal amount { amount currency } } } }',
    { id },
    key,
  );
  return r.body.data!.node;
}

async function untilStatus(id: string, wanted: string[], timeoutMs = 45_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const p = await paymentById(id);
    if (wanted.includes(p.status)) return p;
    if (Date.now() > deadline) throw new Error(`payment stayed ${p.status}, wanted ${wanted.join('|')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The payments the bank holds in a tenant's partition (default: the first tenant's). */
const bankPayments = async (bank: string, tenantId?: string) =>
  (await control<{ payments: { id: string; status: string }[] }>(t, 'GET', `/banks/${bank}/payments`, undefined, tenantId)).payments;
const allBankPayments = async (tenantId?: string) => (await Promise.all(BANKS.map((b) => bankPayments(b, tenantId)))).reduce((n, l) => n + l.length, 0);

/** The end user cancels on the bank's first page; the bank sends them back through the gateway. */
async function cancelAtBank(authorizationUrl: string): Promise<URL> {
  const browser = new MiniBrowser();
  const callback = `${t.gateway.publicUrl}/callback`;
  let back = await browser.go(authorizationUrl, {}, callback);
  back ??= await browser.submit({ action: 'cancel' }, callback);
  if (!back) throw new Error(`bank did not redirect back: ${browser.html.slice(0, 300)}`);
  const final = await browser.go(back.replace(t.gateway.publicUrl, t.gateway.baseUrl), {}, RETURN_URL);
  if (!final) throw new Error(`gateway did not redirect: ${browser.status} ${browser.html.slice(0, 300)}`);
  return new URL(final);
}

/**
 * The payment's status events in log order. With `waitForTerminal`, asks again for a while until
 * the terminal one is readable: it commits with the status, but an event becomes readable only once
 * older transactions on the database server have ended, which a busy CI server can delay.
 */
async function eventsOf(paymentId: string, waitForTerminal = false) {
  for (const deadline = Date.now() + 15_000; ;) {
    const r = await t.gql<{
      events: {
        nodes: { type: string; payload: { paymentId: string; status: string; rawStatus: string | null; reasonCode: string | null; terminal: boolean } }[];
      };
    }>('{ events(first: 500, types: [PAYMENT_STATUS_CHANGED]) { nodes { type payload } } }', {}, key);
    const events = r.body.data!.events.nodes.filter((e) => e.payload.paymentId === paymentId).map((e) => e.payload);
    if (!waitForTerminal || events.at(-1)?.terminal || Date.now() > deadline) return events;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe.each([
  ['nordlicht', 'Berlin Group'],
  ['rivage', 'STET'],
  ['thames', 'UK Open Banking'],
] as const)('a payment at %s (%s)', (bank, _standard) => {
  it('is initiated over GraphQL, approved at the bank’s pages, sends the end user back with success, and reaches EXECUTED with its events and journal', async () => {
    const before = (await bankPayments(bank)).length;
    const started = await initiate(bank);
    expect(started.userErrors).toEqual([]);
    const payment = started.payment!;
    expect(payment.status).toBe('AUTHORIZATION_REQUIRED');
    expect(payment.terminal).toBe(false);
    expect(payment.amount).toEqual({ amount: '12.30', currency: bank === 'thames' ? 'GBP' : 'EUR' });
    expect(started.authorizationUrl).toMatch(/^http/);
    expect((await bankPayments(bank)).length).toBe(before + 1);

    const back = await authorise(t, started.authorizationUrl!, 'alice');
    expect(back.origin + back.pathname).toBe(RETURN_URL);
    expect(back.searchParams.get('outcome')).toBe('success');
    expect(back.searchParams.get('paymentId')).toBe(payment.id);

    const accepted = await untilStatus(payment.id, ['ACCEPTED', 'PENDING', 'EXECUTED']);
    expect(accepted.terminal).toBe(false);
    await control(t, 'POST', `/banks/${bank}/clock/advance`, { seconds: 61 });
    const executed = await untilStatus(payment.id, ['EXECUTED']);
    expect(executed.terminal).toBe(true);
    expect(executed.rawStatus).toBeTruthy();

    const events = await eventsOf(payment.id, true);
    expect(events[0]).toMatchObject({ status: 'AUTHORIZATION_REQUIRED', terminal: false });
    expect(events.at(-1)).toMatchObject({ status: 'EXECUTED', terminal: true });
    expect(events.filter((e) => e.terminal)).toHaveLength(1);

    const audit = await t.gql<{ auditEvents: { nodes: { action: string; resourceId: string | null }[] } }>(
      '{ auditEvents(first: 100) { nodes { action resourceId } } }',
      {},
      key,
    );
    const actions = audit.body.data!.auditEvents.nodes.filter((a) => a.resourceId === payment.id).map((a) => a.action);
    expect(actions).toEqual(expect.arrayContaining(['PAYMENT_INITIATED', 'PAYMENT_AUTHORISED', 'PAYMENT_STATUS_CHANGED']));
  }, 90_000);
});

describe('payments the end user or the bank refuses', () => {
  it('ends REJECTED (DS02) with outcome=rejected when the PSU declines after SCA', async () => {
    const started = await initiate('nordlicht');
    const back = await authorise(t, started.authorizationUrl!, 'rejecter');
    expect(back.searchParams.get('outcome')).toBe('rejected');
    const p = await untilStatus(started.payment!.id, ['REJECTED']);
    expect(p).toMatchObject({ status: 'REJECTED', rawStatus: 'RJCT', reasonCode: 'DS02', terminal: true });
  });

  it('ends REJECTED (AM04) for the insufficient-funds amount 666.00', async () => {
    const started = await initiate('rivage', { amount: { amount: '666.00', currency: 'EUR' } });
    expect(started.userErrors).toEqual([]);
    const back = await authorise(t, started.authorizationUrl!, 'alice');
    expect(back.searchParams.get('outcome')).toBe('rejected');
    const p = await untilStatus(started.payment!.id, ['REJECTED']);
    expect(p).toMatchObject({ rawStatus: 'RJCT', reasonCode: 'AM04', terminal: true });
  });

  it.each(['nordlicht', 'thames'] as const)('ends REJECTED with outcome=rejected, not an error page, when the end user presses Cancel at %s', async (bank) => {
    const started = await initiate(bank);
    const back = await cancelAtBank(started.authorizationUrl!);
    expect(back.searchParams.get('outcome')).toBe('rejected');
    expect(back.searchParams.get('paymentId')).toBe(started.payment!.id);
    const p = await untilStatus(started.payment!.id, ['REJECTED']);
    expect(p.terminal).toBe(true);
  });

  it('ends REJECTED (AB05) when the bank’s SCA times out (PSU timeout)', async () => {
    const started = await initiate('nordlicht');
    const back = await authorise(t, started.authorizationUrl!, 'timeout');
    expect(back.searchParams.get('outcome')).toBe('rejected');
    const p = await untilStatus(started.payment!.id, ['REJECTED']);
    expect(p.terminal).toBe(true);
  });

  it('turns FAILED with its event when the end user never comes back within the authorisation’s lifetime, and a late return is told failed', async () => {
    const started = await initiate('rivage');
    const id = parseGlobalId(started.payment!.id)!.id;
    // Thirty minutes pass (the payment's own clock; the job sent at initiation wakes at this time).
    await t.gateway.db.sql.query(`update payment set attempt_expires_at = now() - interval '1 second' where id = $1`, [id]);
    const { rows } = await t.gateway.db.sql.query<{ n: string }>(`select count(*)::text as n from pgboss.job where name = $1 and data->>'paymentId' = $2`, [
      PAYMENT_POLL_QUEUE,
      id,
    ]);
    expect(Number(rows[0]!.n)).toBe(1); // the expiry check is a durable job
    expect(await t.gateway.services.payments.pollStatus(id, 0, { expiryCheck: true })).toBe('DONE');
    const p = await paymentById(started.payment!.id);
    expect(p).toMatchObject({ status: 'FAILED', terminal: true });
    expect(p.statusReason).toMatch(/in time/);
    expect((await eventsOf(started.payment!.id, true)).at(-1)).toMatchObject({ status: 'FAILED', terminal: true });
    const late = await authorise(t, started.authorizationUrl!, 'alice');
    expect(late.searchParams.get('outcome')).toBe('failed');
    expect((await paymentById(started.payment!.id)).status).toBe('FAILED');
  });
});

describe('cancelling a payment', () => {
  it('cancels a future-dated payment at a Berlin Group bank, then answers NOT_CANCELLABLE once it is final', async () => {
    const date = new Date(Date.now() + 7 * 86_400_000).toISOString().slice(0, 10);
    const started = await initiate('nordlicht', { requestedExecutionDate: date });
    expect(started.userErrors).toEqual([]);
    expect((await authorise(t, started.authorizationUrl!, 'alice')).searchParams.get('outcome')).toBe('success');
    await untilStatus(started.payment!.id, ['ACCEPTED', 'PENDING']);
    const CANCEL = 'mutation($id: ID!) { paymentCancel(id: $id) { payment { id status rawStatus terminal } userErrors { field code } } }';
    const r = await t.gql<{ paymentCancel: { payment: PaymentView | null; userErrors: { code: string }[] } }>(CANCEL, { id: started.payment!.id }, key);
    expect(r.body.data!.paymentCancel.userErrors).toEqual([]);
    expect(r.body.data!.paymentCancel.payment).toMatchObject({ status: 'CANCELLED', rawStatus: 'CANC', terminal: true });
    const again = await t.gql<{ paymentCancel: { userErrors: { code: string }[] } }>(CANCEL, { id: started.payment!.id }, key);
    expect(again.body.data!.paymentCancel.userErrors.map((e) => e.code)).toEqual(['NOT_CANCELLABLE']);
    expect((await eventsOf(started.payment!.id, true)).at(-1)).toMatchObject({ status: 'CANCELLED', terminal: true });
  });

  it('answers NOT_CANCELLABLE at a UK bank, whose standard has no cancellation, and NOT_FOUND for an unknown id', async () => {
    const started = await initiate('thames');
    const CANCEL = 'mutation($id: ID!) { paymentCancel(id: $id) { payment { id } userErrors { field code } } }';
    const r = await t.gql<{ paymentCancel: { userErrors: { code: string }[] } }>(CANCEL, { id: started.payment!.id }, key);
    expect(r.body.data!.paymentCancel.userErrors.map((e) => e.code)).toEqual(['NOT_CANCELLABLE']);
    expect((await paymentById(started.payment!.id)).status).toBe('AUTHORIZATION_REQUIRED');
    const unknown = await t.gql<{ paymentCancel: { userErrors: { code: string }[] } }>(CANCEL, { id: 'nope' }, key);
    expect(unknown.body.data!.paymentCancel.userErrors.map((e) => e.code)).toEqual(['NOT_FOUND']);
  });
});

describe('idempotency', () => {
  it('answers the same payment for the same key and body, spelt differently, with one payment at the bank', async () => {
    const before = (await bankPayments('rivage')).length;
    const k = newKey();
    const first = await initiate('rivage', {}, k);
    const second = await initiate(
      'rivage',
      { creditor: { ...CREDITOR_EUR, iban: 'fr14 2004 1010 0505 0001 3m02 606' }, amount: { amount: '12.3', currency: 'EUR' } },
      k,
    );
    expect(second.userErrors).toEqual([]);
    expect(second.payment!.id).toBe(first.payment!.id);
    expect(second.authorizationUrl).toBe(first.authorizationUrl);
    expect((await bankPayments('rivage')).length).toBe(before + 1);
  });

  it('refuses the same key with another body (IDEMPOTENCY_KEY_REUSED) without calling the bank, but lets another tenant use it', async () => {
    const k = newKey();
    await initiate('nordlicht', {}, k);
    const before = await allBankPayments();
    const other = await initiate('nordlicht', { amount: { amount: '12.31', currency: 'EUR' } }, k);
    expect(other.payment).toBeNull();
    expect(other.userErrors).toEqual([expect.objectContaining({ field: ['idempotencyKey'], code: 'IDEMPOTENCY_KEY_REUSED' })]);
    expect(await allBankPayments()).toBe(before);

    const { key: otherKey, tenantId: otherTenant } = await t.createTenant('Other payer');
    const u = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
      'mutation { endUserCreate(input: { externalRef: "payer-x" }) { endUser { id } } }',
      {},
      otherKey,
    );
    const theirs = await t.gql<InitiatePayload>(
      INITIATE,
      { input: { ...input('nordlicht'), endUserId: u.body.data!.endUserCreate.endUser.id }, key: k },
      otherKey,
    );
    expect(theirs.body.data!.paymentInitiate.userErrors).toEqual([]);
    // Made at the other tenant's own copy of the bank.
    expect(await allBankPayments()).toBe(before);
    expect(await allBankPayments(otherTenant)).toBe(1);
  });

  it('makes one payment at the bank for 50 concurrent requests with one key, and answers all of them with it', async () => {
    const before = (await bankPayments('nordlicht')).length;
    const k = newKey();
    const answers = await Promise.all(Array.from({ length: 50 }, () => initiate('nordlicht', {}, k)));
    expect(answers.every((a) => a.userErrors.length === 0)).toBe(true);
    expect(new Set(answers.map((a) => a.payment!.id)).size).toBe(1);
    expect(new Set(answers.map((a) => a.authorizationUrl)).size).toBe(1);
    expect((await bankPayments('nordlicht')).length).toBe(before + 1);
    const { rows } = await t.gateway.db.sql.query<{ n: string }>(`select count(*)::text as n from payment_idempotency where key = $1`, [k]);
    expect(rows[0]!.n).toBe('1');
  }, 60_000);

  it.skipIf(!ciConfig.databaseUrl)(
    'makes one payment for concurrent requests with one key spread over two gateway instances (needs DATABASE_URL)',
    async () => {
      const second = await startTestGateway({ sameDataAs: t, env: { SYNC_CONCURRENCY: '0' } });
      try {
        const k = newKey();
        const before = (await bankPayments('nordlicht')).length;
        const onSecond = async () => {
          const r = await second.gql<InitiatePayload>(INITIATE, { input: input('nordlicht'), key: k }, key);
          return r.body.data!.paymentInitiate;
        };
        const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? onSecond() : initiate('nordlicht', {}, k))));
        expect(new Set(answers.map((a) => a.payment?.id)).size).toBe(1);
        // The second instance's in-process sandbox is another bank: a payment made there would show up in its count.
        const secondCount = await control<{ payments: unknown[] }>(second, 'GET', '/banks/nordlicht/payments', undefined, t.sandboxTenants[0]);
        expect((await bankPayments('nordlicht')).length - before + secondCount.payments.length).toBe(1);
      } finally {
        await second.close();
      }
    },
    60_000,
  );

  it('refuses a request without an idempotency key (GraphQL validation) and a blank one (userError), calling no bank', async () => {
    const before = await allBankPayments();
    const missing = await t.gql(
      'mutation($input: PaymentInitiateInput!) { paymentInitiate(input: $input) { payment { id } } }',
      { input: input('nordlicht') },
      key,
    );
    expect(missing.status).toBe(400);
    expect(missing.body.errors![0]!.extensions!.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(missing.body.errors![0]!.message).toMatch(/idempotencyKey/);
    const blank = await initiate('nordlicht', {}, '  ');
    expect(blank.userErrors.map((e) => [e.field.join('.'), e.code])).toEqual([['idempotencyKey', 'BLANK']]);
    const long = await initiate('nordlicht', {}, 'k'.repeat(201));
    expect(long.userErrors.map((e) => e.code)).toEqual(['TOO_LONG']);
    expect(await allBankPayments()).toBe(before);
  });
});

describe('bad input', () => {
  const cases: [string, (typeof BANKS)[number], Record<string, unknown>, string, string][] = [
    ['a wrong IBAN checksum', 'nordlicht', { creditor: { name: 'X', iban: 'FR1420041010050500013M02607' } }, 'input.creditor.iban', 'INVALID_IBAN'],
    ['an IBAN in the wrong country format', 'nordlicht', { creditor: { name: 'X', iban: 'DE8937040044053201300' } }, 'input.creditor.iban', 'INVALID_IBAN'],
    ['a malformed debtor IBAN', 'nordlicht', { debtorAccount: { iban: 'DE00 0000' } }, 'input.debtorAccount.iban', 'INVALID_IBAN'],
    ['a malformed BIC', 'nordlicht', { creditor: { ...CREDITOR_EUR, bic: 'NOPE' } }, 'input.creditor.bic', 'INVALID_BIC'],
    ['a currency the scheme does not accept', 'nordlicht', { amount: { amount: '1.00', currency: 'GBP' } }, 'input.amount.currency', 'UNSUPPORTED_CURRENCY'],
    ['a made-up currency', 'nordlicht', { amount: { amount: '1.00', currency: 'XYZ' } }, 'input.amount.currency', 'INVALID'],
    ['a zero amount', 'nordlicht', { amount: { amount: '0.00', currency: 'EUR' } }, 'input.amount.amount', 'INVALID_AMOUNT'],
    ['a negative amount', 'nordlicht', { amount: { amount: '-5.00', currency: 'EUR' } }, 'input.amount.amount', 'INVALID_AMOUNT'],
    ['three decimals in EUR', 'nordlicht', { amount: { amount: '1.005', currency: 'EUR' } }, 'input.amount.amount', 'AMOUNT_PRECISION'],
    ['remittance over 140 characters (SEPA)', 'nordlicht', { remittanceInformation: 'r'.repeat(141) }, 'input.remittanceInformation', 'TOO_LONG'],
    ['a reference over 18 characters (Faster Payments)', 'thames', { remittanceInformation: 'r'.repeat(19) }, 'input.remittanceInformation', 'TOO_LONG'],
    ['an execution date in the past', 'nordlicht', { requestedExecutionDate: '2020-01-01' }, 'input.requestedExecutionDate', 'EXECUTION_DATE_IN_PAST'],
    [
      'an execution date for SEPA Instant',
      'nordlicht',
      { scheme: 'SEPA_INSTANT', requestedExecutionDate: '2099-01-01' },
      'input.requestedExecutionDate',
      'NOT_SUPPORTED',
    ],
    ['the debtor account as creditor', 'nordlicht', { creditor: { name: 'Me' } }, 'input.creditor.iban', 'SAME_ACCOUNT'],
    ['an unknown institution', 'nordlicht', { institutionId: institutionGid('atlantis') }, 'input.institutionId', 'NOT_FOUND'],
    [
      'an institution without the scheme',
      'nordlicht',
      { scheme: 'FASTER_PAYMENTS', amount: { amount: '1.00', currency: 'GBP' }, creditor: CREDITOR_GBP, debtorAccount: null },
      'input.scheme',
      'NOT_SUPPORTED',
    ],
    ['a redirect URI off the allow-list', 'nordlicht', { redirectUri: 'https://evil.example/return' }, 'input.redirectUri', 'NOT_ALLOWED'],
  ];

  it.each(cases)('refuses %s with a userError at its field, calling no bank', async (_name, bank, over, field, code) => {
    const before = await allBankPayments();
    const resolved = { ...over };
    if ((over.creditor as { name?: string } | undefined)?.name === 'Me') resolved.creditor = { name: 'Me', iban: debtor[bank] };
    const r = await initiate(bank, resolved);
    expect(r.payment).toBeNull();
    expect(r.userErrors.map((e) => `${e.field.join('.')}:${e.code}`)).toContain(`${field}:${code}`);
    expect(await allBankPayments()).toBe(before);
  });

  it('refuses another tenant’s end user as not found, calling no bank', async () => {
    const { key: otherKey } = await t.createTenant('Foreign');
    const u = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
      'mutation { endUserCreate(input: { externalRef: "foreign" }) { endUser { id } } }',
      {},
      otherKey,
    );
    const before = await allBankPayments();
    const r = await initiate('nordlicht', { endUserId: u.body.data!.endUserCreate.endUser.id });
    expect(r.userErrors.map((e) => `${e.field.join('.')}:${e.code}`)).toEqual(['input.endUserId:NOT_FOUND']);
    expect(await allBankPayments()).toBe(before);
  });

  it('answers null for another tenant’s payment through node(id:), and lists only the caller’s payments', async () => {
    const mine = await initiate('rivage');
    const { key: otherKey } = await t.createTenant('Nosy');
    const r = await t.gql<{ node: unknown }>('query($id: ID!) { node(id: $id) { id } }', { id: mine.payment!.id }, otherKey);
    expect(r.body.data!.node).toBeNull();
    const list = await t.gql<{ payments: { nodes: unknown[] } }>('{ payments { nodes { id } } }', {}, otherKey);
    expect(list.body.data!.payments.nodes).toEqual([]);
    const own = await t.gql<{ payments: { nodes: { id: string }[] } }>('{ payments(first: 100, status: AUTHORIZATION_REQUIRED) { nodes { id } } }', {}, key);
    expect(own.body.data!.payments.nodes.map((p) => p.id)).toContain(mine.payment!.id);
  });
});

describe('payment status subscriptions', () => {
  it('delivers paymentStatusChanged to a graphql-ws subscriber of the tenant', async () => {
    const client = createClient({
      url: t.gateway.graphqlUrl.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${key}` },
      retryAttempts: 0,
    });
    clients.push(client);
    const received: { id: string; status: string; terminal: boolean }[] = [];
    client.subscribe<{ paymentStatusChanged: { id: string; status: string; terminal: boolean } }>(
      { query: 'subscription { paymentStatusChanged { id status terminal } }' },
      { next: (r) => r.data && received.push(r.data.paymentStatusChanged), error: () => undefined, complete: () => undefined },
    );
    await new Promise((r) => setTimeout(r, 500));
    const started = await initiate('nordlicht');
    await authorise(t, started.authorizationUrl!, 'rejecter');
    const deadline = Date.now() + 15_000;
    while (!received.some((p) => p.id === started.payment!.id && p.terminal) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const mine = received.filter((p) => p.id === started.payment!.id);
    expect(mine.length).toBeGreaterThanOrEqual(2);
    expect(mine.at(-1)).toMatchObject({ status: 'REJECTED', terminal: true });
  });
});
