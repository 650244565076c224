// Exactly-once delivery of the event log to graphql-ws subscribers while the Redis that fans
// wake-ups out between two gateway instances is killed and restarted. Needs a `redis-server`
// binary (a private one is started on a free port; the shared REDIS_URL is never touched).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { freePort } from '../../src/platform/db';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { accountState, connect, control, settled, type Connected } from '../helpers/banking';

const redisBinary = (() => {
  const r = spawnSync('which', ['redis-server'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
})();
if (!redisBinary) console.warn('event-redis.test.ts skipped: no redis-server binary on PATH (apt-get install redis-server)');

let redisPort = 0;
let redis: ChildProcess | undefined;
let t: TestGateway;
let second: TestGateway;
let key: string;
let account: Connected['accounts'][number];
let start: string;
const clients: Client[] = [];

async function startRedis(): Promise<void> {
  redis = spawn(redisBinary!, ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(redisPort, '127.0.0.1', () => (s.end(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (up) return;
    if (Date.now() > deadline) throw new Error('redis-server did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function killRedis(): Promise<void> {
  const r = redis!;
  if (r.exitCode !== null || r.signalCode !== null) return;
  const exited = new Promise((resolve) => r.once('exit', resolve));
  r.kill('SIGKILL');
  await exited;
}

beforeAll(async () => {
  if (!redisBinary) return;
  redisPort = await freePort();
  await startRedis();
  const env = { REDIS_URL: `redis://127.0.0.1:${redisPort}` };
  t = await startTestGateway({ env });
  // An API-only second instance: its in-process sandbox is another bank, so it must not run syncs.
  second = await startTestGateway({ sameDataAs: t, env: { ...env, SYNC_CONCURRENCY: '0' } });
  expect(t.gateway.db.url).toBe(second.gateway.db.url);
  ({ key } = await t.createTenant('Redis restart'));
  const u = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
    'mutation { endUserCreate(input: { externalRef: "redis" }) { endUser { id } } }',
    {},
    key,
  );
  const c = await connect(t, key, u.body.data!.endUserCreate.endUser.id, 'nordlicht');
  account = c.accounts.find((a) => a.iban)!;
  for (const a of c.accounts) await settled(t, key, a.id, null);
  start = (await logAfter(null)).at(-1)!.cursor;
}, 120_000);

afterAll(async () => {
  await Promise.all(clients.map((x) => x.dispose()));
  await second?.close();
  await t?.close();
  if (redis) await killRedis();
});

type Ev = { id: string; type: string; cursor: string };

/** The whole log of the tenant after `after` through the `events` query, every page. */
async function logAfter(after: string | null): Promise<Ev[]> {
  const out: Ev[] = [];
  for (;;) {
    const r = await t.gql<{ events: { nodes: Ev[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } }>(
      'query($after: String) { events(after: $after, first: 500) { nodes { id type cursor } pageInfo { hasNextPage endCursor } } }',
      { after },
      key,
    );
    const page = r.body.data!.events;
    out.push(...page.nodes);
    if (!page.pageInfo.hasNextPage) return out;
    after = page.pageInfo.endCursor;
  }
}

function subscribe<T>(gw: TestGateway, query: string, variables: Record<string, unknown> = {}) {
  const client = createClient({
    url: gw.gateway.graphqlUrl.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${key}` },
    retryAttempts: 0,
  });
  clients.push(client);
  const received: T[] = [];
  const errors: unknown[] = [];
  client.subscribe<T>(
    { query, variables },
    { next: (r) => (r.data ? received.push(r.data as T) : errors.push(r.errors)), error: (e) => errors.push(e), complete: () => undefined },
  );
  return { client, received, errors };
}

const EVENTS = 'subscription($after: String) { events(after: $after) { id type cursor } }';

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A new transaction at the bank, then a user-present sync through instance 1; `whileSyncing` runs once the sync is asked for. */
async function addAndSync(amount: string, whileSyncing?: () => Promise<void>) {
  await control(t, 'POST', `/banks/nordlicht/accounts/${encodeURIComponent(account.bankAccountId)}/transactions`, {
    amount,
    counterpartyName: `Shop ${amount}`,
  });
  const before = (await accountState(t, key, account.id)).lastSyncedAt;
  const r = await t.gql<{ accountSync: { userErrors: unknown[] } }>(
    'mutation($id: ID!) { accountSync(id: $id, input: { mode: USER_PRESENT, psuIpAddress: "198.51.100.2" }) { userErrors { code } } }',
    { id: account.id },
    key,
  );
  expect(r.body.data?.accountSync.userErrors).toEqual([]);
  await whileSyncing?.();
  const s = await settled(t, key, account.id, before);
  expect(s.syncStatus).toBe('SUCCEEDED');
}

const busLines = (gw: TestGateway, text: string) => gw.logs.filter((l) => l.includes(text)).length;

describe('event subscriptions across a Redis restart', () => {
  it.skipIf(!redisBinary)(
    'delivers every event id exactly once, in log order, across a Redis restart and across two gateway instances; a subscriber resuming from its last cursor gets the rest with no gap and no duplicate',
    async () => {
      const onFirst = subscribe<{ events: Ev }>(t, EVENTS, { after: start });
      const onSecond = subscribe<{ events: Ev }>(second, EVENTS, { after: start });
      const txs = subscribe<{ transactionsAdded: { id: string; amount: { amount: string } }[] }>(
        second,
        'subscription($id: ID!) { transactionsAdded(accountId: $id) { id amount { amount } } }',
        { id: account.id },
      );
      const leaver = subscribe<{ events: Ev }>(second, EVENTS, { after: start });
      await new Promise((r) => setTimeout(r, 500)); // every subscription is registered before the first change

      // Redis up: a change through instance 1 reaches both instances.
      await addAndSync('-1.01');
      await addAndSync('-1.02');
      const phase1 = await logAfter(start);
      await until(() => [onFirst, onSecond, leaver].every((s) => s.received.length >= phase1.length), 'the first changes on every subscriber');

      // One subscriber goes away, remembering its last cursor.
      await leaver.client.dispose();
      const kept = leaver.received.map((r) => r.events);
      expect(kept.map((e) => e.id)).toEqual(phase1.map((e) => e.id));

      // Redis killed while a sync is running, and more changes while it is away.
      await addAndSync('-2.01', killRedis);
      await addAndSync('-2.02');
      // The gateway keeps serving without Redis, and says Redis is down.
      const readyz = async (gw: TestGateway) => {
        const res = await fetch(`${gw.gateway.baseUrl}/readyz`);
        return { status: res.status, redis: ((await res.json()) as { redis?: string }).redis };
      };
      await until(async () => (await readyz(second)).redis === 'down', 'readyz reporting Redis down');
      expect((await readyz(second)).status).toBe(200);
      // The subscriber resumes from its last cursor while Redis is still down.
      const resumed = subscribe<{ events: Ev }>(second, EVENTS, { after: kept.at(-1)!.cursor });
      const phase2 = await logAfter(start);
      await until(
        () => [onFirst, onSecond].every((s) => s.received.length >= phase2.length) && kept.length + resumed.received.length >= phase2.length,
        'the changes made while Redis was down',
      );

      // Redis back on the same port, and more changes.
      await startRedis();
      await until(() => busLines(t, 'redis bus connection back') >= 2 && busLines(second, 'redis bus connection back') >= 2, 'the bus reconnecting', 30_000);
      await until(async () => (await readyz(second)).redis === 'up', 'readyz reporting Redis up again');
      await addAndSync('-3.01');
      await addAndSync('-3.02');

      const log = await logAfter(start);
      const ids = log.map((e) => e.id);
      expect(log.filter((e) => e.type === 'TRANSACTIONS_ADDED')).toHaveLength(6);
      const all = () => [
        onFirst.received.map((r) => r.events.id),
        onSecond.received.map((r) => r.events.id),
        [...kept.map((e) => e.id), ...resumed.received.map((r) => r.events.id)],
      ];
      await until(() => all().every((got) => got.length >= ids.length) && txs.received.length >= 6, 'every event on every subscriber');
      // A late duplicate would arrive within a poll interval or two.
      await new Promise((r) => setTimeout(r, 2_500));
      for (const got of all()) expect(got).toEqual(ids);
      expect(txs.received.map((r) => r.transactionsAdded.map((x) => x.amount.amount))).toEqual([
        ['-1.01'],
        ['-1.02'],
        ['-2.01'],
        ['-2.02'],
        ['-3.01'],
        ['-3.02'],
      ]);
      for (const s of [onFirst, onSecond, txs, resumed]) expect(s.errors).toEqual([]);

      // ioredis reconnects quietly: one line per bus connection when lost, one when back, not one per attempt.
      for (const gw of [t, second]) {
        expect(busLines(gw, 'redis bus connection lost')).toBe(2);
        expect(busLines(gw, 'redis bus connection back')).toBe(2);
      }
      // The rate limiter's connection too; the requests it let through meanwhile don't log one line each.
      expect(busLines(t, 'redis rate-limit connection lost')).toBe(1);
      await until(() => busLines(t, 'redis rate-limit connection back') === 1, 'the rate-limit connection back');
      expect(busLines(t, 'rate-limit store error')).toBeLessThanOrEqual(1);
    },
    180_000,
  );
});
