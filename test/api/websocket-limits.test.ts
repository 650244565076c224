import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { startTestGateway, type TestGateway } from '../helpers/gateway';

// graphql-ws is held to the same per-key limits as HTTP: subscribes count against the rate limit,
// and open connections and active subscriptions are capped per key.

let t: TestGateway;
const clients: Client[] = [];

beforeAll(async () => {
  t = await startTestGateway({ env: { RATE_LIMIT_PER_MINUTE: '30', WS_MAX_CONNECTIONS_PER_KEY: '3', WS_MAX_SUBSCRIPTIONS_PER_KEY: '4' } });
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
  await t?.close();
});

function connect(key: string): { client: Client; opened: Promise<void>; closed: Promise<{ code: number; reason: string }> } {
  let onClosed!: (e: { code: number; reason: string }) => void;
  let onOpened!: () => void;
  const closed = new Promise<{ code: number; reason: string }>((r) => (onClosed = r));
  const opened = new Promise<void>((r) => (onOpened = r));
  const client = createClient({
    url: t.gateway.graphqlUrl.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${key}` },
    retryAttempts: 0,
    lazy: false,
    on: { closed: (e) => onClosed(e as { code: number; reason: string }), connected: () => onOpened() },
    onNonLazyError: () => undefined,
  });
  clients.push(client);
  return { client, opened, closed };
}

type Outcome = { kind: 'open' } | { kind: 'error'; codes: unknown[] };

/** Subscribes to events; resolves once the subscription is live (its first ping-free moment) or refused. */
function subscribe(client: Client): { outcome: Promise<Outcome>; stop: () => void } {
  let stop!: () => void;
  const outcome = new Promise<Outcome>((resolve) => {
    stop = client.subscribe(
      { query: 'subscription { events { id } }' },
      {
        next: () => undefined,
        error: (e) => resolve({ kind: 'error', codes: Array.isArray(e) ? e.map((x: { extensions?: { code?: unknown } }) => x.extensions?.code) : [String(e)] }),
        complete: () => undefined,
      },
    );
    // A refusal comes back at once; no answer within this while means the subscription is open.
    setTimeout(() => resolve({ kind: 'open' }), 400);
  });
  return { outcome, stop };
}

describe('graphql-ws limits per API key', () => {
  it('caps open connections per key: the one over the cap is closed with 4429 and RATE_LIMITED, another key is unaffected', async () => {
    const { key } = await t.createTenant('Many sockets');
    const first = [connect(key), connect(key), connect(key)];
    await Promise.all(first.map((c) => c.opened));
    const extra = connect(key);
    const closed = await extra.closed;
    expect(closed.code).toBe(4429);
    expect(closed.reason).toContain('RATE_LIMITED');
    const other = await t.createTenant('Other sockets');
    const fine = connect(other.key);
    await fine.opened;
    // Closing one frees its place.
    await first[0]!.client.dispose();
    const again = connect(key);
    await again.opened;
  });

  it('caps active subscriptions per key across its connections, and completing one frees its place', async () => {
    const { key } = await t.createTenant('Many subscriptions');
    const a = connect(key);
    const b = connect(key);
    await Promise.all([a.opened, b.opened]);
    const subs = [subscribe(a.client), subscribe(a.client), subscribe(b.client), subscribe(b.client)];
    expect((await Promise.all(subs.map((s) => s.outcome))).map((o) => o.kind)).toEqual(['open', 'open', 'open', 'open']);
    expect(await subscribe(b.client).outcome).toEqual({ kind: 'error', codes: ['RATE_LIMITED'] });
    subs[0]!.stop();
    await new Promise((r) => setTimeout(r, 200));
    expect((await subscribe(b.client).outcome).kind).toBe('open');
  });

  it('counts subscribes against the key’s rate limit: a key answered 429 on HTTP is refused RATE_LIMITED on graphql-ws', async () => {
    const { key } = await t.createTenant('Rate limited');
    const ws = connect(key);
    await ws.opened;
    let status = 0;
    for (let i = 0; i < 40 && status !== 429; i++) {
      const res = await fetch(t.gateway.graphqlUrl, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: '{"query":"{ viewer { id } }"}',
      });
      status = res.status;
      await res.arrayBuffer();
    }
    expect(status).toBe(429);
    const refused = await subscribe(ws.client).outcome;
    expect(refused).toEqual({ kind: 'error', codes: ['RATE_LIMITED'] });
  });
});
