import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { accountsOf, control, institutionGid, RETURN_URL, settled } from '../helpers/banking';

let t: TestGateway;
let key: string;
let endUserId: string;

beforeAll(async () => {
  t = await startTestGateway();
  ({ key } = await t.createTenant('Decoupled'));
  const u = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
    'mutation { endUserCreate(input: { externalRef: "app-user" }) { endUser { id } } }',
    {},
    key,
  );
  endUserId = u.body.data!.endUserCreate.endUser.id;
});
afterAll(async () => t?.close());

const CREATE = `mutation($input: ConsentCreateInput!) { consentCreate(input: $input) { consent { id status } authorizationUrl userErrors { field code message } } }`;
type Created = {
  consentCreate: { consent: { id: string; status: string } | null; authorizationUrl: string | null; userErrors: { field: string[]; code: string }[] };
};

async function create(psuId: string | null, institution = 'brabant') {
  const r = await t.gql<Created>(
    CREATE,
    { input: { endUserId, institutionId: institutionGid(institution), scopes: ['ACCOUNTS', 'BALANCES', 'TRANSACTIONS'], redirectUri: RETURN_URL, psuId } },
    key,
  );
  return r.body.data!.consentCreate;
}

async function statusOf(id: string) {
  return (await t.gql<{ node: { status: string } }>('query($id: ID!) { node(id: $id) { ... on Consent { status } } }', { id }, key)).body.data!.node.status;
}

async function until(id: string, wanted: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await statusOf(id);
    if (s === wanted) return;
    if (Date.now() > deadline) throw new Error(`consent stayed ${s}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function decide(username: string, decision: 'approve' | 'reject') {
  const { sessions } = await control<{ sessions: { id: string; stage: string; mode: string }[] }>(t, 'GET', `/banks/brabant/sca-sessions?user=${username}`);
  const open = sessions.filter((s) => s.stage !== 'done');
  expect(open).toHaveLength(1);
  await control(t, 'POST', `/banks/brabant/sca-sessions/${open[0]!.id}/${decision}`, {});
}

describe('decoupled SCA through the gateway', () => {
  it('returns no authorisation URL, then becomes ACTIVE with its accounts synced once the end user approves in the bank’s app', async () => {
    const created = await create('alice');
    expect(created.userErrors).toEqual([]);
    expect(created.authorizationUrl).toBeNull();
    expect(created.consent!.status).toBe('PENDING_AUTHORIZATION');
    await new Promise((r) => setTimeout(r, 2_500)); // the gateway is already asking the bank; nothing is decided yet
    expect(await statusOf(created.consent!.id)).toBe('PENDING_AUTHORIZATION');
    await decide('alice', 'approve');
    await until(created.consent!.id, 'ACTIVE');
    const accounts = await accountsOf(t, key, created.consent!.id);
    expect(accounts.length).toBeGreaterThan(0);
    expect((await settled(t, key, accounts[0]!.id, null)).syncStatus).toBe('SUCCEEDED');
  });

  it('ends REJECTED when the end user declines in the app', async () => {
    const created = await create('alice');
    await decide('alice', 'reject');
    await until(created.consent!.id, 'REJECTED');
  });

  it('falls back to the redirect at a bank without decoupled SCA, and refuses a blank or oversized psuId', async () => {
    const redirect = await create('alice', 'nordlicht');
    expect(redirect.authorizationUrl).toMatch(/^http/);
    for (const psuId of ['   ', 'x'.repeat(101)]) {
      const r = await create(psuId);
      expect(r.consent).toBeNull();
      expect(r.userErrors[0]!.field).toEqual(['input', 'psuId']);
    }
    // A NUL no column can store is refused before any resolver, as in every input.
    const nul = await t.gql<Created>(
      CREATE,
      { input: { endUserId, institutionId: institutionGid('brabant'), scopes: ['ACCOUNTS'], redirectUri: RETURN_URL, psuId: 'ali\u0000ce' } },
      key,
    );
    expect(nul.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});
