import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { accountState, accountsOf, connect, control, institutionGid, RETURN_URL } from '../helpers/banking';

// What a new user following the README found (issue 16, item 7), each held by a test.

let t: TestGateway;
let key: string;
let endUserId: string;

beforeAll(async () => {
  t = await startTestGateway();
  ({ key } = await t.createTenant('README reader'));
  const u = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
    'mutation { endUserCreate(input: { externalRef: "reader" }) { endUser { id } } }',
    {},
    key,
  );
  endUserId = u.body.data!.endUserCreate.endUser.id;
});
afterAll(async () => t?.close());

/** Creates a consent and completes it with sandboxConsentAuthorize (no browser). */
async function connectInSandbox(bank: string) {
  const created = await t.gql<{ consentCreate: { consent: { id: string } } }>(
    `mutation($input: ConsentCreateInput!) { consentCreate(input: $input) { consent { id } } }`,
    { input: { endUserId, institutionId: institutionGid(bank), scopes: ['ACCOUNTS', 'BALANCES', 'TRANSACTIONS'], redirectUri: RETURN_URL } },
    key,
  );
  const consentId = created.body.data!.consentCreate.consent.id;
  const r = await t.gql<{ sandboxConsentAuthorize: { consent: { status: string } | null; userErrors: unknown[] } }>(
    'mutation($c: ID!) { sandboxConsentAuthorize(input: { consentId: $c }) { consent { status } userErrors { code message } } }',
    { c: consentId },
    key,
  );
  expect(r.body.data!.sandboxConsentAuthorize.consent?.status).toBe('ACTIVE');
  return { consentId, accounts: await accountsOf(t, key, consentId) };
}

