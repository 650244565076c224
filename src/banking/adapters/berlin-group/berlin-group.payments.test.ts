import { randomBytes, randomUUID } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Running } from '../../../../sandbox/testing/harness';
import { BankCancellationAuthorisationRequired, BankInvalidRequest, BankResponseInvalid } from '../../errors';
import type { BankCallRecord } from '../../http';
import type { InstitutionDescriptor } from '../../model';
import type { BankCallContext, PaymentRequest } from '../../ports';
import { sandboxInstitutions } from '../../sandbox-institutions';
import { authoriseAtBank, runPaymentContract } from '../../../../test/contract/adapter-contract';
import { createBerlinGroupAdapter } from './berlin-group.adapter';

const logger = pino({ level: 'silent' });

runPaymentContract('Berlin Group, redirect approach (Nordlicht)', {
  bankId: 'nordlicht',
  scheme: 'SEPA_CREDIT_TRANSFER',
  currency: 'EUR',
  creditorIban: 'FR7630006000011234567890189',
  debtorIban: 'DE89370400440532013000',
  scaReasonsReported: true,
  createAdapter: (run, institution) =>
    createBerlinGroupAdapter({ institution, credentials: run.sandbox.clients.nordlicht, redirectUri: run.callback, logger, tppIpAddress: '192.0.2.200' }),
});

runPaymentContract('Berlin Group, OAuth SCA approach (Nordlicht)', {
  bankId: 'nordlicht',
  scheme: 'SEPA_INSTANT',
  currency: 'EUR',
  creditorIban: 'FR7630006000011234567890189',
  debtorIban: 'DE89370400440532013000',
  scaReasonsReported: true,
  createAdapter: (run, institution) =>
    createBerlinGroupAdapter({
      institution: { ...institution, scaApproaches: ['OAUTH', 'REDIRECT'] },
      credentials: run.sandbox.clients.nordlicht,
      redirectUri: run.callback,
      logger,
      tppIpAddress: '192.0.2.200',
    }),
});

