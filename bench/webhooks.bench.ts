/**
 * Webhook deliveries per second, against the limit measured in the same run.
 *
 *   DATABASE_URL=postgres://… REDIS_URL=redis://… npm run bench -- webhooks
 *   DATABASE_URL=postgres://… REDIS_URL=redis://… npx tsx bench/webhooks.bench.ts [--events 4000] [--lanes 200] [--one-lane-events 3000] [--rounds 3]
 *
 * One gateway process (the production build, `node dist/main.js` on BENCH_NODE, the default `WEBHOOK_*` settings, no sync) with one
 * endpoint on a local receiver (this process) that answers 204 at once. A backlog of events is
 * committed in one transaction (the trigger writes the deliveries in it, as a sync's commit
 * does); the clock runs from that COMMIT to the last request received, and every delivery must be
 * recorded DELIVERED too. Two shapes: events spread over many resources (lanes in parallel) and
 * every event on one resource (one lane: strictly in order, the next request only after the
 * previous answer).
 *
 * The limit, in the same run: a child process (so it does not share the receiver's event loop,
 * as the gateway does not) sends the same kind of signed POSTs — same body shape, HMAC-SHA256
 * Standard Webhooks headers from the same signing code, node:http with a keep-alive agent — to
 * the same receiver, one in flight and eight in flight, with no database at all. The 200-lane
 * rate is compared to the eight-in-flight limit (the gateway sends at most eight at once to one
 * endpoint: `WEBHOOK_ENDPOINT_CONCURRENCY`), the one-lane rate to the one-in-flight limit, each
 * limit measured just before its gateway run, over a few rounds (the medians are reported).
 * Both are measured warm: the gateway after one unmeasured backlog of each shape, the limit child
 * after LIMIT_WARM_UP posts of its own.
 */
import 'reflect-metadata';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { loadConfig } from '../src/config';
import { createEventBus } from '../src/platform/bus';
import { createLogger } from '../src/platform/logger';
import { WAKE_TOPIC } from '../src/modules/events/event-stream';
import { appendEvents, EventType } from '../src/modules/events/events';
import { newSigningSecret, signatureHeader, signingKeys } from '../src/modules/webhooks/signing';
import { benchDatabase, gatewayOn, gatewayProcess, machineLoad, median, num, output, percentile, ratio, spawnTsx, stop, waitReady } from './common';

const now = () => performance.timeOrigin + performance.now();

/** What a delivery of the bench carries as payload (the size of a small balance event). */
function payload(run: string, n: number, resource: string) {
  return { accountId: resource, run, n, balances: [{ type: 'CLOSING_BOOKED', amount: { amount: '1234.56', currency: 'EUR' }, referenceDate: '2026-12-07' }] };
}

/** The receiver: answers 204 once the body is read; remembers each (run, n) first seen and per-resource order. */
function receiver() {
  const first = new Map<string, number>();
  const lastSeq = new Map<string, number>();
  let requests = 0;
  let outOfOrder = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = now();
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        data: { resourceId: string; resourceSequence: string; payload: { run: string; n: number } };
      };
      requests++;
      const key = `${body.data.payload.run}/${body.data.payload.n}`;
      if (!first.has(key)) {
        first.set(key, at);
        // The limit's POSTs (eight in flight on one made-up resource) have no order to keep.
        if (body.data.payload.run === 'limit') return void res.writeHead(204).end();
        const seq = Number(body.data.resourceSequence);
        const lane = `${body.data.payload.run}/${body.data.resourceId}`;
        if (seq < (lastSeq.get(lane) ?? 0)) outOfOrder++;
        lastSeq.set(lane, seq);
      }
      res.writeHead(204).end();
    });
  });
  return { server, first, requests: () => requests, outOfOrder: () => outOfOrder };
}

/** POSTs the limit child sends before it starts its clock: past them its rate no longer rises (about 6,000/s cold, 7,300/s after 3,000 on this machine). */
const LIMIT_WARM_UP = 3_000;

