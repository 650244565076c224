import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { Webhook } from 'standardwebhooks';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { accountState, authorise, connect, control, institutionGid, RETURN_URL, settled, type Connected } from '../helpers/banking';
import { parseGlobalId } from '../../src/api/relay/global-id';
import { appendEvents, EventType } from '../../src/modules/events/events';

// Delegated access (docs/delegated-access.md): an SME app (the owner) shares some accounts of its
// end user with the accountant's app (another tenant), which reads them with its own ids, gets
// their events and webhooks, and loses everything the moment either side revokes.

let t: TestGateway;
let owner: string;
let grantee: string;
let stranger: string;
let endUserId: string;
let otherEndUserId: string;
let c: Connected;
let granted: Connected['accounts'][number];
let ungranted: Connected['accounts'][number];
const clients: Client[] = [];
const receivers: http.Server[] = [];

type UserErrors = { field: string[]; code: string; message: string }[];
type GrantView = { id: string; status: string; viewerSide: string; scopes: string[]; closedBy: string | null };
const GRANT = 'accessGrant { id status viewerSide scopes closedBy } userErrors { field code message }';
const INVITE = `mutation($input: AccessGrantInviteInput!) { accessGrantInvite(input: $input) { ${GRANT} } }`;
const mutate = (name: 'accessGrantAccept' | 'accessGrantDecline' | 'accessGrantRevoke') => `mutation($id: ID!) { ${name}(id: $id) { ${GRANT} } }`;
const SHARED = `{ viewer { accessGrants(first: 5) { nodes { id status accounts { id iban balances { kind amount { amount currency } }
  transactions(first: 20) { nodes { id amount { amount currency } counterparty { name } } pageInfo { endCursor hasNextPage } } } } } } }`;
type Shared = {
  viewer: {
    accessGrants: {
      nodes: {
        id: string;
        status: string;
        accounts: { id: string; iban: string | null; balances: unknown[]; transactions: { nodes: { id: string; amount: { amount: string } }[] } }[];
      }[];
    };
  };
};

const inHours = (h: number) => new Date(Date.now() + h * 3_600_000).toISOString();

async function invite(over: Record<string, unknown> = {}, key = owner) {
  const r = await t.gql<{ accessGrantInvite: { accessGrant: GrantView | null; userErrors: UserErrors } }>(
    INVITE,
    {
      input: {
        endUserId,
        granteeHandle: 'ledger-pro',
        scopes: ['ACCOUNTS_READ', 'BALANCES_READ', 'TRANSACTIONS_READ'],
        accountIds: [granted.id],
        endsAt: inHours(24),
        ...over,
      },
    },
    key,
  );
  expect(r.body.errors).toBeUndefined();
  return r.body.data!.accessGrantInvite;
}

async function act(name: 'accessGrantAccept' | 'accessGrantDecline' | 'accessGrantRevoke', id: string, key: string) {
  const r = await t.gql<Record<string, { accessGrant: GrantView | null; userErrors: UserErrors }>>(mutate(name), { id }, key);
  expect(r.body.errors).toBeUndefined();
  return r.body.data![name]!;
}

async function activeGrant(over: Record<string, unknown> = {}): Promise<string> {
  const invited = await invite(over);
  expect(invited.userErrors).toEqual([]);
  const accepted = await act('accessGrantAccept', invited.accessGrant!.id, grantee);
  expect(accepted.accessGrant!.status).toBe('ACTIVE');
  return invited.accessGrant!.id;
}

async function sharedAccountsOf(grantId: string, key = grantee) {
  const r = await t.gql<{ node: { accounts: { id: string; iban: string | null }[] } | null }>(
    'query($id: ID!) { node(id: $id) { ... on AccessGrant { accounts { id iban } } } }',
    { id: grantId },
    key,
  );
  return r.body.data!.node?.accounts ?? [];
}

async function transactionsThrough(sharedId: string, key = grantee) {
  return t.gql<{ node: { transactions: { nodes: { id: string; amount: { amount: string } }[] } } | null }>(
    'query($id: ID!) { node(id: $id) { ... on SharedAccount { transactions(first: 100) { nodes { id amount { amount } } } } } }',
    { id: sharedId },
    key,
  );
}

async function audit(key: string, action: string) {
  const r = await t.gql<{ auditEvents: { nodes: { action: string; actor: string; resourceId: string | null; details: Record<string, unknown> }[] } }>(
    'query($a: AuditAction) { auditEvents(first: 100, action: $a) { nodes { action actor resourceId details } } }',
    { a: action },
    key,
  );
  return r.body.data!.auditEvents.nodes;
}

async function addAndSync(account: Connected['accounts'][number], amount: string) {
  await control(t, 'POST', `/banks/nordlicht/accounts/${encodeURIComponent(account.bankAccountId)}/transactions`, {
    amount,
    counterpartyName: `Shop ${amount}`,
  });
  const before = (await accountState(t, owner, account.id)).lastSyncedAt;
  await t.gql(
    'mutation($id: ID!) { accountSync(id: $id, input: { mode: USER_PRESENT, psuIpAddress: "198.51.100.2" }) { userErrors { code } } }',
    { id: account.id },
    owner,
  );
  await settled(t, owner, account.id, before);
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A webhook receiver answering 200, keeping raw bodies and Standard Webhooks headers. */
async function receiver() {
  const received: { headers: Record<string, string>; body: string }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      received.push({
        headers: {
          'webhook-id': String(req.headers['webhook-id']),
          'webhook-timestamp': String(req.headers['webhook-timestamp']),
          'webhook-signature': String(req.headers['webhook-signature']),
        },
        body,
      });
      res.writeHead(200).end();
    });
  });
  receivers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`, received };
}

function subscribe<T>(key: string, query: string) {
  const client = createClient({
    url: t.gateway.graphqlUrl.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${key}` },
    retryAttempts: 0,
  });
  clients.push(client);
  const received: T[] = [];
  const errors: unknown[] = [];
  client.subscribe<T>(
    { query },
    { next: (r) => (r.data ? received.push(r.data as T) : errors.push(r.errors)), error: (e) => errors.push(e), complete: () => undefined },
  );
  return { received, errors };
}

