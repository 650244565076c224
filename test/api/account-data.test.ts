import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ciConfig, startTestGateway, type TestGateway } from '../helpers/gateway';
import { accountState, bankLedger, connect, control, gatewayLedger, settled, type Connected } from '../helpers/banking';
import { addDays, utcDay } from '../../src/modules/sync/budget';
import { parseGlobalId } from '../../src/api/relay/global-id';

let t: TestGateway;
let key: string;
let endUserId: string;

beforeAll(async () => {
  t = await startTestGateway();
  ({ key } = await t.createTenant('Syncing'));
  const u = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
    'mutation { endUserCreate(input: { externalRef: "sme-owner" }) { endUser { id } } }',
    {},
    key,
  );
  endUserId = u.body.data!.endUserCreate.endUser.id;
});
afterAll(async () => t?.close());

const SYNC = `mutation($id: ID!, $input: AccountSyncInput!) { accountSync(id: $id, input: $input) { account { syncStatus } userErrors { field code message } } }`;
type SyncPayload = { accountSync: { account: { syncStatus: string } | null; userErrors: { field: string[]; code: string; message: string }[] } };
const FEED = `query($id: ID!, $cursor: String, $count: Int) { transactionsSync(accountId: $id, cursor: $cursor, count: $count) {
  added { id status amount { amount currency } bankTransactionId pendingOf { bankTransactionId amount { amount } } }
  modified { id status amount { amount currency } bankTransactionId pendingOf { bankTransactionId amount { amount } } }
  removed nextCursor hasMore } }`;
type FeedTx = {
  id: string;
  status: string;
  amount: { amount: string; currency: string };
  bankTransactionId: string | null;
  pendingOf: { bankTransactionId: string | null; amount: { amount: string } } | null;
};
type FeedPage = { transactionsSync: { added: FeedTx[]; modified: FeedTx[]; removed: string[]; nextCursor: string; hasMore: boolean } };

async function requestSync(accountId: string, mode: 'USER_PRESENT' | 'BACKGROUND' = 'USER_PRESENT') {
  return (await t.gql<SyncPayload>(SYNC, { id: accountId, input: { mode, ...(mode === 'USER_PRESENT' ? { psuIpAddress: '198.51.100.7' } : {}) } }, key)).body
    .data!.accountSync;
}

async function syncNow(accountId: string, mode: 'USER_PRESENT' | 'BACKGROUND' = 'USER_PRESENT') {
  const before = (await accountState(t, key, accountId)).lastSyncedAt;
  const r = await requestSync(accountId, mode);
  expect(r.userErrors).toEqual([]);
  return settled(t, key, accountId, before);
}

/** Reads the whole change feed after `cursor`, page by page. */
async function drain(accountId: string, cursor: string | null, count = 500) {
  const all = { added: [] as FeedTx[], modified: [] as FeedTx[], removed: [] as string[], cursor };
  for (;;) {
    const r = await t.gql<FeedPage>(FEED, { id: accountId, cursor: all.cursor, count }, key);
    if (!r.body.data) throw new Error(JSON.stringify(r.body.errors));
    const p = r.body.data.transactionsSync;
    all.added.push(...p.added);
    all.modified.push(...p.modified);
    all.removed.push(...p.removed);
    all.cursor = p.nextCursor;
    if (!p.hasMore) return all;
  }
}

