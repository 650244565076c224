/**
 * The contract every bank adapter passes, whatever its standard: one suite, run by each adapter's
 * test file against its sandbox bank over real HTTP. An adapter that needs a different test is a
 * sign the ports leak a standard.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_USERS } from '../../../sandbox';
import { MiniBrowser, startSandbox, type Running } from '../../../sandbox/testing/harness';
import { BankError, BankErrorCode } from '../errors';
import type { InstitutionDescriptor } from '../model';
import type { BankAdapter, BankCallContext, ConsentAccess, ConsentCompleted } from '../ports';
import { sandboxInstitutions } from '../sandbox-institutions';

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