/** Child process: `count` signed POSTs to `url`, `inflight` at a time on a keep-alive agent; prints { rate }. */
async function limitChild(url: string, count: number, inflight: number): Promise<void> {
  const keys = signingKeys([newSigningSecret()]);
  const agent = new http.Agent({ keepAlive: true, maxSockets: inflight });
  const target = new URL(url);
  const run = 'limit'; // the receiver checks no order for these
  const base = Math.floor(Math.random() * 1e9);
  const resource = randomUUID();
  const post = (n: number) =>
    new Promise<void>((resolve, reject) => {
      const id = randomUUID();
      const createdAt = new Date();
      const body = JSON.stringify({
        type: 'BALANCE_UPDATED',
        timestamp: createdAt.toISOString(),
        data: {
          id,
          type: 'BALANCE_UPDATED',
          resourceType: 'Account',
          resourceId: resource,
          resourceSequence: String(n + 1),
          createdAt,
          cursor: Buffer.from(`e1|${n}|1`).toString('base64url'),
          payload: payload(run, base + n, resource),
        },
      });
      const timestamp = Math.floor(Date.now() / 1000);
      const req = http.request(
        target,
        {
          method: 'POST',
          agent,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'user-agent': 'Passerelle-Webhooks/1',
            'webhook-id': id,
            'webhook-timestamp': String(timestamp),
            'webhook-signature': signatureHeader(keys, id, timestamp, body),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 204 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  let next = 0;
  const worker = async () => {
    while (next < count) await post(next++);
  };
  // Warm-up (connections open, JIT to its optimised tiers, the young generation grown), then the
  // measured run: the limit is measured warm, as the gateway is (below).
  for (let i = 0; i < LIMIT_WARM_UP; i++) await post(count + i);
  const t0 = performance.now();
  await Promise.all(Array.from({ length: inflight }, worker));
  const seconds = (performance.now() - t0) / 1000;
  agent.destroy();
  console.log(JSON.stringify({ rate: count / seconds }));
}

async function limit(url: string, count: number, inflight: number): Promise<number> {
  const child = spawnTsx('bench/webhooks.bench.ts', ['--limit-url', url, '--count', String(count), '--inflight', String(inflight)]);
  return (JSON.parse((await output(child)).trim().split('\n').at(-1)!) as { rate: number }).rate;
}

export interface WebhooksBenchOptions {
  /** Events of the spread shape (over `lanes` resources). */
  events?: number;
  lanes?: number;
  /** Events of the one-lane shape. */
  oneLaneEvents?: number;
  /** Rounds of (limit, gateway) pairs; the table gives their medians. */
  rounds?: number;
}

export default async function webhooksBench(options: WebhooksBenchOptions = {}, log: (s: string) => void = (s) => console.error(s)): Promise<string> {
  const o = { events: 4_000, lanes: 200, oneLaneEvents: 3_000, rounds: 3, ...options };
  const redisUrl = loadConfig().redisUrl;
  if (!redisUrl) throw new Error('the webhooks benchmark needs REDIS_URL (the gateway hears of new events through it)');
  const db = await benchDatabase('hooksbench');
  const rx = receiver();
  await new Promise<void>((r) => rx.server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(rx.server.address() as AddressInfo).port}/hooks`;
  const rows: string[] = [];
  try {
    const t = await gatewayOn(db);
    const { key, tenantId } = await t.createTenant('Webhooks bench');
    await t.close();
    const { child: gateway, port } = await gatewayProcess(db, redisUrl);
    const pool = new pg.Pool({ connectionString: db.url, max: 2 });
    const bus = createEventBus(redisUrl, createLogger('warn'));
    try {
      await waitReady(`http://127.0.0.1:${port}/readyz`, gateway);
      const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({
          query: 'mutation($url: String!) { webhookEndpointCreate(input: { url: $url, eventTypes: [BALANCE_UPDATED] }) { userErrors { code message } } }',
          variables: { url },
        }),
      });
      const created = (await res.json()) as { data?: { webhookEndpointCreate: { userErrors: unknown[] } } };
      if (!created.data || created.data.webhookEndpointCreate.userErrors.length) throw new Error(`webhookEndpointCreate: ${JSON.stringify(created)}`);

      /** Commits `events` over `resources` in one transaction, then waits for every one to be received and recorded. */
      const deliver = async (events: number, resources: number) => {
        const run = randomUUID();
        const ids = Array.from({ length: resources }, () => randomUUID());
        const before = rx.requests();
        const client = await pool.connect();
        let committed: number;
        try {
          await client.query('begin');
          await appendEvents(
            client,
            Array.from({ length: events }, (_, n) => ({
              tenantId,
              type: EventType.BALANCE_UPDATED,
              resourceType: 'Account' as const,
              resourceId: ids[n % resources]!,
              payload: payload(run, n, ids[n % resources]!),
            })),
          );
          await client.query('commit');
          committed = now();
        } finally {
          client.release();
        }
        bus.pubSub.publish(WAKE_TOPIC, {});
        const keys = Array.from({ length: events }, (_, n) => `${run}/${n}`);
        const deadline = Date.now() + 600_000;
        while (keys.some((k) => !rx.first.has(k)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        const got = keys.filter((k) => rx.first.has(k));
        const last = Math.max(...got.map((k) => rx.first.get(k)!));
        const latencies = got.map((k) => rx.first.get(k)! - committed).sort((a, b) => a - b);
        // Received is not enough: each delivery must be recorded too (or it would be sent again).
        let pending = Infinity;
        while (pending > 0 && Date.now() < deadline) {
          const { rows: left } = await pool.query<{ n: string }>(
            `select count(*)::text as n from webhook_delivery d join event e on e.id = d.event_id where e.payload->>'run' = $1 and d.status <> 'DELIVERED'`,
            [run],
          );
          pending = Number(left[0]!.n);
          if (pending > 0) await new Promise((r) => setTimeout(r, 20));
        }
        const settled = now();
        return {
          rate: got.length / ((last - committed) / 1000),
          recordedRate: events / ((settled - committed) / 1000),
          p50: percentile(latencies, 50),
          lost: events - got.length,
          notRecorded: pending,
          repeats: rx.requests() - before - got.length,
        };
      };

      // Warm-up, unmeasured: one backlog of each shape, so that the rounds see the gateway in its
      // steady state (connections, JIT tiers, a grown young generation, plans on analysed tables),
      // as a long-running gateway is; measured cold, its first two rounds came out 0.45× and later ones 0.57–0.63×.
      await deliver(o.events, o.lanes);
      await deliver(o.oneLaneEvents, 1);
      // The machine's load moves within seconds, so each gateway run is paired with the limit measured just before it, over several rounds.
      type Round = { limit8: number; spread: Awaited<ReturnType<typeof deliver>>; limit1: number; one: Awaited<ReturnType<typeof deliver>>; load: string };
      const rounds: Round[] = [];
      for (let i = 0; i < o.rounds; i++) {
        const limit8 = await limit(url, 6_000, 8);
        const spread = await deliver(o.events, o.lanes);
        const limit1 = await limit(url, 3_000, 1);
        const one = await deliver(o.oneLaneEvents, 1);
        rounds.push({ limit8, spread, limit1, one, load: machineLoad() });
        log(
          `round ${i + 1}: ${o.lanes} lanes ${num(spread.rate)}/s (limit ${num(limit8)}/s), one lane ${num(one.rate)}/s (limit ${num(limit1)}/s); ${rounds.at(-1)!.load}`,
        );
      }
      const list = (xs: number[]) => xs.map(num).join(', ');
      const row = (what: string, runs: Awaited<ReturnType<typeof deliver>>[], limits: number[], limWhat: string) =>
        `| ${what} | **${num(median(runs.map((r) => r.rate)))}** (${list(runs.map((r) => r.rate))}) | ${list(runs.map((r) => r.recordedRate))} | ${list(limits)} (${limWhat}) | **${median(runs.map((r, i) => r.rate / limits[i]!)).toFixed(2)}×** (${runs.map((r, i) => ratio(r.rate, limits[i]!)).join(', ')}) | ${list(runs.map((r) => r.p50))} | ${runs.reduce((n, r) => n + r.lost, 0)} | ${runs.reduce((n, r) => n + r.notRecorded, 0)} | ${runs.reduce((n, r) => n + r.repeats, 0)} |`;
      rows.push(
        `Webhooks: one gateway process (PostgreSQL, Redis, Node ${process.versions.node}, default \`WEBHOOK_*\` settings), one endpoint on a local receiver answering 204; each backlog committed in one transaction, clock from its COMMIT to the last request received ("recorded": to the last delivery recorded DELIVERED). Limit: the same signed POSTs over keep-alive from a child process without a database, measured just before each gateway run. ${o.rounds} rounds; medians in bold, every round in brackets. Machine after each round: ${rounds.map((r) => r.load).join('; ')}.`,
        '',
        '| shape | deliveries/s received | recorded/s | limit/s | ratio | commit → received p50 ms | lost | not recorded | repeats |',
        '|---|---|---|---|---|---|---:|---:|---:|',
        row(
          `${o.events.toLocaleString('en-US')} events over ${o.lanes} resources (lanes in parallel)`,
          rounds.map((r) => r.spread),
          rounds.map((r) => r.limit8),
          'eight in flight',
        ),
        row(
          `${o.oneLaneEvents.toLocaleString('en-US')} events on one resource (one ordered lane)`,
          rounds.map((r) => r.one),
          rounds.map((r) => r.limit1),
          'one in flight',
        ),
        '',
        `Out-of-order first receipts within a resource: ${rx.outOfOrder()}.`,
      );
    } finally {
      await bus.close();
      await pool.end();
      await stop(gateway);
    }
  } finally {
    rx.server.closeAllConnections();
    rx.server.close();
    await db.drop();
  }
  return rows.join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      'limit-url': { type: 'string' },
      count: { type: 'string', default: '3000' },
      inflight: { type: 'string', default: '1' },
      events: { type: 'string', default: '4000' },
      lanes: { type: 'string', default: '200' },
      'one-lane-events': { type: 'string', default: '3000' },
      rounds: { type: 'string', default: '3' },
    },
  });
  if (values['limit-url']) {
    await limitChild(values['limit-url'], Number(values.count), Number(values.inflight));
  } else {
    console.log(
      await webhooksBench({
        events: Number(values.events),
        lanes: Number(values.lanes),
        oneLaneEvents: Number(values['one-lane-events']),
        rounds: Number(values.rounds),
      }),
    );
  }
  process.exit(0);
}
