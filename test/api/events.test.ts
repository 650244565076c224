import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { connect, control, settled, type Connected } from '../helpers/banking';
import { toGlobalId } from '../../src/kernel/ids';

let t: TestGateway;
let key: string;
let c: Connected;
let account: Connected['accounts'][number];

const EVENTS = `query($after: String, $types: [EventType!], $first: Int) { events(after: $after, types: $types, first: $first) {
  nodes { id type resourceId resourceSequence payload cursor } pageInfo { hasNextPage endCursor } } }`;
type Ev = { id: string; type: string; resourceId: string; resourceSequence: string; payload: Record<string, unknown>; cursor: string };
type Page = { events: { nodes: Ev[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } };

async function readAll(after: string | null = null, types?: string[], asKey = key): Promise<{ events: Ev[]; cursor: string | null }> {
  const events: Ev[] = [];
  let cursor = after;
  for (;;) {
    const r = await t.gql<Page>(EVENTS, { after: cursor, types, first: 50 }, asKey);
    if (!r.body.data) throw new Error(JSON.stringify(r.body.errors));
    events.push(...r.body.data.events.nodes);
    cursor = r.body.data.events.pageInfo.endCursor;
    if (!r.body.data.events.pageInfo.hasNextPage) return { events, cursor };
  }
}

/**
 * Reads after `after` until `done` holds: an event becomes readable only once every older
 * transaction on the database server has ended (the no-skip rule), so it may lag its commit.
 */
async function readUntil(after: string | null, done: (events: Ev[]) => boolean, timeoutMs = 10_000): Promise<{ events: Ev[]; cursor: string | null }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await readAll(after);
    if (done(r.events) || Date.now() > deadline) return r;
    await new Promise((res) => setTimeout(res, 100));
  }
}

const FEED = `query($id: ID!) { transactionsSync(accountId: $id, count: 500) { added { id } hasMore } }`;

beforeAll(async () => {
  t = await startTestGateway();
  ({ key } = await t.createTenant('Events'));
  const u = await t.gql<{ endUserCreate: { endUser: { id: string } } }>('mutation { endUserCreate(input: { externalRef: "ev" }) { endUser { id } } }', {}, key);
  c = await connect(t, key, u.body.data!.endUserCreate.endUser.id, 'thames');
  account = c.accounts.find((a) => a.iban)!;
  for (const a of c.accounts) await settled(t, key, a.id, null);
});
afterAll(async () => t?.close());