describe.each(['nordlicht', 'brabant', 'rivage', 'thames'])('account data at %s', (bankId) => {
  let c: Connected;
  let checking: Connected['accounts'][number];
  let cursor: string | null = null;
  const from = addDays(utcDay(new Date()), -90);
  const exact = async () => expect(await gatewayLedger(t, checking.internalId)).toEqual(await bankLedger(t, bankId, checking.bankAccountId, from));

  it('syncs the full history allowed by the consent right after authorisation, equal to the bank’s ledger', async () => {
    c = await connect(t, key, endUserId, bankId);
    checking = c.accounts.find((a) => a.iban)!;
    const s = await settled(t, key, checking.id, null);
    expect(s.syncStatus).toBe('SUCCEEDED');
    await exact();
    const feed = await drain(checking.id, null, 97);
    expect(feed.added.length).toBe((await gatewayLedger(t, checking.internalId)).length);
    expect(new Set(feed.added.map((x) => x.id)).size).toBe(feed.added.length);
    expect(feed.modified).toEqual([]);
    cursor = feed.cursor;
    // The first sync happened with the end user present (the callback's browser): no budget used.
    expect(s.syncBudget.remaining).toBe(4);
  });

  it('stores balances typed, keeping the bank’s own type', async () => {
    const r = await t.gql<{ account: { balances: { kind: string; bankType: string; amount: { amount: string; currency: string } }[] } }>(
      'query($id: ID!) { account(id: $id) { balances { kind bankType amount { amount currency } } } }',
      { id: checking.id },
      key,
    );
    const balances = r.body.data!.account.balances;
    expect(balances.length).toBeGreaterThan(0);
    for (const b of balances) {
      expect(['BOOKED', 'AVAILABLE', 'EXPECTED', 'CREDIT_LIMIT', 'OTHER']).toContain(b.kind);
      expect(b.amount.amount).toMatch(/^-?\d+\.\d{2}$/);
      expect(b.bankType.length).toBeGreaterThan(0);
    }
  });

  it('adds new booked and pending entries incrementally, reporting only them in the change feed', async () => {
    const acct = encodeURIComponent(checking.bankAccountId);
    await control(t, 'POST', `/banks/${bankId}/accounts/${acct}/transactions`, {
      amount: '-18.40',
      counterpartyName: 'Bäckerei Sonne',
      remittance: 'Brötchen',
      id: `${bankId}-b1`,
    });
    await control(t, 'POST', `/banks/${bankId}/accounts/${acct}/transactions`, {
      amount: '-42.00',
      status: 'pending',
      counterpartyName: 'Hotel Lumière',
      remittance: 'Card 1234 hotel',
      id: `${bankId}-p1`,
    });
    const s = await syncNow(checking.id);
    expect(s.syncStatus).toBe('SUCCEEDED');
    await exact();
    const feed = await drain(checking.id, cursor);
    expect(feed.added.map((x) => x.amount.amount).sort()).toEqual(['-18.40', '-42.00']);
    expect(feed.modified).toEqual([]);
    expect(feed.removed).toEqual([]);
    cursor = feed.cursor;
  });

  it('books a pending entry under a new bank id and another amount as one transaction with its lineage', async () => {
    const acct = encodeURIComponent(checking.bankAccountId);
    await control(t, 'POST', `/banks/${bankId}/accounts/${acct}/transactions/${bankId}-p1/book`, { amount: '-45.50', newId: `${bankId}-b2` });
    await syncNow(checking.id);
    await exact();
    const feed = await drain(checking.id, cursor);
    expect(feed.added).toEqual([]);
    expect(feed.removed).toEqual([]);
    expect(feed.modified).toHaveLength(1);
    const booked = feed.modified[0]!;
    expect(booked).toMatchObject({ status: 'BOOKED', amount: { amount: '-45.50' }, pendingOf: { amount: { amount: '-42.00' } } });
    cursor = feed.cursor;
  });

  it('keeps one row per entry when the bank omits its ids or repeats entries across pages', async () => {
    await control(t, 'POST', `/banks/${bankId}/faults`, { kind: 'missing-ids', route: 'transactions' });
    await control(t, 'POST', `/banks/${bankId}/faults`, { kind: 'duplicates', route: 'transactions' });
    try {
      await control(t, 'POST', `/banks/${bankId}/accounts/${encodeURIComponent(checking.bankAccountId)}/transactions`, {
        amount: '120.00',
        counterpartyName: 'Client SA',
        remittance: 'Invoice 2026-118',
      });
      await syncNow(checking.id);
      await exact();
      const feed = await drain(checking.id, cursor);
      expect(feed.added.map((x) => x.amount.amount)).toEqual(['120.00']);
      expect(feed.removed).toEqual([]);
      cursor = feed.cursor;
    } finally {
      await control(t, 'DELETE', `/banks/${bankId}/faults`);
    }
  });

  it('never lets background syncs reach the bank’s daily limit: the fifth is refused before any bank call', async () => {
    for (let i = 0; i < 4; i++) {
      const s = await syncNow(checking.id, 'BACKGROUND');
      expect(s.syncStatus).toBe('SUCCEEDED');
      expect(s.syncBudget.remaining).toBe(3 - i);
    }
    const refused = await requestSync(checking.id, 'BACKGROUND');
    expect(refused.userErrors[0]).toMatchObject({ code: 'BUDGET_EXHAUSTED', field: ['input', 'mode'] });
    const consents = await control<{ consents: { id: string; usage?: unknown; status: string }[] }>(t, 'GET', `/banks/${bankId}/consents`);
    expect(JSON.stringify(consents)).not.toContain('ACCESS_EXCEEDED');
    // The end user being present still works, and does not count.
    expect((await syncNow(checking.id, 'USER_PRESENT')).syncStatus).toBe('SUCCEEDED');
    await exact();
  });

  it('moves the consent to REAUTH_REQUIRED when the bank expires it early, and syncs exactly again once renewed', async () => {
    const bankConsents = await control<{ consents: { id: string; status: string }[] }>(t, 'GET', `/banks/${bankId}/consents`);
    for (const bc of bankConsents.consents) await control(t, 'POST', `/banks/${bankId}/consents/${encodeURIComponent(bc.id)}/expire`).catch(() => undefined);
    const s = await syncNow(checking.id);
    expect(s.syncStatus).toBe('CONSENT_INVALID');
    const consent = await t.gql<{ node: { status: string; statusReason: string } }>(
      'query($id: ID!) { node(id: $id) { ... on Consent { status statusReason } } }',
      { id: c.consentId },
      key,
    );
    expect(consent.body.data!.node.status).toBe('REAUTH_REQUIRED');
    const refused = await requestSync(checking.id);
    expect(refused.userErrors[0]!.code).toBe('INVALID_STATE');
    // The end user renews; the account keeps its id and its transactions theirs.
    const before = await gatewayLedger(t, checking.internalId);
    const renewed = await t.gql<{ consentRenew: { authorizationUrl: string } }>(
      'mutation($id: ID!) { consentRenew(id: $id) { authorizationUrl } }',
      { id: c.consentId },
      key,
    );
    const { authorise } = await import('../helpers/banking');
    await authorise(t, renewed.body.data!.consentRenew.authorizationUrl, 'alice');
    await settled(t, key, checking.id);
    await exact();
    expect(await gatewayLedger(t, checking.internalId)).toEqual(before);
  });
});

