import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { control, debtorIbanAt, institutionGid, RETURN_URL } from '../helpers/banking';
import { startTestGateway, type TestGateway } from '../helpers/gateway';

/**
 * Berlin Group decoupled SCA for payments through GraphQL: with the end user's PSU-ID, a bank
 * that offers it (the sandbox's Brabant) asks the end user in its app; the gateway gives no
 * authorisation URL and follows the decision itself.
 */
let t: TestGateway;
let key: string;
let endUserId: string;
let debtorIban: string;

beforeAll(async () => {
  t = await startTestGateway();
  ({ key } = await t.createTenant('Decoupled payments'));
  const u = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
    'mutation { endUserCreate(input: { externalRef: "app-payer" }) { endUser { id } } }',
    {},
    key,
  );
  endUserId = u.body.data!.endUserCreate.endUser.id;
  debtorIban = await debtorIbanAt(t, 'brabant');
});
afterAll(async () => t?.close());

const INITIATE = `mutation($input: PaymentInitiateInput!, $key: String!) {
  paymentInitiate(input: $input, idempotencyKey: $key) { payment { id status } authorizationUrl userErrors { field code message } }
}`;
type Initiated = {
  paymentInitiate: { payment: { id: string; status: string } | null; authorizationUrl: string | null; userErrors: { field: string[]; code: string }[] };
};
let keys = 0;

async function initiate(psuId: string | null, institution = 'brabant') {
  const r = await t.gql<Initiated>(
    INITIATE,
    {
      input: {
        institutionId: institutionGid(institution),
        endUserId,
        scheme: 'SEPA_CREDIT_TRANSFER',
        debtorAccount: { iban: debtorIban },
        creditor: { name: 'Harbour Supplies', iban: 'DE89370400440532013000' },
        amount: { amount: '42.00', currency: 'EUR' },
        remittanceInformation: 'Invoice 77',
        redirectUri: RETURN_URL,
        psuId,
      },
      key: `decoupled-${Date.now()}-${++keys}`,
    },
    key,
  );
  if (!r.body.data) throw new Error(JSON.stringify(r.body));
  return r.body.data.paymentInitiate;
}

const statusOf = async (id: string) =>
  (await t.gql<{ node: { status: string } }>('query($id: ID!) { node(id: $id) { ... on Payment { status } } }', { id }, key)).body.data!.node.status;

async function until(id: string, wanted: string[], timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await statusOf(id);
    if (wanted.includes(s)) return s;
    if (Date.now() > deadline) throw new Error(`payment stayed ${s}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function decide(username: string, decision: 'approve' | 'reject') {
  const { sessions } = await control<{ sessions: { id: string; stage: string }[] }>(t, 'GET', `/banks/brabant/sca-sessions?user=${username}`);
  const open = sessions.filter((s) => s.stage !== 'done');
  expect(open).toHaveLength(1);
  await control(t, 'POST', `/banks/brabant/sca-sessions/${open[0]!.id}/${decision}`, {});
}

describe('decoupled SCA for payments through the gateway', () => {
  it('returns no authorisation URL, waits for the end user, and moves on once they approve in the bank’s app', async () => {
    const started = await initiate('alice');
    expect(started.userErrors).toEqual([]);
    expect(started.authorizationUrl).toBeNull();
    expect(started.payment!.status).toBe('AUTHORIZATION_REQUIRED');
    await new Promise((r) => setTimeout(r, 2_500)); // the gateway is already asking the bank; nothing is decided yet
    expect(await statusOf(started.payment!.id)).toBe('AUTHORIZATION_REQUIRED');
    await decide('alice', 'approve');
    expect(await until(started.payment!.id, ['ACCEPTED', 'PENDING', 'EXECUTED'])).not.toBe('AUTHORIZATION_REQUIRED');
  });

  it('ends REJECTED when the end user declines in the app', async () => {
    const started = await initiate('alice');
    expect(started.authorizationUrl).toBeNull();
    await decide('alice', 'reject');
    expect(await until(started.payment!.id, ['REJECTED', 'FAILED'])).toBe('REJECTED');
  });

  it('keeps the redirect at a bank without decoupled SCA, and refuses a blank or oversized psuId', async () => {
    const redirect = await initiate('alice', 'nordlicht');
    expect(redirect.authorizationUrl).toMatch(/^http/);
    // (A NUL is refused before any resolver, as a top-level BAD_USER_INPUT: test/api/fuzz.test.ts.)
    for (const psuId of ['   ', 'x'.repeat(101)]) {
      const r = await initiate(psuId);
      expect(r.payment).toBeNull();
      expect(r.userErrors[0]).toMatchObject({ field: ['input', 'psuId'], code: 'INVALID' });
    }
  });
});
