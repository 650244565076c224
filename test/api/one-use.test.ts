import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiniBrowser } from '../../sandbox/testing/harness';
import { parseGlobalId } from '../../src/api/relay/global-id';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { control, debtorIbanAt, institutionGid, RETURN_URL, user } from '../helpers/banking';

// Every one-use thing (callback state, connect link, sandbox authorisation) is taken by one
// statement: 20 simultaneous uses give one success, one bank exchange and one event.

let t: TestGateway;
let key: string;
let endUserId: string;
const N = 20;

beforeAll(async () => {
  t = await startTestGateway();
  ({ key } = await t.createTenant('Racing'));
  const u = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
    'mutation { endUserCreate(input: { externalRef: "racer" }) { endUser { id } } }',
    {},
    key,
  );
  endUserId = u.body.data!.endUserCreate.endUser.id;
});
afterAll(async () => t?.close());

const CREATE = `mutation($input: ConsentCreateInput!) { consentCreate(input: $input) { consent { id } authorizationUrl userErrors { code } } }`;

async function createConsent(bank: string | null) {
  const r = await t.gql<{ consentCreate: { consent: { id: string }; authorizationUrl: string; userErrors: unknown[] } }>(
    CREATE,
    {
      input: {
        endUserId,
        ...(bank ? { institutionId: institutionGid(bank) } : { institutionId: null }),
        scopes: ['ACCOUNTS', 'BALANCES', 'TRANSACTIONS'],
        redirectUri: RETURN_URL,
      },
    },
    key,
  );
  const payload = r.body.data?.consentCreate;
  if (!payload || payload.userErrors.length) throw new Error(JSON.stringify(r.body));
  return payload;
}

/** The end user approves at the bank's pages; answers the gateway callback URL without visiting it. */
async function approveAtBank(authorizationUrl: string): Promise<string> {
  const browser = new MiniBrowser();
  const callback = `${t.gateway.publicUrl}/callback`;
  const alice = user('alice');
  let back = await browser.go(authorizationUrl, {}, callback);
  back ??= await browser.authenticate(alice.username, alice.otp, callback);
  if (!back) throw new Error(`bank did not redirect back: ${browser.html.slice(0, 300)}`);
  return back.replace(t.gateway.publicUrl, t.gateway.baseUrl);
}

/** N simultaneous GETs of one URL; what each answered (a redirect's location, or the status). */
async function fireAtOnce(url: string): Promise<{ status: number; location: string | null }[]> {
  return Promise.all(
    Array.from({ length: N }, async () => {
      const res = await fetch(url, { redirect: 'manual' });
      await res.arrayBuffer();
      return { status: res.status, location: res.headers.get('location') };
    }),
  );
}

/** The log's events of one consent or payment (waiting for `atLeast` of them: see TestGateway.eventsFor). */
const eventsFor = (type: string, field: 'consentId' | 'paymentId', id: string, atLeast = 0) => t.eventsFor(key, type, field, id, atLeast);

/** The journal's bank calls (written outside the request's transaction: wait until they settle). */
async function bankCalls(consentGid: string): Promise<string[]> {
  const id = parseGlobalId(consentGid)!.id;
  let last = -1;
  for (;;) {
    await new Promise((r) => setTimeout(r, 300));
    const { rows } = await t.gateway.db.sql.query<{ operation: string }>(
      `select details->>'operation' as operation from audit_event where action = 'BANK_CALL' and resource_id = $1 order by created_at`,
      [id],
    );
    if (rows.length === last) return rows.map((r) => r.operation);
    last = rows.length;
  }
}

const consentStatus = async (id: string) =>
  (await t.gql<{ node: { status: string } }>('query($id: ID!) { node(id: $id) { ... on Consent { status } } }', { id }, key)).body.data!.node.status;

describe.each([
  ['nordlicht', 'Berlin Group'],
  ['thames', 'UK Open Banking'],
  ['rivage', 'STET'],
])('one genuine consent callback at %s (%s) fired 20 times at once', (bank) => {
  it('sends exactly one request on with outcome=success, completes once at the bank, emits one CONSENT_ACTIVATED and leaves the consent ACTIVE', async () => {
    const created = await createConsent(bank);
    const callback = await approveAtBank(created.authorizationUrl);
    const callsBefore = (await bankCalls(created.consent.id)).length;
    const answers = await fireAtOnce(callback);
    const successes = answers.filter((a) => a.status === 303 && new URL(a.location!).searchParams.get('outcome') === 'success');
    expect(successes).toHaveLength(1);
    expect(answers.filter((a) => a.status === 303)).toHaveLength(1);
    expect(answers.filter((a) => a.status === 400)).toHaveLength(N - 1);
    expect(await consentStatus(created.consent.id)).toBe('ACTIVE');
    expect(await eventsFor('CONSENT_ACTIVATED', 'consentId', created.consent.id, 1)).toHaveLength(1);
    expect(await eventsFor('CONSENT_REJECTED', 'consentId', created.consent.id)).toHaveLength(0);
    const calls = (await bankCalls(created.consent.id)).slice(callsBefore);
    // The token exchange (UK, STET) or the consent status read that completes it (Berlin Group): once.
    expect(calls.filter((op) => op === 'oauth.authorization_code' || op === 'consent.status')).toHaveLength(1);
    const again = await fireAtOnce(callback);
    expect(again.every((a) => a.status === 400)).toBe(true);
    // The replays reach no bank: still the one completing call (the first sync's reads may still be arriving).
    const completing = (ops: string[]) => ops.filter((op) => op === 'oauth.authorization_code' || op === 'consent.status');
    expect(completing((await bankCalls(created.consent.id)).slice(callsBefore))).toEqual(completing(calls));
  }, 60_000);
});

