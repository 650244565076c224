import { randomBytes, randomUUID } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Running } from '../../../../sandbox/testing/harness';
import { BankInvalidRequest, BankResponseInvalid } from '../../errors';
import type { InstitutionDescriptor } from '../../model';
import type { BankCallContext, PaymentRequest } from '../../ports';
import type { InstitutionQuirks } from '../../quirks';
import { sandboxInstitutions } from '../../sandbox-institutions';
import { Metrics } from '../../../platform/metrics';
import { authoriseAtBank } from '../../../../test/contract/adapter-contract';
import type { SkippedEntriesReport } from '../index';
import { createBerlinGroupAdapter, type BerlinGroupConsentRequest } from './berlin-group.adapter';

const logger = pino({ level: 'silent' });

/**
 * The gateway's Berlin Group requests against strict sandbox banks (every request held to the
 * 1.3.12 file), and the registry quirks that let a real bank's documented leniency through.
 */
describe('Berlin Group requests that pass a strict bank', () => {
  let strict: Running;
  // Reproduces banks that document "the PSU chooses the debtor account at the bank" and take no PSU address.
  let lenient: Running;
  const sent: { url: string; method: string; headers: Headers; body: string | undefined }[] = [];
  /** Rewrites the bank's JSON answers (a bank behaviour the sandbox lacks: malformed entries). */
  let mutate: ((url: URL, body: Record<string, unknown>) => Record<string, unknown> | undefined) | undefined;
  const recordingFetch: typeof fetch = async (input, init) => {
    sent.push({
      url: String(input),
      method: init?.method ?? 'GET',
      headers: new Headers(init?.headers),
      body: typeof init?.body === 'string' ? init.body : undefined,
    });
    const res = await fetch(input, init);
    if (!mutate || !res.headers.get('content-type')?.includes('json')) return res;
    const changed = mutate(new URL(String(input)), (await res.clone().json()) as Record<string, unknown>);
    return changed ? new Response(JSON.stringify(changed), { status: res.status, headers: res.headers }) : res;
  };

  beforeAll(async () => {
    strict = await startSandbox();
    lenient = await startSandbox({
      lenient: { nordlicht: { accept: ['debtorAccount', 'PSU-IP-Address'], why: 'test: banks documenting account choice at SCA' } },
    });
  });
  afterAll(async () => {
    await strict?.close();
    await lenient?.close();
  });

  const skippedReports: SkippedEntriesReport[] = [];
  const metrics = new Metrics({ defaultMetrics: false });
  const setup = (run: Running, quirks: InstitutionQuirks = {}, tppIpAddress: string | null = '192.0.2.200') => {
    const base = sandboxInstitutions(run.sandbox.banks).find((i) => i.id === 'nordlicht')!;
    const institution: InstitutionDescriptor = { ...base, quirks: { ...base.quirks, ...quirks } };
    const onSkippedEntries = (r: SkippedEntriesReport) => {
      skippedReports.push(r);
      metrics.bankEntriesSkipped(r);
    };
    const adapter = createBerlinGroupAdapter({
      institution,
      credentials: run.sandbox.clients.nordlicht!,
      redirectUri: run.callback,
      logger,
      fetch: recordingFetch,
      onSkippedEntries,
      ...(tppIpAddress ? { tppIpAddress } : {}),
    });
    return { adapter, institution };
  };
  const consent = (run: Running): BerlinGroupConsentRequest => ({
    scopes: ['ACCOUNTS', 'BALANCES', 'TRANSACTIONS'],
    validUntil: new Date(Date.now() + 30 * 86_400_000),
    frequencyPerDay: 4,
    redirectUri: run.callback,
    state: randomBytes(24).toString('base64url'),
  });
  const payment = (run: Running, over: Partial<PaymentRequest> = {}): PaymentRequest => ({
    scheme: 'SEPA_CREDIT_TRANSFER',
    debtorAccount: { iban: 'DE89370400440532013000' },
    creditor: { name: 'Boulangerie Martin', iban: 'FR7630006000011234567890189', bic: null },
    amount: { amount: '19.99', currency: 'EUR' },
    remittanceInformation: null,
    endToEndId: null,
    requestedExecutionDate: null,
    redirectUri: run.callback,
    state: randomBytes(24).toString('base64url'),
    idempotencyKey: randomUUID(),
    ...over,
  });
  const lastPost = () => [...sent].reverse().find((s) => s.method === 'POST')!;

  it("sends the end user's IPv4 address as PSU-IP-Address, else the gateway's own (IPv6 users included), and the strict bank accepts both", async () => {
    const { adapter, institution } = setup(strict);
    const withUser: BankCallContext = { institution, psuIpAddress: '::ffff:203.0.113.7' };
    await adapter.consents.start(withUser, consent(strict));
    expect(lastPost().headers.get('psu-ip-address')).toBe('203.0.113.7');
    for (const ctx of [{ institution }, { institution, psuIpAddress: '2001:db8::7' }] satisfies BankCallContext[]) {
      const started = await adapter.consents.start(ctx, consent(strict));
      expect(started.bankConsentId).toBeTruthy();
      expect(lastPost().headers.get('psu-ip-address')).toBe('192.0.2.200');
    }
  });

  it('fails before the call, naming PSU-IP-Address, when the file requires it and no address is known', async () => {
    const { adapter, institution } = setup(strict, {}, null);
    const before = sent.length;
    const err = await adapter.consents.start({ institution }, consent(strict)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BankInvalidRequest);
    expect((err as BankInvalidRequest).message).toContain('PSU-IP-Address');
    expect((err as BankInvalidRequest).bankCode).toBe('PSU-IP-Address');
    expect(sent.length).toBe(before);
  });

  it('sends no address of its own to a bank whose registry entry sets psuIpAddressOptional', async () => {
    const { adapter, institution } = setup(lenient, { psuIpAddressOptional: true });
    await adapter.consents.start({ institution }, consent(lenient));
    expect(lastPost().headers.get('psu-ip-address')).toBeNull();
  });

  it('sends debtorAccount; without one it fails before the call naming the field, unless the registry sets debtorAccountOptional', async () => {
    const { adapter, institution } = setup(strict);
    const ctx: BankCallContext = { institution };
    await adapter.payments.initiate(ctx, payment(strict));
    expect(JSON.parse(lastPost().body!).debtorAccount).toEqual({ iban: 'DE89370400440532013000' });

    const before = sent.length;
    const err = await adapter.payments.initiate(ctx, payment(strict, { debtorAccount: null })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BankInvalidRequest);
    expect((err as BankInvalidRequest).message).toContain('debtorAccount');
    expect(sent.length).toBe(before);

    const chooser = setup(lenient, { debtorAccountOptional: true });
    const started = await chooser.adapter.payments.initiate({ institution: chooser.institution }, payment(lenient, { debtorAccount: null }));
    expect(started.bankPaymentId).toBeTruthy();
    expect(JSON.parse(lastPost().body!).debtorAccount).toBeUndefined();
  });

  describe('quirks as registry data', () => {
    const authorised = async (quirks: InstitutionQuirks) => {
      const { adapter, institution } = setup(strict, quirks);
      const ctx: BankCallContext = { institution, psuIpAddress: '203.0.113.7' };
      const started = await adapter.consents.start(ctx, consent(strict));
      const callbackUrl = await authoriseAtBank(strict, started.authorizationUrl!, { username: 'alice', otp: '123456' });
      const done = await adapter.consents.complete(ctx, { callbackUrl, bankConsentId: started.bankConsentId, secrets: started.secrets });
      if (done.outcome !== 'AUTHORISED') throw new Error(`consent not authorised: ${JSON.stringify(done)}`);
      const access = { bankConsentId: done.bankConsentId, tokens: done.tokens };
      const [account] = await adapter.accounts.listAccounts(ctx, access);
      return { adapter, ctx, access, accountId: account!.bankAccountId };
    };
    const window = { dateFrom: '2025-06-01', dateTo: '2026-11-20', status: 'BOTH' as const };

    it('consentPerAccount: asks for a bank-offered consent (the end user picks the account), never allPsd2', async () => {
      const { adapter, institution } = setup(strict, { consentPerAccount: true });
      await adapter.consents.start({ institution }, consent(strict));
      const access = JSON.parse(lastPost().body!).access as Record<string, unknown>;
      expect(access.allPsd2).toBeUndefined();
      expect(access.accounts).toEqual([]);
    });

    it('bookingStatusBothUnsupported: reads booked and pending with two listings and never sends bookingStatus=both', async () => {
      const { adapter, ctx, access, accountId } = await authorised({ bookingStatusBothUnsupported: true });
      sent.length = 0;
      let count = 0;
      for await (const page of adapter.accounts.listTransactions(ctx, access, accountId, window)) count += page.length;
      const statuses = sent
        .filter((s) => s.url.includes('/transactions'))
        .map((s) => new URL(s.url).searchParams.get('bookingStatus'))
        .filter(Boolean);
      expect(statuses).toContain('booked');
      expect(statuses).toContain('pending');
      expect(statuses).not.toContain('both');
      expect(count).toBeGreaterThan(0);
    });

    it('maxPageSize: refuses a page with more entries than the bank documents, naming the cap', async () => {
      const { adapter, ctx, access, accountId } = await authorised({ maxPageSize: 5 });
      const err = await (async () => {
        for await (const _ of adapter.accounts.listTransactions(ctx, access, accountId, window)) void _;
      })().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BankResponseInvalid);
      expect((err as Error).message).toContain('cap of 5');
    });
  });

  describe('bank answers that break the file', () => {
    afterAll(() => {
      mutate = undefined;
    });

    it('skips one malformed balance in an otherwise good answer, counts it in the metrics and keeps the rest', async () => {
      const { adapter, institution } = setup(strict);
      const ctx: BankCallContext = { institution, psuIpAddress: '203.0.113.7' };
      const started = await adapter.consents.start(ctx, consent(strict));
      const callbackUrl = await authoriseAtBank(strict, started.authorizationUrl!, { username: 'alice', otp: '123456' });
      const done = await adapter.consents.complete(ctx, { callbackUrl, bankConsentId: started.bankConsentId, secrets: started.secrets });
      if (done.outcome !== 'AUTHORISED') throw new Error('consent not authorised');
      const access = { bankConsentId: done.bankConsentId, tokens: done.tokens };
      const [account] = await adapter.accounts.listAccounts(ctx, access);
      const good = await adapter.accounts.getBalances(ctx, access, account!.bankAccountId);
      expect(good.length).toBeGreaterThan(1);

      skippedReports.length = 0;
      mutate = (url, body) => {
        if (!url.pathname.endsWith('/balances')) return undefined;
        const balances = body.balances as Record<string, unknown>[];
        return { ...body, balances: [{ ...balances[0], balanceAmount: { currency: 'EUR', amount: 12.5 } }, ...balances.slice(1)] };
      };
      const kept = await adapter.accounts.getBalances(ctx, access, account!.bankAccountId);
      expect(kept).toHaveLength(good.length - 1);
      expect(skippedReports).toEqual([{ institutionId: 'nordlicht', operation: 'accounts.balances', kind: 'balance', count: 1 }]);
      expect((await metrics.exposition()).body).toMatch(
        /passerelle_bank_entries_skipped_total\{institution="nordlicht",operation="accounts.balances",kind="balance"\} 1/,
      );

      // Every entry malformed is not an otherwise good answer: refused as a protocol breach.
      mutate = (url, body) =>
        url.pathname.endsWith('/balances')
          ? { ...body, balances: (body.balances as Record<string, unknown>[]).map((b) => ({ ...b, balanceType: 7 })) }
          : undefined;
      const err = await adapter.accounts.getBalances(ctx, access, account!.bankAccountId).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BankResponseInvalid);
      expect((err as BankResponseInvalid).code).toBe('BANK_RESPONSE_INVALID');

      // One malformed booked transaction: skipped, the page's others kept.
      skippedReports.length = 0;
      mutate = (url, body) => {
        if (!url.pathname.endsWith('/transactions')) return undefined;
        const report = body.transactions as { booked: Record<string, unknown>[] };
        return { ...body, transactions: { ...report, booked: [{ ...report.booked[0], transactionAmount: null }, ...report.booked.slice(1)] } };
      };
      let count = 0;
      for await (const page of adapter.accounts.listTransactions(ctx, access, account!.bankAccountId, {
        dateFrom: '2026-10-01',
        dateTo: '2026-11-20',
        status: 'BOOKED',
      }))
        count += page.length;
      expect(count).toBeGreaterThan(0);
      expect(skippedReports[0]).toMatchObject({ operation: 'accounts.transactions', kind: 'transaction', count: 1 });
      mutate = undefined;
    });
  });
});
