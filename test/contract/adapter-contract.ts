/**
 * The contract every bank adapter passes, whatever its standard: one suite, run by each adapter's
 * test file against its sandbox bank over real HTTP. An adapter that needs a different test is a
 * sign the ports leak a standard.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_USERS } from '../../sandbox';
import { MiniBrowser, startSandbox, type Running } from '../../sandbox/testing/harness';
import { BankError, BankErrorCode } from '../../src/banking/errors';
import type { InstitutionDescriptor, PaymentScheme } from '../../src/banking/model';
import type { BankAdapter, BankCallContext, ConsentAccess, ConsentCompleted, PaymentCompleted, PaymentRequest, PaymentStarted } from '../../src/banking/ports';
import { sandboxInstitutions } from '../../src/banking/sandbox-institutions';

/** What an adapter's test file provides to the contract. */
export interface AdapterContractSubject {
  /** Sandbox bank id the adapter is exercised against. */
  bankId: string;
  /** Builds the adapter for one institution of the running sandbox. */
  createAdapter(run: Running, institution: InstitutionDescriptor): BankAdapter | Promise<BankAdapter>;
}

const DECIMAL = /^-?\d+(\.\d{1,5})?$/;
const alice = TEST_USERS.find((u) => u.username === 'alice')!;
const rejecter = TEST_USERS.find((u) => u.behaviour === 'rejects')!;
const timeoutUser = TEST_USERS.find((u) => u.behaviour === 'sca-timeout')!;

/** Walks the bank's login and code pages as the end user; returns the URL the bank sent them back to. */
export async function authoriseAtBank(run: Running, authorizationUrl: string, user: { username: string; otp: string }): Promise<string> {
  const browser = new MiniBrowser();
  const early = await browser.go(authorizationUrl, {}, run.callback);
  if (early) return early;
  const back = await browser.authenticate(user.username, user.otp, run.callback);
  if (!back) throw new Error(`the bank did not redirect back; its page says: ${browser.html.slice(0, 300)}`);
  return back;
}

