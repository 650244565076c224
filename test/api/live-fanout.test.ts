// Live fan-out: subscribers that share an operation share one execution per event and one frame;
// a connection that does not read is closed with 1013 and never holds the others back.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import pg from 'pg';
import { appendEvents, EventType } from '../../src/modules/events/events';
import { toGlobalId } from '../../src/api/relay/global-id';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { accountState, connect, control, settled, type Connected } from '../helpers/banking';

const MAX_BUFFERED = 65_536;
let t: TestGateway;
let a: { key: string; tenantId: string };
let b: { key: string; tenantId: string };
let account: Connected['accounts'][number];
let clients: Client[] = [];

beforeAll(async () => {
  t = await startTestGateway({
    env: {
      WS_MAX_CONNECTIONS_PER_KEY: '100',
      WS_MAX_SUBSCRIPTIONS_PER_KEY: '200',
      WS_MAX_BUFFERED_BYTES: String(MAX_BUFFERED),
      RATE_LIMIT_PER_MINUTE: '100000',
    },
  });
  a = await t.createTenant('Fan-out A');
  b = await t.createTenant('Fan-out B');
  const u = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
    'mutation { endUserCreate(input: { externalRef: "fanout" }) { endUser { id } } }',
    {},
    a.key,
  );
  const c = await connect(t, a.key, u.body.data!.endUserCreate.endUser.id, 'nordlicht');
  account = c.accounts.find((x) => x.iban)!;
  for (const x of c.accounts) await settled(t, a.key, x.id, null);
  // No scheduled sync may write events while the tests count them.
  await t.gateway.db.sql.query('update account set next_sync_at = null');
}, 120_000);
afterEach(async () => {
  await Promise.all(clients.map((x) => x.dispose()));
  clients = [];
});
afterAll(async () => {
  await t?.close();
});

