import { afterAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { WAKE_TOPIC } from '../../src/modules/events/event-stream';
import { appendEvents, EventType } from '../../src/modules/events/events';

/**
 * Two delivering workers on one database share a backlog of lanes (each leases lanes in batches
 * and records in batches): a resource's events still reach the receiver in their sequence, none
 * is missing, and both workers take part.
 */
describe('two workers delivering one backlog', { timeout: 240_000 }, () => {
  const gateways: TestGateway[] = [];
  let server: http.Server | undefined;
  afterAll(async () => {
    for (const g of gateways.reverse()) await g.close();
    server?.closeAllConnections();
    server?.close();
  });

  it('sends every event, each resource’s in its sequence (a long lane over several runs included), with both workers delivering', async () => {
    // First receipts per resource, and every request's event id.
    const firsts = new Map<string, number[]>();
    const seen = new Set<string>();
    let requests = 0;
    // Nothing is answered until more requests are open at once than one worker may send (four):
    // then both workers are sending, however late one of them got going on a busy machine.
    const held: (() => void)[] = [];
    let latched = true;
    server = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        const e = (JSON.parse(body) as { data: { id: string; resourceId: string; resourceSequence: string } }).data;
        requests++;
        if (!seen.has(e.id)) {
          seen.add(e.id);
          firsts.set(e.resourceId, [...(firsts.get(e.resourceId) ?? []), Number(e.resourceSequence)]);
        }
        // A little jitter, so the lanes of the two workers interleave differently each time.
        const answer = () => setTimeout(() => res.writeHead(204).end(), Math.random() < 0.1 ? 3 : 0);
        if (!latched) return void answer();
        held.push(answer);
        if (held.length > 4) {
          latched = false;
          for (const a of held.splice(0)) a();
        }
      });
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));

    const api = await startTestGateway({ env: { WEBHOOK_CONCURRENCY: '0', SYNC_CONCURRENCY: '0' } });
    gateways.push(api);
    const { key, tenantId } = await api.createTenant('Lanes');
    const created = await api.gql<{ webhookEndpointCreate: { userErrors: unknown[] } }>(
      'mutation($url: String!) { webhookEndpointCreate(input: { url: $url, eventTypes: [BALANCE_UPDATED] }) { userErrors { code } } }',
      { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks` },
      key,
    );
    expect(created.body.data!.webhookEndpointCreate.userErrors).toEqual([]);
    // Four requests at once per worker and endpoint: a worker holds at most twelve lanes, so the other gets the rest.
    for (let i = 0; i < 2; i++) gateways.push(await startTestGateway({ sameDataAs: api, env: { SYNC_CONCURRENCY: '0', WEBHOOK_ENDPOINT_CONCURRENCY: '4' } }));
    const workers = gateways.slice(1);

    // 40 resources with 15 events each, and one with 260 (three runs of a lane and a bit); then more on the same resources while they are being sent.
    const resources = Array.from({ length: 41 }, () => randomUUID());
    const write = async (perResource: (i: number) => number) => {
      const events = resources.flatMap((id, i) =>
        Array.from({ length: perResource(i) }, () => ({
          tenantId,
          type: EventType.BALANCE_UPDATED,
          resourceType: 'Account' as const,
          resourceId: id,
          payload: { accountId: id },
        })),
      );
      const client = await api.gateway.db.sql.connect();
      try {
        await client.query('begin');
        await appendEvents(client, events);
        await client.query('commit');
      } finally {
        client.release();
      }
      for (const w of workers) w.gateway.bus.pubSub.publish(WAKE_TOPIC, {});
      return events.length;
    };
    let total = await write((i) => (i === 0 ? 260 : 15));
    await new Promise((r) => setTimeout(r, 150));
    total += await write((i) => (i === 0 ? 40 : 5));

    const deadline = Date.now() + 180_000;
    while (seen.size < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(seen.size).toBe(total);
    for (const id of resources) {
      const n = id === resources[0] ? 300 : 20;
      expect(firsts.get(id), id).toEqual(Array.from({ length: n }, (_, k) => k + 1));
    }
    const recorded = async () =>
      (await api.gateway.db.sql.query<{ status: string; n: string }>('select status, count(*)::text as n from webhook_delivery group by status')).rows;
    while (Date.now() < deadline && (await recorded()).some((r) => r.status !== 'DELIVERED')) await new Promise((r) => setTimeout(r, 50));
    expect(await recorded()).toEqual([{ status: 'DELIVERED', n: String(total) }]);
    // Every lane parked and let go (one whose park was refused by a newer delivery goes round once more first).
    const busy = async () => (await api.gateway.db.sql.query('select 1 from webhook_lane where lease_token is not null or due_at is not null')).rowCount;
    while (Date.now() < deadline && (await busy())) await new Promise((r) => setTimeout(r, 50));
    expect(await busy()).toBe(0);

    // Both workers sent some of it (each process counts its own recorded attempts).
    for (const w of workers) {
      const text = await (await fetch(`${w.gateway.baseUrl}/metrics`)).text();
      const delivered = Number(/passerelle_webhook_deliveries_total\{outcome="delivered"\} (\d+)/.exec(text)?.[1] ?? 0);
      expect(delivered).toBeGreaterThan(0);
    }
    expect(requests).toBeGreaterThanOrEqual(total); // repeats happen only when a lease runs out
  });
});