describe('bad input to account data', () => {
  let accountId: string;
  let otherKey: string;

  beforeAll(async () => {
    const c = await connect(t, key, endUserId, 'nordlicht');
    accountId = c.accounts[0]!.id;
    await settled(t, key, accountId, null);
    ({ key: otherKey } = await t.createTenant('Someone else'));
  });

  it('answers null for a foreign account and NOT_FOUND to its change feed and sync', async () => {
    const r = await t.gql<{ account: null }>('query($id: ID!) { account(id: $id) { id } }', { id: accountId }, otherKey);
    expect(r.body.data!.account).toBeNull();
    const feed = await t.gql(FEED, { id: accountId }, otherKey);
    expect(feed.body.errors![0]!.extensions!.code).toBe('NOT_FOUND');
    const sync = await t.gql<SyncPayload>(SYNC, { id: accountId, input: { mode: 'USER_PRESENT', psuIpAddress: '198.51.100.7' } }, otherKey);
    expect(sync.body.data!.accountSync.userErrors[0]).toMatchObject({ code: 'NOT_FOUND', field: ['id'] });
  });

  it('refuses an unknown or malformed account id', async () => {
    const unknown = Buffer.from('gid://passerelle/Account/00000000-0000-4000-8000-000000000000').toString('base64url');
    expect((await t.gql(FEED, { id: unknown }, key)).body.errors![0]!.extensions!.code).toBe('NOT_FOUND');
    expect((await t.gql(FEED, { id: 'garbage' }, key)).body.errors![0]!.extensions!.code).toBe('NOT_FOUND');
  });

  it('refuses a malformed cursor and a cursor of another account', async () => {
    const bad = await t.gql(FEED, { id: accountId, cursor: 'not-a-cursor!' }, key);
    expect(bad.body.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argument: 'cursor' });
    const other = await connect(t, key, endUserId, 'rivage');
    const otherCursor = (await t.gql<FeedPage>(FEED, { id: other.accounts[0]!.id, count: 1 }, key)).body.data!.transactionsSync.nextCursor;
    const foreign = await t.gql(FEED, { id: accountId, cursor: otherCursor }, key);
    expect(foreign.body.errors![0]!.message).toContain('another account');
  });

  it('refuses count and first out of range', async () => {
    for (const count of [0, 501, -3])
      expect((await t.gql(FEED, { id: accountId, count }, key)).body.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argument: 'count' });
    for (const first of [0, 501]) {
      const r = await t.gql(
        'query($id: ID!, $first: Int) { account(id: $id) { transactions(first: $first) { nodes { id } } } }',
        { id: accountId, first },
        key,
      );
      expect(r.body.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argument: 'first' });
    }
  });

  it('refuses reversed date and amount filters, and malformed ones', async () => {
    const q = 'query($id: ID!, $f: TransactionFilter) { account(id: $id) { transactions(first: 5, filter: $f) { nodes { id } } } }';
    expect((await t.gql(q, { id: accountId, f: { from: '2026-05-01', to: '2026-04-01' } }, key)).body.errors![0]!.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      argument: 'filter.from',
    });
    expect((await t.gql(q, { id: accountId, f: { minAmount: '10', maxAmount: '-10' } }, key)).body.errors![0]!.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      argument: 'filter.minAmount',
    });
    expect((await t.gql(q, { id: accountId, f: { from: '2026-13-45' } }, key)).body.errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');
    expect((await t.gql(q, { id: accountId, f: { minAmount: '1e3' } }, key)).body.errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');
    expect((await t.gql(q, { id: accountId, f: { search: 'x'.repeat(101) } }, key)).body.errors![0]!.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      argument: 'filter.search',
    });
  });

  it('refuses a user-present sync without a valid end-user IP address', async () => {
    const none = await t.gql<SyncPayload>(SYNC, { id: accountId, input: { mode: 'USER_PRESENT' } }, key);
    expect(none.body.data!.accountSync.userErrors[0]).toMatchObject({ code: 'BLANK', field: ['input', 'psuIpAddress'] });
    const bad = await t.gql<SyncPayload>(SYNC, { id: accountId, input: { mode: 'USER_PRESENT', psuIpAddress: '999.1.1.1' } }, key);
    expect(bad.body.data!.accountSync.userErrors[0]).toMatchObject({ code: 'INVALID', field: ['input', 'psuIpAddress'] });
  });

  it('pages transactions newest first with filters, without repeating or skipping across pages', async () => {
    const q = `query($id: ID!, $after: String, $f: TransactionFilter) { account(id: $id) { transactions(first: 40, after: $after, filter: $f) {
      edges { cursor node { id bookingDate valueDate status amount { amount } } } pageInfo { hasNextPage endCursor } } } }`;
    type Page = {
      account: {
        transactions: {
          edges: { cursor: string; node: { id: string; bookingDate: string | null; valueDate: string | null; amount: { amount: string } } }[];
          pageInfo: { hasNextPage: boolean; endCursor: string };
        };
      };
    };
    const seen: string[] = [];
    let after: string | null = null;
    let dates: string[] = [];
    for (;;) {
      const r: { body: { data?: Page } } = await t.gql<Page>(q, { id: accountId, after }, key);
      const conn = r.body.data!.account.transactions;
      seen.push(...conn.edges.map((e) => e.node.id));
      dates.push(...conn.edges.map((e) => `${(e.node as { status?: string }).status === 'PENDING' ? 'P' : 'B'}${e.node.bookingDate ?? e.node.valueDate!}`));
      if (!conn.pageInfo.hasNextPage) break;
      after = conn.pageInfo.endCursor;
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.length).toBe((await gatewayLedger(t, parseGlobalId(accountId)!.id)).length);
    // Pending ones on top, then newest first.
    expect([...dates].sort().reverse()).toEqual(dates);
    const debits = await t.gql<Page>(q, { id: accountId, f: { maxAmount: '-100.00', status: 'BOOKED' } }, key);
    for (const e of debits.body.data!.account.transactions.edges) expect(Number(e.node.amount.amount)).toBeLessThanOrEqual(-100);
    dates = [];
  });
});