describe('Berlin Group payments against the sandbox banks', () => {
  let run: Running;
  let institutions: InstitutionDescriptor[];
  const calls: BankCallRecord[] = [];
  const sent: { url: string; method: string; headers: Headers }[] = [];
  /** Answers matching requests itself (a bank behaviour the sandbox lacks). */
  let intercept: ((url: URL, init: RequestInit | undefined) => Response | undefined) | undefined;
  const recordingFetch: typeof fetch = async (input, init) => {
    sent.push({ url: String(input), method: init?.method ?? 'GET', headers: new Headers(init?.headers) });
    return intercept?.(new URL(String(input)), init) ?? fetch(input, init);
  };

  const setup = (bankId: string) => {
    const institution = institutions.find((i) => i.id === bankId)!;
    const adapter = createBerlinGroupAdapter({
      institution,
      credentials: run.sandbox.clients[bankId]!,
      redirectUri: run.callback,
      logger,
      tppIpAddress: '192.0.2.200',
      onCall: (r) => calls.push(r),
      fetch: recordingFetch,
    });
    return { adapter, ctx: { institution, psuIpAddress: '203.0.113.7' } satisfies BankCallContext };
  };
  const request = (over: Partial<PaymentRequest> = {}): PaymentRequest => ({
    scheme: 'SEPA_CREDIT_TRANSFER',
    debtorAccount: { iban: 'DE89370400440532013000' },
    creditor: { name: 'Boulangerie Martin', iban: 'FR7630006000011234567890189', bic: 'BNPAFRPP' },
    amount: { amount: '19.99', currency: 'EUR' },
    remittanceInformation: 'Order 77',
    endToEndId: 'E2E-77',
    requestedExecutionDate: null,
    redirectUri: run.callback,
    state: randomBytes(24).toString('base64url'),
    idempotencyKey: randomUUID(),
    ...over,
  });

  beforeAll(async () => {
    run = await startSandbox();
    institutions = sandboxInstitutions(run.sandbox.banks);
  });
  afterAll(async () => run?.close());

  it('sends the payment with the idempotency key as X-Request-ID, the state in both redirect URIs, and audits every call', async () => {
    const { adapter, ctx } = setup('nordlicht');
    const key = randomUUID();
    const req = request({ idempotencyKey: key });
    sent.length = 0;
    calls.length = 0;
    const started = await adapter.payments.initiate(ctx, req);
    const post = sent.find((s) => s.method === 'POST')!;
    expect(post.url).toMatch(/\/v1\/payments\/sepa-credit-transfers$/);
    expect(post.headers.get('x-request-id')).toBe(key);
    expect(new URL(post.headers.get('tpp-redirect-uri')!).searchParams.get('state')).toBe(req.state);
    const nok = new URL(post.headers.get('tpp-nok-redirect-uri')!);
    expect(nok.searchParams.get('state')).toBe(req.state);
    expect(nok.searchParams.get('error')).toBeTruthy();
    expect(calls).toEqual([expect.objectContaining({ operation: 'payment.create', method: 'POST', status: 201, requestId: key, outcome: 'success' })]);
    expect(JSON.stringify(calls)).not.toContain('FR7630006000011234567890189');
    const payment = (
      await run.control<{ payments: { id: string; creditor: { name: string; iban: string } }[] }>('GET', '/banks/nordlicht/payments')
    ).body.payments.find((p) => p.id === started.bankPaymentId);
    expect(payment?.creditor).toEqual({ name: 'Boulangerie Martin', iban: 'FR7630006000011234567890189' });
  });

  it('authorises at a bank that prefers the decoupled approach (Brabant) through its redirect', async () => {
    const { adapter, ctx } = setup('brabant');
    const req = request({ scheme: 'SEPA_INSTANT' });
    const started = await adapter.payments.initiate(ctx, req);
    const done = await adapter.payments.complete(ctx, {
      callbackUrl: await authoriseAtBank(run, started.authorizationUrl!, { username: 'alice', otp: '123456' }),
      bankPaymentId: started.bankPaymentId,
      secrets: started.secrets,
      idempotencyKey: req.idempotencyKey,
      request: req,
    });
    expect(done).toMatchObject({ outcome: 'AUTHORISED', status: { status: 'ACCEPTED', rawStatus: 'ACTC' } });
  });

  it('cancels a payment the end user has not authorised yet: the bank then reports it CANCELLED', async () => {
    const { adapter, ctx } = setup('nordlicht');
    const started = await adapter.payments.initiate(ctx, request());
    const input = { bankPaymentId: started.bankPaymentId, secrets: started.secrets };
    expect(await adapter.payments.cancel!(ctx, input)).toEqual({ status: 'CANCELLED', rawStatus: 'CANC', reasonCode: null });
    expect((await adapter.payments.status(ctx, input)).status).toBe('CANCELLED');
  });

  it('cancels an authorised future-dated payment before its execution date', async () => {
    const { adapter, ctx } = setup('nordlicht');
    const req = request({ requestedExecutionDate: '2026-12-15' });
    const started = await adapter.payments.initiate(ctx, req);
    const done = await adapter.payments.complete(ctx, {
      callbackUrl: await authoriseAtBank(run, started.authorizationUrl!, { username: 'alice', otp: '123456' }),
      bankPaymentId: started.bankPaymentId,
      secrets: started.secrets,
      idempotencyKey: req.idempotencyKey,
      request: req,
    });
    expect(done.outcome).toBe('AUTHORISED');
    if (done.outcome !== 'AUTHORISED') return;
    await run.control('POST', '/banks/nordlicht/clock/advance', { seconds: 61 });
    // Waits in ACTC until its date.
    expect((await adapter.payments.status(ctx, done)).status).toBe('ACCEPTED');
    expect((await adapter.payments.cancel!(ctx, done)).status).toBe('CANCELLED');
  });

  it('refuses to cancel a payment already executing with a typed error, and leaves it as it was', async () => {
    const { adapter, ctx } = setup('nordlicht');
    const req = request();
    const started = await adapter.payments.initiate(ctx, req);
    const done = await adapter.payments.complete(ctx, {
      callbackUrl: await authoriseAtBank(run, started.authorizationUrl!, { username: 'alice', otp: '123456' }),
      bankPaymentId: started.bankPaymentId,
      secrets: started.secrets,
      idempotencyKey: req.idempotencyKey,
      request: req,
    });
    if (done.outcome !== 'AUTHORISED') throw new Error(`not authorised: ${done.outcome}`);
    const err = await adapter.payments.cancel!(ctx, done).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BankInvalidRequest);
    expect(err).not.toBeInstanceOf(BankCancellationAuthorisationRequired);
    expect((err as BankInvalidRequest).bankCode).toBe('CANCELLATION_INVALID');
    expect((await adapter.payments.status(ctx, done)).status).toBe('ACCEPTED');
  });

  it('says so with a typed error when the bank wants the end user to authorise the cancellation (202 with startAuthorisation)', async () => {
    const { adapter, ctx } = setup('nordlicht');
    const started = await adapter.payments.initiate(ctx, request());
    intercept = (url, init) =>
      init?.method === 'DELETE' && url.pathname.endsWith(started.bankPaymentId)
        ? new Response(JSON.stringify({ transactionStatus: 'ACTC', _links: { startAuthorisation: { href: `${url.pathname}/cancellation-authorisations` } } }), {
            status: 202,
            headers: { 'content-type': 'application/json' },
          })
        : undefined;
    try {
      const err = await adapter.payments.cancel!(ctx, { bankPaymentId: started.bankPaymentId, secrets: started.secrets }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(BankCancellationAuthorisationRequired);
      expect((err as Error).message).toMatch(/not cancelled/);
    } finally {
      intercept = undefined;
    }
  });

  it('runs a cancellation authorisation at the sandbox: 202 with its start link, the redirect SCA, then APPROVED and CANCELLED', async () => {
    const { adapter, ctx } = setup('nordlicht');
    const future = new Date(Date.now() + 5 * 86_400_000).toISOString().slice(0, 10);
    const req = request({ creditor: { name: 'Atelier cancel-sca', iban: 'FR7630006000011234567890189', bic: null }, requestedExecutionDate: future });
    const started = await adapter.payments.initiate(ctx, req);
    const done = await adapter.payments.complete(ctx, {
      callbackUrl: await authoriseAtBank(run, started.authorizationUrl!, { username: 'alice', otp: '123456' }),
      bankPaymentId: started.bankPaymentId,
      secrets: started.secrets,
      idempotencyKey: req.idempotencyKey,
      request: req,
    });
    if (done.outcome !== 'AUTHORISED') throw new Error(`not authorised: ${done.outcome}`);
    const err = await adapter.payments.cancel!(ctx, done).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BankCancellationAuthorisationRequired);
    const startHref = (err as BankCancellationAuthorisationRequired).startHref;
    expect(startHref).toMatch(new RegExp(`/v1/payments/sepa-credit-transfers/${done.bankPaymentId}/cancellation-authorisations$`));

    const state = randomBytes(24).toString('base64url');
    sent.length = 0;
    const cancellation = await adapter.payments.startCancellationAuthorisation!(ctx, {
      bankPaymentId: done.bankPaymentId,
      secrets: done.secrets,
      startHref,
      redirectUri: run.callback,
      state,
    });
    expect(sent[0]).toMatchObject({ method: 'POST', url: startHref });
    expect(new URL(sent[0]!.headers.get('tpp-redirect-uri')!).searchParams.get('state')).toBe(state);
    expect((await adapter.payments.status(ctx, done)).status).toBe('ACCEPTED');

    const callbackUrl = await authoriseAtBank(run, cancellation.authorizationUrl, { username: 'alice', otp: '123456' });
    // A return carrying another state is refused before any bank call.
    sent.length = 0;
    const forged = new URL(callbackUrl);
    forged.searchParams.set('state', 'forged');
    expect(
      await adapter.payments.finishCancellationAuthorisation!(ctx, {
        bankPaymentId: done.bankPaymentId,
        secrets: done.secrets,
        cancellationSecrets: cancellation.secrets,
        callbackUrl: forged.href,
      }),
    ).toEqual({
      outcome: 'STATE_MISMATCH',
      status: null,
    });
    expect(sent).toHaveLength(0);

    const finished = await adapter.payments.finishCancellationAuthorisation!(ctx, {
      bankPaymentId: done.bankPaymentId,
      secrets: done.secrets,
      cancellationSecrets: cancellation.secrets,
      callbackUrl,
    });
    expect(finished).toMatchObject({ outcome: 'APPROVED', status: { status: 'CANCELLED', rawStatus: 'CANC' } });
  });

  it('refuses a cancellation authorisation answer without an scaRedirect link as an invalid bank response', async () => {
    const { adapter, ctx } = setup('nordlicht');
    const started = await adapter.payments.initiate(ctx, request());
    intercept = (url, init) =>
      init?.method === 'POST' && url.pathname.endsWith('/cancellation-authorisations')
        ? new Response(JSON.stringify({ scaStatus: 'received', authorisationId: 'a1', _links: {} }), {
            status: 201,
            headers: { 'content-type': 'application/json' },
          })
        : undefined;
    try {
      const err = await adapter.payments.startCancellationAuthorisation!(ctx, {
        bankPaymentId: started.bankPaymentId,
        secrets: started.secrets,
        startHref: null,
        redirectUri: run.callback,
        state: 's',
      }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(BankResponseInvalid);
    } finally {
      intercept = undefined;
    }
  });

  it('refuses a scheme the standard does not carry before calling the bank', async () => {
    const { adapter, ctx } = setup('nordlicht');
    sent.length = 0;
    await expect(adapter.payments.initiate(ctx, request({ scheme: 'FASTER_PAYMENTS', amount: { amount: '5.00', currency: 'GBP' } }))).rejects.toBeInstanceOf(
      BankInvalidRequest,
    );
    expect(sent).toHaveLength(0);
  });

  it('fails a callback whose state is not the payment’s, without trusting it', async () => {
    const { adapter, ctx } = setup('nordlicht');
    const req = request();
    const started = await adapter.payments.initiate(ctx, req);
    const done = await adapter.payments.complete(ctx, {
      callbackUrl: `${run.callback}?state=forged`,
      bankPaymentId: started.bankPaymentId,
      secrets: started.secrets,
      idempotencyKey: req.idempotencyKey,
      request: req,
    });
    expect(done).toEqual({ outcome: 'FAILED', reason: 'STATE_MISMATCH', status: null });
  });

  it('reports a creditor whose account turns out closed as ACCEPTED, then REJECTED with AC04 at settlement', async () => {
    const { adapter, ctx } = setup('nordlicht');
    const req = request({ creditor: { name: 'Please Reject Me', iban: 'FR7630006000011234567890189', bic: null } });
    const started = await adapter.payments.initiate(ctx, req);
    const done = await adapter.payments.complete(ctx, {
      callbackUrl: await authoriseAtBank(run, started.authorizationUrl!, { username: 'alice', otp: '123456' }),
      bankPaymentId: started.bankPaymentId,
      secrets: started.secrets,
      idempotencyKey: req.idempotencyKey,
      request: req,
    });
    expect(done).toMatchObject({ outcome: 'AUTHORISED', status: { status: 'ACCEPTED' } });
    if (done.outcome !== 'AUTHORISED') return;
    await run.control('POST', '/banks/nordlicht/clock/advance', { seconds: 61 });
    expect(await adapter.payments.status(ctx, done)).toEqual({ status: 'REJECTED', rawStatus: 'RJCT', reasonCode: 'AC04' });
  });
});
