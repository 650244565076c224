import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway';

let t: TestGateway;
let key: string;

beforeAll(async () => {
  t = await startTestGateway();
  ({ key } = await t.createTenant('Acme'));
});
afterAll(async () => t?.close());

const VIEWER = '{ viewer { name environment } }';

describe('API key authentication over HTTP', () => {
  it('answers a valid key with the tenant it belongs to', async () => {
    const r = await t.gql(VIEWER, {}, key);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ data: { viewer: { name: 'Acme', environment: 'SANDBOX' } } });
  });

  it('refuses a request without a key with a coded UNAUTHENTICATED error and no data', async () => {
    const r = await t.gql(VIEWER, {}, null);
    expect(r.status).toBe(401);
    expect(r.body.data).toBeUndefined();
    expect(r.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it.each([
    ['a malformed key', 'not-a-key'],
    ['a well-formed but unknown key', `pk_sandbox_${'A'.repeat(43)}`],
    ['a key of the wrong environment prefix', key?.replace('pk_sandbox_', 'pk_live_')],
  ])('refuses %s with UNAUTHENTICATED', async (_label, bad) => {
    const r = await t.gql(VIEWER, {}, bad ?? key.replace('pk_sandbox_', 'pk_live_'));
    expect(r.status).toBe(401);
    expect(r.body.data).toBeUndefined();
    expect(r.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('refuses a non-Bearer Authorization header', async () => {
    const res = await fetch(t.gateway.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Basic ${key}` },
      body: JSON.stringify({ query: VIEWER }),
    });
    expect(res.status).toBe(401);
  });

  it('shows a new key once, lets it work, and refuses it after revocation', async () => {
    const created = await t.gql<{ apiKeyCreate: { apiKey: { id: string; prefix: string }; secret: string; userErrors: unknown[] } }>(
      'mutation { apiKeyCreate(input: { name: "CI" }) { apiKey { id prefix } secret userErrors { code } } }',
      {},
      key,
    );
    const { apiKey, secret, userErrors } = created.body.data!.apiKeyCreate;
    expect(userErrors).toEqual([]);
    expect(secret).toMatch(/^pk_sandbox_[A-Za-z0-9_-]{43}$/);
    expect(secret.startsWith(apiKey.prefix)).toBe(true);
    expect((await t.gql(VIEWER, {}, secret)).status).toBe(200);

    // The list never shows the secret again.
    const listed = await t.gql('{ viewer { apiKeys { nodes { id prefix revokedAt } } } }', {}, key);
    expect(JSON.stringify(listed.body)).not.toContain(secret);

    const revoked = await t.gql<{ apiKeyRevoke: { apiKey: { revokedAt: string | null }; userErrors: unknown[] } }>(
      'mutation($id: ID!) { apiKeyRevoke(id: $id) { apiKey { revokedAt } userErrors { code } } }',
      { id: apiKey.id },
      key,
    );
    expect(revoked.body.data!.apiKeyRevoke.apiKey.revokedAt).not.toBeNull();
    const after = await t.gql(VIEWER, {}, secret);
    expect(after.status).toBe(401);
    expect(after.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');

    const again = await t.gql<{ apiKeyRevoke: { userErrors: { code: string }[] } }>(
      'mutation($id: ID!) { apiKeyRevoke(id: $id) { userErrors { field code } } }',
      { id: apiKey.id },
      key,
    );
    expect(again.body.data!.apiKeyRevoke.userErrors).toEqual([{ field: ['id'], code: 'ALREADY_REVOKED' }]);
  });

  it('refuses to create a key with a blank name and writes nothing', async () => {
    const before = await t.gql<{ viewer: { apiKeys: { nodes: unknown[] } } }>('{ viewer { apiKeys(first: 100) { nodes { id } } } }', {}, key);
    const r = await t.gql<{ apiKeyCreate: { apiKey: null; secret: null; userErrors: { field: string[]; code: string }[] } }>(
      'mutation { apiKeyCreate(input: { name: "   " }) { apiKey { id } secret userErrors { field code } } }',
      {},
      key,
    );
    expect(r.body.data!.apiKeyCreate).toEqual({ apiKey: null, secret: null, userErrors: [{ field: ['input', 'name'], code: 'BLANK' }] });
    const afterList = await t.gql<{ viewer: { apiKeys: { nodes: unknown[] } } }>('{ viewer { apiKeys(first: 100) { nodes { id } } } }', {}, key);
    expect(afterList.body.data!.viewer.apiKeys.nodes).toHaveLength(before.body.data!.viewer.apiKeys.nodes.length);
  });

  it('never writes an API key into the logs', async () => {
    await t.gql(VIEWER, {}, key);
    expect(t.logs.join('\n')).not.toContain(key);
  });
});