describe('the event log', () => {
  it('records the consent’s activation, its accounts and every synced transaction once, in the transactions that made them', async () => {
    const { events } = await readUntil(null, (es) => es.filter((e) => e.type === 'BALANCE_UPDATED').length >= c.accounts.length);
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('CONSENT_ACTIVATED');
    expect(events[0]!.resourceId).toBe(c.consentId);
    expect(types.filter((x) => x === 'ACCOUNT_DISCOVERED')).toHaveLength(c.accounts.length);
    expect(types).toContain('BALANCE_UPDATED');
    const announced = events.filter((e) => e.type === 'TRANSACTIONS_ADDED' && e.resourceId === account.id).flatMap((e) => e.payload.transactionIds as string[]);
    const feed = await t.gql<{ transactionsSync: { added: { id: string }[]; hasMore: boolean } }>(FEED, { id: account.id }, key);
    expect(feed.body.data!.transactionsSync.hasMore).toBe(false);
    expect(announced.sort()).toEqual(feed.body.data!.transactionsSync.added.map((x) => x.id).sort());
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    // Per resource: 1, 2, 3… with no gap.
    const mine = events.filter((e) => e.resourceId === account.id).map((e) => Number(e.resourceSequence));
    expect(mine).toEqual(mine.map((_, i) => i + 1));
    expect(JSON.stringify(events)).not.toMatch(/access_?token|refresh_?token|secret/i);
  });

  it('announces a first sync’s transactions in the order they were stored, a hundred per event, each event with the version that published them', async () => {
    // Two years of a checking account: a few hundred transactions. A tenant of its own: the other tests read the whole log.
    const other = await t.createTenant('Events, a longer history');
    const u = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
      'mutation { endUserCreate(input: { externalRef: "ev-many" }) { endUser { id } } }',
      {},
      other.key,
    );
    const many = await connect(t, other.key, u.body.data!.endUserCreate.endUser.id, 'nordlicht', 'alice', { historyDays: 730 });
    for (const a of many.accounts) await settled(t, other.key, a.id, null);
    const accountIds = new Set(many.accounts.map((a) => a.id));
    let events: Ev[] = [];
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
      events = (await readAll(null, undefined, other.key)).events;
      if (events.filter((e) => e.type === 'BALANCE_UPDATED' && accountIds.has(e.resourceId)).length >= accountIds.size) break;
    }
    const largest = many.accounts
      .map((a) => ({ a, n: events.filter((e) => e.type === 'TRANSACTIONS_ADDED' && e.resourceId === a.id).length }))
      .sort((x, y) => y.n - x.n)[0]!.a;
    const added = events.filter((e) => e.type === 'TRANSACTIONS_ADDED' && e.resourceId === largest.id);
    const first = added.filter((e) => e.payload.version === added[0]!.payload.version);
    const sizes = first.map((e) => (e.payload.transactionIds as string[]).length);
    // More than one event, all full but the last.
    expect(sizes.length).toBeGreaterThan(1);
    expect(sizes.slice(0, -1).every((n) => n === 100)).toBe(true);
    expect(sizes.at(-1)).toBeGreaterThan(0);
    expect(sizes.at(-1)).toBeLessThanOrEqual(100);
    expect(first.map((e) => Object.keys(e.payload).sort())).toEqual(first.map(() => ['accountId', 'transactionIds', 'version']));
    expect(new Set(first.map((e) => e.payload.accountId))).toEqual(new Set([largest.id]));
    const { rows } = await t.gateway.db.sql.query<{ id: string; version: string }>(
      `select id, version::text as version from bank_transaction where account_id = $1 and version <= $2::bigint order by bank_transaction.version`,
      [largest.internalId, first[0]!.payload.version],
    );
    expect(first.flatMap((e) => e.payload.transactionIds as string[])).toEqual(rows.map((r) => toGlobalId('Transaction', r.id)));
    expect(rows.at(-1)!.version).toBe(first[0]!.payload.version);
  });

  it('resumes from a cursor with no gap and no repeat, and filters by type', async () => {
    const all = (await readAll()).events;
    const half = Math.floor(all.length / 2);
    const rest = await readAll(all[half - 1]!.cursor);
    expect(rest.events.map((e) => e.id)).toEqual(all.slice(half).map((e) => e.id));
    const onlyConsent = await readAll(null, ['CONSENT_ACTIVATED']);
    expect(onlyConsent.events.map((e) => e.type)).toEqual(['CONSENT_ACTIVATED']);
    // New changes appear after the old end, and only them.
    await control(t, 'POST', `/banks/thames/accounts/${encodeURIComponent(account.bankAccountId)}/transactions`, {
      amount: '-9.99',
      counterpartyName: 'Newsagent',
    });
    const before = (await t.gql<{ account: { lastSyncedAt: string } }>('query($id: ID!) { account(id: $id) { lastSyncedAt } }', { id: account.id }, key)).body
      .data!.account.lastSyncedAt;
    await t.gql(
      'mutation($id: ID!) { accountSync(id: $id, input: { mode: USER_PRESENT, psuIpAddress: "198.51.100.1" }) { userErrors { code } } }',
      { id: account.id },
      key,
    );
    await settled(t, key, account.id, before);
    const next = await readUntil(all.at(-1)!.cursor, (es) => es.some((e) => e.type === 'TRANSACTIONS_ADDED'));
    const added = next.events.filter((e) => e.type === 'TRANSACTIONS_ADDED');
    expect(added).toHaveLength(1);
    expect(added[0]!.payload.transactionIds).toHaveLength(1);
    expect(next.events.every((e) => !all.some((o) => o.id === e.id))).toBe(true);
  });

  it('writes no transaction event for a sync that stored nothing, but says the sync failed', async () => {
    const end = (await readAll()).cursor;
    await control(t, 'POST', `/banks/thames/accounts/${encodeURIComponent(account.bankAccountId)}/transactions`, {
      amount: '-1.50',
      counterpartyName: 'Vending',
    });
    await control(t, 'POST', '/banks/thames/faults', { kind: 'status', status: 503, route: 'transactions' });
    await t.gateway.services.sync
      .run({ accountId: account.internalId, mode: 'USER_PRESENT', psuIpAddress: '198.51.100.1', reason: 'REQUESTED' })
      .catch(() => undefined);
    await control(t, 'DELETE', '/banks/thames/faults');
    const after = await readUntil(end, (es) => es.length > 0);
    expect(after.events.map((e) => e.type)).toEqual(['SYNC_FAILED']);
    expect(after.events[0]!.resourceId).toBe(account.id);
  });

  it('shows a tenant only its own events, and refuses a malformed cursor, an unknown type and a page out of range', async () => {
    const { key: other } = await t.createTenant('Other');
    expect((await readAll(null, undefined, other)).events).toEqual([]);
    const badCursor = await t.gql(EVENTS, { after: 'nope!' }, key);
    expect(badCursor.body.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argument: 'after' });
    const badType = await t.gql(EVENTS, { types: ['NOT_A_TYPE'] }, key);
    expect(badType.body.errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');
    const badFirst = await t.gql(EVENTS, { first: 501 }, key);
    expect(badFirst.body.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argument: 'first' });
  });
});

