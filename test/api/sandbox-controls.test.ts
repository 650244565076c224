import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startSandbox, type Running } from '../../sandbox/testing/harness';
import { toGlobalId } from '../../src/api/relay/global-id';
import { sandboxAdminToken, sandboxPartition } from '../../src/gateway';
import { startTestGateway, type GqlResult, type TestGateway } from '../helpers/gateway';
import { accountState, accountsOf, control, institutionGid, RETURN_URL, settled } from '../helpers/banking';

type UserErrors = { field: string[]; code: string; message: string }[];
type ConsentOut = { id: string; status: string; accounts: { id: string; iban: string | null }[] };

const AUTHORIZE = `mutation($input: SandboxConsentAuthorizeInput!) { sandboxConsentAuthorize(input: $input) { consent { id status accounts { id iban } } userErrors { field code message } } }`;
const CREATE_TX = `mutation($input: SandboxTransactionsCreateInput!) { sandboxTransactionsCreate(input: $input) {
  transactions { bankTransactionId status amount { amount currency } bookingDate valueDate } userErrors { field code message } } }`;
const BOOK = `mutation($input: SandboxTransactionBookInput!) { sandboxTransactionBook(input: $input) {
  transaction { bankTransactionId status amount { amount currency } bookingDate } userErrors { field code message } } }`;
const EXPIRE = `mutation($input: SandboxConsentExpireInput!) { sandboxConsentExpire(input: $input) { consent { id status } userErrors { field code message } } }`;
const FAULTS = `mutation($input: SandboxFaultSetInput!) { sandboxFaultSet(input: $input) {
  faults { id kind route method status retryAfterSeconds latencyMs times remaining } userErrors { field code message } } }`;
const CLOCK = `mutation($input: SandboxClockAdvanceInput!) { sandboxClockAdvance(input: $input) { institutionId now today userErrors { field code message } } }`;
const RESET = `mutation($input: SandboxResetInput) { sandboxReset(input: $input) { institutionIds userErrors { field code message } } }`;
const SYNC = `mutation($id: ID!) { accountSync(id: $id, input: { mode: USER_PRESENT, psuIpAddress: "203.0.113.7" }) { account { syncStatus } userErrors { code message } } }`;
const FEED = `query($id: ID!, $cursor: String) { transactionsSync(accountId: $id, cursor: $cursor, count: 500) {
  added { id status amount { amount } bankTransactionId } modified { id status amount { amount } bankTransactionId pendingOf { bankTransactionId amount { amount } } } removed nextCursor hasMore } }`;

type Tx = {
  id: string;
  status: string;
  amount: { amount: string };
  bankTransactionId: string | null;
  pendingOf?: { bankTransactionId: string | null; amount: { amount: string } } | null;
};
type Feed = { transactionsSync: { added: Tx[]; modified: Tx[]; removed: string[]; nextCursor: string; hasMore: boolean } };

let t: TestGateway;
let key: string;
let otherKey: string;
let liveKey: string;

/** The payload of a mutation, failing the test on a top-level error. */
async function call<T>(query: string, input: unknown, k = key, gw = t): Promise<T> {
  const r = await gw.gql<Record<string, T>>(query, { input }, k);
  if (!r.body.data) throw new Error(JSON.stringify(r.body.errors));
  return Object.values(r.body.data)[0]!;
}

async function endUser(k: string, ref: string, gw = t): Promise<string> {
  const r = await gw.gql<{ endUserCreate: { endUser: { id: string } } }>(
    'mutation($r: String!) { endUserCreate(input: { externalRef: $r }) { endUser { id } } }',
    { r: ref },
    k,
  );
  return r.body.data!.endUserCreate.endUser.id;
}

/** A consent waiting for SCA; `bank` null: the hosted picker. */
async function pending(
  k: string,
  endUserId: string,
  bank: string | null,
  extra: Record<string, unknown> = {},
  gw = t,
): Promise<{ id: string; authorizationUrl: string | null }> {
  const r = await gw.gql<{ consentCreate: { consent: { id: string }; authorizationUrl: string | null; userErrors: UserErrors } }>(
    'mutation($input: ConsentCreateInput!) { consentCreate(input: $input) { consent { id } authorizationUrl userErrors { field code message } } }',
    { input: { endUserId, institutionId: bank && institutionGid(bank), scopes: ['ACCOUNTS', 'BALANCES', 'TRANSACTIONS'], redirectUri: RETURN_URL, ...extra } },
    k,
  );
  const p = r.body.data!.consentCreate;
  expect(p.userErrors).toEqual([]);
  return { id: p.consent.id, authorizationUrl: p.authorizationUrl };
}