describe('the audit journal of account data', () => {
  it('records each use of a consent’s bank tokens and each sync, without any token or payload', async () => {
    const r = await t.gql<{ auditEvents: { nodes: { action: string; actor: string; details: Record<string, unknown> }[] } }>(
      '{ auditEvents(first: 100, action: BANK_TOKENS_USED) { nodes { action actor details } } }',
      {},
      key,
    );
    const uses = r.body.data!.auditEvents.nodes;
    expect(uses.length).toBeGreaterThan(0);
    expect(uses.every((u) => u.details.purpose === 'sync' || u.details.purpose === 'revoke')).toBe(true);
    const syncs = await t.gql<{ auditEvents: { nodes: { details: Record<string, unknown> }[] } }>(
      '{ auditEvents(first: 100, action: ACCOUNT_SYNCED) { nodes { details } } }',
      {},
      key,
    );
    for (const s of syncs.body.data!.auditEvents.nodes)
      expect(Object.keys(s.details).sort()).toEqual(['added', 'bankCalls', 'dateFrom', 'modified', 'reason', 'removed']);
    expect(JSON.stringify(uses)).not.toMatch(/access_?token|refresh_?token|Bearer/i);
  });

  it('shows when each API key was last used', async () => {
    const r = await t.gql<{ viewer: { apiKeys: { nodes: { lastUsedAt: string | null }[] } } }>('{ viewer { apiKeys { nodes { lastUsedAt } } } }', {}, key);
    const last = r.body.data!.viewer.apiKeys.nodes[0]!.lastUsedAt;
    expect(last).not.toBeNull();
    expect(Date.now() - new Date(last!).getTime()).toBeLessThan(30 * 60_000);
  });
});

