import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { startTestGateway, type TestGateway } from '../helpers/gateway';

let t: TestGateway;
let key: string;
const clients: Client[] = [];

beforeAll(async () => {
  t = await startTestGateway({ env: { GRAPHQL_MAX_DEPTH: '4' } });
  ({ key } = await t.createTenant('Sockets'));
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
  await t?.close();
});

function connect(authorization?: string): { client: Client; closed: Promise<{ code: number; reason: string }> } {
  let onClosed!: (e: { code: number; reason: string }) => void;
  const closed = new Promise<{ code: number; reason: string }>((r) => (onClosed = r));
  const client = createClient({
    url: t.gateway.graphqlUrl.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: authorization ? { authorization } : {},
    retryAttempts: 0,
    lazy: false,
    on: { closed: (e) => onClosed(e as { code: number; reason: string }) },
    onNonLazyError: () => undefined,
  });
  clients.push(client);
  return { client, closed };
}

function run(client: Client, query: string): Promise<{ data?: unknown; errors?: { message: string; extensions?: { code?: string } }[] }> {
  return new Promise((resolve, reject) => {
    let result: unknown;
    client.subscribe(
      { query },
      { next: (r) => (result = r), error: (e) => (Array.isArray(e) ? resolve({ errors: e }) : reject(e)), complete: () => resolve(result as never) },
    );
  });
}

describe('graphql-ws on /graphql', () => {
  it('runs an operation for a connection initialised with a valid key', async () => {
    const { client } = connect(`Bearer ${key}`);
    expect(await run(client, '{ viewer { name } }')).toEqual({ data: { viewer: { name: 'Sockets' } } });
  });

  it('closes a connection initialised without a key with 4403 Forbidden', async () => {
    const { closed } = connect();
    expect((await closed).code).toBe(4403);
  });

  it('closes a connection initialised with an unknown key with 4403 Forbidden', async () => {
    const { closed } = connect(`Bearer pk_sandbox_${'B'.repeat(43)}`);
    expect((await closed).code).toBe(4403);
  });

  it('checks the key again at every subscribe: a key revoked after connecting is refused', async () => {
    const made = await t.gql<{ apiKeyCreate: { apiKey: { id: string }; secret: string } }>(
      'mutation { apiKeyCreate(input: { name: "ws" }) { apiKey { id } secret } }',
      {},
      key,
    );
    const { apiKey, secret } = made.body.data!.apiKeyCreate;
    const { client } = connect(`Bearer ${secret}`);
    expect((await run(client, '{ viewer { name } }')).data).toEqual({ viewer: { name: 'Sockets' } });
    await t.gql('mutation($id: ID!) { apiKeyRevoke(id: $id) { userErrors { code } } }', { id: apiKey.id }, key);
    const refused = await run(client, '{ viewer { name } }');
    expect(refused.data).toBeUndefined();
    expect(refused.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('applies the same depth limit as HTTP', async () => {
    const { client } = connect(`Bearer ${key}`);
    const r = await run(client, '{ viewer { apiKeys { edges { node { id } } } } }');
    expect(r.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_DEEP');
  });
});
