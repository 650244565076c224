import { randomBytes, randomUUID } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiniBrowser, startSandbox, type Running } from '../../../../sandbox/testing/harness';
import { BankInvalidRequest } from '../../errors';
import type { BankAdapter, BankCallContext, PaymentRequest } from '../../ports';
import { sandboxInstitutions } from '../../sandbox-institutions';
import { authoriseAtBank, runPaymentContract } from '../../../../test/contract/adapter-contract';
import { createStetAdapter } from './stet.adapter';

runPaymentContract('STET (Banque du Rivage)', {
  bankId: 'rivage',
  scheme: 'SEPA_CREDIT_TRANSFER',
  currency: 'EUR',
  creditorIban: 'FR7630006000011234567890189',
  scaReasonsReported: true,
  createAdapter: (run, institution) =>
    createStetAdapter({ institution, credentials: run.sandbox.clients.rivage!, redirectUri: run.callback, logger: pino({ level: 'silent' }) }),
});

describe('STET payments against the sandbox bank', () => {
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
    scheme: 'SEPA_INSTANT',
    debtorAccount: null,
    creditor: { name: 'Boulangerie Martin', iban: 'FR7630006000011234567890189', bic: 'BNPAFRPP' },
    amount: { amount: '7.80', currency: 'EUR' },
    remittanceInformation: 'Croissants',
    endToEndId: 'E2E-CROISSANTS',
    requestedExecutionDate: null,
    redirectUri: run.callback,
    state: randomBytes(24).toString('base64url'),
    idempotencyKey: randomUUID(),
    createdAt: new Date('2026-11-20T09:30:00Z'),
    ...over,
  });

  beforeAll(async () => {
    run = await startSandbox();
    const institution = sandboxInstitutions(run.sandbox.banks).find((i) => i.id === 'rivage')!;
    ctx = { institution, psuIpAddress: '203.0.113.7' };
    adapter = createStetAdapter({
      institution,
      credentials: run.sandbox.clients.rivage!,
      redirectUri: run.callback,
      logger: pino({ level: 'silent' }),
      fetch: recordingFetch,
    });
  });
  afterAll(async () => run?.close());

  it('initiates SEPA Instant as localInstrument INST with report URLs carrying the state, and confirms once after approval', async () => {
    const req = request();
    sent.length = 0;
    const started = await adapter.payments.initiate(ctx, req);
    const post = sent.find((s) => s.method === 'POST' && s.url.endsWith('/payment-requests'))!;
    expect(post.headers.get('x-request-id')).toBe(req.idempotencyKey);
    const body = JSON.parse(post.body!);
    expect(body.paymentTypeInformation).toMatchObject({ serviceLevel: 'SEPA', localInstrument: 'INST' });
    expect(body.creationDateTime).toBe('2026-11-20T09:30:00.000Z');
    expect(new URL(body.supplementaryData.successfulReportUrl).searchParams.get('state')).toBe(req.state);
    expect(new URL(body.supplementaryData.unsuccessfulReportUrl).searchParams.get('state')).toBe(req.state);
    expect(body.creditTransferTransaction[0]).toMatchObject({
      instructedAmount: { amount: '7.80', currency: 'EUR' },
      paymentId: { endToEndId: 'E2E-CROISSANTS' },
    });
    const input = {
      callbackUrl: await authoriseAtBank(run, started.authorizationUrl!, { username: 'alice', otp: '123456' }),
      bankPaymentId: started.bankPaymentId,
      secrets: started.secrets,
      idempotencyKey: req.idempotencyKey,
      request: req,
    };
    const first = await adapter.payments.complete(ctx, input);
    expect(first).toMatchObject({ outcome: 'AUTHORISED', status: { status: 'ACCEPTED', rawStatus: 'ACTC' } });
    // Again with the secrets of initiate: the payment is confirmed already, so only its status is read.
    const again = await adapter.payments.complete(ctx, input);
    expect(again).toMatchObject({ outcome: 'AUTHORISED', bankPaymentId: started.bankPaymentId });
    expect(sent.filter((s) => s.method === 'POST' && s.url.endsWith('/confirmation'))).toHaveLength(1);
    const atBank = (await run.control<{ payments: { id: string; product: string }[] }>('GET', '/banks/rivage/payments')).body.payments.find(
      (p) => p.id === started.bankPaymentId,
    );
    expect(atBank?.product).toBe('INST');
  });

  it('cancels a payment request before the end user approves it: CANCELLED, read back by STET as RJCT/DS02, and the approval page no longer approves it', async () => {
    const started = await adapter.payments.initiate(ctx, request());
    const input = { bankPaymentId: started.bankPaymentId, secrets: started.secrets };
    expect(await adapter.payments.cancel!(ctx, input)).toEqual({ status: 'CANCELLED', rawStatus: 'RJCT', reasonCode: 'DS02' });
    const put = sent.find((s) => s.method === 'PUT')!;
    expect(JSON.parse(put.body!)).toMatchObject({ paymentInformationStatus: 'RJCT', statusReasonInformation: 'DS02' });
    // STET cannot tell a cancellation from a refusal afterwards.
    expect(await adapter.payments.status(ctx, input)).toEqual({ status: 'REJECTED', rawStatus: 'RJCT', reasonCode: 'DS02' });
    const browser = new MiniBrowser();
    expect(await browser.go(started.authorizationUrl!, {}, run.callback)).toBeUndefined();
    expect(browser.text('outcome')).toMatch(/already rejected/);
  });

  it('cancels an approved payment request not yet confirmed, and refuses with a typed error once it executes', async () => {
    const req = request();
    const started = await adapter.payments.initiate(ctx, req);
    await authoriseAtBank(run, started.authorizationUrl!, { username: 'alice', otp: '123456' });
    expect((await adapter.payments.status(ctx, { bankPaymentId: started.bankPaymentId, secrets: started.secrets })).rawStatus).toBe('ACCP');
    expect((await adapter.payments.cancel!(ctx, { bankPaymentId: started.bankPaymentId, secrets: started.secrets })).status).toBe('CANCELLED');

    const other = request();
    const begun = await adapter.payments.initiate(ctx, other);
    const done = await adapter.payments.complete(ctx, {
      callbackUrl: await authoriseAtBank(run, begun.authorizationUrl!, { username: 'alice', otp: '123456' }),
      bankPaymentId: begun.bankPaymentId,
      secrets: begun.secrets,
      idempotencyKey: other.idempotencyKey,
      request: other,
    });
    if (done.outcome !== 'AUTHORISED') throw new Error(`not authorised: ${done.outcome}`);
    const err = await adapter.payments.cancel!(ctx, done).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BankInvalidRequest);
    expect((err as BankInvalidRequest).bankCode).toBe('STATUS_INVALID');
    expect((await adapter.payments.status(ctx, done)).status).toBe('ACCEPTED');
  });
});
