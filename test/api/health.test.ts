import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphiqlPage } from '../../src/api/graphiql';
import { hasRedis, startTestGateway, type TestGateway } from '../helpers/gateway';

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway();
});
afterAll(async () => t?.close());

describe('health, readiness and the GraphiQL page', () => {
  it('answers /healthz while the process is up', async () => {
    const res = await fetch(`${t.gateway.baseUrl}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('answers /readyz with 200 when the database is reachable and migrations are current', async () => {
    const res = await fetch(`${t.gateway.baseUrl}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready', database: 'up', pendingMigrations: 0, ...(hasRedis ? { redis: 'up' } : {}) });
  });

  it('serves GraphiQL to a browser at GET /graphql, with every asset from this server', async () => {
    const res = await fetch(t.gateway.graphqlUrl, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('GraphiQL');
    const sources = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(sources.length).toBeGreaterThanOrEqual(5);
    for (const src of sources) {
      expect(src.startsWith('/')).toBe(true); // no CDN
      const asset = await fetch(`${t.gateway.baseUrl}${src}`);
      expect(asset.status, src).toBe(200);
      expect((await asset.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    }
  });

  it('opens GraphiQL in sandbox with the walkthrough’s example operations as tabs, each carrying the Authorization header', async () => {
    const html = await (await fetch(t.gateway.graphqlUrl, { headers: { accept: 'text/html' } })).text();
    const tabs = JSON.parse(/defaultTabs: (\[.*?\]) \?\? undefined/s.exec(html)![1]!) as { query: string; variables: string; headers: string }[];
    expect(tabs.map((tab) => /(?:query|mutation|subscription) (\w+)/.exec(tab.query)![1])).toEqual([
      'Viewer',
      'Accounts',
      'CreateWebhookEndpoint',
      'InitiatePayment',
      'FollowEvents',
      'CreateExpectedPayment',
      'PaymentProofs',
      'AddMember',
      'SetHandle',
    ]);
    for (const tab of tabs) expect(JSON.parse(tab.headers)).toHaveProperty('Authorization');
  });

  it('keeps example text inert inside the page script', () => {
    const html = graphiqlPage(undefined, [{ query: '# </script><script>alert(1)</script>\nquery A { viewer { id } }', variables: '' }]);
    expect(html).not.toContain('<script>alert(1)');
    expect(graphiqlPage(undefined, [])).toContain('defaultTabs: null ?? undefined');
  });

  it('echoes a well-formed X-Request-ID and invents one otherwise', async () => {
    const given = await fetch(`${t.gateway.baseUrl}/healthz`, { headers: { 'x-request-id': 'req-12345678' } });
    expect(given.headers.get('x-request-id')).toBe('req-12345678');
    const bad = await fetch(`${t.gateway.baseUrl}/healthz`, { headers: { 'x-request-id': 'bad id\twith tabs' } });
    expect(bad.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('masking of unexpected errors', () => {
  it('answers a fault with INTERNAL_SERVER_ERROR and a request id, and logs the cause under that id', async () => {
    const broken = await startTestGateway();
    const { key } = await broken.createTenant('Faulty');
    // Break the database under a running gateway: every resolver now fails unexpectedly.
    await broken.gateway.db.orm.close(true);
    const r = await broken.gql('{ viewer { name } }', {}, key);
    const err = r.body.errors?.[0];
    expect(err?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    const requestId = err?.extensions?.requestId as string;
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(err?.message).toContain(requestId);
    expect(JSON.stringify(r.body)).not.toMatch(/stack|knex|pool|postgres/i);
    expect(broken.logs.some((l) => l.includes(requestId) && l.includes('"level":50'))).toBe(true);
    await broken.close().catch(() => undefined);
  });
});