async function authorize(consentId: string, more: Record<string, unknown> = {}, k = key, gw = t) {
  return call<{ consent: ConsentOut | null; userErrors: UserErrors }>(AUTHORIZE, { consentId, ...more }, k, gw);
}

async function statusOf(consentId: string, k = key, gw = t): Promise<string> {
  return (await gw.gql<{ node: { status: string } }>('query($id: ID!) { node(id: $id) { ... on Consent { status } } }', { id: consentId }, k)).body.data!.node
    .status;
}

/** Syncs an account now (end user present) and waits for the result. */
async function syncNow(accountId: string, k = key, gw = t) {
  const before = (await gw.gql<{ account: { lastSyncedAt: string | null } }>('query($id: ID!) { account(id: $id) { lastSyncedAt } }', { id: accountId }, k))
    .body.data!.account.lastSyncedAt;
  const r = await gw.gql<{ accountSync: { userErrors: UserErrors } }>(SYNC, { id: accountId }, k);
  expect(r.body.data!.accountSync.userErrors).toEqual([]);
  return settled(gw, k, accountId, before);
}

/** Reads the change feed from `cursor` to its end. */
async function drain(accountId: string, cursor: string | null): Promise<{ added: Tx[]; modified: Tx[]; cursor: string }> {
  const added: Tx[] = [];
  const modified: Tx[] = [];
  for (;;) {
    const page = (await t.gql<Feed>(FEED, { id: accountId, cursor }, key)).body.data!.transactionsSync;
    added.push(...page.added);
    modified.push(...page.modified);
    cursor = page.nextCursor;
    if (!page.hasMore) return { added, modified, cursor };
  }
}

// Three gateways, started together: the one most tests use (in-process sandbox), one without sandbox
// banks, and one using a standalone sandbox (SANDBOX_URL).
let bare: TestGateway;
let remote: TestGateway;
let standalone: Running;

beforeAll(async () => {
  standalone = await startSandbox({ now: new Date() });
  [t, bare, remote] = await Promise.all([
    startTestGateway(),
    startTestGateway({ env: { SANDBOX_BANKS: 'false' } }),
    startTestGateway({ env: { SANDBOX_URL: `${standalone.url}/sandbox`, SANDBOX_ADMIN_TOKEN: ADMIN_TOKEN } }),
  ]);
  key = (await t.createTenant('Sandbox CI')).key;
  otherKey = (await t.createTenant('Someone else')).key;
  liveKey = (await t.createTenant('Live Ltd', 'live')).key;
});
afterAll(async () => {
  await Promise.all([t?.close(), bare?.close(), remote?.close()]);
  await standalone?.close();
});

