import { randomBytes, randomUUID } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Running } from '../../../../sandbox/testing/harness';
import { BankInvalidRequest } from '../../errors';
import type { BankAdapter, BankCallContext, PaymentRequest } from '../../ports';
import { sandboxInstitutions } from '../../sandbox-institutions';
import { authoriseAtBank, runPaymentContract } from '../../../../test/contract/adapter-contract';
import { createUkObieAdapter } from './uk-obie.adapter';

runPaymentContract('UK Open Banking (Thames & Harbour Bank, 3.1.11)', {
  bankId: 'thames',
  scheme: 'FASTER_PAYMENTS',
  currency: 'GBP',
  creditorIban: 'GB33BUKB20201555555555',
  // UK 3.1 rejects the consent of a PSU who declines (or whose SCA times out) without any reason field.
  scaReasonsReported: false,
  createAdapter: (run, institution) =>
    createUkObieAdapter({ institution, credentials: run.sandbox.clients.thames, redirectUri: run.callback, logger: pino({ level: 'silent' }) }),
});

describe('UK Open Banking payments against the sandbox bank', () => {
  let run: Running;
  let ctx: BankCallContext;
  let adapter: BankAdapter;
  const sent: { url: string; method: string; headers: Headers; body: string | undefined }[] = [];
  const recordingFetch: typeof fetch = async (input, init) => {
    sent.push({
      url: String(input),
      method: init?.method ?? 'GET',
      headers: new Headers(init?.headers),
      body: typeof init?.body === 'string' ? init.body : undefined,
    });
    return fetch(input, init);
  };
  const request = (over: Partial<PaymentRequest> = {}): PaymentRequest => ({
    scheme: 'FASTER_PAYMENTS',
    debtorAccount: null,
    creditor: { name: 'Ada Lovelace', iban: 'GB33BUKB20201555555555', bic: null },
    amount: { amount: '10.00', currency: 'GBP' },
    remittanceInformation: 'Rent May',
    endToEndId: null,
    requestedExecutionDate: null,
    redirectUri: run.callback,
    state: randomBytes(24).toString('base64url'),
    idempotencyKey: randomUUID(),
    ...over,
  });

  beforeAll(async () => {
    run = await startSandbox();
    const institution = sandboxInstitutions(run.sandbox.banks).find((i) => i.id === 'thames')!;
    ctx = { institution, psuIpAddress: '203.0.113.7' };
    adapter = createUkObieAdapter({
      institution,
      credentials: run.sandbox.clients.thames!,
      redirectUri: run.callback,
      logger: pino({ level: 'silent' }),
      fetch: recordingFetch,
    });
  });
  afterAll(async () => run?.close());

  it('sends the idempotency key as x-idempotency-key on the consent and the payment, with the GB IBAN as sort code and account number', async () => {
    const req = request();
    sent.length = 0;
    const started = await adapter.payments.initiate(ctx, req);
    const consent = sent.find((s) => s.method === 'POST' && s.url.endsWith('/domestic-payment-consents'))!;
    expect(consent.headers.get('x-idempotency-key')).toBe(req.idempotencyKey);
    expect(JSON.parse(consent.body!).Data.Initiation.CreditorAccount).toEqual({
      SchemeName: 'UK.OBIE.SortCodeAccountNumber',
      Identification: '20201555555555',
      Name: 'Ada Lovelace',
    });
    // The PSU authorises the payment consent as the intent, with PKCE.
    const authorize = new URL(started.authorizationUrl!);
    expect(authorize.pathname).toMatch(/\/oauth\//);
    const done = await adapter.payments.complete(ctx, {
      callbackUrl: await authoriseAtBank(run, started.authorizationUrl!, { username: 'alice', otp: '123456' }),
      bankPaymentId: started.bankPaymentId,
      secrets: started.secrets,
      idempotencyKey: req.idempotencyKey,
      request: req,
    });
    expect(done).toMatchObject({ outcome: 'AUTHORISED', status: { status: 'ACCEPTED', rawStatus: 'AcceptedSettlementInProcess' } });
    const payment = sent.find((s) => s.method === 'POST' && s.url.endsWith('/domestic-payments'))!;
    expect(payment.headers.get('x-idempotency-key')).toBe(req.idempotencyKey);
    expect(payment.headers.get('authorization')).toMatch(/^Bearer /);
    expect(done.outcome === 'AUTHORISED' && done.bankPaymentId).not.toBe(started.bankPaymentId);
    // Until complete, the status is the consent's: the status of the consent id still answers.
    expect((await adapter.payments.status(ctx, { bankPaymentId: started.bankPaymentId, secrets: started.secrets })).status).toBe('ACCEPTED');
  });

  it('fails a repeated complete that only has the spent authorisation code, with a reason that says what to do', async () => {
    const req = request();
    const started = await adapter.payments.initiate(ctx, req);
    const callbackUrl = await authoriseAtBank(run, started.authorizationUrl!, { username: 'alice', otp: '123456' });
    const input = { callbackUrl, bankPaymentId: started.bankPaymentId, secrets: started.secrets, idempotencyKey: req.idempotencyKey, request: req };
    expect((await adapter.payments.complete(ctx, input)).outcome).toBe('AUTHORISED');
    const again = await adapter.payments.complete(ctx, input);
    expect(again.outcome).toBe('FAILED');
    expect(again.outcome === 'FAILED' && again.reason).toMatch(/already used/);
    expect(again.outcome === 'FAILED' && again.status?.rawStatus).toBe('Consumed');
  });

  it('refuses a future-dated payment (a domestic scheduled payment) before calling the bank', async () => {
    sent.length = 0;
    await expect(adapter.payments.initiate(ctx, request({ requestedExecutionDate: '2026-12-01' }))).rejects.toBeInstanceOf(BankInvalidRequest);
    expect(sent.filter((s) => s.url.includes('/open-banking/'))).toHaveLength(0);
  });

  it('offers no cancellation: UK 3.1 domestic payments have none', () => {
    expect(adapter.payments.cancel).toBeUndefined();
  });
});
