import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { connect, settled } from '../helpers/banking';

let t: TestGateway;
let key: string;
let accountId: string;

beforeAll(async () => {
  t = await startTestGateway();
  ({ key } = await t.createTenant('Fast'));
  const u = await t.gql<{ endUserCreate: { endUser: { id: string } } }>('mutation { endUserCreate(input: { externalRef: "fast" }) { endUser { id } } }', {}, key);
  const c = await connect(t, key, u.body.data!.endUserCreate.endUser.id, 'rivage');
  for (const a of c.accounts) await settled(t, key, a.id, null);
  // The account with the longest history, so a page of 50 is full whatever order the bank lists accounts in.
  const { rows } = await t.gateway.db.sql.query<{ account_id: string }>('select account_id from bank_transaction group by account_id order by count(*) desc limit 1');
  accountId = c.accounts.find((a) => a.internalId === rows[0]!.account_id)!.id;
});
afterAll(async () => t?.close());

const PAGE = `query($id: ID!, $first: Int) { account(id: $id) { id syncStatus transactions(first: $first) {
  edges { cursor node { id status amount { amount currency } bookingDate valueDate transactionDate counterparty { name iban } description pendingOf { amount { amount } } } }
  pageInfo { hasNextPage endCursor } } } }`;

async function post(body: Record<string, unknown>) {
  const res = await fetch(t.gateway.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify(body) });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

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

  it('leaves errors, mutations, introspection and bad keys to Apollo, which answers them as before', async () => {
    const bad = await post({ query: PAGE, variables: { id: accountId, first: 0 } });
    expect(JSON.parse(bad.text).errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', argument: 'first' });
    const wrongVariable = await post({ query: PAGE, variables: { id: accountId, first: 'many' } });
    expect(JSON.parse(wrongVariable.text).errors[0].extensions.code).toBe('BAD_USER_INPUT');
    const introspection = await post({ query: '{ __schema { queryType { name } } }' });
    expect(JSON.parse(introspection.text).data.__schema.queryType.name).toBe('Query');
    const noKey = await fetch(t.gateway.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: PAGE, variables: { id: accountId } }) });
    expect(noKey.status).toBe(401);
    const tooCostly = await post({ query: '{ accounts(first: 100) { nodes { transactions(first: 500) { nodes { id account { transactions(first: 500) { nodes { id } } } } } } } }' });
    expect(JSON.parse(tooCostly.text).errors[0].extensions.code).toBe('QUERY_TOO_COMPLEX');
  });
});