describe('sandboxConsentAuthorize', () => {
  let alice: string;
  beforeAll(async () => {
    alice = await endUser(key, 'ci-alice');
  });

  it.each([
    ['nordlicht', {}],
    ['brabant', { psuId: 'alice' }], // created for decoupled SCA: completed through a fresh redirect authorisation
    ['rivage', {}],
    ['thames', {}],
  ])('approves a pending consent at %s as alice without a browser: ACTIVE, accounts listed, initial sync queued', async (bank, extra) => {
    const c = await pending(key, alice, bank, extra);
    const r = await authorize(c.id);
    expect(r.userErrors).toEqual([]);
    expect(r.consent!.status).toBe('ACTIVE');
    expect(r.consent!.accounts.length).toBeGreaterThan(0);
    const s = await accountState(t, key, r.consent!.accounts[0]!.id);
    expect(['QUEUED', 'RUNNING', 'SUCCEEDED']).toContain(s.syncStatus);
  });

  it('rejects a pending consent as the end user pressing Cancel: REJECTED', async () => {
    const c = await pending(key, alice, 'nordlicht');
    const r = await authorize(c.id, { decision: 'REJECT' });
    expect(r.userErrors).toEqual([]);
    expect(r.consent!.status).toBe('REJECTED');
    expect(r.consent!.accounts).toEqual([]);
  });

  it('lets the test user’s documented behaviour decide: rejecter declines, locked cannot log in (a userError on username, the consent still waiting)', async () => {
    const declined = await authorize((await pending(key, alice, 'thames')).id, { username: 'rejecter' });
    expect(declined.consent!.status).toBe('REJECTED');

    const c = await pending(key, alice, 'rivage');
    const locked = await authorize(c.id, { username: 'locked' });
    expect(locked.consent).toBeNull();
    expect(locked.userErrors).toMatchObject([{ field: ['input', 'username'], code: 'INVALID_STATE' }]);
    expect(locked.userErrors[0]!.message).toMatch(/locked/);
    expect(await statusOf(c.id)).toBe('PENDING_AUTHORIZATION');
  });

  it('refuses an unknown test user on username before touching the consent, whose authorisation link keeps working', async () => {
    const c = await pending(key, alice, 'nordlicht');
    const r = await authorize(c.id, { username: 'mallory' });
    expect(r).toMatchObject({ consent: null, userErrors: [{ field: ['input', 'username'], code: 'NOT_FOUND' }] });
    expect(await statusOf(c.id)).toBe('PENDING_AUTHORIZATION');
    const page = await fetch(c.authorizationUrl!.replace(t.gateway.publicUrl, t.gateway.baseUrl));
    expect(page.status).toBeLessThan(400);
  });

  it('answers INVALID_STATE for an ACTIVE consent and for one still waiting on the hosted bank picker', async () => {
    const c = await pending(key, alice, 'nordlicht');
    expect((await authorize(c.id)).consent!.status).toBe('ACTIVE');
    expect(await authorize(c.id)).toMatchObject({ consent: null, userErrors: [{ field: ['input', 'consentId'], code: 'INVALID_STATE' }] });
    const picker = await pending(key, alice, null);
    expect(await authorize(picker.id)).toMatchObject({ consent: null, userErrors: [{ field: ['input', 'consentId'], code: 'INVALID_STATE' }] });
  });

  it('answers NOT_FOUND for another tenant’s consent and for ids that are not consents', async () => {
    const theirs = await pending(otherKey, await endUser(otherKey, 'their-user'), 'nordlicht');
    for (const consentId of [theirs.id, 'garbage', toGlobalId('Account', '00000000-0000-0000-0000-000000000000')]) {
      expect(await authorize(consentId)).toMatchObject({ consent: null, userErrors: [{ field: ['input', 'consentId'], code: 'NOT_FOUND' }] });
    }
    expect(await statusOf(theirs.id, otherKey)).toBe('PENDING_AUTHORIZATION');
  });
});

