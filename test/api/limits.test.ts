import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasRedis, startTestGateway, type TestGateway } from '../helpers/gateway';

let t: TestGateway;
let key: string;

beforeAll(async () => {
  t = await startTestGateway({
    env: { RATE_LIMIT_PER_MINUTE: '1000', GRAPHQL_MAX_DEPTH: '4', GRAPHQL_MAX_COST: '300', GRAPHQL_MAX_TOKENS: '100', HTTP_BODY_LIMIT_BYTES: '4096' },
  });
  ({ key } = await t.createTenant('Limits'));
});
afterAll(async () => t?.close());

describe('query depth, cost and size limits', () => {
  it('runs a query within the limits', async () => {
    const r = await t.gql('{ viewer { apiKeys(first: 5) { nodes { id } } } }', {}, key);
    expect(r.status).toBe(200);
    expect(r.body.errors).toBeUndefined();
  });

  it('refuses a query nested deeper than the limit before running it', async () => {
    const r = await t.gql('{ viewer { apiKeys { pageInfo { endCursor } edges { node { id } } } } }', {}, key);
    expect(r.status).toBe(400);
    expect(r.body.data).toBeUndefined();
    expect(r.body.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_DEEP');
  });

  it('follows fragments when measuring depth', async () => {
    const r = await t.gql('query { viewer { ...K } } fragment K on Tenant { apiKeys { edges { node { ...N } } } } fragment N on ApiKey { id }', {}, key);
    expect(r.body.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_DEEP');
  });

  it('refuses a query whose estimated cost exceeds the limit, counting page sizes from variables', async () => {
    const q = 'query($n: Int) { endUsers(first: $n) { nodes { id externalRef displayName createdAt } } }';
    expect((await t.gql(q, { n: 10 }, key)).body.errors).toBeUndefined();
    const r = await t.gql(q, { n: 100 }, key);
    expect(r.status).toBe(400);
    expect(r.body.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_COMPLEX');
  });

  it('refuses many aliased lists as too costly', async () => {
    const aliases = Array.from({ length: 5 }, (_, i) => `a${i}: endUsers { nodes { id externalRef } }`).join(' ');
    const r = await t.gql(`{ ${aliases} }`, {}, key);
    expect(r.body.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_COMPLEX');
  });

  it('refuses a document with too many tokens with QUERY_TOO_LARGE', async () => {
    const fields = Array.from({ length: 150 }, () => '__typename').join(' ');
    const r = await t.gql(`{ ${fields} }`, {}, key);
    expect(r.status).toBe(400);
    expect(r.body.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_LARGE');
  });

  it('refuses an oversized request body with 413 and a coded error', async () => {
    const res = await fetch(t.gateway.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query: `{ viewer { name } } # ${'x'.repeat(8000)}` }),
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { errors: { extensions: { code: string } }[] }).errors[0]?.extensions.code).toBe('QUERY_TOO_LARGE');
  });

  it('refuses a body that is not JSON with a coded BAD_REQUEST', async () => {
    const res = await fetch(t.gateway.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: '{ not json',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { errors: { extensions: { code: string } }[] }).errors[0]?.extensions.code).toBe('BAD_REQUEST');
  });
});

describe('rate limiting per API key', () => {
  it('answers 429 with Retry-After and RATE_LIMITED once a key spends its budget, without touching other keys', async () => {
    const limited = await startTestGateway({ env: { RATE_LIMIT_PER_MINUTE: '5' } });
    try {
      const one = (await limited.createTenant('One')).key;
      const two = (await limited.createTenant('Two')).key;
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await limited.gql('{ viewer { name } }', {}, one)).status);
      expect(statuses).toEqual([200, 200, 200, 200, 200]);
      const refused = await limited.gql('{ viewer { name } }', {}, one);
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(refused.body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
      expect((await limited.gql('{ viewer { name } }', {}, two)).status).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it.skipIf(!hasRedis)('shares one budget across two gateway instances through Redis (needs REDIS_URL)', async () => {
    const first = await startTestGateway({ env: { RATE_LIMIT_PER_MINUTE: '4' } });
    const second = await startTestGateway({ env: { RATE_LIMIT_PER_MINUTE: '4' }, sameDataAs: first });
    try {
      const key2 = (await first.createTenant('Shared')).key;
      const statuses = [];
      for (const gw of [first, second, first, second, first]) statuses.push((await gw.gql('{ viewer { name } }', {}, key2)).status);
      expect(statuses).toEqual([200, 200, 200, 200, 429]);
    } finally {
      await second.close();
      await first.close();
    }
  });
});

describe('the client address behind a reverse proxy', () => {
  const anonymous = (t: TestGateway, forwardedFor: string) =>
    fetch(t.gateway.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor },
      body: '{"query":"{ __typename }"}',
    }).then((r) => r.status);

  it('keys requests without an API key by the socket address, whatever X-Forwarded-For says, unless TRUST_PROXY names the proxy', async () => {
    const direct = await startTestGateway({ env: { RATE_LIMIT_PER_MINUTE: '2' } });
    const proxied = await startTestGateway({ env: { RATE_LIMIT_PER_MINUTE: '2', TRUST_PROXY: 'loopback' } });
    try {
      // Not trusted: a client cannot escape its budget by inventing addresses. (With Redis the
      // loopback bucket is shared with other tests, which can only make it fuller.)
      await anonymous(direct, '198.51.100.1');
      await anonymous(direct, '198.51.100.2');
      expect(await anonymous(direct, '198.51.100.3')).toBe(429);
      // Trusted (this test's loopback is the proxy): each forwarded client has its own budget.
      const [a, b] = [
        `10.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.1`,
        `10.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.2`,
      ];
      expect([await anonymous(proxied, a), await anonymous(proxied, a), await anonymous(proxied, a)]).toEqual([401, 401, 429]);
      expect(await anonymous(proxied, b)).toBe(401);
    } finally {
      await proxied.close();
      await direct.close();
    }
  });
});