export function runAdapterContract(name: string, subject: AdapterContractSubject): void {
  describe(`${name} adapter contract`, () => {
    let run: Running;
    let adapter: BankAdapter;
    let ctx: BankCallContext;
    let access: ConsentAccess;

    const consent = async (user: { username: string; otp: string }): Promise<ConsentCompleted> => {
      const started = await adapter.consents.start(ctx, {
        scopes: ['ACCOUNTS', 'BALANCES', 'TRANSACTIONS'],
        validUntil: new Date(Date.now() + 30 * 86_400_000),
        frequencyPerDay: 4,
        redirectUri: run.callback,
        state: randomBytes(16).toString('base64url'),
      });
      expect(started.authorizationUrl).toMatch(/^http/);
      const callbackUrl = await authoriseAtBank(run, started.authorizationUrl!, user);
      return adapter.consents.complete(ctx, { callbackUrl, bankConsentId: started.bankConsentId, secrets: started.secrets });
    };

    beforeAll(async () => {
      run = await startSandbox();
      const institution = sandboxInstitutions(run.sandbox.banks).find((i) => i.id === subject.bankId)!;
      ctx = { institution, psuIpAddress: '203.0.113.7' };
      adapter = await subject.createAdapter(run, institution);
    });
    afterAll(async () => run?.close());

    it('creates a consent, sends the end user to the bank, and completes it with usable access', async () => {
      const done = await consent(alice);
      expect(done.outcome).toBe('AUTHORISED');
      if (done.outcome !== 'AUTHORISED') return;
      access = { bankConsentId: done.bankConsentId, tokens: done.tokens };
      expect(access.bankConsentId ?? access.tokens).toBeTruthy();
      expect(await adapter.consents.status(ctx, access)).toBe('VALID');
    });

    it('lists accounts in canonical form', async () => {
      const accounts = await adapter.accounts.listAccounts(ctx, access);
      expect(accounts.length).toBeGreaterThan(0);
      for (const a of accounts) {
        expect(a.bankAccountId).toBeTruthy();
        expect(a.currency).toMatch(/^[A-Z]{3}$/);
        expect(['CHECKING', 'SAVINGS', 'CARD', 'LOAN', 'OTHER']).toContain(a.kind);
        expect(a.iban ?? a.maskedPan).toBeTruthy();
      }
    });

    it('reads balances as decimal strings with the bank’s own type kept', async () => {
      const [account] = await adapter.accounts.listAccounts(ctx, access);
      const balances = await adapter.accounts.getBalances(ctx, access, account!.bankAccountId);
      expect(balances.length).toBeGreaterThan(0);
      for (const b of balances) {
        expect(b.amount.amount).toMatch(DECIMAL);
        expect(b.amount.currency).toMatch(/^[A-Z]{3}$/);
        expect(b.bankType).toBeTruthy();
      }
    });

    it('pages through transactions: signed decimal amounts, every page followed, no entry twice', async () => {
      const [account] = await adapter.accounts.listAccounts(ctx, access);
      const dateFrom = new Date(Date.now() - 365 * 86_400_000).toISOString().slice(0, 10);
      let count = 0;
      let pages = 0;
      const ids = new Set<string>();
      let debits = 0;
      for await (const page of adapter.accounts.listTransactions(ctx, access, account!.bankAccountId, { dateFrom, dateTo: null, status: 'BOTH' })) {
        pages++;
        for (const t of page) {
          count++;
          expect(t.amount.amount).toMatch(DECIMAL);
          if (t.amount.amount.startsWith('-')) debits++;
          expect(['BOOKED', 'PENDING']).toContain(t.status);
          if (t.bankTransactionId) {
            expect(ids.has(t.bankTransactionId), t.bankTransactionId).toBe(false);
            ids.add(t.bankTransactionId);
          }
        }
      }
      expect(count).toBeGreaterThan(50);
      expect(pages).toBeGreaterThan(1);
      expect(debits).toBeGreaterThan(0);
    });

    it('reports an end user who refuses at the bank as REJECTED, not as an error', async () => {
      const done = await consent(rejecter);
      expect(done.outcome).toBe('REJECTED');
    });

    it('revokes the consent, after which the bank refuses it with a typed consent error', async () => {
      await adapter.consents.revoke(ctx, access);
      const after = await adapter.accounts.listAccounts(ctx, access).then(
        () => null,
        (e: unknown) => e,
      );
      expect(after).toBeInstanceOf(BankError);
      expect([BankErrorCode.CONSENT_INVALID, BankErrorCode.CONSENT_EXPIRED, BankErrorCode.UNAUTHORIZED]).toContain((after as BankError).code);
    });
  });
}

/** What an adapter's test file provides to the payment contract. */
export interface PaymentContractSubject extends AdapterContractSubject {
  scheme: PaymentScheme;
  currency: string;
  /** A creditor account the bank accepts for the scheme (a GB IBAN for Faster Payments). */
  creditorIban: string;
  /**
   * Whether the bank's reason for an SCA that ended badly reaches the TPP: the end user declining
   * (`DS02`) and SCA timing out (`AB05`). False where the standard has no field for it (UK 3.1
   * rejects the consent without a reason): the reason is then null.
   */
  scaReasonsReported: boolean;
  /** The debtor account to send, where the standard's file requires one (Berlin Group 1.3.12). */
  debtorIban?: string;
}

/** A payment the bank has, as its control API lists it. */
interface BankPayment {
  id: string;
  status: string;
  reasonCode?: string;
  amount: { amount: string; currency: string };
  creditor: { name: string };
}