describe('bank data controls', () => {
  let accountId: string;
  let bankAccountId: string;
  let consentId: string;

  beforeAll(async () => {
    const c = await pending(key, await endUser(key, 'ledger-user'), 'nordlicht');
    consentId = (await authorize(c.id)).consent!.id;
    const account = (await accountsOf(t, key, consentId)).find((a) => a.iban)!;
    accountId = account.id;
    bankAccountId = account.bankAccountId;
    await settled(t, key, accountId, null);
  });

  const ledgerIds = async () =>
    (await control<{ transactions: { id: string }[] }>(t, 'GET', `/banks/nordlicht/accounts/${encodeURIComponent(bankAccountId)}/ledger`)).transactions.map(
      (x) => x.id,
    );

  it('adds a transaction at the bank that the gateway shows in transactionsSync after the next sync', async () => {
    const { cursor } = await drain(accountId, null);
    const r = await call<{
      transactions: { bankTransactionId: string; status: string; amount: { amount: string; currency: string }; bookingDate: string }[];
      userErrors: UserErrors;
    }>(CREATE_TX, {
      accountId,
      transactions: [
        {
          amount: '-12.3',
          counterpartyName: 'Kiosk am Eck',
          counterpartyIban: 'DE89 3704 0044 0532 0130 00',
          remittanceInformation: 'Zeitung',
          bankTransactionId: 'ci-kiosk-1',
        },
      ],
    });
    expect(r.userErrors).toEqual([]);
    expect(r.transactions).toMatchObject([{ bankTransactionId: 'ci-kiosk-1', status: 'BOOKED', amount: { amount: '-12.30', currency: 'EUR' } }]);
    expect(await ledgerIds()).toContain('ci-kiosk-1');
    expect((await drain(accountId, cursor)).added).toEqual([]); // not before the gateway asks the bank
    expect((await syncNow(accountId)).syncStatus).toBe('SUCCEEDED');
    const feed = await drain(accountId, cursor);
    expect(feed.added.map((x) => [x.bankTransactionId, x.amount.amount, x.status])).toEqual([['ci-kiosk-1', '-12.30', 'BOOKED']]);
  });

  it('books a pending transaction under a new bank id and amount: after the sync the same gateway transaction is BOOKED (modified, not added)', async () => {
    const created = await call<{ userErrors: UserErrors }>(CREATE_TX, {
      accountId,
      transactions: [{ amount: '-20.00', status: 'PENDING', counterpartyName: 'Trattoria Roma', bankTransactionId: 'ci-tip-pending' }],
    });
    expect(created.userErrors).toEqual([]);
    await syncNow(accountId);
    const { added, cursor } = await drain(accountId, null); // the whole feed: each transaction once, in its latest state
    const pendingTx = added.find((x) => x.bankTransactionId === 'ci-tip-pending')!;
    expect(pendingTx.status).toBe('PENDING');

    const booked = await call<{ transaction: { bankTransactionId: string; status: string; amount: { amount: string } } | null; userErrors: UserErrors }>(BOOK, {
      accountId,
      bankTransactionId: 'ci-tip-pending',
      newBankTransactionId: 'ci-tip-booked',
      amount: '-23.00',
    });
    expect(booked).toMatchObject({ transaction: { bankTransactionId: 'ci-tip-booked', status: 'BOOKED', amount: { amount: '-23.00' } }, userErrors: [] });
    await syncNow(accountId);
    const feed = await drain(accountId, cursor);
    expect(feed.added).toEqual([]);
    expect(feed.modified).toMatchObject([{ id: pendingTx.id, status: 'BOOKED', amount: { amount: '-23.00' }, pendingOf: { amount: { amount: '-20.00' } } }]);

    // Booking it again, or an id the bank does not have, changes nothing.
    const again = await call<{ userErrors: UserErrors }>(BOOK, { accountId, bankTransactionId: 'ci-tip-booked' });
    expect(again.userErrors).toMatchObject([{ field: ['input', 'bankTransactionId'], code: 'INVALID_STATE' }]);
    const unknown = await call<{ userErrors: UserErrors }>(BOOK, { accountId, bankTransactionId: 'no-such-tx' });
    expect(unknown.userErrors).toMatchObject([{ field: ['input', 'bankTransactionId'], code: 'NOT_FOUND' }]);
  });

  it.each([
    ['nordlicht', {}],
    ['brabant', { psuId: 'alice' }],
    ['rivage', {}],
    ['thames', {}],
  ])('adds a transaction to every account of alice at %s, card accounts included, shown after the next sync', async (bank, extra) => {
    const c = await pending(key, await endUser(key, `every-account-${bank}`), bank, extra);
    const accounts = await accountsOf(t, key, (await authorize(c.id)).consent!.id);
    expect(accounts.length).toBeGreaterThan(1);
    for (const account of accounts) {
      await settled(t, key, account.id, null);
      const { cursor } = await drain(account.id, null);
      const bankTransactionId = `ci-${bank}-${account.internalId.slice(0, 8)}`;
      const r = await call<{ userErrors: UserErrors }>(CREATE_TX, { accountId: account.id, transactions: [{ amount: '-4.20', bankTransactionId }] });
      expect(r.userErrors, account.bankAccountId).toEqual([]);
      expect((await syncNow(account.id)).syncStatus).toBe('SUCCEEDED');
      expect((await drain(account.id, cursor)).added.map((x) => [x.bankTransactionId, x.amount.amount])).toEqual([[bankTransactionId, '-4.20']]);
    }
  });

  it('refuses every control at a bank reached through the GoCardless upstream with NOT_SUPPORTED, saying why, and leaves the consent as it was', async () => {
    const c = await pending(key, await endUser(key, 'through-upstream'), 'gc-nordlicht');
    const consent = (await authorize(c.id)).consent!;
    expect(consent.status).toBe('ACTIVE');
    const accountId = consent.accounts[0]!.id;
    const institutionId = institutionGid('gc-nordlicht');
    const answers = [
      await call<{ userErrors: UserErrors }>(CREATE_TX, { accountId, transactions: [{ amount: '-1.00' }] }),
      await call<{ userErrors: UserErrors }>(BOOK, { accountId, bankTransactionId: 'any' }),
      await call<{ userErrors: UserErrors }>(EXPIRE, { consentId: consent.id }),
      await call<{ userErrors: UserErrors }>(FAULTS, { institutionId, faults: [] }),
      await call<{ userErrors: UserErrors }>(CLOCK, { institutionId, days: 1 }),
      await call<{ userErrors: UserErrors }>(RESET, { institutionId }),
    ];
    for (const a of answers) {
      expect(a.userErrors).toHaveLength(1);
      expect(a.userErrors[0]).toMatchObject({
        code: 'NOT_SUPPORTED',
        message: expect.stringContaining('reached through the sandbox’s GoCardless Bank Account Data upstream'),
      });
    }
    expect(await statusOf(consent.id)).toBe('ACTIVE');
  });

  it('refuses bad transactions with userErrors at their fields and adds none of the batch', async () => {
    const before = await ledgerIds();
    const cases: [unknown[], string[], string][] = [
      [[], ['input', 'transactions'], 'BLANK'],
      [Array.from({ length: 101 }, () => ({ amount: '-1.00' })), ['input', 'transactions'], 'OUT_OF_RANGE'],
      [[{ amount: '-1.00' }, { amount: '0.00' }], ['input', 'transactions', '1', 'amount'], 'INVALID_AMOUNT'],
      [[{ amount: '-1.001' }], ['input', 'transactions', '0', 'amount'], 'AMOUNT_PRECISION'],
      [[{ amount: '-1.00', counterpartyIban: 'DE89 3704 0044 0532 0130 01' }], ['input', 'transactions', '0', 'counterpartyIban'], 'INVALID_IBAN'],
      [[{ amount: '-1.00', counterpartyName: 'x'.repeat(71) }], ['input', 'transactions', '0', 'counterpartyName'], 'TOO_LONG'],
      [[{ amount: '-1.00', remittanceInformation: 'x'.repeat(141) }], ['input', 'transactions', '0', 'remittanceInformation'], 'TOO_LONG'],
      [
        [
          { amount: '-1.00', bankTransactionId: 'twice' },
          { amount: '-2.00', bankTransactionId: 'twice' },
        ],
        ['input', 'transactions', '1', 'bankTransactionId'],
        'TAKEN',
      ],
      [[{ amount: '-1.00', bankTransactionId: 'ci-kiosk-1' }], ['input', 'transactions'], 'TAKEN'], // taken at the bank
    ];
    for (const [transactions, field, code] of cases) {
      const r = await call<{ transactions: unknown; userErrors: UserErrors }>(CREATE_TX, { accountId, transactions });
      expect(r.transactions, code).toBeNull();
      expect(r.userErrors, JSON.stringify(transactions).slice(0, 80)).toContainEqual(expect.objectContaining({ field, code }));
    }
    expect(await ledgerIds()).toEqual(before);
    // Not a Decimal at all: the GraphQL layer refuses it with a coded error.
    const notDecimal = await t.gql(CREATE_TX, { input: { accountId, transactions: [{ amount: '1e3' }] } }, key);
    expect(notDecimal.body.errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');
  });

  it('answers NOT_FOUND for another tenant’s account and for garbage ids', async () => {
    const theirConsent = await pending(otherKey, await endUser(otherKey, 'their-ledger'), 'nordlicht');
    const their = await authorize(theirConsent.id, {}, otherKey);
    expect(their.userErrors).toEqual([]);
    const theirs = their.consent!.accounts[0]!.id;
    for (const id of [theirs, 'garbage', consentId]) {
      const r = await call<{ userErrors: UserErrors }>(CREATE_TX, { accountId: id, transactions: [{ amount: '-1.00' }] });
      expect(r.userErrors).toMatchObject([{ field: ['input', 'accountId'], code: 'NOT_FOUND' }]);
      const b = await call<{ userErrors: UserErrors }>(BOOK, { accountId: id, bankTransactionId: 'x' });
      expect(b.userErrors).toMatchObject([{ field: ['input', 'accountId'], code: 'NOT_FOUND' }]);
    }
  });

  it('makes the next sync fail with a STATUS 500 fault, and an empty fault list clears it', async () => {
    const set = await call<{
      faults: { id: string; kind: string; route: string; status: number; times: number | null; remaining: number | null }[];
      userErrors: UserErrors;
    }>(FAULTS, {
      institutionId: institutionGid('nordlicht'),
      faults: [{ kind: 'STATUS', status: 500, route: 'transactions' }],
    });
    expect(set.userErrors).toEqual([]);
    expect(set.faults).toMatchObject([{ kind: 'STATUS', status: 500, route: 'transactions', times: null, remaining: null }]);
    expect((await syncNow(accountId)).syncStatus).toBe('FAILED');

    const cleared = await call<{ faults: unknown[]; userErrors: UserErrors }>(FAULTS, { institutionId: institutionGid('nordlicht'), faults: [] });
    expect(cleared).toEqual({ faults: [], userErrors: [] });
    expect(await control(t, 'GET', '/banks/nordlicht/faults')).toEqual({ faults: [] });
    expect((await syncNow(accountId)).syncStatus).toBe('SUCCEEDED');
  });

  it('refuses bad fault rules and leaves the bank’s faults as they were', async () => {
    await call(FAULTS, { institutionId: institutionGid('nordlicht'), faults: [{ kind: 'LATENCY', latencyMs: 1, times: 1, route: 'never-matches' }] });
    const cases: [Record<string, unknown>, string, string][] = [
      [{ kind: 'STATUS', status: 200 }, 'status', 'OUT_OF_RANGE'],
      [{ kind: 'RATE_LIMIT', retryAfterSeconds: -1 }, 'retryAfterSeconds', 'OUT_OF_RANGE'],
      [{ kind: 'TIMEOUT', times: 0 }, 'times', 'OUT_OF_RANGE'],
      [{ kind: 'STATUS', method: 'G E T' }, 'method', 'INVALID'],
      [{ kind: 'STATUS', route: 'x'.repeat(201) }, 'route', 'TOO_LONG'],
    ];
    for (const [fault, field, code] of cases) {
      const r = await call<{ faults: unknown; userErrors: UserErrors }>(FAULTS, {
        institutionId: institutionGid('nordlicht'),
        faults: [{ kind: 'LATENCY' }, fault],
      });
      expect(r).toMatchObject({ faults: null, userErrors: [{ field: ['input', 'faults', '1', field], code }] });
    }
    for (const institutionId of ['garbage', institutionGid('no-such-bank')]) {
      expect(await call(FAULTS, { institutionId, faults: [] })).toMatchObject({
        faults: null,
        userErrors: [{ field: ['input', 'institutionId'], code: 'NOT_FOUND' }],
      });
    }
    expect((await control<{ faults: { route: string }[] }>(t, 'GET', '/banks/nordlicht/faults')).faults).toMatchObject([{ route: 'never-matches' }]);
    await call(FAULTS, { institutionId: institutionGid('nordlicht'), faults: [] });
  });
});

describe('consent and clock controls', () => {
  it('expires a consent at the bank; the gateway finds out at the next sync (REAUTH_REQUIRED or EXPIRED)', async () => {
    const c = await pending(key, await endUser(key, 'expire-user'), 'thames');
    const active = (await authorize(c.id)).consent!;
    await settled(t, key, active.accounts[0]!.id, null);
    const r = await call<{ consent: { id: string; status: string } | null; userErrors: UserErrors }>(EXPIRE, { consentId: c.id });
    expect(r).toEqual({ consent: { id: c.id, status: 'ACTIVE' }, userErrors: [] }); // the gateway is not told
    expect((await syncNow(active.accounts[0]!.id)).syncStatus).toBe('CONSENT_INVALID');
    expect(['REAUTH_REQUIRED', 'EXPIRED']).toContain(await statusOf(c.id));

    // The CI way back: consentRenew, then authorise the renewal headlessly — same consent, same accounts.
    const renewed = await t.gql<{ consentRenew: { userErrors: UserErrors } }>(
      'mutation($id: ID!) { consentRenew(id: $id) { userErrors { field code message } } }',
      { id: c.id },
      key,
    );
    expect(renewed.body.data!.consentRenew.userErrors).toEqual([]);
    const back = await authorize(c.id);
    expect(back.userErrors).toEqual([]);
    expect(back.consent!.status).toBe('ACTIVE');
    expect(back.consent!.accounts.map((a) => a.id).sort()).toEqual(active.accounts.map((a) => a.id).sort());
  });

  it('refuses to expire a consent that is not authorised, is at a STET bank, belongs to another tenant or is garbage', async () => {
    const u = await endUser(key, 'expire-errors');
    const waiting = await pending(key, u, 'nordlicht');
    expect(await call(EXPIRE, { consentId: waiting.id })).toMatchObject({
      consent: null,
      userErrors: [{ field: ['input', 'consentId'], code: 'INVALID_STATE' }],
    });
    const stet = (await authorize((await pending(key, u, 'rivage')).id)).consent!;
    expect(await call(EXPIRE, { consentId: stet.id })).toMatchObject({ consent: null, userErrors: [{ field: ['input', 'consentId'], code: 'NOT_SUPPORTED' }] });
    const theirs = await pending(otherKey, await endUser(otherKey, 'their-expire'), 'nordlicht');
    for (const consentId of [theirs.id, 'garbage']) {
      expect(await call(EXPIRE, { consentId })).toMatchObject({ consent: null, userErrors: [{ field: ['input', 'consentId'], code: 'NOT_FOUND' }] });
    }
  });

  it('moves a bank’s clock forward and answers its new now and today', async () => {
    const before = await control<{ now: string }>(t, 'GET', '/banks/brabant/clock');
    const r = await call<{ institutionId: string; now: string; today: string; userErrors: UserErrors }>(CLOCK, {
      institutionId: institutionGid('brabant'),
      days: 1,
      hours: 2,
      minutes: 3,
      seconds: 4,
    });
    expect(r.userErrors).toEqual([]);
    expect(r.institutionId).toBe(institutionGid('brabant'));
    const moved = (Date.parse(r.now) - Date.parse(before.now)) / 1000;
    expect(moved).toBeGreaterThanOrEqual(93_784);
    expect(moved).toBeLessThan(93_784 + 30);
    expect(r.today).toBe(r.now.slice(0, 10));
  });

  it('refuses a clock move that is negative, empty, too large or at no sandbox bank', async () => {
    const bank = institutionGid('brabant');
    const cases: [Record<string, unknown>, string[], string][] = [
      [{ institutionId: bank, days: -1 }, ['input', 'days'], 'OUT_OF_RANGE'],
      [{ institutionId: bank, seconds: 10, minutes: -5 }, ['input', 'minutes'], 'OUT_OF_RANGE'],
      [{ institutionId: bank }, ['input'], 'BLANK'],
      [{ institutionId: bank, days: 0 }, ['input'], 'BLANK'],
      [{ institutionId: bank, days: 3650, seconds: 1 }, ['input'], 'OUT_OF_RANGE'],
      [{ institutionId: 'garbage', days: 1 }, ['input', 'institutionId'], 'NOT_FOUND'],
    ];
    for (const [input, field, code] of cases) {
      expect(await call(CLOCK, input), JSON.stringify(input)).toMatchObject({ now: null, userErrors: [expect.objectContaining({ field, code })] });
    }
  });
});

describe('refusals', () => {
  const calls: [string, string, Record<string, unknown>][] = [
    ['sandboxConsentAuthorize', AUTHORIZE, { consentId: 'x' }],
    ['sandboxTransactionsCreate', CREATE_TX, { accountId: 'x', transactions: [{ amount: '-1.00' }] }],
    ['sandboxTransactionBook', BOOK, { accountId: 'x', bankTransactionId: 'x' }],
    ['sandboxConsentExpire', EXPIRE, { consentId: 'x' }],
    ['sandboxFaultSet', FAULTS, { institutionId: institutionGid('nordlicht'), faults: [] }],
    ['sandboxClockAdvance', CLOCK, { institutionId: institutionGid('nordlicht'), days: 1 }],
    ['sandboxReset', RESET, {}],
  ];
  const expectSandboxOnly = (r: GqlResult, message: RegExp) => {
    expect(r.status).toBe(403);
    expect(r.body.data ?? null).toBeNull();
    expect(r.body.errors).toMatchObject([{ extensions: { code: 'SANDBOX_ONLY' } }]);
    expect(r.body.errors![0]!.message).toMatch(message);
  };

  it.each(calls)('refuses %s with a live key: SANDBOX_ONLY', async (_name, query, input) => {
    expectSandboxOnly(await t.gql(query, { input }, liveKey), /sandbox keys only/);
  });

  it('refuses every sandbox mutation with SANDBOX_ONLY on a gateway without sandbox banks', async () => {
    const k = (await bare.createTenant('No sandbox')).key;
    for (const [, query, input] of calls) expectSandboxOnly(await bare.gql(query, { input }, k), /no sandbox banks/);
  });

  it('lets the control API walk only pages of its own sandbox', async () => {
    const res = await fetch(`${t.gateway.baseUrl}/sandbox/control/sca/complete`, {
      method: 'POST',
      headers: { authorization: `Bearer ${sandboxAdminToken(t.config)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: 'http://169.254.169.254/latest/meta-data/', username: 'alice' }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('INVALID_INPUT');
  });

  it('never writes the sandbox admin token to the logs', () => {
    expect(t.logs.join('')).not.toContain(sandboxAdminToken(t.config));
    expect(remote.logs.join('')).not.toContain(ADMIN_TOKEN);
  });
});

describe('sandboxReset', () => {
  it('puts one bank back to its seed (added transactions gone), or every bank when no institution is given', async () => {
    const c = await pending(key, await endUser(key, 'reset-user'), 'rivage');
    const account = (await accountsOf(t, key, (await authorize(c.id)).consent!.id)).find((a) => a.iban)!;
    await call(CREATE_TX, { accountId: account.id, transactions: [{ amount: '5.00', bankTransactionId: 'ci-reset-me' }] });
    const ledger = async () =>
      (
        await control<{ transactions: { id: string }[] }>(t, 'GET', `/banks/rivage/accounts/${encodeURIComponent(account.bankAccountId)}/ledger`)
      ).transactions.map((x) => x.id);
    expect(await ledger()).toContain('ci-reset-me');
    expect(await call(RESET, { institutionId: institutionGid('rivage') })).toEqual({ institutionIds: [institutionGid('rivage')], userErrors: [] });
    expect(await ledger()).not.toContain('ci-reset-me');
    const all = await call<{ institutionIds: string[] }>(RESET, null);
    expect(all.institutionIds.sort()).toEqual(['brabant', 'nordlicht', 'rivage', 'thames'].map(institutionGid).sort());
    expect(await call(RESET, { institutionId: 'garbage' })).toMatchObject({
      institutionIds: null,
      userErrors: [{ field: ['input', 'institutionId'], code: 'NOT_FOUND' }],
    });
  });
});

describe('with a standalone sandbox (SANDBOX_URL)', () => {
  it('authorises a consent and adds a transaction through the standalone sandbox’s control API', async () => {
    const { key: k, tenantId } = await remote.createTenant('Remote CI');
    // The tenant's calls reach its own partition of the standalone sandbox.
    const partition = sandboxPartition(remote.config.sandbox.adminToken!, tenantId);
    const c = await pending(k, await endUser(k, 'remote-alice', remote), 'nordlicht', {}, remote);
    const r = await authorize(c.id, {}, k, remote);
    expect(r.consent!.status).toBe('ACTIVE');
    const added = await call<{ transactions: { bankTransactionId: string }[]; userErrors: UserErrors }>(
      CREATE_TX,
      { accountId: r.consent!.accounts.find((a) => a.iban)!.id, transactions: [{ amount: '-1.50', bankTransactionId: 'remote-1' }] },
      k,
      remote,
    );
    expect(added.userErrors).toEqual([]);
    const bankAccounts = await standalone.control<{ accounts: { id: string; iban: string }[] }>(
      'GET',
      '/banks/nordlicht/users/alice/accounts',
      undefined,
      partition,
    );
    const iban = r.consent!.accounts.find((a) => a.iban)!.iban;
    const ledgerPath = `/banks/nordlicht/accounts/${bankAccounts.body.accounts.find((a) => a.iban === iban)!.id}/ledger`;
    const ledger = await standalone.control<{ transactions: { id: string }[] }>('GET', ledgerPath, undefined, partition);
    expect(ledger.body.transactions.map((x) => x.id)).toContain('remote-1');
    // The standalone sandbox's default banks saw nothing of it.
    expect((await standalone.control<{ transactions: { id: string }[] }>('GET', ledgerPath)).body.transactions.map((x) => x.id)).not.toContain('remote-1');
  });
});