/** One graphql-ws connection with one subscription; what arrives is collected. */
function subscribe<T>(key: string, query: string, variables: Record<string, unknown> = {}) {
  const client = createClient({
    url: t.gateway.graphqlUrl.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${key}` },
    retryAttempts: 0,
    lazy: false,
  });
  clients.push(client);
  const received: T[] = [];
  const errors: unknown[] = [];
  const connected = new Promise<void>((resolve) => client.on('connected', () => resolve()));
  client.subscribe<T>(
    { query, variables },
    { next: (r) => (r.data ? received.push(r.data as T) : errors.push(r.errors)), error: (e) => errors.push(e), complete: () => undefined },
  );
  return { received, errors, connected };
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A counter of the gateway's /metrics (0 when absent). */
async function counter(name: string): Promise<number> {
  const text = await (await fetch(`${t.gateway.baseUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

/** BALANCE_UPDATED events written to the log of `tenantId` in one transaction, as a sync writes them; their marks. */
async function writeEvents(tenantId: string, count: number, padding = 0): Promise<string[]> {
  const marks = Array.from({ length: count }, () => randomUUID());
  const resource = randomUUID();
  const client = await t.gateway.db.sql.connect();
  try {
    await client.query('begin');
    await appendEvents(
      client,
      marks.map((mark) => ({
        tenantId,
        type: EventType.BALANCE_UPDATED,
        resourceType: 'Account' as const,
        resourceId: resource,
        payload: { accountId: toGlobalId('Account', resource), mark, padding: 'x'.repeat(padding) },
      })),
    );
    await client.query('commit');
  } finally {
    client.release();
  }
  t.gateway.services.eventStream.notify();
  return marks;
}

/** Subscribed is not acknowledged by graphql-ws: wait until the subscriptions are registered. */
const registered = () => new Promise((r) => setTimeout(r, 500));

const BALANCES = 'subscription { events(types: [BALANCE_UPDATED]) { id type payload } }';
type Ev = { events: { id: string; type: string; payload: { mark: string } } };

describe('live fan-out over graphql-ws', () => {
  it('gives each of many subscribers sharing one operation every event once, in log order, from one execution per event', async () => {
    const subs = Array.from({ length: 30 }, () => subscribe<Ev>(a.key, BALANCES));
    await Promise.all(subs.map((s) => s.connected));
    await registered();
    const before = await counter('passerelle_live_executions_total');
    const marks = [...(await writeEvents(a.tenantId, 5)), ...(await writeEvents(a.tenantId, 5)), ...(await writeEvents(a.tenantId, 5))];
    await until(() => subs.every((s) => s.received.length >= marks.length), 'every event on every subscriber');
    await new Promise((r) => setTimeout(r, 1_500)); // a duplicate would come within a poll
    // (Events of the setup's syncs that settled after the subscribe come too: the feed is everything handed out after it.)
    const ids = subs[0]!.received.map((r) => r.events.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const s of subs) {
      expect(s.received.map((r) => r.events.id)).toEqual(ids);
      expect(s.received.map((r) => r.events.payload.mark).filter(Boolean)).toEqual(marks);
      expect(s.errors).toEqual([]);
    }
    // One execution per event, however many subscribers.
    expect(await counter('passerelle_live_executions_total')).toBe(before + ids.length);
  });

  it('reads the transactions of a TRANSACTIONS_ADDED event once for all transactionsAdded subscribers of the account', async () => {
    type Added = { transactionsAdded: { id: string; amount: { amount: string } }[] };
    const subs = Array.from({ length: 10 }, () =>
      subscribe<Added>(a.key, 'subscription($id: ID!) { transactionsAdded(accountId: $id) { id amount { amount } } }', { id: account.id }),
    );
    await Promise.all(subs.map((s) => s.connected));
    await registered();
    const before = await counter('passerelle_live_executions_total');
    for (const amount of ['-7.01', '-7.02']) {
      await control(t, 'POST', `/banks/nordlicht/accounts/${encodeURIComponent(account.bankAccountId)}/transactions`, {
        amount,
        counterpartyName: `Shop ${amount}`,
      });
      const since = (await accountState(t, a.key, account.id)).lastSyncedAt;
      await t.gql(
        'mutation($id: ID!) { accountSync(id: $id, input: { mode: USER_PRESENT, psuIpAddress: "198.51.100.2" }) { userErrors { code } } }',
        { id: account.id },
        a.key,
      );
      await settled(t, a.key, account.id, since);
    }
    await until(() => subs.every((s) => s.received.length >= 2), 'both syncs on every subscriber');
    for (const s of subs) expect(s.received.map((r) => r.transactionsAdded.map((x) => x.amount.amount))).toEqual([['-7.01'], ['-7.02']]);
    // One execution (one read of the transactions) per event, not one per subscriber.
    expect(await counter('passerelle_live_executions_total')).toBe(before + 2);
  }, 60_000);

  it('reads the transactions of a TRANSACTIONS_ADDED event once for all transactionsAdded subscribers of the account, whatever their operations (a query counter on the wire)', async () => {
    type Added = { transactionsAdded: { id: string; amount: { amount: string } }[] };
    // Two documents (two groups of the live hub: each executes the event once) and five subscribers each.
    const documents = [
      'subscription($id: ID!) { transactionsAdded(accountId: $id) { id amount { amount } } }',
      'subscription Other($id: ID!) { transactionsAdded(accountId: $id) { amount { amount } id bookingDate } }',
    ];
    const subs = documents.flatMap((q) => Array.from({ length: 5 }, () => subscribe<Added>(a.key, q, { id: account.id })));
    await Promise.all(subs.map((s) => s.connected));
    await registered();
    // Every statement this process sends to PostgreSQL passes through pg.Client#query: count the reads by id.
    const reads: string[] = [];
    const original = pg.Client.prototype.query;
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string } | undefined)?.text;
      if (text && /from bank_transaction where tenant_id = \$1 and id = any\(/.test(text)) reads.push(text);
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof original;
    try {
      for (const amount of ['-8.01', '-8.02']) {
        await control(t, 'POST', `/banks/nordlicht/accounts/${encodeURIComponent(account.bankAccountId)}/transactions`, {
          amount,
          counterpartyName: `Shop ${amount}`,
        });
        const since = (await accountState(t, a.key, account.id)).lastSyncedAt;
        await t.gql(
          'mutation($id: ID!) { accountSync(id: $id, input: { mode: USER_PRESENT, psuIpAddress: "198.51.100.2" }) { userErrors { code } } }',
          { id: account.id },
          a.key,
        );
        await settled(t, a.key, account.id, since);
      }
      await until(() => subs.every((s) => s.received.length >= 2), 'both syncs on every subscriber');
    } finally {
      pg.Client.prototype.query = original;
    }
    for (const s of subs) {
      expect(s.received.map((r) => r.transactionsAdded.map((x) => x.amount.amount))).toEqual([['-8.01'], ['-8.02']]);
      expect(s.errors).toEqual([]);
    }
    // Two events, two reads: not one per subscriber, nor one per operation.
    expect(reads).toHaveLength(2);
  }, 60_000);

  it('never shares a frame between two tenants subscribed with the identical operation', async () => {
    const onA = Array.from({ length: 3 }, () => subscribe<Ev>(a.key, BALANCES));
    const onB = Array.from({ length: 3 }, () => subscribe<Ev>(b.key, BALANCES));
    await Promise.all([...onA, ...onB].map((s) => s.connected));
    await registered();
    const before = await counter('passerelle_live_executions_total');
    const marksA = await writeEvents(a.tenantId, 2);
    const marksB = await writeEvents(b.tenantId, 2);
    await until(() => [...onA, ...onB].every((s) => s.received.length >= 2), 'each tenant’s events');
    await new Promise((r) => setTimeout(r, 1_500));
    for (const s of onA) expect(s.received.map((r) => r.events.payload.mark).filter(Boolean)).toEqual(marksA);
    for (const s of onB) expect(s.received.map((r) => r.events.payload.mark)).toEqual(marksB);
    for (const s of onA) expect(s.received.map((r) => r.events.id)).toEqual(onA[0]!.received.map((r) => r.events.id));
    // Two groups, one per tenant: each executed once per event of its own tenant only.
    expect(await counter('passerelle_live_executions_total')).toBe(before + onA[0]!.received.length + onB[0]!.received.length);
  });

  it('closes a connection that stops reading with 1013 once its send buffer is full, while a subscriber that reads keeps receiving everything', async () => {
    const fast = subscribe<Ev>(b.key, BALANCES);
    await fast.connected;
    // The slow one speaks graphql-ws by hand, then stops reading its socket.
    const slow = new WebSocket(t.gateway.graphqlUrl.replace(/^http/, 'ws'), 'graphql-transport-ws');
    const closed = new Promise<number>((resolve) => slow.on('close', (code) => resolve(code)));
    await new Promise((r) => slow.once('open', r));
    slow.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${b.key}` } }));
    await new Promise((r) => slow.once('message', r));
    slow.send(JSON.stringify({ id: 'slow', type: 'subscribe', payload: { query: BALANCES } }));
    await registered();
    // Both hear a first event (so both are live), then the slow one stops reading.
    const heard = new Promise((r) => slow.once('message', r));
    const marks = await writeEvents(b.tenantId, 1);
    await heard;
    await until(() => fast.received.length >= 1, 'the first event');
    (slow as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();

    const drops = await counter('passerelle_ws_slow_consumer_closes_total');
    // 64 KiB events until the kernel's socket buffers and the gateway's 64 KiB budget are full.
    for (let i = 0; i < 40 && (await counter('passerelle_ws_slow_consumer_closes_total')) === drops; i++) {
      marks.push(...(await writeEvents(b.tenantId, 20, 64 * 1024)));
      await until(() => fast.received.length >= marks.length, 'the fast subscriber keeping up');
    }
    expect(await counter('passerelle_ws_slow_consumer_closes_total')).toBe(drops + 1);
    // The fast subscriber got every event, in order, and keeps receiving after the slow one is gone.
    marks.push(...(await writeEvents(b.tenantId, 3)));
    await until(() => fast.received.length >= marks.length, 'the fast subscriber after the drop');
    expect(fast.received.map((r) => r.events.payload.mark)).toEqual(marks);
    // Reading again, the slow client finds the close frame after what was buffered: 1013, Try Again Later.
    (slow as unknown as { _socket: { resume(): void } })._socket.resume();
    expect(await closed).toBe(1013);
  }, 120_000);
});
