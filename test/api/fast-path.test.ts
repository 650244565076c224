import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { connect, settled } from '../helpers/banking';

let t: TestGateway;
let key: string;
let accountId: string;

beforeAll(async () => {
  t = await startTestGateway();
  ({ key } = await t.createTenant('Fast'));
  const u = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
    'mutation { endUserCreate(input: { externalRef: "fast" }) { endUser { id } } }',
    {},
    key,
  );
  const c = await connect(t, key, u.body.data!.endUserCreate.endUser.id, 'rivage');
  for (const a of c.accounts) await settled(t, key, a.id, null);
  // The account with the longest history, so a page of 50 is full whatever order the bank lists accounts in.
  const { rows } = await t.gateway.db.sql.query<{ account_id: string }>(
    'select account_id from bank_transaction group by account_id order by count(*) desc limit 1',
  );
  accountId = c.accounts.find((a) => a.internalId === rows[0]!.account_id)!.id;
});
afterAll(async () => t?.close());

const PAGE = `query($id: ID!, $first: Int) { account(id: $id) { id syncStatus transactions(first: $first) {
  edges { cursor node { id status amount { amount currency } bookingDate valueDate transactionDate counterparty { name iban } description pendingOf { amount { amount } } } }
  pageInfo { hasNextPage endCursor } } } }`;