describe('consent validity', () => {
  it('turns a consent EXPIRING within the warning days and EXPIRED at its end, each with its event, never silently', async () => {
    const id = c.consentId;
    const internal = Buffer.from(id, 'base64url').toString().split('/').at(-1)!;
    const end = (await readAll()).cursor;
    await t.gateway.db.sql.query(`update consent set valid_until = now() + interval '3 days' where id = $1`, [internal]);
    expect(await t.gateway.services.consents.checkExpiry()).toEqual({ expiring: 1, expired: 0 });
    expect(await t.gateway.services.consents.checkExpiry()).toEqual({ expiring: 0, expired: 0 });
    const status = async () =>
      (
        await t.gql<{ node: { status: string; statusReason: string } }>(
          'query($id: ID!) { node(id: $id) { ... on Consent { status statusReason } } }',
          { id },
          key,
        )
      ).body.data!.node;
    expect((await status()).status).toBe('EXPIRING');
    await t.gateway.db.sql.query(`update consent set valid_until = now() - interval '1 minute' where id = $1`, [internal]);
    expect(await t.gateway.services.consents.checkExpiry()).toEqual({ expiring: 0, expired: 1 });
    expect(await status()).toMatchObject({ status: 'EXPIRED' });
    const after = await readUntil(end, (es) => es.length >= 2);
    expect(after.events.map((e) => [e.type, e.resourceId])).toEqual([
      ['CONSENT_EXPIRING', id],
      ['CONSENT_EXPIRED', id],
    ]);
    const refused = await t.gql<{ accountSync: { userErrors: { code: string }[] } }>(
      'mutation($id: ID!) { accountSync(id: $id, input: { mode: USER_PRESENT, psuIpAddress: "198.51.100.1" }) { userErrors { code } } }',
      { id: account.id },
      key,
    );
    expect(refused.body.data!.accountSync.userErrors[0]!.code).toBe('INVALID_STATE');
  });
});
