import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway';

let t: TestGateway;
let sandbox: string;
let live: string;
beforeAll(async () => {
  t = await startTestGateway();
  sandbox = (await t.createTenant('Sandbox')).key;
  live = (await t.createTenant('Live', 'live')).key;
});
afterAll(async () => t?.close());

type Payload = { redirectUris: string[] | null; userErrors: { field: string[]; code: string }[] };
const add = async (uri: string, key: string) =>
  (
    await t.gql<{ redirectUriAdd: Payload }>(
      'mutation($uri: String!) { redirectUriAdd(input: { uri: $uri }) { redirectUris userErrors { field code } } }',
      { uri },
      key,
    )
  ).body.data!.redirectUriAdd;
const remove = async (uri: string, key: string) =>
  (
    await t.gql<{ redirectUriRemove: Payload }>(
      'mutation($uri: String!) { redirectUriRemove(input: { uri: $uri }) { redirectUris userErrors { field code } } }',
      { uri },
      key,
    )
  ).body.data!.redirectUriRemove;
const listed = async (key: string) =>
  (await t.gql<{ viewer: { redirectUris: string[] } }>('{ viewer { redirectUris } }', {}, key)).body.data!.viewer.redirectUris;

describe('redirect URI allow-list', () => {
  it('adds https URIs once each, shows them on viewer, and removes them', async () => {
    expect(await add('https://app.example.com/bank/return', live)).toEqual({ redirectUris: ['https://app.example.com/bank/return'], userErrors: [] });
    expect((await add('https://app.example.com/bank/return', live)).redirectUris).toEqual(['https://app.example.com/bank/return']);
    await add('https://app.example.com/other', live);
    expect(await listed(live)).toEqual(['https://app.example.com/bank/return', 'https://app.example.com/other']);
    expect(await listed(sandbox)).toEqual([]);
    expect((await remove('https://app.example.com/other', live)).redirectUris).toEqual(['https://app.example.com/bank/return']);
  });

  it.each([
    ['plain http in live', 'http://app.example.com/cb', 'live', 'INSECURE_URL'],
    ['http://localhost in live', 'http://localhost:3000/cb', 'live', 'INSECURE_URL'],
    ['plain http to a non-loopback host in sandbox', 'http://app.example.com/cb', 'sandbox', 'INSECURE_URL'],
    ['a relative URI', '/callback', 'sandbox', 'INVALID'],
    ['a URI with a fragment', 'https://app.example.com/cb#x', 'sandbox', 'INVALID'],
    ['a URI with credentials', 'https://user:pw@app.example.com/cb', 'sandbox', 'INVALID'],
    ['a non-http scheme', 'javascript:alert(1)', 'sandbox', 'INVALID'],
    ['an overlong URI', `https://app.example.com/${'a'.repeat(2050)}`, 'sandbox', 'TOO_LONG'],
  ])('refuses %s with a userError and stores nothing', async (_l, uri, env, code) => {
    const key = env === 'live' ? live : sandbox;
    const before = await listed(key);
    expect(await add(uri, key)).toEqual({ redirectUris: null, userErrors: [{ field: ['input', 'uri'], code }] });
    expect(await listed(key)).toEqual(before);
  });

  it('accepts http://localhost for a sandbox tenant', async () => {
    expect((await add('http://localhost:3000/cb', sandbox)).userErrors).toEqual([]);
  });

  it('answers NOT_FOUND when removing a URI that is not listed, and never touches another tenant’s list', async () => {
    expect(await remove('https://app.example.com/bank/return', sandbox)).toEqual({
      redirectUris: null,
      userErrors: [{ field: ['input', 'uri'], code: 'NOT_FOUND' }],
    });
    expect(await listed(live)).toContain('https://app.example.com/bank/return');
  });
});

describe('isRedirectUriAllowed (what consents and payments will check)', () => {
  it('allows listed URIs exactly, loopback URIs for sandbox tenants only, and nothing else', async () => {
    const sb = await t.createTenant('Check sandbox');
    const lv = await t.createTenant('Check live', 'live');
    const em = t.gateway.db.orm.em.fork();
    const svc = t.gateway.services.tenancy;
    const sbCaller = { tenantId: sb.tenantId, environment: 'sandbox' as const, apiKeyId: 'n/a' };
    const lvCaller = { tenantId: lv.tenantId, environment: 'live' as const, apiKeyId: 'n/a' };
    await add('https://shop.example.com/return', lv.key);
    expect(await svc.isRedirectUriAllowed(em, lvCaller, 'https://shop.example.com/return')).toBe(true);
    expect(await svc.isRedirectUriAllowed(em, lvCaller, 'https://shop.example.com/return?x=1')).toBe(false);
    expect(await svc.isRedirectUriAllowed(em, lvCaller, 'http://localhost:3000/cb')).toBe(false);
    expect(await svc.isRedirectUriAllowed(em, sbCaller, 'http://127.0.0.1:5173/done')).toBe(true);
    expect(await svc.isRedirectUriAllowed(em, sbCaller, 'https://shop.example.com/return')).toBe(false);
  });
});
