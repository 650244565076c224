import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiniBrowser } from '../../sandbox/testing/harness';
import { parseGlobalId } from '../../src/api/relay/global-id';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { authorise, debtorIbanAt, institutionGid, RETURN_URL, user } from '../helpers/banking';

/**
 * Berlin Group cancellation authorisation: the sandbox bank nordlicht answers a cancel with 202
 * for a payment whose creditor name contains `cancel-sca`; the end user approves (or declines)
 * the cancellation on the bank's SCA page and comes back through the gateway's /callback.
 */
let t: TestGateway;
let key: string;
let endUserId: string;
let debtorIban: string;

beforeAll(async () => {
  t = await startTestGateway();
  ({ key } = await t.createTenant('Cancelling'));
  const u = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
    'mutation { endUserCreate(input: { externalRef: "payer-c" }) { endUser { id } } }',
    {},
    key,
  );
  endUserId = u.body.data!.endUserCreate.endUser.id;
  debtorIban = await debtorIbanAt(t, 'nordlicht');
});
afterAll(async () => {
  await t?.close();
});

const INITIATE = `mutation($input: PaymentInitiateInput!, $key: String!) {
  paymentInitiate(input: $input, idempotencyKey: $key) { payment { id status } authorizationUrl userErrors { field code message } }
}`;
const CANCEL = 'mutation($id: ID!) { paymentCancel(id: $id) { payment { id status rawStatus terminal } authorizationUrl userErrors { field code message } } }';
type PaymentView = { id: string; status: string; rawStatus: string | null; terminal: boolean };
type CancelPayload = {
  paymentCancel: { payment: PaymentView | null; authorizationUrl: string | null; userErrors: { field: string[]; code: string; message: string }[] };
};

let keys = 0;
const futureDate = () => new Date(Date.now() + 7 * 86_400_000).toISOString().slice(0, 10);

/** An authorised, future-dated payment at nordlicht that waits (ACCEPTED/PENDING) until its date. */
async function waitingPayment(creditorName = 'Keller cancel-sca GmbH'): Promise<string> {
  const r = await t.gql<{ paymentInitiate: { payment: { id: string } | null; authorizationUrl: string | null; userErrors: unknown[] } }>(
    INITIATE,
    {
      input: {
        institutionId: institutionGid('nordlicht'),
        endUserId,
        scheme: 'SEPA_CREDIT_TRANSFER',
        debtorAccount: { iban: debtorIban },
        creditor: { name: creditorName, iban: 'FR1420041010050500013M02606' },
        amount: { amount: '42.10', currency: 'EUR' },
        remittanceInformation: 'Invoice 2026-77',
        requestedExecutionDate: futureDate(),
        redirectUri: RETURN_URL,
      },
      key: `cancel-${Date.now()}-${++keys}`,
    },
    key,
  );
  const started = r.body.data!.paymentInitiate;
  expect(started.userErrors).toEqual([]);
  expect((await authorise(t, started.authorizationUrl!, 'alice')).searchParams.get('outcome')).toBe('success');
  const id = started.payment!.id;
  await untilStatus(id, ['ACCEPTED', 'PENDING']);
  return id;
}

async function paymentById(id: string): Promise<PaymentView> {
  const r = await t.gql<{ node: PaymentView }>('query($id: ID!) { node(id: $id) { ... on Payment { id status rawStatus terminal } } }', { id }, key);
  return r.body.data!.node;
}

