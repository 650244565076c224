import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { accountState, bankLedger, connect, control, gatewayLedger, settled, type Connected } from '../helpers/banking';
import { addDays, utcDay } from '../../src/modules/sync/budget';
import { SYNC_OVERLAP_DAYS } from '../../src/modules/sync/sync.service';
import { isBankError } from '../../src/banking/errors';

let t: TestGateway;
let key: string;
let c: Connected;
let account: Connected['accounts'][number];
const BANK = 'nordlicht';
const from = addDays(utcDay(new Date()), -90);
const sync = () => t.gateway.services.sync;
const bankAccountPath = () => `/banks/${BANK}/accounts/${encodeURIComponent(account.bankAccountId)}`;

beforeAll(async () => {
  t = await startTestGateway();
  ({ key } = await t.createTenant('Engine'));
  const u = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
    'mutation { endUserCreate(input: { externalRef: "engine" }) { endUser { id } } }',
    {},
    key,
  );
  c = await connect(t, key, u.body.data!.endUserCreate.endUser.id, BANK);
  account = c.accounts.find((a) => a.iban)!;
  for (const a of c.accounts) await settled(t, key, a.id, null);
});
afterAll(async () => t?.close());

const bankConsent = async () => {
  const r = await control<{ consents: { id: string; usage?: { counts: Record<string, number>; floor: number } }[] }>(t, 'GET', `/banks/${BANK}/consents`);
  return r.consents.at(-1)!;
};
const usedAtBank = async () => Object.values((await bankConsent()).usage?.counts ?? {}).reduce((a, b) => a + b, 0);

