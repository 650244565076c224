import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { accountState, connect, control, settled, type Connected } from '../helpers/banking';

let t: TestGateway;
let second: TestGateway;
let key: string;
let c: Connected;
let account: Connected['accounts'][number];
const clients: Client[] = [];

beforeAll(async () => {
  t = await startTestGateway();
  // An API-only second instance: its in-process sandbox is another bank, so it must not run syncs.
  second = await startTestGateway({ sameDataAs: t, env: { SYNC_CONCURRENCY: '0' } });
  ({ key } = await t.createTenant('Live'));
  const u = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
    'mutation { endUserCreate(input: { externalRef: "live" }) { endUser { id } } }',
    {},
    key,
  );
  c = await connect(t, key, u.body.data!.endUserCreate.endUser.id, 'nordlicht');
  account = c.accounts.find((a) => a.iban)!;
  for (const a of c.accounts) await settled(t, key, a.id, null);
});
afterAll(async () => {
  await Promise.all(clients.map((x) => x.dispose()));
  await second?.close();
  await t?.close();
});

/** Subscribes on a gateway and collects what arrives. */
function subscribe<T>(gw: TestGateway, query: string, variables: Record<string, unknown> = {}) {
  const client = createClient({
    url: gw.gateway.graphqlUrl.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${key}` },
    retryAttempts: 0,
  });
  clients.push(client);
  const received: T[] = [];
  const errors: unknown[] = [];
  client.subscribe<T>(
    { query, variables },
    { next: (r) => (r.data ? received.push(r.data as T) : errors.push(r.errors)), error: (e) => errors.push(e), complete: () => undefined },
  );
  return { received, errors };
}

async function until(check: () => boolean, what: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function addAndSync(amount: string) {
  await control(t, 'POST', `/banks/nordlicht/accounts/${encodeURIComponent(account.bankAccountId)}/transactions`, {
    amount,
    counterpartyName: `Shop ${amount}`,
  });
  const before = (await accountState(t, key, account.id)).lastSyncedAt;
  await t.gql(
    'mutation($id: ID!) { accountSync(id: $id, input: { mode: USER_PRESENT, psuIpAddress: "198.51.100.2" }) { userErrors { code } } }',
    { id: account.id },
    key,
  );
  await settled(t, key, account.id, before);
}

type Ev = { events: { id: string; type: string; cursor: string; payload: { transactionIds?: string[] } } };

describe('event subscriptions over graphql-ws', () => {
  it('replays the log after a cursor, then streams new events with no gap and no duplicate at the seam', async () => {
    const log = await t.gql<{ events: { nodes: { id: string; cursor: string }[] } }>('{ events(first: 500) { nodes { id cursor } } }', {}, key);
    const all = log.body.data!.events.nodes;
    const from = all[2]!;
    const sub = subscribe<Ev>(t, 'subscription($after: String) { events(after: $after) { id type cursor payload } }', { after: from.cursor });
    await until(() => sub.received.length >= all.length - 3, 'the replay');
    expect(sub.received.map((r) => r.events.id)).toEqual(all.slice(3).map((e) => e.id));
    await addAndSync('-4.44');
    await until(() => sub.received.some((r) => r.events.type === 'TRANSACTIONS_ADDED' && !all.some((e) => e.id === r.events.id)), 'the live event');
    const ids = sub.received.map((r) => r.events.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(sub.errors).toEqual([]);
  });

  it('delivers a change made through one gateway instance to a subscriber on another', async () => {
    const txs = subscribe<{ transactionsAdded: { amount: { amount: string } }[] }>(
      second,
      'subscription($id: ID!) { transactionsAdded(accountId: $id) { id amount { amount } } }',
      { id: account.id },
    );
    await new Promise((r) => setTimeout(r, 500)); // subscribed before the change
    await addAndSync('-5.55');
    await until(() => txs.received.length > 0, 'transactionsAdded on the second instance');
    expect(txs.received.flatMap((r) => r.transactionsAdded.map((x) => x.amount.amount))).toEqual(['-5.55']);
  });

  it('tells consent status changes', async () => {
    const sub = subscribe<{ consentStatusChanged: { id: string; status: string } }>(t, 'subscription { consentStatusChanged { id status } }');
    await new Promise((r) => setTimeout(r, 500));
    await t.gql('mutation($id: ID!) { consentRevoke(id: $id) { userErrors { code } } }', { id: c.consentId }, key);
    await until(() => sub.received.length > 0, 'consentStatusChanged');
    expect(sub.received[0]!.consentStatusChanged).toEqual({ id: c.consentId, status: 'REVOKED' });
  });

  it('refuses a malformed cursor and another tenant’s account', async () => {
    const bad = subscribe<Ev>(t, 'subscription { events(after: "garbage!") { id } }');
    await until(() => bad.errors.length > 0, 'an error');
    expect(JSON.stringify(bad.errors)).toContain('BAD_USER_INPUT');
    const { key: otherKey } = await t.createTenant('Stranger');
    const client = createClient({
      url: t.gateway.graphqlUrl.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${otherKey}` },
      retryAttempts: 0,
    });
    clients.push(client);
    const errors: unknown[] = [];
    client.subscribe(
      { query: 'subscription($id: ID!) { transactionsAdded(accountId: $id) { id } }', variables: { id: account.id } },
      { next: (r) => errors.push(r.errors), error: (e) => errors.push(e), complete: () => undefined },
    );
    await until(() => errors.length > 0, 'the refusal');
    expect(JSON.stringify(errors)).toContain('NOT_FOUND');
  });
});

describe('shutdown with subscribers', () => {
  it('ends open subscriptions and stops promptly', async () => {
    const sub = subscribe<Ev>(second, 'subscription { events { id } }');
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    await second.close();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(sub.received).toEqual([]);
  });
});