async function post(body: Record<string, unknown>, headers: Record<string, string> = {}, apiKey: string | null = key) {
  const res = await fetch(t.gateway.graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(apiKey === null ? {} : { authorization: `Bearer ${apiKey}` }), ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

/** The same request answered on the compiled read path and through Apollo's pipeline (`extensions` opts out of the former). */
async function bothPaths(body: Record<string, unknown>, requestId: string, apiKey: string | null = key) {
  const fast = await post(body, { 'x-request-id': `${requestId}-fast` }, apiKey);
  const apollo = await post({ ...body, extensions: {} }, { 'x-request-id': `${requestId}-apollo` }, apiKey);
  // Each answer names its own request id; with that swapped, the two must be the same.
  return { fast, apollo, fastAsApollo: fast.text.replaceAll(`${requestId}-fast`, `${requestId}-apollo`) };
}

const END_USERS = '{ endUsers(first: 5) { nodes { id externalRef } } }';

/**
 * Makes every statement that reads end_user fail inside the database, counting each one in a
 * sequence (nextval is not undone by the failed statement's rollback): a real fault in a resolver,
 * and a count of how many times that resolver ran. The table steps aside for a view whose filter
 * (no column in it: evaluated once per statement) counts and raises.
 */
async function withFailingEndUserReads<T>(fn: (attempts: () => Promise<number>) => Promise<T>): Promise<T> {
  const sql = t.gateway.db.sql;
  await sql.query(`create sequence if not exists fast_path_fault_attempts`);
  await sql.query(`create or replace function fast_path_fault() returns boolean language plpgsql volatile security definer as $$
    begin perform nextval('fast_path_fault_attempts'); raise exception 'injected end_user read fault'; end $$`);
  await sql.query(`begin; alter table end_user rename to end_user_away; create view end_user as select * from end_user_away where fast_path_fault();
    grant select on end_user to passerelle_app, passerelle_system; commit`);
  const attempts = async () =>
    Number((await sql.query<{ n: string }>(`select case when is_called then last_value else 0 end as n from fast_path_fault_attempts`)).rows[0]!.n);
  try {
    return await fn(attempts);
  } finally {
    await sql.query(`begin; drop view end_user; alter table end_user_away rename to end_user; commit`);
  }
}

const unexpectedLogs = (requestId: string) => t.logs.filter((l) => l.includes('unexpected error in GraphQL operation') && l.includes(requestId));

describe('the compiled read path for queries', () => {
  it('answers a page byte for byte as Apollo Server does', async () => {
    const fast = await post({ query: PAGE, variables: { id: accountId, first: 50 } });
    // `extensions` sends the request through Apollo's own pipeline.
    const apollo = await post({ query: PAGE, variables: { id: accountId, first: 50 }, extensions: {} });
    expect(fast.status).toBe(200);
    expect(fast.type).toBe(apollo.type);
    expect(JSON.parse(fast.text)).toEqual(JSON.parse(apollo.text));
    expect(JSON.parse(fast.text).data.account.transactions.edges.length).toBe(50);
  });

  it('answers an empty operation name as Apollo does, after the same document was asked for without one', async () => {
    const query = 'query A { viewer { id } }';
    expect((await post({ query })).status).toBe(200);
    const empty = await post({ query, operationName: '' });
    const apollo = await post({ query, operationName: '', extensions: {} });
    expect(empty.status).toBe(apollo.status);
    expect(JSON.parse(empty.text)).toEqual(JSON.parse(apollo.text));
    expect(JSON.parse(empty.text).errors[0].extensions.code).not.toBe('INTERNAL_SERVER_ERROR');
  });

  it('answers bad input, introspection, missing keys and over-cost queries with their codes, as before', async () => {
    const bad = await post({ query: PAGE, variables: { id: accountId, first: 0 } });
    expect(JSON.parse(bad.text).errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', argument: 'first' });
    const wrongVariable = await post({ query: PAGE, variables: { id: accountId, first: 'many' } });
    expect(JSON.parse(wrongVariable.text).errors[0].extensions.code).toBe('BAD_USER_INPUT');
    const introspection = await post({ query: '{ __schema { queryType { name } } }' });
    expect(JSON.parse(introspection.text).data.__schema.queryType.name).toBe('Query');
    const noKey = await fetch(t.gateway.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: PAGE, variables: { id: accountId } }),
    });
    expect(noKey.status).toBe(401);
    const tooCostly = await post({
      query: '{ accounts(first: 100) { nodes { transactions(first: 500) { nodes { id account { transactions(first: 500) { nodes { id } } } } } } } }',
    });
    expect(JSON.parse(tooCostly.text).errors[0].extensions.code).toBe('QUERY_TOO_COMPLEX');
  });

  it('runs a resolver that fails once, and answers its masked error once, as Apollo Server does', async () => {
    await withFailingEndUserReads(async (attempts) => {
      const before = await attempts();
      const fast = await post({ query: END_USERS }, { 'x-request-id': 'fault-fast-0001' });
      expect(await attempts()).toBe(before + 1);
      expect(fast.status).toBe(200);
      const body = JSON.parse(fast.text);
      expect(body.data).toBeNull();
      expect(body.errors).toHaveLength(1);
      expect(body.errors[0]).toEqual({
        message: 'Internal server error. Quote request id fault-fast-0001 when reporting it.',
        path: ['endUsers'],
        extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: 'fault-fast-0001' },
      });
      expect(fast.text).not.toContain('injected');
      // Logged whole, once, under the request id the caller can quote.
      const logged = unexpectedLogs('fault-fast-0001');
      expect(logged).toHaveLength(1);
      expect(logged[0]).toContain('injected end_user read fault');

      const both = await bothPaths({ query: END_USERS }, 'fault-both-0001');
      expect(await attempts()).toBe(before + 3);
      expect(both.fast.status).toBe(both.apollo.status);
      expect(both.fast.type).toBe(both.apollo.type);
      expect(both.fastAsApollo).toBe(both.apollo.text);
      expect(unexpectedLogs('fault-both-0001-fast')).toHaveLength(1);
    });
  });

  it('answers a coded error from a resolver, a refused variable and a missing or wrong key as Apollo Server does', async () => {
    const cases: [string, Record<string, unknown>, string | null][] = [
      ['resolver-code', { query: PAGE, variables: { id: accountId, first: 0 } }, key],
      ['bad-variable', { query: PAGE, variables: { id: accountId, first: 'many' } }, key],
      ['missing-variable', { query: PAGE, variables: {} }, key],
      ['no-key', { query: PAGE, variables: { id: accountId } }, null],
      ['wrong-key', { query: PAGE, variables: { id: accountId } }, 'pk_sandbox_not-a-key'],
    ];
    for (const [name, body, apiKey] of cases) {
      const { fast, apollo, fastAsApollo } = await bothPaths(body, `coded-${name}`, apiKey);
      expect({ name, status: fast.status, type: fast.type, body: JSON.parse(fastAsApollo) }).toEqual({
        name,
        status: apollo.status,
        type: apollo.type,
        body: JSON.parse(apollo.text),
      });
      expect(JSON.parse(fast.text).errors).toHaveLength(1);
    }
    const first0 = JSON.parse((await post({ query: PAGE, variables: { id: accountId, first: 0 } })).text);
    expect(first0.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', argument: 'first' });
    const noKey = await post({ query: PAGE, variables: { id: accountId } }, {}, null);
    expect(noKey.status).toBe(401);
    expect(JSON.parse(noKey.text).errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });

  it('applies the cost limit and the input guard to queries it would answer, as Apollo Server does', async () => {
    const costly = {
      query: '{ accounts(first: 100) { nodes { transactions(first: 500) { nodes { id account { transactions(first: 500) { nodes { id } } } } } } } }',
    };
    const unstorable = { query: PAGE, variables: { id: `${accountId}\u0000`, first: 5 } };
    for (const [name, body, code] of [
      ['cost', costly, 'QUERY_TOO_COMPLEX'],
      ['unstorable', unstorable, 'BAD_USER_INPUT'],
    ] as const) {
      const { fast, apollo, fastAsApollo } = await bothPaths(body, `limit-${name}`);
      expect(fast.status).toBe(400);
      expect(JSON.parse(fast.text)).toEqual({ errors: [expect.objectContaining({ extensions: expect.objectContaining({ code }) })] });
      expect({ status: fast.status, type: fast.type, body: JSON.parse(fastAsApollo) }).toEqual({
        status: apollo.status,
        type: apollo.type,
        body: JSON.parse(apollo.text),
      });
    }
    // Depth and size are refused while parsing and validating, before this path would take the query.
    const deep = await post({ query: `{ accounts { nodes { ${'transactions { nodes { account { '.repeat(5)}id${' } } }'.repeat(5)} } } }` });
    expect(JSON.parse(deep.text).errors[0].extensions.code).toBe('QUERY_TOO_DEEP');
    const large = await post({ query: `{ ${Array.from({ length: 1000 }, (_, i) => `a${i}: viewer { id }`).join(' ')} }` });
    expect(JSON.parse(large.text).errors[0].extensions.code).toBe('QUERY_TOO_LARGE');
  });

  it('leaves a client that prefers application/graphql-response+json to Apollo Server, which answers in that type', async () => {
    const res = await post({ query: PAGE, variables: { id: accountId, first: 5 } }, { accept: 'application/graphql-response+json' });
    expect(res.status).toBe(200);
    expect(res.type).toBe('application/graphql-response+json; charset=utf-8');
  });
});