describe('the sync engine', () => {
  it('lets only one sync of an account run at a time; the other reports BUSY and calls no bank', async () => {
    await control(t, 'POST', '/banks/nordlicht/faults', {
      kind: 'latency',
      route: `accounts/${account.bankAccountId}/transactions`,
      latencyMs: 1_500,
      times: 1,
    });
    const [a, b] = await Promise.all([
      sync().run({ accountId: account.internalId, mode: 'USER_PRESENT', psuIpAddress: '203.0.113.9', reason: 'REQUESTED' }),
      new Promise((r) => setTimeout(r, 200)).then(() =>
        sync().run({ accountId: account.internalId, mode: 'USER_PRESENT', psuIpAddress: '203.0.113.9', reason: 'REQUESTED' }),
      ),
    ]);
    expect([a.status, b.status].sort()).toEqual(['BUSY', 'SUCCEEDED']);
    expect(a.status === 'BUSY' ? a.bankCalls : b.bankCalls).toBe(0);
  });

  it('sends the end user’s IP on user-present syncs, which the bank does not count', async () => {
    const before = await usedAtBank();
    await sync().run({ accountId: account.internalId, mode: 'USER_PRESENT', psuIpAddress: '203.0.113.9', reason: 'REQUESTED' });
    expect(await usedAtBank()).toBe(before);
    await sync().run({ accountId: account.internalId, mode: 'BACKGROUND', reason: 'REQUESTED' });
    // One unattended read: Berlin Group returns the balances with the transaction list (withBalance=true).
    expect(await usedAtBank()).toBe(before + 1);
  });

  it('asks only from the last booked date minus a small overlap (or the oldest open pending entry) on incremental syncs', async () => {
    await sync().run({ accountId: account.internalId, mode: 'USER_PRESENT', psuIpAddress: '203.0.113.9', reason: 'REQUESTED' });
    const r = await t.gql<{ auditEvents: { nodes: { details: { dateFrom: string } }[] } }>(
      '{ auditEvents(action: ACCOUNT_SYNCED, first: 100) { nodes { details } } }',
      {},
      key,
    );
    const last = r.body.data!.auditEvents.nodes.at(-1)!.details.dateFrom;
    const { rows } = await t.gateway.db.sql.query<{ booked: string; pending: string | null }>(
      `select max(booking_date) filter (where status = 'BOOKED') as booked, min(sort_date) filter (where status = 'PENDING') as pending from bank_transaction where account_id = $1 and removed_at is null`,
      [account.internalId],
    );
    const expected = [addDays(rows[0]!.booked, -SYNC_OVERLAP_DAYS), ...(rows[0]!.pending ? [rows[0]!.pending] : [])].sort()[0];
    expect(last).toBe(expected);
    expect(last > from).toBe(true);
  });

  it('waits for the bank’s Retry-After on a 429 instead of hammering, and is due again only after it', async () => {
    await control(t, 'POST', '/banks/nordlicht/faults', { kind: 'rate-limit', route: 'transactions', retryAfterSeconds: 3_600, times: 1 });
    const out = await sync().run({ accountId: account.internalId, mode: 'USER_PRESENT', psuIpAddress: '203.0.113.9', reason: 'REQUESTED' });
    expect(out.status).toBe('WAITING_FOR_QUOTA');
    const s = await t.gql<{ account: { syncStatus: string; nextSyncAt: string } }>(
      'query($id: ID!) { account(id: $id) { syncStatus nextSyncAt } }',
      { id: account.id },
      key,
    );
    expect(s.body.data!.account.syncStatus).toBe('WAITING_FOR_QUOTA');
    expect(new Date(s.body.data!.account.nextSyncAt).getTime()).toBeGreaterThan(Date.now() + 3_000_000);
    // Nothing asks the bank again before its delay: the scheduler's tick skips the account until then.
    expect(await sync().tick()).toBe(0);
    await t.gateway.db.sql.query(`update account set next_sync_at = null, sync_status = 'SUCCEEDED' where id = $1`, [account.internalId]);
  });

  it('retries a 429 with a short Retry-After inside the same sync, counting one unattended read, not the day', async () => {
    await control(t, 'DELETE', '/banks/nordlicht/faults');
    const usage = async () => {
      const { rows } = await t.gateway.db.sql.query<{ used: number }>('select coalesce(sum(used), 0)::int as used from sync_usage where account_id = $1', [
        account.internalId,
      ]);
      return rows[0]!.used;
    };
    // The day starts afresh (the long Retry-After above was Berlin Group's ACCESS_EXCEEDED: the day's quota).
    await t.gateway.db.sql.query('delete from sync_usage where account_id = $1', [account.internalId]);
    const before = await usage();
    await control(t, 'POST', '/banks/nordlicht/faults', { kind: 'rate-limit', route: 'transactions', retryAfterSeconds: 1, times: 1 });
    const out = await sync().run({ accountId: account.internalId, mode: 'BACKGROUND', reason: 'REQUESTED' });
    expect(out.status).toBe('SUCCEEDED');
    expect(await usage()).toBe(before + 1);
    expect((await accountState(t, key, account.id)).syncStatus).toBe('SUCCEEDED');
    await t.gateway.db.sql.query('delete from sync_usage where account_id = $1', [account.internalId]);
  });

  it('fails a sync the bank cannot serve (5xx) so the queue retries it, and stores nothing half-done', async () => {
    await control(t, 'DELETE', '/banks/nordlicht/faults');
    const ledgerBefore = await gatewayLedger(t, account.internalId);
    await control(t, 'POST', bankAccountPath() + '/transactions', { amount: '-3.10', counterpartyName: 'Parkhaus' });
    await control(t, 'POST', '/banks/nordlicht/faults', { kind: 'status', status: 503, route: 'transactions' });
    const err = await sync()
      .run({ accountId: account.internalId, mode: 'USER_PRESENT', psuIpAddress: '203.0.113.9', reason: 'REQUESTED' })
      .catch((e: unknown) => e);
    expect(isBankError(err)).toBe(true);
    expect((await accountState(t, key, account.id)).syncStatus).toBe('FAILED');
    expect(await gatewayLedger(t, account.internalId)).toEqual(ledgerBefore);
    await control(t, 'DELETE', '/banks/nordlicht/faults');
    expect((await sync().run({ accountId: account.internalId, mode: 'USER_PRESENT', psuIpAddress: '203.0.113.9', reason: 'REQUESTED' })).status).toBe(
      'SUCCEEDED',
    );
    expect(await gatewayLedger(t, account.internalId)).toEqual(await bankLedger(t, BANK, account.bankAccountId, from));
  });

  it('treats the bank’s ACCESS_EXCEEDED as the day used up: the account waits for the reset, its budget shows 0', async () => {
    await control(t, 'PUT', `/banks/${BANK}/consents/${encodeURIComponent((await bankConsent()).id)}/usage`, { used: 4 });
    const out = await sync().run({ accountId: account.internalId, mode: 'BACKGROUND', reason: 'SCHEDULED' });
    expect(out.status).toBe('WAITING_FOR_QUOTA');
    const s = await accountState(t, key, account.id);
    expect(s.syncBudget.remaining).toBe(0);
    const r = await t.gql<{ accountSync: { userErrors: { code: string }[] } }>(
      'mutation($id: ID!) { accountSync(id: $id, input: { mode: BACKGROUND }) { userErrors { code } } }',
      { id: account.id },
      key,
    );
    expect(r.body.data!.accountSync.userErrors[0]!.code).toBe('BUDGET_EXHAUSTED');
  });

  it('queues due background syncs on the scheduler’s tick, and none that are not due', async () => {
    await control(t, 'PUT', `/banks/${BANK}/consents/${encodeURIComponent((await bankConsent()).id)}/usage`, { used: 0 });
    const other = c.accounts.find((a) => a.internalId !== account.internalId)!;
    await t.gateway.db.sql.query(`update account set next_sync_at = now() - interval '1 minute', sync_status = 'SUCCEEDED' where id = $1`, [other.internalId]);
    await t.gateway.db.sql.query(`update account set next_sync_at = now() + interval '3 hours', sync_status = 'SUCCEEDED' where id = $1`, [account.internalId]);
    const before = (await accountState(t, key, other.id)).lastSyncedAt;
    expect(await sync().tick()).toBe(1);
    const s = await settled(t, key, other.id, before);
    expect(s.syncStatus).toBe('SUCCEEDED');
    expect(s.syncBudget.remaining).toBe(3);
    const { rows } = await t.gateway.db.sql.query<{ next: Date }>('select next_sync_at as next from account where id = $1', [other.internalId]);
    // The next slot is at least a quarter of a day away (frequencyPerDay 4), never sooner.
    expect(rows[0]!.next.getTime()).toBeGreaterThan(Date.now());
    expect(rows[0]!.next.getTime() - Date.now()).toBeLessThanOrEqual(6 * 3_600_000);
    expect(await sync().tick()).toBe(0);
  });
});