describe('one genuine payment callback fired 20 times at once', () => {
  it('completes the payment at the bank once, with one status change after AUTHORIZATION_REQUIRED, and tells every visit the same outcome', async () => {
    const iban = await debtorIbanAt(t, 'nordlicht');
    const r = await t.gql<{ paymentInitiate: { payment: { id: string }; authorizationUrl: string; userErrors: unknown[] } }>(
      `mutation($input: PaymentInitiateInput!, $key: String!) { paymentInitiate(input: $input, idempotencyKey: $key) { payment { id } authorizationUrl userErrors { code message } } }`,
      {
        input: {
          institutionId: institutionGid('nordlicht'),
          endUserId,
          scheme: 'SEPA_CREDIT_TRANSFER',
          debtorAccount: { iban },
          creditor: { name: 'Keller Bau GmbH', iban: 'FR1420041010050500013M02606' },
          amount: { amount: '12.30', currency: 'EUR' },
          remittanceInformation: 'Invoice 7',
          redirectUri: RETURN_URL,
        },
        key: `race-${Date.now()}`,
      },
      key,
    );
    const started = r.body.data!.paymentInitiate;
    expect(started.userErrors).toEqual([]);
    const callback = await approveAtBank(started.authorizationUrl);
    const answers = await fireAtOnce(callback);
    expect(answers.every((a) => a.status === 303)).toBe(true);
    expect(new Set(answers.map((a) => new URL(a.location!).searchParams.get('outcome')))).toEqual(new Set(['success']));
    await new Promise((res) => setTimeout(res, 1000));
    const events = await eventsFor('PAYMENT_STATUS_CHANGED', 'paymentId', started.payment.id, 2);
    expect(events.map((e) => e.payload.status)[0]).toBe('AUTHORIZATION_REQUIRED');
    expect(events).toHaveLength(2);
    const { rows } = await t.gateway.db.sql.query<{ n: string }>(
      `select count(*) as n from audit_event where action = 'PAYMENT_AUTHORISED' and resource_id = $1`,
      [parseGlobalId(started.payment.id)!.id],
    );
    expect(Number(rows[0]!.n)).toBe(1);
  }, 60_000);
});

describe('one connect-page link submitted 20 times at once', () => {
  it('starts one authorisation at the bank and answers the other submissions that the link is spent', async () => {
    const created = await createConsent(null);
    const before = (await control<{ consents: unknown[] }>(t, 'GET', '/banks/nordlicht/consents')).consents.length;
    const link = created.authorizationUrl.replace(t.gateway.publicUrl, t.gateway.baseUrl);
    const answers = await Promise.all(
      Array.from({ length: N }, async () => {
        const res = await fetch(link, {
          method: 'POST',
          redirect: 'manual',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: `institution=nordlicht`,
        });
        await res.arrayBuffer();
        return res.status;
      }),
    );
    expect(answers.filter((s) => s === 303)).toHaveLength(1);
    expect(answers.filter((s) => s === 410)).toHaveLength(N - 1);
    expect((await control<{ consents: unknown[] }>(t, 'GET', '/banks/nordlicht/consents')).consents.length).toBe(before + 1);
  }, 60_000);
});

describe('sandboxConsentAuthorize called 20 times at once for one consent', () => {
  it('authorises it once: one success, one CONSENT_ACTIVATED, the others INVALID_STATE', async () => {
    const created = await createConsent('brabant');
    const answers = await Promise.all(
      Array.from({ length: N }, () =>
        t.gql<{ sandboxConsentAuthorize: { consent: { status: string } | null; userErrors: { code: string }[] } }>(
          'mutation($input: SandboxConsentAuthorizeInput!) { sandboxConsentAuthorize(input: $input) { consent { status } userErrors { code message } } }',
          { input: { consentId: created.consent.id } },
          key,
        ),
      ),
    );
    const payloads = answers.map((a) => a.body.data!.sandboxConsentAuthorize);
    const others = JSON.stringify(payloads.filter((p) => p.userErrors[0]?.code !== 'INVALID_STATE'));
    expect(
      payloads.filter((p) => p.consent?.status === 'ACTIVE'),
      others,
    ).toHaveLength(1);
    expect(payloads.filter((p) => p.userErrors[0]?.code === 'INVALID_STATE')).toHaveLength(N - 1);
    expect(await eventsFor('CONSENT_ACTIVATED', 'consentId', created.consent.id, 1)).toHaveLength(1);
  }, 90_000);
});