describe('a new consent for the same end user at the same bank', () => {
  it('takes over the same accounts and transactions, keeping every id', async () => {
    const u = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
      'mutation { endUserCreate(input: { externalRef: "returning-user" }) { endUser { id } } }',
      {},
      key,
    );
    const who = u.body.data!.endUserCreate.endUser.id;
    const first = await connect(t, key, who, 'brabant');
    const acct = first.accounts.find((a) => a.iban)!;
    await settled(t, key, acct.id, null);
    const before = await drain(acct.id, null);
    const syncedBefore = (await accountState(t, key, acct.id)).lastSyncedAt;
    const second = await connect(t, key, who, 'brabant');
    expect(second.consentId).not.toBe(first.consentId);
    expect(second.accounts.map((a) => a.id).sort()).toEqual(first.accounts.map((a) => a.id).sort());
    const s = await settled(t, key, acct.id, syncedBefore);
    expect(s.syncStatus).toBe('SUCCEEDED');
    const after = await drain(acct.id, before.cursor);
    expect(after.added).toEqual([]);
    expect(after.removed).toEqual([]);
    const r = await t.gql<{ account: { consent: { id: string } } }>('query($id: ID!) { account(id: $id) { consent { id } } }', { id: acct.id }, key);
    expect(r.body.data!.account.consent.id).toBe(second.consentId);
  });
});