describe('the change feed under concurrent syncs', () => {
  it('gives a reader who follows it while syncs land exactly the final set, never skipping or repeating a change', async () => {
    await control(t, 'PUT', `/banks/${BANK}/consents/${encodeURIComponent((await bankConsent()).id)}/usage`, { used: 0 });
    const FEED = `query($id: ID!, $cursor: String) { transactionsSync(accountId: $id, cursor: $cursor, count: 7) { added { id amount { amount } status } modified { id amount { amount } status } removed nextCursor hasMore } }`;
    type Page = {
      transactionsSync: {
        added: { id: string; amount: { amount: string }; status: string }[];
        modified: { id: string; amount: { amount: string }; status: string }[];
        removed: string[];
        nextCursor: string;
        hasMore: boolean;
      };
    };
    const mirror = new Map<string, string>();
    let cursor: string | null = null;
    let stop = false;
    let repeatedAdds = 0;
    const reader = (async () => {
      for (;;) {
        const r: { body: { data?: Page } } = await t.gql<Page>(FEED, { id: account.id, cursor }, key);
        const p = r.body.data!.transactionsSync;
        for (const a of p.added) {
          if (mirror.has(a.id)) repeatedAdds++;
          mirror.set(a.id, `${a.status}|${a.amount.amount}`);
        }
        for (const m of p.modified) mirror.set(m.id, `${m.status}|${m.amount.amount}`);
        for (const id of p.removed) mirror.delete(id);
        cursor = p.nextCursor;
        if (!p.hasMore && stop) return;
        if (!p.hasMore) await new Promise((res) => setTimeout(res, 20));
      }
    })();
    // Writers: new entries, a pending entry that books with another amount, and overlapping syncs.
    for (let round = 0; round < 4; round++) {
      await control(t, 'POST', bankAccountPath() + '/transactions', { amount: `-1${round}.00`, counterpartyName: `Shop ${round}` });
      await control(t, 'POST', bankAccountPath() + '/transactions', {
        amount: `-2${round}.50`,
        status: 'pending',
        counterpartyName: `Café ${round}`,
        id: `feed-p${round}`,
      });
      await Promise.all(
        [0, 1, 2].map((i) =>
          new Promise((res) => setTimeout(res, i * 30)).then(() =>
            sync().run({ accountId: account.internalId, mode: 'USER_PRESENT', psuIpAddress: '203.0.113.9', reason: 'REQUESTED' }),
          ),
        ),
      );
      await control(t, 'POST', bankAccountPath() + `/transactions/feed-p${round}/book`, { amount: `-2${round}.90`, newId: `feed-b${round}` });
      await sync().run({ accountId: account.internalId, mode: 'USER_PRESENT', psuIpAddress: '203.0.113.9', reason: 'REQUESTED' });
    }
    stop = true;
    await reader;
    const { rows } = await t.gateway.db.sql.query<{ id: string; status: string; amount: string }>(
      `select id, status, amount::text as amount from bank_transaction where account_id = $1 and removed_at is null`,
      [account.internalId],
    );
    const truth = new Map(rows.map((r) => [Buffer.from(`gid://passerelle/Transaction/${r.id}`).toString('base64url'), `${r.status}|${r.amount}`]));
    expect(repeatedAdds).toBe(0);
    expect(new Map([...mirror].sort())).toEqual(new Map([...truth].sort()));
    expect(await gatewayLedger(t, account.internalId)).toEqual(await bankLedger(t, BANK, account.bankAccountId, from));
  });
});