async function untilStatus(id: string, wanted: string[], timeoutMs = 45_000): Promise<PaymentView> {
  for (const deadline = Date.now() + timeoutMs; ;) {
    const p = await paymentById(id);
    if (wanted.includes(p.status)) return p;
    if (Date.now() > deadline) throw new Error(`payment stayed ${p.status}, wanted ${wanted.join('|')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function cancel(id: string) {
  const r = await t.gql<CancelPayload>(CANCEL, { id }, key);
  if (!r.body.data) throw new Error(JSON.stringify(r.body));
  return r.body.data.paymentCancel;
}

/** The payment's PAYMENT_STATUS_CHANGED events, waiting a while for a terminal one when asked. */
async function statusEvents(paymentId: string, waitForTerminal = false) {
  for (const deadline = Date.now() + 15_000; ;) {
    const r = await t.gql<{ events: { nodes: { payload: { paymentId: string; status: string; terminal: boolean } }[] } }>(
      '{ events(first: 500, types: [PAYMENT_STATUS_CHANGED]) { nodes { payload } } }',
      {},
      key,
    );
    const events = r.body.data!.events.nodes.map((e) => e.payload).filter((p) => p.paymentId === paymentId);
    if (!waitForTerminal || events.at(-1)?.terminal || Date.now() > deadline) return events;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Runs the bank's SCA page as `username` (or presses Cancel there) and returns the bank's redirect to the gateway's /callback, not yet followed. */
async function atBank(authorizationUrl: string, how: { approveAs: string } | 'decline'): Promise<string> {
  const browser = new MiniBrowser();
  const callback = `${t.gateway.publicUrl}/callback`;
  let back = await browser.go(authorizationUrl, {}, callback);
  if (how === 'decline') back ??= await browser.submit({ action: 'cancel' }, callback);
  else {
    const u = user(how.approveAs);
    back ??= await browser.authenticate(u.username, u.otp, callback);
  }
  if (!back) throw new Error(`bank did not redirect back: ${browser.status} ${browser.html.slice(0, 300)}`);
  return back.replace(t.gateway.publicUrl, t.gateway.baseUrl);
}

/** One return through the gateway's /callback: where it sends the end user. */
async function returnThroughGateway(callbackUrl: string): Promise<URL> {
  const res = await fetch(callbackUrl, { redirect: 'manual' });
  const location = res.headers.get('location');
  if (res.status < 300 || res.status >= 400 || !location) throw new Error(`callback answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  return new URL(location);
}

/** The gateway's reads of cancellation scaStatus at the bank, from the journal of bank calls (written just after each call). */
async function cancellationStatusReads(settleMs = 0): Promise<number> {
  if (settleMs) await new Promise((r) => setTimeout(r, settleMs));
  const { rows } = await t.gateway.db.sql.query<{ n: string }>(
    `select count(*)::text as n from audit_event where action = 'BANK_CALL' and details->>'operation' = 'payment.cancellation.authorisation.status'`,
  );
  return Number(rows[0]!.n);
}

describe('a Berlin Group cancellation that the bank answers 202', () => {
  it('gives the cancellation’s authorizationUrl, and once the end user approves at the bank the payment ends CANCELLED with one event', async () => {
    const id = await waitingPayment();

    const asked = await cancel(id);
    expect(asked.userErrors).toEqual([]);
    expect(asked.authorizationUrl).toMatch(/^http:\/\/localhost:\d+\/sandbox\/t\/[^/]+\/banks\/nordlicht\/sca\/s\//);
    expect(asked.payment).toMatchObject({ id, terminal: false });
    expect(['ACCEPTED', 'PENDING']).toContain(asked.payment!.status);
    // Nothing is cancelled before the end user has decided.
    expect((await paymentById(id)).terminal).toBe(false);

    const back = await returnThroughGateway(await atBank(asked.authorizationUrl!, { approveAs: 'alice' }));
    expect(back.origin + back.pathname).toBe(RETURN_URL);
    expect(back.searchParams.get('paymentId')).toBe(id);
    expect(back.searchParams.get('cancellation')).toBe('cancelled');

    expect(await paymentById(id)).toMatchObject({ status: 'CANCELLED', rawStatus: 'CANC', terminal: true });
    const events = await statusEvents(id, true);
    expect(events.filter((e) => e.status === 'CANCELLED')).toHaveLength(1);
    expect(events.at(-1)).toMatchObject({ status: 'CANCELLED', terminal: true });

    const again = await cancel(id);
    expect(again.userErrors.map((e) => e.code)).toEqual(['NOT_CANCELLABLE']);
    expect(again.authorizationUrl).toBeNull();
  });

  it('leaves the payment as it was when the end user declines the cancellation at the bank', async () => {
    const id = await waitingPayment();
    const before = await paymentById(id);

    const asked = await cancel(id);
    expect(asked.userErrors).toEqual([]);
    const back = await returnThroughGateway(await atBank(asked.authorizationUrl!, 'decline'));
    expect(back.searchParams.get('paymentId')).toBe(id);
    expect(back.searchParams.get('cancellation')).toBe('declined');

    expect(await paymentById(id)).toEqual(before);
    // Events become readable once older transactions end: give a wrong one the time to show.
    await new Promise((r) => setTimeout(r, 500));
    expect((await statusEvents(id)).filter((e) => e.terminal)).toEqual([]);
    // A later cancel asks the end user again: the declined authorisation did not end the flow.
    expect((await cancel(id)).authorizationUrl).toMatch(/\/sca\/s\//);
  });

  it('finishes the cancellation exactly once when its callback arrives 10 times at once, and once more later', async () => {
    const id = await waitingPayment();
    const asked = await cancel(id);
    expect(asked.userErrors).toEqual([]);
    const callback = await atBank(asked.authorizationUrl!, { approveAs: 'alice' });

    const bankCallsBefore = await cancellationStatusReads(500);
    const backs = await Promise.all(Array.from({ length: 10 }, () => returnThroughGateway(callback)));
    expect(backs.every((b) => b.searchParams.get('paymentId') === id)).toBe(true);
    expect(backs.filter((b) => b.searchParams.get('cancellation') === 'cancelled').length).toBeGreaterThanOrEqual(1);
    const replay = await returnThroughGateway(callback);
    expect(replay.searchParams.get('cancellation')).toBe('cancelled');

    expect(await paymentById(id)).toMatchObject({ status: 'CANCELLED', terminal: true });
    const events = await statusEvents(id, true);
    expect(events.filter((e) => e.status === 'CANCELLED')).toHaveLength(1);
    // One completion: the gateway asked the bank for the cancellation's scaStatus once.
    expect((await cancellationStatusReads(500)) - bankCallsBefore).toBe(1);
    const { rows } = await t.gateway.db.sql.query<{ n: string }>(
      `select count(*)::text as n from audit_event where resource_id = $1 and action = 'PAYMENT_CANCELLED' and actor = 'endUser'`,
      [parseGlobalId(id)!.id],
    );
    expect(rows[0]!.n).toBe('1');
  });

  it('answers a cancel of an unknown payment with NOT_FOUND and of a final payment with NOT_CANCELLABLE, without an authorizationUrl', async () => {
    const unknown = await cancel('UGF5bWVudDowMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA=');
    expect(unknown.userErrors.map((e) => [e.field, e.code])).toEqual([[['id'], 'NOT_FOUND']]);
    expect(unknown.authorizationUrl).toBeNull();
    const garbage = await cancel('not-an-id');
    expect(garbage.userErrors.map((e) => e.code)).toEqual(['NOT_FOUND']);

    const id = await waitingPayment();
    const asked = await cancel(id);
    await returnThroughGateway(await atBank(asked.authorizationUrl!, { approveAs: 'alice' }));
    const final = await cancel(id);
    expect(final.payment).toBeNull();
    expect(final.authorizationUrl).toBeNull();
    expect(final.userErrors.map((e) => [e.field, e.code])).toEqual([[['id'], 'NOT_CANCELLABLE']]);
  });

  it('sends an unknown or forged cancellation state to the invalid-link page', async () => {
    const res = await fetch(`${t.gateway.baseUrl}/callback?state=pay_${'x'.repeat(43)}`, { redirect: 'manual' });
    expect(res.status).toBe(400);
  });

  it('still cancels at once (204) a future-dated payment that needs no authorisation', async () => {
    const id = await waitingPayment('Keller Bau GmbH');
    const r = await cancel(id);
    expect(r.userErrors).toEqual([]);
    expect(r.authorizationUrl).toBeNull();
    expect(r.payment).toMatchObject({ status: 'CANCELLED', terminal: true });
  });
});
