import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { toGlobalId } from '../../src/api/relay/global-id';
import { startTestGateway, type TestGateway } from '../helpers/gateway';

let t: TestGateway;
let a: string;
let b: string;

beforeAll(async () => {
  t = await startTestGateway();
  a = (await t.createTenant('Tenant A')).key;
  b = (await t.createTenant('Tenant B')).key;
});
afterAll(async () => t?.close());

const CREATE = `mutation($input: EndUserCreateInput!) {
  endUserCreate(input: $input) { endUser { id externalRef displayName } userErrors { field message code } }
}`;
type CreateResult = {
  endUserCreate: {
    endUser: { id: string; externalRef: string; displayName: string | null } | null;
    userErrors: { field: string[]; message: string; code: string }[];
  };
};
type ListResult = {
  endUsers: { edges: { cursor: string; node: { id: string; externalRef: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
};
const LIST = `query($first: Int, $after: String) {
  endUsers(first: $first, after: $after) { edges { cursor node { id externalRef } } pageInfo { hasNextPage endCursor } }
}`;

async function count(key: string): Promise<number> {
  const r = await t.gql<ListResult>(LIST, { first: 100 }, key);
  return r.body.data!.endUsers.edges.length;
}

describe('end users', () => {
  it('creates an end user under the developer’s own reference and trims it', async () => {
    const r = await t.gql<CreateResult>(CREATE, { input: { externalRef: '  cust-1 ', displayName: 'Ada' } }, a);
    expect(r.body.data!.endUserCreate.userErrors).toEqual([]);
    expect(r.body.data!.endUserCreate.endUser).toMatchObject({ externalRef: 'cust-1', displayName: 'Ada' });
  });

  it('refuses a second end user with the same externalRef in one tenant but allows it in another', async () => {
    const dup = await t.gql<CreateResult>(CREATE, { input: { externalRef: 'cust-1' } }, a);
    expect(dup.body.data!.endUserCreate).toEqual({
      endUser: null,
      userErrors: [{ field: ['input', 'externalRef'], code: 'TAKEN', message: 'An end user with this externalRef already exists.' }],
    });
    const other = await t.gql<CreateResult>(CREATE, { input: { externalRef: 'cust-1' } }, b);
    expect(other.body.data!.endUserCreate.userErrors).toEqual([]);
  });

  it('creates exactly one end user when the same externalRef is sent concurrently', async () => {
    const results = await Promise.all(Array.from({ length: 8 }, () => t.gql<CreateResult>(CREATE, { input: { externalRef: 'race' } }, a)));
    const created = results.filter((r) => r.body.data?.endUserCreate.endUser);
    expect(created).toHaveLength(1);
    for (const r of results.filter((x) => !x.body.data?.endUserCreate.endUser)) {
      expect(r.body.data!.endUserCreate.userErrors[0]?.code).toBe('TAKEN');
    }
  });

  it.each([
    ['a blank externalRef', { externalRef: '   ' }, ['input', 'externalRef'], 'BLANK'],
    ['an externalRef over 128 characters', { externalRef: 'x'.repeat(129) }, ['input', 'externalRef'], 'TOO_LONG'],
    ['a control character in externalRef', { externalRef: 'a\u0007b' }, ['input', 'externalRef'], 'INVALID'],
    ['a displayName over 200 characters', { externalRef: 'ok-ref', displayName: 'y'.repeat(201) }, ['input', 'displayName'], 'TOO_LONG'],
  ])('answers %s with a userError and writes nothing', async (_label, input, field, code) => {
    const before = await count(a);
    const r = await t.gql<CreateResult>(CREATE, { input }, a);
    expect(r.status).toBe(200);
    expect(r.body.data!.endUserCreate.endUser).toBeNull();
    expect(r.body.data!.endUserCreate.userErrors).toEqual([expect.objectContaining({ field, code })]);
    expect(await count(a)).toBe(before);
  });

  it('answers a missing required input field with a coded BAD_USER_INPUT error', async () => {
    const r = await t.gql(CREATE, { input: { displayName: 'no ref' } }, a);
    expect(r.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('pages through end users in creation order with cursors, without gaps or repeats', async () => {
    for (let i = 0; i < 5; i++) await t.gql(CREATE, { input: { externalRef: `page-${i}` } }, b);
    const seen: string[] = [];
    let after: string | null = null;
    for (let guard = 0; guard < 10; guard++) {
      const r: { body: { data?: ListResult } } = await t.gql<ListResult>(LIST, { first: 2, after }, b);
      const page: ListResult['endUsers'] = r.body.data!.endUsers;
      seen.push(...page.edges.map((e) => e.node.externalRef));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(seen).toEqual(['cust-1', 'page-0', 'page-1', 'page-2', 'page-3', 'page-4']);
  });

  it.each([
    ['first: 0', { first: 0 }],
    ['first: 101', { first: 101 }],
    ['a malformed cursor', { after: 'not a cursor!' }],
    ['a cursor of another list', { after: Buffer.from(JSON.stringify(['ApiKey', new Date().toISOString(), randomUUID()])).toString('base64url') }],
  ])('refuses %s with a coded BAD_USER_INPUT error', async (_label, vars) => {
    const r = await t.gql(LIST, vars, a);
    expect(r.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(r.body.data?.endUsers ?? null).toBeNull();
  });
});

describe('isolation between tenants', () => {
  it('never lists another tenant’s end users', async () => {
    const listA = await t.gql<ListResult>(LIST, { first: 100 }, a);
    const listB = await t.gql<ListResult>(LIST, { first: 100 }, b);
    const idsA = new Set(listA.body.data!.endUsers.edges.map((e) => e.node.id));
    for (const e of listB.body.data!.endUsers.edges) expect(idsA.has(e.node.id)).toBe(false);
  });

  it('refetches one’s own objects through node(id:) and answers null for another tenant’s or a guessed id', async () => {
    const mine = (await t.gql<CreateResult>(CREATE, { input: { externalRef: 'node-test' } }, a)).body.data!.endUserCreate.endUser!;
    const NODE = 'query($id: ID!) { node(id: $id) { __typename id ... on EndUser { externalRef } } }';
    expect((await t.gql(NODE, { id: mine.id }, a)).body.data).toEqual({ node: { __typename: 'EndUser', id: mine.id, externalRef: 'node-test' } });
    expect((await t.gql(NODE, { id: mine.id }, b)).body.data).toEqual({ node: null });
    expect((await t.gql(NODE, { id: toGlobalId('EndUser', randomUUID()) }, a)).body.data).toEqual({ node: null });
    expect((await t.gql(NODE, { id: 'garbage' }, a)).body.data).toEqual({ node: null });
    const viewerB = await t.gql<{ viewer: { id: string } }>('{ viewer { id } }', {}, b);
    expect((await t.gql(NODE, { id: viewerB.body.data!.viewer.id }, a)).body.data).toEqual({ node: null });
    const many = await t.gql<{ nodes: unknown[] }>('query($ids: [ID!]!) { nodes(ids: $ids) { id } }', { ids: [mine.id, 'x'] }, b);
    expect(many.body.data!.nodes).toEqual([null, null]);
  });

  it('cannot revoke another tenant’s API key', async () => {
    const keysOfB = await t.gql<{ viewer: { apiKeys: { nodes: { id: string }[] } } }>('{ viewer { apiKeys { nodes { id } } } }', {}, b);
    const target = keysOfB.body.data!.viewer.apiKeys.nodes[0]!.id;
    const r = await t.gql<{ apiKeyRevoke: { apiKey: null; userErrors: { code: string }[] } }>(
      'mutation($id: ID!) { apiKeyRevoke(id: $id) { apiKey { id } userErrors { field code } } }',
      { id: target },
      a,
    );
    expect(r.body.data!.apiKeyRevoke).toEqual({ apiKey: null, userErrors: [{ field: ['id'], code: 'NOT_FOUND' }] });
    expect((await t.gql('{ viewer { name } }', {}, b)).status).toBe(200);
  });
});