describe('a consent that expires in the middle of a sync', () => {
  it('stores nothing half-read, moves the consent to REAUTH_REQUIRED, and after renewal equals the bank exactly', async () => {
    const u = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
      'mutation { endUserCreate(input: { externalRef: "expiring" }) { endUser { id } } }',
      {},
      key,
    );
    // Every transaction page takes 400 ms: two years of history is several pages.
    await control(t, 'POST', `/banks/${BANK}/faults`, { kind: 'latency', route: 'transactions', latencyMs: 400 });
    const { authorise, institutionGid, RETURN_URL, accountsOf } = await import('../helpers/banking');
    const created = await t.gql<{ consentCreate: { consent: { id: string }; authorizationUrl: string } }>(
      'mutation($input: ConsentCreateInput!) { consentCreate(input: $input) { consent { id } authorizationUrl } }',
      {
        input: {
          endUserId: u.body.data!.endUserCreate.endUser.id,
          institutionId: institutionGid(BANK),
          scopes: ['ACCOUNTS', 'BALANCES', 'TRANSACTIONS'],
          historyDays: 730,
          redirectUri: RETURN_URL,
        },
      },
      key,
    );
    const transactionPages = async () => {
      const r = await t.gql<{
        auditEvents: { nodes: { details: { operation: string; status: number | null } }[]; pageInfo: { hasNextPage: boolean; endCursor: string } };
      }>(
        'query($after: String) { auditEvents(action: BANK_CALL, first: 100, after: $after) { nodes { details } pageInfo { hasNextPage endCursor } } }',
        {},
        key,
      );
      let n = 0;
      let page = r.body.data!.auditEvents;
      for (;;) {
        n += page.nodes.filter((e) => e.details.operation === 'accounts.transactions' && e.details.status === 200).length;
        if (!page.pageInfo.hasNextPage) return n;
        page = (
          await t.gql<{ auditEvents: typeof page }>(
            'query($after: String) { auditEvents(action: BANK_CALL, first: 100, after: $after) { nodes { details } pageInfo { hasNextPage endCursor } } }',
            { after: page.pageInfo.endCursor },
            key,
          )
        ).body.data!.auditEvents;
      }
    };
    const before = await transactionPages();
    await authorise(t, created.body.data!.consentCreate.authorizationUrl, 'alice');
    const accounts = await accountsOf(t, key, created.body.data!.consentCreate.consent.id);
    const checking = accounts.find((a) => a.iban)!;
    // Wait until the bank has served a first transaction page of this consent, then expire it.
    const deadline = Date.now() + 20_000;
    while ((await transactionPages()) <= before) {
      if (Date.now() > deadline) throw new Error('no transaction page was read');
      await new Promise((r) => setTimeout(r, 25));
    }
    // (This file's last test: every consent at the bank expires, whichever is this one.)
    const all = await control<{ consents: { id: string }[] }>(t, 'GET', `/banks/${BANK}/consents`);
    for (const bc of all.consents) await control(t, 'POST', `/banks/${BANK}/consents/${encodeURIComponent(bc.id)}/expire`).catch(() => undefined);
    const s = await settled(t, key, checking.id);
    expect(s.syncStatus).toBe('CONSENT_INVALID');
    expect(await gatewayLedger(t, checking.internalId)).toEqual([]);
    const consent = await t.gql<{ node: { status: string } }>(
      'query($id: ID!) { node(id: $id) { ... on Consent { status } } }',
      { id: created.body.data!.consentCreate.consent.id },
      key,
    );
    expect(consent.body.data!.node.status).toBe('REAUTH_REQUIRED');

    await control(t, 'DELETE', `/banks/${BANK}/faults`);
    const renewed = await t.gql<{ consentRenew: { authorizationUrl: string } }>(
      'mutation($id: ID!) { consentRenew(id: $id) { authorizationUrl } }',
      { id: created.body.data!.consentCreate.consent.id },
      key,
    );
    await authorise(t, renewed.body.data!.consentRenew.authorizationUrl, 'alice');
    expect((await settled(t, key, checking.id, null)).syncStatus).toBe('SUCCEEDED');
    expect(await gatewayLedger(t, checking.internalId)).toEqual(await bankLedger(t, BANK, checking.bankAccountId, addDays(utcDay(new Date()), -730)));
  });
});
