/**
 * Webhook deliveries per second, run as an extension of the events benchmark on its gateway
 * (PostgreSQL, Redis, `WEBHOOK_CONCURRENCY` default 8): one endpoint on a local receiver that
 * answers 204 at once; N events committed in transactions of 100, as a sync writes them; the
 * clock runs from the first commit to the last request received. Two shapes: every event on one
 * resource (one lane: strictly in order, one request at a time) and events spread over many
 * resources (lanes in parallel). Each request is signed, so the rate includes HMAC signing.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { randomUUID } from 'node:crypto';
import { createEventBus } from '../src/platform/bus';
import { createLogger } from '../src/platform/logger';
import { WAKE_TOPIC } from '../src/modules/events/event-stream';
import { appendEvents, EventType } from '../src/modules/events/events';
import { ms, num, percentile } from './common';
import type { EventsBenchContext } from './events.bench';

const now = () => performance.timeOrigin + performance.now();

export async function webhookDeliveries(ctx: EventsBenchContext, events = 2_000, spread = 200): Promise<string[]> {
  const received = new Map<string, number>();
  let total = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += String(c)));
    req.on('end', () => {
      const at = now();
      const run = (JSON.parse(body) as { data: { payload: { run: string; n: number } } }).data.payload;
      received.set(`${run.run}/${run.n}`, at);
      total++;
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const pool = new pg.Pool({ connectionString: ctx.db.url, max: 2 });
  const bus = createEventBus(ctx.redisUrl, createLogger('warn'));
  const rows: string[] = [];
  try {
    const res = await fetch(ctx.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ctx.key}` },
      body: JSON.stringify({
        query: 'mutation($url: String!) { webhookEndpointCreate(input: { url: $url, eventTypes: [BALANCE_UPDATED] }) { userErrors { code message } } }',
        variables: { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks` },
      }),
    });
    const created = (await res.json()) as { data?: { webhookEndpointCreate: { userErrors: unknown[] } } };
    if (!created.data || created.data.webhookEndpointCreate.userErrors.length) throw new Error(`webhookEndpointCreate: ${JSON.stringify(created)}`);

    for (const resources of [1, spread]) {
      const run = randomUUID();
      const ids = Array.from({ length: resources }, () => randomUUID());
      const committedAt = new Map<string, number>();
      const first = now();
      for (let from = 0; from < events; from += 100) {
        const client = await pool.connect();
        try {
          await client.query('begin');
          const batch = Array.from({ length: Math.min(100, events - from) }, (_, i) => from + i);
          await appendEvents(client, batch.map((n) => ({ tenantId: ctx.tenantId, type: EventType.BALANCE_UPDATED, resourceType: 'Account' as const, resourceId: ids[n % resources]!, payload: { run, n } })));
          await client.query('commit');
          const at = now();
          for (const n of batch) committedAt.set(`${run}/${n}`, at);
        } finally {
          client.release();
        }
        bus.pubSub.publish(WAKE_TOPIC, {});
      }
      const deadline = Date.now() + 300_000;
      while ([...committedAt.keys()].some((k) => !received.has(k)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const got = [...committedAt.keys()].filter((k) => received.has(k));
      const latencies = got.map((k) => received.get(k)! - committedAt.get(k)!).sort((a, b) => a - b);
      const last = Math.max(...got.map((k) => received.get(k)!));
      const rate = got.length / ((last - first) / 1000);
      const shape = resources === 1 ? 'one resource (one ordered lane)' : `${resources} resources (lanes in parallel)`;
      rows.push(
        `| webhooks: ${events.toLocaleString('en-US')} events on ${shape} → local receiver, **${num(rate)} deliveries/s** (commit → request received) | ${ms(percentile(latencies, 50))} | ${ms(percentile(latencies, 99))} | ${ms(latencies.at(-1) ?? NaN)} | ${got.length.toLocaleString('en-US')} | ${events - got.length} |`,
      );
    }
    if (total < events * 2) rows.push(`| (receiver saw ${total} requests) | | | | | |`);
  } finally {
    await bus.close();
    await pool.end();
    server.closeAllConnections();
    server.close();
  }
  return rows;
}