beforeAll(async () => {
  t = await startTestGateway({ env: { WEBHOOK_RETRY_BASE_MS: '100', WEBHOOK_TIMEOUT_MS: '2000' } });
  ({ key: owner } = await t.createTenant('SME app'));
  ({ key: grantee } = await t.createTenant('Accountant app'));
  ({ key: stranger } = await t.createTenant('Stranger'));
  const set = await t.gql<{ tenantHandleSet: { tenant: { handle: string } | null; userErrors: UserErrors } }>(
    'mutation { tenantHandleSet(input: { handle: "ledger-pro" }) { tenant { handle } userErrors { code } } }',
    {},
    grantee,
  );
  expect(set.body.data!.tenantHandleSet.tenant!.handle).toBe('ledger-pro');
  await t.gql('mutation { tenantHandleSet(input: { handle: "sme-app" }) { userErrors { code } } }', {}, owner);
  const u = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
    'mutation { endUserCreate(input: { externalRef: "bakery" }) { endUser { id } } }',
    {},
    owner,
  );
  endUserId = u.body.data!.endUserCreate.endUser.id;
  const v = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
    'mutation { endUserCreate(input: { externalRef: "florist" }) { endUser { id } } }',
    {},
    owner,
  );
  otherEndUserId = v.body.data!.endUserCreate.endUser.id;
  c = await connect(t, owner, endUserId, 'nordlicht');
  for (const a of c.accounts) await settled(t, owner, a.id, null);
  const withIban = c.accounts.filter((a) => a.iban);
  expect(withIban.length).toBeGreaterThanOrEqual(2);
  [granted, ungranted] = [withIban[0]!, withIban[1]!];
}, 120_000);

afterAll(async () => {
  await Promise.all(clients.map((x) => x.dispose()));
  for (const s of receivers) {
    s.closeAllConnections();
    s.close();
  }
  await t?.close();
});

describe('tenant handles', () => {
  it('refuses a malformed handle and one another tenant has, with stable codes', async () => {
    for (const handle of ['A', 'UPPER-case', 'x--y', '-lead', 'trail-', 'has space', 'a'.repeat(41)]) {
      const r = await t.gql<{ tenantHandleSet: { userErrors: UserErrors } }>(
        'mutation($h: String!) { tenantHandleSet(input: { handle: $h }) { userErrors { field code } } }',
        { h: handle },
        stranger,
      );
      expect(
        r.body.data!.tenantHandleSet.userErrors.map((e) => e.code),
        handle,
      ).toEqual(['INVALID']);
    }
    const taken = await t.gql<{ tenantHandleSet: { userErrors: UserErrors } }>(
      'mutation { tenantHandleSet(input: { handle: "ledger-pro" }) { userErrors { field code } } }',
      {},
      stranger,
    );
    expect(taken.body.data!.tenantHandleSet.userErrors).toEqual([{ field: ['input', 'handle'], code: 'TAKEN' }]);
  });
});