/** Walks the bank's login page and presses Cancel; returns where the bank sent the end user. */
export async function cancelAtBank(run: Running, authorizationUrl: string): Promise<string> {
  const browser = new MiniBrowser();
  const early = await browser.go(authorizationUrl, {}, run.callback);
  if (early) return early;
  const back = await browser.submit({ action: 'cancel' }, run.callback);
  if (!back) throw new Error(`the bank did not redirect back after Cancel; its page says: ${browser.html.slice(0, 300)}`);
  return back;
}

/**
 * The payment half of the contract: every adapter initiates, sends the end user to SCA, completes,
 * and reports the bank's status through the same normalised words, with the magic values of the
 * sandbox (README "Magic payment values") and the idempotency the gateway relies on.
 */
export function runPaymentContract(name: string, subject: PaymentContractSubject): void {
  describe(`${name} payment contract`, () => {
    let run: Running;
    let adapter: BankAdapter;
    let ctx: BankCallContext;

    const paymentRequest = (over: { amount?: string; creditorName?: string; idempotencyKey?: string } = {}): PaymentRequest => ({
      scheme: subject.scheme,
      debtorAccount: subject.debtorIban ? { iban: subject.debtorIban } : null,
      creditor: { name: over.creditorName ?? 'Ada Lovelace', iban: subject.creditorIban, bic: null },
      amount: { amount: over.amount ?? '42.50', currency: subject.currency },
      remittanceInformation: 'Invoice 2026-7',
      endToEndId: null,
      requestedExecutionDate: null,
      redirectUri: run.callback,
      state: randomBytes(24).toString('base64url'),
      idempotencyKey: over.idempotencyKey ?? randomUUID(),
      createdAt: new Date('2026-11-20T09:30:00Z'),
    });
    const bankPayments = async (): Promise<BankPayment[]> =>
      (await run.control<{ payments: BankPayment[] }>('GET', `/banks/${subject.bankId}/payments`)).body.payments;
    const completeAfter = (request: PaymentRequest, started: PaymentStarted, callbackUrl: string): Promise<PaymentCompleted> =>
      adapter.payments.complete(ctx, {
        callbackUrl,
        bankPaymentId: started.bankPaymentId,
        secrets: started.secrets,
        idempotencyKey: request.idempotencyKey,
        request,
      });
    const pay = async (user: { username: string; otp: string }, over: Parameters<typeof paymentRequest>[0] = {}) => {
      const request = paymentRequest(over);
      const started = await adapter.payments.initiate(ctx, request);
      const callbackUrl = await authoriseAtBank(run, started.authorizationUrl!, user);
      return { request, started, callbackUrl, done: await completeAfter(request, started, callbackUrl) };
    };

    beforeAll(async () => {
      run = await startSandbox();
      const institution = sandboxInstitutions(run.sandbox.banks).find((i) => i.id === subject.bankId)!;
      ctx = { institution, psuIpAddress: '203.0.113.7' };
      adapter = await subject.createAdapter(run, institution);
    });
    afterAll(async () => run?.close());

    it('initiates, sends the end user to SCA, completes as ACCEPTED and reads EXECUTED once the bank settles', async () => {
      const request = paymentRequest();
      const started = await adapter.payments.initiate(ctx, request);
      expect(started.authorizationUrl).toMatch(/^http/);
      expect(started.bankPaymentId).toBeTruthy();
      expect(started.status.status).toBe('AUTHORIZATION_REQUIRED');
      expect(await adapter.payments.status(ctx, { bankPaymentId: started.bankPaymentId, secrets: started.secrets })).toMatchObject({
        status: 'AUTHORIZATION_REQUIRED',
      });
      const done = await completeAfter(request, started, await authoriseAtBank(run, started.authorizationUrl!, alice));
      expect(done.outcome).toBe('AUTHORISED');
      if (done.outcome !== 'AUTHORISED') return;
      expect(done.status).toMatchObject({ status: 'ACCEPTED', reasonCode: null });
      const input = { bankPaymentId: done.bankPaymentId, secrets: done.secrets };
      expect((await adapter.payments.status(ctx, input)).status).toBe('ACCEPTED');
      await run.control('POST', `/banks/${subject.bankId}/clock/advance`, { seconds: 61 });
      const settled = await adapter.payments.status(ctx, input);
      expect(settled.status).toBe('EXECUTED');
      expect(settled.rawStatus).toBeTruthy();
      const atBank = (await bankPayments()).filter((p) => p.creditor.name === 'Ada Lovelace' && p.status === 'ACSC');
      expect(atBank.length).toBeGreaterThan(0);
      expect(atBank.at(-1)!.amount).toEqual({ amount: '42.50', currency: subject.currency });
    });

    it('reports the end user pressing Cancel at the bank as REJECTED, not as an error', async () => {
      const request = paymentRequest();
      const started = await adapter.payments.initiate(ctx, request);
      const done = await completeAfter(request, started, await cancelAtBank(run, started.authorizationUrl!));
      expect(done.outcome).toBe('REJECTED');
      expect(done.outcome === 'REJECTED' && done.status?.status).toBe('REJECTED');
    });

    it('reports an end user who declines after SCA as REJECTED with the bank’s reason', async () => {
      const { done, started } = await pay(rejecter);
      expect(done.outcome).toBe('REJECTED');
      if (done.outcome !== 'REJECTED') return;
      expect(done.status).toMatchObject({ status: 'REJECTED', reasonCode: subject.scaReasonsReported ? 'DS02' : null });
      expect(await adapter.payments.status(ctx, { bankPaymentId: started.bankPaymentId, secrets: started.secrets })).toMatchObject({ status: 'REJECTED' });
    });

    it('reports SCA that times out at the bank as REJECTED (AB05), not as an error', async () => {
      const { done } = await pay(timeoutUser);
      expect(done.outcome).toBe('REJECTED');
      expect(done.outcome === 'REJECTED' && done.status).toMatchObject({ status: 'REJECTED', reasonCode: subject.scaReasonsReported ? 'AB05' : null });
    });

    it('reports the magic amount 666.00 as REJECTED with AM04 (insufficient funds)', async () => {
      const { done } = await pay(alice, { amount: '666.00' });
      expect(done.outcome).toBe('REJECTED');
      expect(done.outcome === 'REJECTED' && done.status).toMatchObject({ status: 'REJECTED', reasonCode: 'AM04' });
    });

    it('creates one payment at the bank when initiate is called twice with the same idempotency key and body', async () => {
      const before = (await bankPayments()).length;
      const request = paymentRequest({ creditorName: 'Twice Sent' });
      const first = await adapter.payments.initiate(ctx, request);
      const second = await adapter.payments.initiate(ctx, { ...request });
      expect(second.bankPaymentId).toBe(first.bankPaymentId);
      const after = await bankPayments();
      expect(after.length).toBe(before + 1);
      // The second answer is as usable as the first: the end user can authorise through it.
      const done = await completeAfter(request, second, await authoriseAtBank(run, second.authorizationUrl!, alice));
      expect(done.outcome).toBe('AUTHORISED');
    });

    it('answers the same payment when complete is called again with what the first complete returned', async () => {
      const { request, done, callbackUrl } = await pay(alice, { creditorName: 'Completed Twice' });
      expect(done.outcome).toBe('AUTHORISED');
      if (done.outcome !== 'AUTHORISED') return;
      const again = await adapter.payments.complete(ctx, {
        callbackUrl,
        bankPaymentId: done.bankPaymentId,
        secrets: done.secrets,
        idempotencyKey: request.idempotencyKey,
        request,
      });
      expect(again.outcome).toBe('AUTHORISED');
      expect(again.outcome === 'AUTHORISED' && again.bankPaymentId).toBe(done.bankPaymentId);
      expect((await bankPayments()).filter((p) => p.creditor.name === 'Completed Twice')).toHaveLength(1);
    });
  });
}