async function untilSynced(accountId: string, after: string | null = null) {
  for (const deadline = Date.now() + 30_000; ;) {
    const s = await accountState(t, key, accountId);
    if (s.lastSyncedAt && s.lastSyncedAt !== after && s.syncStatus !== 'RUNNING' && s.syncStatus !== 'QUEUED') return s;
    if (Date.now() > deadline) throw new Error(`account never synced: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('connecting spends none of the day’s unattended reads', () => {
  it('through sandboxConsentAuthorize: the initial sync is user-present and the budget stays full', async () => {
    const { accounts } = await connectInSandbox('nordlicht');
    const s = await untilSynced(accounts[0]!.id);
    expect(s.syncBudget.remaining).toBe(4);
  }, 60_000);

  it('through the bank’s pages in a browser: the budget stays full too', async () => {
    const { accounts } = await connect(t, key, endUserId, 'brabant');
    const s = await untilSynced(accounts[0]!.id);
    expect(s.syncBudget.remaining).toBe(4);
  }, 60_000);

  it('at the STET bank the account read during consent completion carries PSU-IP-Address, so the bank counts nothing', async () => {
    await connect(t, key, endUserId, 'rivage');
    await new Promise((r) => setTimeout(r, 1000));
    const { consents } = await control<{ consents: { usage?: { counts: Record<string, number> } }[] }>(t, 'GET', '/banks/rivage/consents');
    expect(consents).toHaveLength(1);
    expect(Object.values(consents[0]!.usage?.counts ?? {}).reduce((n, c) => n + c, 0)).toBe(0);
  }, 60_000);
});

describe('pending transactions on top, in the same order on every read', () => {
  it('lists pending ones first, same-day ties by the per-account sequence, and pages of 1 give the same order as one page', async () => {
    const { accounts } = await connectInSandbox('nordlicht');
    const account = accounts[0]!;
    const before = await untilSynced(account.id);
    const { today } = await control<{ today: string }>(t, 'GET', '/banks/nordlicht/clock');
    const transactions = Array.from({ length: 8 }, (_, i) => ({
      amount: `-${i + 1}.00`,
      status: i % 3 === 0 ? 'PENDING' : 'BOOKED',
      bookingDate: today,
      counterpartyName: `Shop ${i}`,
    }));
    const added = await t.gql<{ sandboxTransactionsCreate: { userErrors: unknown[] } }>(
      'mutation($input: SandboxTransactionsCreateInput!) { sandboxTransactionsCreate(input: $input) { userErrors { field code message } } }',
      { input: { accountId: account.id, transactions } },
      key,
    );
    expect(added.body.data!.sandboxTransactionsCreate.userErrors).toEqual([]);
    await t.gql(
      'mutation($id: ID!) { accountSync(id: $id, input: { mode: USER_PRESENT, psuIpAddress: "203.0.113.9" }) { userErrors { code } } }',
      { id: account.id },
      key,
    );
    await untilSynced(account.id, before.lastSyncedAt);

    type Page = {
      account: {
        transactions: {
          nodes: { id: string; status: string; counterparty: { name: string | null } | null }[];
          pageInfo: { endCursor: string | null; hasNextPage: boolean };
        };
      };
    };
    const PAGE =
      'query($id: ID!, $first: Int, $after: String) { account(id: $id) { transactions(first: $first, after: $after) { nodes { id status counterparty { name } } pageInfo { endCursor hasNextPage } } } }';
    const full = await t.gql<Page>(PAGE, { id: account.id, first: 100 }, key);
    if (!full.body.data) throw new Error(JSON.stringify(full.body));
    const all = full.body.data.account.transactions.nodes;
    const firstBooked = all.findIndex((n) => n.status === 'BOOKED');
    expect(all.slice(firstBooked).every((n) => n.status === 'BOOKED')).toBe(true);
    expect(all.filter((n) => n.status === 'PENDING').length).toBeGreaterThanOrEqual(3);

    // Same day, same status: the latest stored first (per-account sequence), never a random id.
    const { rows } = await t.gateway.db.sql.query<{ counterparty_name: string; created_version: string }>(
      `select counterparty_name, created_version::text from bank_transaction where account_id = $1 and counterparty_name like 'Shop %'`,
      [account.internalId],
    );
    const seq = new Map(rows.map((r) => [r.counterparty_name, BigInt(r.created_version)]));
    const shops = all.filter((n) => n.counterparty?.name?.startsWith('Shop '));
    for (const status of ['PENDING', 'BOOKED']) {
      const versions = shops.filter((n) => n.status === status).map((n) => seq.get(n.counterparty!.name!)!);
      expect(versions).toEqual([...versions].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0)));
    }

    const paged: string[] = [];
    let after: string | null = null;
    for (;;) {
      const page: Page['account']['transactions'] = (await t.gql<Page>(PAGE, { id: account.id, first: 1, after }, key)).body.data!.account.transactions;
      paged.push(...page.nodes.map((n) => n.id));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(paged).toEqual(all.map((n) => n.id));
  }, 90_000);
});

describe('after consentRevoke', () => {
  it('answers consistently: accountSync and consentRenew both say to create a new consent, and a second revoke is ALREADY_REVOKED', async () => {
    const { consentId, accounts } = await connectInSandbox('thames');
    const REVOKE = 'mutation($id: ID!) { consentRevoke(id: $id) { consent { status } userErrors { code message } } }';
    const first = await t.gql<{ consentRevoke: { consent: { status: string } | null; userErrors: { code: string }[] } }>(REVOKE, { id: consentId }, key);
    expect(first.body.data!.consentRevoke.consent?.status).toBe('REVOKED');

    const sync = await t.gql<{ accountSync: { userErrors: { code: string; message: string }[] } }>(
      'mutation($id: ID!) { accountSync(id: $id, input: { mode: USER_PRESENT, psuIpAddress: "203.0.113.9" }) { userErrors { code message } } }',
      { id: accounts[0]!.id },
      key,
    );
    const syncError = sync.body.data!.accountSync.userErrors[0]!;
    expect(syncError.code).toBe('INVALID_STATE');
    expect(syncError.message).toContain('create a new consent (consentCreate)');
    expect(syncError.message).not.toMatch(/renew/i);

    const renew = await t.gql<{ consentRenew: { userErrors: { code: string; message: string }[] } }>(
      'mutation($id: ID!) { consentRenew(id: $id) { userErrors { code message } } }',
      { id: consentId },
      key,
    );
    expect(renew.body.data!.consentRenew.userErrors[0]).toMatchObject({
      code: 'INVALID_STATE',
      message: expect.stringContaining('create a new consent (consentCreate)'),
    });

    const second = await t.gql<{ consentRevoke: { consent: unknown; userErrors: { code: string }[] } }>(REVOKE, { id: consentId }, key);
    expect(second.body.data!.consentRevoke.userErrors[0]!.code).toBe('ALREADY_REVOKED');
  }, 60_000);
});