describe('access grants', () => {
  it('refuses an unknown tenant, itself, an unknown scope, initiation, a foreign account and a past end date — each with a stable code and an audit line', async () => {
    const before = (await audit(owner, 'ACCESS_GRANT_REFUSED')).length;
    const cases: [Record<string, unknown>, string, string[]][] = [
      [{ granteeHandle: 'nobody-here' }, 'UNKNOWN_TENANT', ['input', 'granteeHandle']],
      [{ granteeHandle: 'sme-app' }, 'SELF_GRANT', ['input', 'granteeHandle']],
      [{ scopes: ['ACCOUNTS_READ', 'TRANSACTIONS_WRITE'] }, 'UNKNOWN_SCOPE', ['input', 'scopes', '1']],
      [{ scopes: ['ACCOUNTS_READ', 'PAYMENTS_INITIATE'] }, 'UNKNOWN_SCOPE', ['input', 'scopes', '1']],
      [{ scopes: ['TRANSACTIONS_READ'] }, 'INVALID', ['input', 'scopes']],
      [{ endUserId: otherEndUserId }, 'END_USER_MISMATCH', ['input', 'accountIds', '0']],
      [
        { accountIds: [Buffer.from('gid://passerelle/Account/00000000-0000-4000-8000-000000000000').toString('base64url')] },
        'NOT_FOUND',
        ['input', 'accountIds', '0'],
      ],
      [{ endsAt: new Date(Date.now() - 60_000).toISOString() }, 'OUT_OF_RANGE', ['input', 'endsAt']],
    ];
    for (const [over, code, field] of cases) {
      const r = await invite(over);
      expect(r.accessGrant, code).toBeNull();
      expect(
        r.userErrors.map((e) => [e.code, e.field]),
        code,
      ).toContainEqual([code, field]);
    }
    // A live tenant's handle is as unknown to a sandbox tenant as a missing one.
    const { key: live } = await t.createTenant('Live accountant', 'live');
    await t.gql('mutation { tenantHandleSet(input: { handle: "live-ledger" }) { userErrors { code } } }', {}, live);
    expect((await invite({ granteeHandle: 'live-ledger' })).userErrors.map((e) => e.code)).toEqual(['UNKNOWN_TENANT']);

    const lines = await audit(owner, 'ACCESS_GRANT_REFUSED');
    expect(lines.length - before).toBe(cases.length + 1);
    expect(lines.map((l) => l.details.codes)).toEqual(
      expect.arrayContaining(['UNKNOWN_TENANT', 'SELF_GRANT', 'UNKNOWN_SCOPE', 'END_USER_MISMATCH', 'OUT_OF_RANGE']),
    );
    const grants = await t.gql<{ viewer: { accessGrants: { nodes: unknown[] } } }>('{ viewer { accessGrants { nodes { id } } } }', {}, owner);
    expect(grants.body.data!.viewer.accessGrants.nodes).toEqual([]); // nothing was written
  });

  it('refuses a forged list cursor and a foreign transaction cursor with a coded error', async () => {
    const forged = Buffer.from(JSON.stringify(['AccessGrant', new Date().toISOString(), 'not-a-uuid'])).toString('base64url');
    const list = await t.gql('query($after: String) { viewer { accessGrants(after: $after) { nodes { id } } } }', { after: forged }, owner);
    expect(list.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const grantId = await activeGrant();
    const [shared] = await sharedAccountsOf(grantId);
    const mine = await t.gql<{ account: { transactions: { pageInfo: { endCursor: string } } } }>(
      'query($id: ID!) { account(id: $id) { transactions(first: 1) { pageInfo { endCursor } } } }',
      { id: granted.id },
      owner,
    );
    const page = await t.gql(
      'query($id: ID!, $after: String) { node(id: $id) { ... on SharedAccount { transactions(first: 1, after: $after) { nodes { id } } } } }',
      { id: shared!.id, after: mine.body.data!.account.transactions.pageInfo.endCursor },
      grantee,
    );
    expect(page.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    await act('accessGrantRevoke', grantId, owner);
  });

  it('lets the grantee accept exactly once, even when it tries five times at once', async () => {
    const invited = await invite();
    expect(invited.accessGrant).toMatchObject({ status: 'PENDING', viewerSide: 'OWNER', scopes: ['ACCOUNTS_READ', 'BALANCES_READ', 'TRANSACTIONS_READ'] });
    const id = invited.accessGrant!.id;
    expect((await act('accessGrantAccept', id, owner)).userErrors.map((e) => e.code)).toEqual(['INVALID_STATE']); // only the grantee answers
    expect((await act('accessGrantAccept', id, stranger)).userErrors.map((e) => e.code)).toEqual(['NOT_FOUND']);
    const tries = await Promise.all(Array.from({ length: 5 }, () => act('accessGrantAccept', id, grantee)));
    expect(tries.filter((r) => r.accessGrant?.status === 'ACTIVE')).toHaveLength(1);
    expect(tries.flatMap((r) => r.userErrors.map((e) => e.code))).toEqual(['INVALID_STATE', 'INVALID_STATE', 'INVALID_STATE', 'INVALID_STATE']);
    expect((await audit(owner, 'ACCESS_GRANT_ACCEPTED')).filter((l) => l.resourceId === id)).toHaveLength(1);
    await act('accessGrantRevoke', id, owner);
  });

  it('lets the grantee read the granted account’s balances and stored transactions with its own ids, each read in the owner’s journal', async () => {
    const grantId = await activeGrant();
    const r = await t.gql<Shared>(SHARED, {}, grantee);
    expect(r.body.errors).toBeUndefined();
    const grant = r.body.data!.viewer.accessGrants.nodes.find((g) => g.id === grantId)!;
    expect(grant.accounts).toHaveLength(1);
    const shared = grant.accounts[0]!;
    expect(shared.iban).toBe(granted.iban);
    expect(parseGlobalId(shared.id)!.type).toBe('SharedAccount');
    expect(shared.balances.length).toBeGreaterThan(0);
    const mine = await t.gql<{ account: { transactions: { nodes: { amount: { amount: string } }[] } } }>(
      'query($id: ID!) { account(id: $id) { transactions(first: 20) { nodes { amount { amount } } } } }',
      { id: granted.id },
      owner,
    );
    const amounts = (n: { amount: { amount: string } }[]) => n.map((x) => x.amount.amount);
    expect(amounts(shared.transactions.nodes)).toEqual(amounts(mine.body.data!.account.transactions.nodes));
    // Grant-scoped ids only: nothing the grantee sees names the owner's account or transactions.
    const text = JSON.stringify(r.body.data);
    expect(text).not.toContain(granted.id);
    expect(text).not.toContain(granted.internalId);
    for (const tx of shared.transactions.nodes) expect(parseGlobalId(tx.id)!.type).toBe('SharedTransaction');
    // The grantee's key reaches the owner's account by no other door.
    const direct = await t.gql<{ account: unknown }>('query($id: ID!) { account(id: $id) { id } }', { id: granted.id }, grantee);
    expect(direct.body.data!.account).toBeNull();
    const byNode = await t.gql<{ node: { id: string; iban: string } | null }>(
      'query($id: ID!) { node(id: $id) { ... on SharedAccount { id iban } } }',
      { id: shared.id },
      grantee,
    );
    expect(byNode.body.data!.node).toEqual({ id: shared.id, iban: granted.iban });
    expect((await t.gql<{ node: unknown }>('query($id: ID!) { node(id: $id) { id } }', { id: shared.id }, stranger)).body.data!.node).toBeNull();

    const reads = (await audit(owner, 'SHARED_DATA_READ')).filter((l) => l.details.accessGrantId === parseGlobalId(grantId)!.id);
    expect(reads.map((l) => l.details.read)).toEqual(expect.arrayContaining(['account', 'balances', 'transactions']));
    expect(reads.every((l) => l.resourceId === granted.id && l.actor.startsWith('tenant:'))).toBe(true);
    expect(await audit(grantee, 'SHARED_DATA_READ')).toEqual([]); // the owner's journal, not the reader's
    await act('accessGrantRevoke', grantId, owner);
  });

  it('resolves a shared transaction by its grant-scoped id for the grantee only, journalled in the owner’s journal, and no more once the grant is revoked', async () => {
    const grantId = await activeGrant();
    const [shared] = await sharedAccountsOf(grantId);
    const [first] = (await transactionsThrough(shared!.id)).body.data!.node!.transactions.nodes;
    const NODE = 'query($id: ID!) { node(id: $id) { id ... on SharedTransaction { amount { amount } } } }';
    const got = await t.gql<{ node: { id: string; amount: { amount: string } } | null }>(NODE, { id: first!.id }, grantee);
    expect(got.body.errors).toBeUndefined();
    expect(got.body.data!.node).toEqual({ id: first!.id, amount: { amount: first!.amount.amount } });
    expect((await t.gql<{ node: unknown }>(NODE, { id: first!.id }, owner)).body.data!.node).toBeNull();
    expect((await t.gql<{ node: unknown }>(NODE, { id: first!.id }, stranger)).body.data!.node).toBeNull();
    const reads = (await audit(owner, 'SHARED_DATA_READ')).filter((l) => l.details.accessGrantId === parseGlobalId(grantId)!.id);
    expect(reads.map((l) => l.details.read)).toContain('transaction');
    await act('accessGrantRevoke', grantId, owner);
    expect((await t.gql<{ node: unknown }>(NODE, { id: first!.id }, grantee)).body.data!.node).toBeNull();
  });

  it('refuses a scope the grant lacks with a coded error', async () => {
    const grantId = await activeGrant({ scopes: ['ACCOUNTS_READ'] });
    const [shared] = await sharedAccountsOf(grantId);
    const r = await transactionsThrough(shared!.id);
    expect(r.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    await act('accessGrantRevoke', grantId, owner);
  });

  it('never lets the grantee cause a bank call: no sync and no payment through a shared account', async () => {
    const grantId = await activeGrant();
    const [shared] = await sharedAccountsOf(grantId);
    const bankCalls = async () => (await audit(owner, 'BANK_CALL')).length + (await audit(grantee, 'BANK_CALL')).length;
    const before = await bankCalls();
    const sync = await t.gql<{ accountSync: { userErrors: UserErrors } | null }>(
      'mutation($id: ID!) { accountSync(id: $id, input: { mode: USER_PRESENT, psuIpAddress: "198.51.100.2" }) { userErrors { code } } }',
      { id: shared!.id },
      grantee,
    );
    expect(sync.body.data?.accountSync?.userErrors.map((e) => e.code) ?? sync.body.errors?.map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
    const pay = await t.gql<{ paymentInitiate: { payment: unknown; userErrors: UserErrors } }>(
      `mutation($input: PaymentInitiateInput!) { paymentInitiate(input: $input, idempotencyKey: "grantee-1") { payment { id } userErrors { field code } } }`,
      {
        input: {
          institutionId: Buffer.from('gid://passerelle/Institution/nordlicht').toString('base64url'),
          endUserId,
          scheme: 'SEPA_CREDIT_TRANSFER',
          debtorAccount: { iban: granted.iban },
          creditor: { name: 'Supplier', iban: 'DE89370400440532013000' },
          amount: { amount: '10.00', currency: 'EUR' },
          redirectUri: 'http://localhost:3999/bank-return',
        },
      },
      grantee,
    );
    expect(pay.body.data!.paymentInitiate.payment).toBeNull();
    expect(pay.body.data!.paymentInitiate.userErrors.map((e) => e.code)).toContain('NOT_FOUND');
    expect(await bankCalls()).toBe(before);
    await act('accessGrantRevoke', grantId, owner);
  });

  it('sends the grantee a webhook and a live event for a new transaction of the granted account, none for an ungranted one, and cuts both the moment the owner revokes', async () => {
    const grantId = await activeGrant();
    const [shared] = await sharedAccountsOf(grantId);
    const rx = await receiver();
    const created = await t.gql<{ webhookEndpointCreate: { secret: string } }>(
      'mutation($input: WebhookEndpointCreateInput!) { webhookEndpointCreate(input: $input) { secret } }',
      { input: { url: rx.url, eventTypes: ['TRANSACTIONS_ADDED', 'BALANCE_UPDATED', 'ACCESS_GRANT_REVOKED'] } },
      grantee,
    );
    const secret = created.body.data!.webhookEndpointCreate.secret;
    type Ev = { events: { id: string; type: string; resourceId: string; payload: { accountId?: string; transactionIds?: string[]; accessGrantId?: string } } };
    const live = subscribe<Ev>(grantee, 'subscription { events(types: [TRANSACTIONS_ADDED, ACCESS_GRANT_REVOKED]) { id type resourceId payload } }');
    await new Promise((r) => setTimeout(r, 500));

    await addAndSync(ungranted, '-7.77');
    await addAndSync(granted, '-42.10');
    await until(() => live.received.some((e) => e.events.type === 'TRANSACTIONS_ADDED'), 'the live event', 60_000);
    const added = live.received.find((e) => e.events.type === 'TRANSACTIONS_ADDED')!.events;
    expect(added.resourceId).toBe(shared!.id);
    expect(added.payload.accountId).toBe(shared!.id);
    expect(added.payload.accessGrantId).toBe(grantId);
    // The event's transaction ids are the ones the grantee reads.
    const page = (await transactionsThrough(shared!.id)).body.data!.node!.transactions.nodes;
    const newOne = page.find((x) => x.amount.amount === '-42.10')!;
    expect(added.payload.transactionIds).toEqual([newOne.id]);

    const parse = (x: { headers: Record<string, string>; body: string }) =>
      new Webhook(secret).verify(x.body, x.headers) as { type: string; data: { payload: { accountId: string; transactionIds?: string[] } } };
    await until(() => rx.received.some((x) => parse(x).type === 'TRANSACTIONS_ADDED'), 'the webhook', 60_000);
    const hooks = rx.received.map(parse);
    expect(hooks.filter((h) => h.type === 'TRANSACTIONS_ADDED').map((h) => h.data.payload.transactionIds)).toEqual([[newOne.id]]);
    expect(new Set(hooks.map((h) => h.data.payload.accountId))).toEqual(new Set([shared!.id])); // nothing of the ungranted account
    expect(JSON.stringify(live.received)).not.toContain('-7.77');

    // The owner revokes: the very next read is refused, the id stops resolving, and the grantee hears it.
    expect((await act('accessGrantRevoke', grantId, owner)).accessGrant).toMatchObject({ status: 'REVOKED', closedBy: 'OWNER' });
    const refused = await transactionsThrough(shared!.id);
    expect(refused.body.errors?.[0]?.extensions?.code).toBe('ACCESS_GRANT_INACTIVE');
    const direct = await t.gql('{ viewer { accessGrants { nodes { id accounts { id } } } } }', {}, grantee);
    expect(direct.body.errors).toBeUndefined();
    expect(JSON.stringify(direct.body.data)).not.toContain(shared!.id);
    await until(() => live.received.some((e) => e.events.type === 'ACCESS_GRANT_REVOKED'), 'the revocation event', 60_000);
    await until(() => rx.received.some((x) => parse(x).type === 'ACCESS_GRANT_REVOKED'), 'the revocation webhook', 60_000);

    // A transaction after the revocation reaches the owner and nobody else.
    const ownerEvents = async () =>
      (
        await t.gql<{ events: { nodes: { payload: { transactionIds?: string[] } }[] } }>(
          '{ events(first: 500, types: [TRANSACTIONS_ADDED]) { nodes { payload } } }',
          {},
          owner,
        )
      ).body.data!.events.nodes.length;
    const ownerBefore = await ownerEvents();
    await addAndSync(granted, '-13.13');
    await until(async () => (await ownerEvents()) > ownerBefore, 'the owner’s own event', 60_000);
    await new Promise((r) => setTimeout(r, 1500));
    expect(live.received.filter((e) => e.events.type === 'TRANSACTIONS_ADDED')).toHaveLength(1);
    expect(rx.received.map(parse).filter((h) => h.type === 'TRANSACTIONS_ADDED')).toHaveLength(1);
    const log = await t.gql<{ events: { nodes: { type: string }[] } }>('{ events(first: 500, types: [TRANSACTIONS_ADDED]) { nodes { type } } }', {}, grantee);
    expect(log.body.data!.events.nodes).toHaveLength(1);
  }, 240_000);

  it('streams new transactions of a shared account to the grantee with grant-scoped ids (sharedTransactionsAdded), refuses anyone else, and completes when the grant is revoked', async () => {
    const grantId = await activeGrant();
    const [shared] = await sharedAccountsOf(grantId);
    const QUERY = 'subscription($id: ID!) { sharedTransactionsAdded(sharedAccountId: $id) { id amount { amount } } }';
    const open = (key: string) => {
      const client = createClient({
        url: t.gateway.graphqlUrl.replace(/^http/, 'ws'),
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${key}` },
        retryAttempts: 0,
      });
      clients.push(client);
      const got = { batches: [] as { id: string; amount: { amount: string } }[][], errors: [] as unknown[], completed: false };
      client.subscribe<{ sharedTransactionsAdded: { id: string; amount: { amount: string } }[] }>(
        { query: QUERY, variables: { id: shared!.id } },
        {
          next: (r) => (r.data ? got.batches.push(r.data.sharedTransactionsAdded) : got.errors.push(r.errors)),
          error: (e) => got.errors.push(e),
          complete: () => (got.completed = true),
        },
      );
      return got;
    };
    const live = open(grantee);
    const foreign = open(stranger);
    await until(() => foreign.errors.length > 0 || foreign.completed, 'the stranger’s refusal');
    expect(JSON.stringify(foreign.errors)).toContain('NOT_FOUND');
    await new Promise((r) => setTimeout(r, 500));

    await addAndSync(granted, '-64.20');
    await until(() => live.batches.length > 0, 'the shared transactions', 60_000);
    const page = (await transactionsThrough(shared!.id)).body.data!.node!.transactions.nodes;
    expect(live.batches).toEqual([[{ id: page.find((x) => x.amount.amount === '-64.20')!.id, amount: { amount: '-64.20' } }]]);
    expect(live.errors).toEqual([]);
    const reads = (await audit(owner, 'SHARED_DATA_READ')).filter(
      (l) => l.details.accessGrantId === parseGlobalId(grantId)!.id && l.details.read === 'transactions',
    );
    expect(reads.some((l) => l.details.count === 1)).toBe(true);

    await act('accessGrantRevoke', grantId, owner);
    await until(() => live.completed, 'the end of the subscription', 30_000);
  }, 120_000);

  it('makes a revocation wait for a sync that is copying an event, so no copy commits after it', async () => {
    const grantId = await activeGrant();
    const [shared] = await sharedAccountsOf(grantId);
    // This grant's events in the grantee's log: copies naming its shared account, and its revocation.
    const seen = async () =>
      (
        await t.gql<{ events: { nodes: { type: string; resourceId: string; payload: { accessGrantId?: string } }[] } }>(
          '{ events(first: 500, types: [TRANSACTIONS_MODIFIED, ACCESS_GRANT_REVOKED]) { nodes { type resourceId payload } } }',
          {},
          grantee,
        )
      ).body.data!.events.nodes.filter((e) => e.payload.accessGrantId === grantId);
    // A sync's write, as the sync service makes it: events appended inside its open transaction.
    const client = await t.gateway.db.sql.connect();
    try {
      await client.query('begin');
      await appendEvents(client, [
        {
          tenantId: (await t.gateway.db.sql.query<{ tenant_id: string }>('select tenant_id from account where id = $1', [granted.internalId])).rows[0]!
            .tenant_id,
          type: EventType.TRANSACTIONS_MODIFIED,
          resourceType: 'Account',
          resourceId: granted.internalId,
          payload: { accountId: granted.id, transactionIds: [], version: '0' },
        },
      ]);
      let answered = false;
      const revoke = act('accessGrantRevoke', grantId, owner).then((r) => ((answered = true), r));
      await new Promise((r) => setTimeout(r, 700));
      expect(answered).toBe(false); // waiting for the writer that holds the grant
      await client.query('commit');
      expect((await revoke).accessGrant!.status).toBe('REVOKED');
    } finally {
      client.release();
    }
    await until(async () => (await seen()).length >= 2, 'the copy and the revocation', 60_000);
    const after = await seen();
    expect(after.map((e) => e.type)).toEqual(['TRANSACTIONS_MODIFIED', 'ACCESS_GRANT_REVOKED']);
    expect(after[0]!.resourceId).toBe(shared!.id);
  }, 120_000);

  it('lets the grantee revoke too, at once, and tells the owner', async () => {
    const grantId = await activeGrant();
    const [shared] = await sharedAccountsOf(grantId);
    expect((await transactionsThrough(shared!.id)).body.data!.node).not.toBeNull();
    expect((await act('accessGrantRevoke', grantId, grantee)).accessGrant).toMatchObject({ status: 'REVOKED', closedBy: 'GRANTEE', viewerSide: 'GRANTEE' });
    expect((await transactionsThrough(shared!.id)).body.errors?.[0]?.extensions?.code).toBe('ACCESS_GRANT_INACTIVE');
    expect((await audit(grantee, 'ACCESS_GRANT_REFUSED')).some((l) => l.resourceId === grantId && l.details.codes === 'ACCESS_GRANT_INACTIVE')).toBe(true);
    expect((await act('accessGrantRevoke', grantId, owner)).userErrors.map((e) => e.code)).toEqual(['ALREADY_REVOKED']);
    // An event is readable once every older transaction on the server has ended: wait for it.
    const revokedOf = async () =>
      (
        await t.gql<{ events: { nodes: { resourceId: string }[] } }>(
          '{ events(first: 500, types: [ACCESS_GRANT_REVOKED]) { nodes { resourceId } } }',
          {},
          owner,
        )
      ).body.data!.events.nodes;
    await until(async () => (await revokedOf()).some((e) => e.resourceId === grantId), 'ACCESS_GRANT_REVOKED in the owner’s log');
  });

  it('lets the grantee decline an invitation, which then reads nothing', async () => {
    const invited = await invite();
    const declined = await act('accessGrantDecline', invited.accessGrant!.id, grantee);
    expect(declined.accessGrant!.status).toBe('DECLINED');
    expect(await sharedAccountsOf(invited.accessGrant!.id)).toEqual([]);
    expect((await act('accessGrantAccept', invited.accessGrant!.id, grantee)).userErrors.map((e) => e.code)).toEqual(['INVALID_STATE']);
  });

  it('ends access at its end date without anyone acting', async () => {
    const grantId = await activeGrant({ endsAt: new Date(Date.now() + 4_000).toISOString() });
    const [shared] = await sharedAccountsOf(grantId);
    expect((await transactionsThrough(shared!.id)).body.data!.node).not.toBeNull();
    await new Promise((r) => setTimeout(r, 4_500));
    const r = await t.gql<{ viewer: { accessGrants: { nodes: { id: string; status: string; accounts: unknown[] }[] } } }>(
      '{ viewer { accessGrants(first: 50) { nodes { id status accounts { id } } } } }',
      {},
      grantee,
    );
    expect(r.body.data!.viewer.accessGrants.nodes.find((g) => g.id === grantId)).toEqual({ id: grantId, status: 'EXPIRED', accounts: [] });
    expect((await transactionsThrough(shared!.id)).body.errors?.[0]?.extensions?.code).toBe('ACCESS_GRANT_INACTIVE');
  });
});

describe('payments through a grant (PAYMENTS_READ)', () => {
  type SharedPaymentView = {
    id: string;
    status: string;
    amount: { amount: string; currency: string };
    creditor: { name: string; iban: string };
    debtorAccount: { iban: string } | null;
    account: { id: string };
  };
  const SHARED_PAYMENT = 'id status amount { amount currency } creditor { name iban } debtorAccount { iban } account { id }';
  let keys = 0;

  async function pay(from: Connected['accounts'][number], amount: string) {
    const r = await t.gql<{ paymentInitiate: { payment: { id: string } | null; authorizationUrl: string | null; userErrors: UserErrors } }>(
      `mutation($input: PaymentInitiateInput!, $key: String!) { paymentInitiate(input: $input, idempotencyKey: $key) { payment { id } authorizationUrl userErrors { field code } } }`,
      {
        input: {
          institutionId: institutionGid('nordlicht'),
          endUserId,
          scheme: 'SEPA_CREDIT_TRANSFER',
          debtorAccount: { iban: from.iban },
          creditor: { name: 'Paper Supplies GmbH', iban: 'DE89370400440532013000' },
          amount: { amount, currency: 'EUR' },
          remittanceInformation: `Invoice ${amount}`,
          redirectUri: RETURN_URL,
        },
        key: `shared-pay-${Date.now()}-${++keys}`,
      },
      owner,
    );
    expect(r.body.data!.paymentInitiate.userErrors).toEqual([]);
    await authorise(t, r.body.data!.paymentInitiate.authorizationUrl!, 'alice');
    return r.body.data!.paymentInitiate.payment!.id;
  }

  async function paymentsThrough(sharedId: string, key = grantee, first = 50) {
    return t.gql<{ node: { payments: { nodes: SharedPaymentView[]; pageInfo: { endCursor: string | null; hasNextPage: boolean } } } | null }>(
      `query($id: ID!, $first: Int) { node(id: $id) { ... on SharedAccount { payments(first: $first) { nodes { ${SHARED_PAYMENT} } pageInfo { endCursor hasNextPage } } } } }`,
      { id: sharedId, first },
      key,
    );
  }

  async function paymentNode(id: string, key = grantee) {
    return t.gql<{ node: SharedPaymentView | null }>(`query($id: ID!) { node(id: $id) { ... on SharedPayment { ${SHARED_PAYMENT} } } }`, { id }, key);
  }

  type PaymentEvent = {
    type: string;
    resourceId: string;
    payload: { paymentId?: string; accountId?: string; accessGrantId?: string; status?: string; memberId?: string };
  };
  async function paymentEvents(key: string): Promise<PaymentEvent[]> {
    const r = await t.gql<{ events: { nodes: PaymentEvent[] } }>(
      '{ events(first: 500, types: [PAYMENT_STATUS_CHANGED]) { nodes { type resourceId payload } } }',
      {},
      key,
    );
    return r.body.data!.events.nodes;
  }

  it('lets the grantee read the payments made from the granted account with grant-scoped ids (page and node), each read in the owner’s journal, and none from another account', async () => {
    const grantId = await activeGrant({ scopes: ['ACCOUNTS_READ', 'PAYMENTS_READ'] });
    const [shared] = await sharedAccountsOf(grantId);
    const ownerPaymentId = await pay(granted, '31.40');
    await pay(ungranted, '27.18');

    const page = await paymentsThrough(shared!.id);
    expect(page.body.errors).toBeUndefined();
    const nodes = page.body.data!.node!.payments.nodes;
    expect(nodes.map((p) => p.amount)).toEqual([{ amount: '31.40', currency: 'EUR' }]);
    const [seen] = nodes;
    expect(seen).toMatchObject({
      creditor: { name: 'Paper Supplies GmbH', iban: 'DE89370400440532013000' },
      debtorAccount: { iban: granted.iban },
      account: { id: shared!.id },
    });
    expect(parseGlobalId(seen!.id)!.type).toBe('SharedPayment');
    expect(parseGlobalId(seen!.id)!.id).not.toBe(parseGlobalId(ownerPaymentId)!.id);
    expect(JSON.stringify(page.body.data)).not.toContain(parseGlobalId(ownerPaymentId)!.id);

    // node(id) answers the same payment to the grantee, nothing to the owner or a stranger.
    expect((await paymentNode(seen!.id)).body.data!.node).toMatchObject({ id: seen!.id, amount: { amount: '31.40' } });
    expect((await paymentNode(seen!.id, owner)).body.data!.node).toBeNull();
    expect((await paymentNode(seen!.id, stranger)).body.data!.node).toBeNull();
    // The owner's payment id reaches nothing with the grantee's key.
    expect((await t.gql<{ node: unknown }>('query($id: ID!) { node(id: $id) { id } }', { id: ownerPaymentId }, grantee)).body.data!.node).toBeNull();

    const reads = (await audit(owner, 'SHARED_DATA_READ')).filter((l) => l.details.accessGrantId === parseGlobalId(grantId)!.id);
    expect(reads.map((l) => l.details.read)).toEqual(expect.arrayContaining(['payments', 'payment']));
    expect(reads.find((l) => l.details.read === 'payments')!.details.count).toBe(1);
    await act('accessGrantRevoke', grantId, owner);
  }, 120_000);

  it('pages the shared payments with first/after and refuses a forged cursor', async () => {
    const grantId = await activeGrant({ scopes: ['ACCOUNTS_READ', 'PAYMENTS_READ'] });
    const [shared] = await sharedAccountsOf(grantId);
    await pay(granted, '1.01');
    await pay(granted, '1.02');
    const all = (await paymentsThrough(shared!.id)).body.data!.node!.payments.nodes;
    expect(all.length).toBeGreaterThanOrEqual(2);
    const first = (await paymentsThrough(shared!.id, grantee, 1)).body.data!.node!.payments;
    expect(first.pageInfo.hasNextPage).toBe(true);
    const rest = await t.gql<{ node: { payments: { nodes: { id: string }[] } } }>(
      'query($id: ID!, $after: String) { node(id: $id) { ... on SharedAccount { payments(first: 50, after: $after) { nodes { id } } } } }',
      { id: shared!.id, after: first.pageInfo.endCursor },
      grantee,
    );
    expect([first.nodes[0]!.id, ...rest.body.data!.node.payments.nodes.map((p) => p.id)]).toEqual(all.map((p) => p.id));
    const forged = await t.gql(
      'query($id: ID!) { node(id: $id) { ... on SharedAccount { payments(after: "bm90LWEtY3Vyc29y") { nodes { id } } } } }',
      { id: shared!.id },
      grantee,
    );
    expect(forged.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    await act('accessGrantRevoke', grantId, owner);
  }, 120_000);

  it('refuses payments through a grant without PAYMENTS_READ with a coded error', async () => {
    const grantId = await activeGrant();
    const [shared] = await sharedAccountsOf(grantId);
    const r = await paymentsThrough(shared!.id);
    expect(r.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    await act('accessGrantRevoke', grantId, owner);
  });

  it('sends the grantee the payment’s status events and webhooks under the grant-scoped id, and cuts reads, node ids and events the moment the grantee revokes', async () => {
    const grantId = await activeGrant({ scopes: ['ACCOUNTS_READ', 'PAYMENTS_READ'] });
    const [shared] = await sharedAccountsOf(grantId);
    const rx = await receiver();
    const created = await t.gql<{ webhookEndpointCreate: { secret: string } }>(
      'mutation($input: WebhookEndpointCreateInput!) { webhookEndpointCreate(input: $input) { secret } }',
      { input: { url: rx.url, eventTypes: ['PAYMENT_STATUS_CHANGED'] } },
      grantee,
    );
    const secret = created.body.data!.webhookEndpointCreate.secret;
    const before = (await paymentEvents(grantee)).length;

    const ownerPaymentId = await pay(granted, '58.00');
    await pay(ungranted, '59.00');
    const seen = (await paymentsThrough(shared!.id)).body.data!.node!.payments.nodes.find((p) => p.amount.amount === '58.00')!;
    await until(async () => (await paymentEvents(grantee)).length > before, 'the copied payment event', 60_000);
    const copies = (await paymentEvents(grantee)).slice(before);
    // Only payments of the granted account, each under the id the grant shows it by, the new one
    // among them: a payment an earlier test made from the same account may still change status now.
    const visible = new Set((await paymentsThrough(shared!.id)).body.data!.node!.payments.nodes.map((p) => p.id));
    expect(copies.map((e) => e.payload.paymentId)).toContain(seen.id);
    for (const e of copies) expect(visible.has(e.resourceId) && e.payload.paymentId === e.resourceId).toBe(true);
    expect(copies.every((e) => e.payload.accountId === shared!.id && e.payload.accessGrantId === grantId)).toBe(true);
    expect(JSON.stringify(copies)).not.toContain(parseGlobalId(ownerPaymentId)!.id);
    expect(JSON.stringify(copies)).not.toContain(ownerPaymentId);

    const parse = (x: { headers: Record<string, string>; body: string }) =>
      new Webhook(secret).verify(x.body, x.headers) as { type: string; data: { payload: { paymentId: string; status: string } } };
    await until(() => rx.received.map(parse).some((h) => h.data.payload.paymentId === seen.id), 'the payment webhook', 60_000);
    for (const h of rx.received.map(parse)) expect(visible.has(h.data.payload.paymentId)).toBe(true);

    // An approval event names the owner's approver; its copy names nobody of the owner.
    const ownerInternal = parseGlobalId(ownerPaymentId)!.id;
    const ownerTenant = (await t.gateway.db.sql.query<{ tenant_id: string }>('select tenant_id from payment where id = $1', [ownerInternal])).rows[0]!
      .tenant_id;
    await appendEvents(t.gateway.db.sql, [
      {
        tenantId: ownerTenant,
        type: EventType.PAYMENT_APPROVED,
        resourceType: 'Payment',
        resourceId: ownerInternal,
        payload: { paymentId: ownerPaymentId, memberId: 'Z2lkOi8vcGFzc2VyZWxsZS9BcHByb3ZhbE1lbWJlci94', approvalsGiven: 1, approvalsRequired: 2 },
      },
    ]);
    const approvals = async () =>
      (
        await t.gql<{ events: { nodes: PaymentEvent[] } }>(
          '{ events(first: 50, types: [PAYMENT_APPROVED]) { nodes { type resourceId payload } } }',
          {},
          grantee,
        )
      ).body.data!.events.nodes;
    await until(async () => (await approvals()).length > 0, 'the copied approval event', 30_000);
    expect((await approvals()).map((e) => e.payload)).toEqual([expect.objectContaining({ paymentId: seen.id, accountId: shared!.id, approvalsGiven: 1 })]);
    expect((await approvals())[0]!.payload.memberId).toBeUndefined();

    // The grantee revokes: reads and node ids stop at once, and a later payment is the owner's alone.
    expect((await act('accessGrantRevoke', grantId, grantee)).accessGrant).toMatchObject({ status: 'REVOKED', closedBy: 'GRANTEE' });
    expect((await paymentsThrough(shared!.id)).body.errors?.[0]?.extensions?.code).toBe('ACCESS_GRANT_INACTIVE');
    expect((await paymentNode(seen.id)).body.data!.node).toBeNull();
    const granteeCount = (await paymentEvents(grantee)).length;
    const ownerBefore = (await paymentEvents(owner)).length;
    await pay(granted, '60.00');
    await until(async () => (await paymentEvents(owner)).length > ownerBefore, 'the owner’s own payment event', 60_000);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await paymentEvents(grantee)).length).toBe(granteeCount);
  }, 180_000);
});