describe('a page of transactions asked for alone', () => {
  let accountId: string;
  let otherKey: string;
  const ALONE = `query($id: ID!, $after: String) { account(id: $id) { id transactions(first: 2, after: $after) {
    edges { cursor node { id amount { amount currency } } } pageInfo { hasNextPage endCursor } } } }`;
  const WITH_NAME = `query($id: ID!, $after: String) { account(id: $id) { id name transactions(first: 2, after: $after) {
    edges { cursor node { id amount { amount currency } } } pageInfo { hasNextPage endCursor } } } }`;
  type Page = {
    account: {
      id: string;
      name?: string;
      transactions: { edges: { cursor: string; node: { id: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
    } | null;
  };

  beforeAll(async () => {
    const c = await connect(t, key, endUserId, 'nordlicht');
    // The account with the most transactions (the order of a consent's accounts is not fixed).
    for (const a of c.accounts) await settled(t, key, a.id, null);
    const sizes = await Promise.all(c.accounts.map(async (a) => (await gatewayLedger(t, parseGlobalId(a.id)!.id)).length));
    accountId = c.accounts[sizes.indexOf(Math.max(...sizes))]!.id;
    ({ key: otherKey } = await t.createTenant('Another reader'));
  });

  it('answers as the read with other account fields does, on every page, the last empty one included', async () => {
    let after: string | null = null;
    for (let pages = 0; ; pages++) {
      const alone: { data?: Page; errors?: unknown[] } = (await t.gql<Page>(ALONE, { id: accountId, after }, key)).body;
      const full: { data?: Page } = (await t.gql<Page>(WITH_NAME, { id: accountId, after }, key)).body;
      expect(alone.errors).toBeUndefined();
      expect(alone.data!.account).toEqual({ id: full.data!.account!.id, transactions: full.data!.account!.transactions });
      const info: { hasNextPage: boolean; endCursor: string | null } = alone.data!.account!.transactions.pageInfo;
      if (!info.hasNextPage) {
        // Past the last row: an empty page of an account that exists.
        const empty = (await t.gql<Page>(ALONE, { id: accountId, after: info.endCursor }, key)).body.data!.account;
        expect(empty).toMatchObject({ id: accountId, transactions: { edges: [], pageInfo: { hasNextPage: false, endCursor: null } } });
        // Every row was read, two at a time.
        expect(pages * 2 + alone.data!.account!.transactions.edges.length).toBe((await gatewayLedger(t, parseGlobalId(accountId)!.id)).length);
        break;
      }
      after = info.endCursor;
    }
  });

  it('answers null for another tenant’s account and for an unknown one, and refuses a bad cursor as before', async () => {
    expect((await t.gql<Page>(ALONE, { id: accountId }, otherKey)).body.data!.account).toBeNull();
    const unknown = Buffer.from('gid://passerelle/Account/00000000-0000-4000-8000-000000000000').toString('base64url');
    expect((await t.gql<Page>(ALONE, { id: unknown }, key)).body.data!.account).toBeNull();
    const bad = (await t.gql<Page>(ALONE, { id: accountId, after: 'not-a-cursor!' }, key)).body;
    expect(bad.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argument: 'after' });
    expect(bad.errors![0]!.path).toEqual(['account', 'transactions']);
  });

  it.skipIf(!ciConfig.databaseUrl)('is served while the account table is locked, which a read of another account field waits for', async () => {
    const owner = new pg.Client({ connectionString: t.gateway.db.url });
    await owner.connect();
    try {
      const before = (await t.gql<Page>(ALONE, { id: accountId }, key)).body.data!.account!.transactions.edges;
      expect(before.length).toBeGreaterThan(0);
      await owner.query('begin');
      await owner.query('lock table account in access exclusive mode');
      const alone = await t.gql<Page>(ALONE, { id: accountId }, key);
      expect(alone.body.data!.account!.transactions.edges).toEqual(before);
      let named = false;
      const waiting = t.gql<Page>(WITH_NAME, { id: accountId }, key).then((r) => ((named = true), r));
      await new Promise((r) => setTimeout(r, 500));
      expect(named).toBe(false);
      await owner.query('rollback');
      expect((await waiting).body.data!.account!.name).toBeTruthy();
    } finally {
      await owner.query('rollback').catch(() => undefined);
      await owner.end();
    }
  });
});
