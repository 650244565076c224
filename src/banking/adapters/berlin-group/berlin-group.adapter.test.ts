import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_USERS } from '../../../../sandbox';
import { MiniBrowser, startSandbox, type Running } from '../../../../sandbox/testing/harness';
import { BankAccessExceeded, BankConsentExpired, BankConsentInvalid, BankError, BankInvalidRequest, BankResponseInvalid, BankUnavailable } from '../../errors';
import type { BankCallRecord } from '../../http';
import type { CanonicalTransaction, InstitutionDescriptor } from '../../model';
import type { BankAdapter, BankCallContext, ConsentAccess } from '../../ports';
import { sandboxInstitutions } from '../../sandbox-institutions';
import { authoriseAtBank, runAdapterContract } from '../../../../test/contract/adapter-contract';
import { createBerlinGroupAdapter, resolveBankLink, type BerlinGroupConsentRequest } from './berlin-group.adapter';

const logger = pino({ level: 'silent' });
const otpOf = (username: string) => TEST_USERS.find((u) => u.username === username)!.otp;

runAdapterContract('Berlin Group, redirect approach (Nordlicht)', {
  bankId: 'nordlicht',
  createAdapter: (run, institution) =>
    createBerlinGroupAdapter({ institution, credentials: run.sandbox.clients.nordlicht, redirectUri: run.callback, logger, tppIpAddress: '192.0.2.200' }),
});

runAdapterContract('Berlin Group, OAuth SCA approach (Nordlicht)', {
  bankId: 'nordlicht',
  createAdapter: (run, institution) =>
    createBerlinGroupAdapter({
      institution: { ...institution, scaApproaches: ['OAUTH', 'REDIRECT'] },
      credentials: run.sandbox.clients.nordlicht,
      redirectUri: run.callback,
      logger,
      tppIpAddress: '192.0.2.200',
    }),
});

describe('Berlin Group adapter against the sandbox banks', () => {
  let run: Running;
  let institutions: InstitutionDescriptor[];
  const calls: BankCallRecord[] = [];
  const seen: { url: string; headers: Headers }[] = [];
  /** Replaces the body of matching answers (a bank that breaks its schema). */
  let rewrite: { match: RegExp; body: unknown; status?: number } | undefined;
  /** Answers matching requests itself, without asking the sandbox (a bank feature the sandbox lacks). */
  let intercept: ((url: URL, init: RequestInit | undefined) => Response | undefined | Promise<Response | undefined>) | undefined;

  const recordingFetch: typeof fetch = async (input, init) => {
    const url = String(input);
    seen.push({ url, headers: new Headers(init?.headers) });
    const own = await intercept?.(new URL(url), init);
    if (own) return own;
    const res = await fetch(input, init);
    if (rewrite && rewrite.match.test(new URL(url).pathname + new URL(url).search)) {
      await res.arrayBuffer();
      return new Response(JSON.stringify(rewrite.body), { status: rewrite.status ?? 200, headers: { 'content-type': 'application/json' } });
    }
    return res;
  };

  const adapterFor = (bankId: string, overrides: Partial<InstitutionDescriptor> = {}): { adapter: BankAdapter; ctx: BankCallContext } => {
    const institution = { ...institutions.find((i) => i.id === bankId)!, ...overrides };
    return {
      adapter: createBerlinGroupAdapter({
        institution,
        credentials: run.sandbox.clients[bankId],
        redirectUri: run.callback,
        logger,
        onCall: (r) => calls.push(r),
        fetch: recordingFetch,
        tppIpAddress: '192.0.2.200',
      }),
      ctx: { institution, psuIpAddress: '203.0.113.7' },
    };
  };

  const request = (extra: Partial<BerlinGroupConsentRequest> = {}): BerlinGroupConsentRequest => ({
    scopes: ['ACCOUNTS', 'BALANCES', 'TRANSACTIONS'],
    validUntil: new Date(Date.now() + 30 * 86_400_000),
    frequencyPerDay: 4,
    redirectUri: run.callback,
    state: randomBytes(24).toString('base64url'),
    ...extra,
  });

  /** A consent the end user approved through the redirect approach. */
  const authorisedConsent = async (bankId = 'nordlicht'): Promise<{ adapter: BankAdapter; ctx: BankCallContext; access: ConsentAccess }> => {
    const { adapter, ctx } = adapterFor(bankId);
    const started = await adapter.consents.start(ctx, request());
    const callbackUrl = await authoriseAtBank(run, started.authorizationUrl!, { username: 'alice', otp: otpOf('alice') });
    const done = await adapter.consents.complete(ctx, { callbackUrl, bankConsentId: started.bankConsentId, secrets: started.secrets });
    if (done.outcome !== 'AUTHORISED') throw new Error(`consent not authorised: ${JSON.stringify(done)}`);
    return { adapter, ctx, access: { bankConsentId: done.bankConsentId, tokens: done.tokens } };
  };

  /** A consent the end user approved through the OAuth SCA approach (scaOAuth link, code + PKCE). */
  const oauthConsent = async () => {
    const { adapter, ctx } = adapterFor('nordlicht', { scaApproaches: ['OAUTH', 'REDIRECT'] });
    const req = request();
    const started = await adapter.consents.start(ctx, req);
    expect(started.approach).toBe('OAUTH');
    const callbackUrl = await authoriseAtBank(run, started.authorizationUrl!, { username: 'alice', otp: otpOf('alice') });
    // The gateway finds its attempt by the state it gave: the bank's redirect carries it back.
    expect(new URL(callbackUrl).searchParams.get('state')).toBe(req.state);
    expect(started.secrets.callbackState).toBe(req.state);
    const done = await adapter.consents.complete(ctx, { callbackUrl, bankConsentId: started.bankConsentId, secrets: started.secrets });
    if (done.outcome !== 'AUTHORISED') throw new Error(`consent not authorised: ${JSON.stringify(done)}`);
    return { adapter, ctx, started, callbackUrl, access: { bankConsentId: done.bankConsentId, tokens: done.tokens } };
  };

  const drain = async (pages: AsyncIterable<CanonicalTransaction[]>): Promise<CanonicalTransaction[][]> => {
    const out: CanonicalTransaction[][] = [];
    for await (const page of pages) out.push(page);
    return out;
  };

  const failure = (p: Promise<unknown>): Promise<unknown> =>
    p.then(
      () => undefined,
      (e: unknown) => e,
    );

  beforeAll(async () => {
    run = await startSandbox();
    institutions = sandboxInstitutions(run.sandbox.banks);
  });
  afterAll(async () => run?.close());

  it('sends the Berlin Group headers: X-Request-ID, TPP-Redirect-URI carrying the state, PSU-IP-Address, Consent-ID on data calls', async () => {
    seen.length = 0;
    const { adapter, ctx } = adapterFor('nordlicht');
    const req = request();
    const started = await adapter.consents.start(ctx, req);
    expect(started.approach).toBe('REDIRECT');
    expect(started.secrets.callbackState).toBe(req.state);
    const create = seen.find((s) => s.url.endsWith('/v1/consents'))!;
    expect(create.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(new URL(create.headers.get('tpp-redirect-uri')!).searchParams.get('state')).toBe(req.state);
    expect(create.headers.get('tpp-redirect-preferred')).toBe('true');
    expect(create.headers.get('psu-ip-address')).toBe('203.0.113.7');

    const callbackUrl = await authoriseAtBank(run, started.authorizationUrl!, { username: 'alice', otp: otpOf('alice') });
    const done = await adapter.consents.complete(ctx, { callbackUrl, bankConsentId: started.bankConsentId, secrets: started.secrets });
    expect(done.outcome).toBe('AUTHORISED');
    if (done.outcome !== 'AUTHORISED') return;
    // The bank-adjusted validity, read back from the consent resource.
    expect(done.validUntil!.toISOString().slice(0, 10)).toBe(req.validUntil.toISOString().slice(0, 10));
    seen.length = 0;
    await adapter.accounts.listAccounts(ctx, { bankConsentId: done.bankConsentId, tokens: null });
    expect(seen[0].headers.get('consent-id')).toBe(done.bankConsentId);
  });

  it('refuses a redirect callback whose state is not the one the consent started with', async () => {
    const { adapter, ctx } = adapterFor('nordlicht');
    const started = await adapter.consents.start(ctx, request());
    const callbackUrl = await authoriseAtBank(run, started.authorizationUrl!, { username: 'alice', otp: otpOf('alice') });
    const forged = new URL(callbackUrl);
    forged.searchParams.set('state', 'forged');
    expect(await adapter.consents.complete(ctx, { callbackUrl: forged.href, bankConsentId: started.bankConsentId, secrets: started.secrets })).toEqual({
      outcome: 'FAILED',
      reason: 'STATE_MISMATCH',
    });
  });

  it('runs the decoupled approach at Banque Brabant: the PSU approves in the bank app while the adapter polls', async () => {
    const { adapter, ctx } = adapterFor('brabant');
    const started = await adapter.consents.start(ctx, request({ psuId: 'alice', preferredApproach: 'DECOUPLED' }));
    expect(started.approach).toBe('DECOUPLED');
    expect(started.authorizationUrl).toBeNull();
    expect(await adapter.consents.poll!(ctx, { bankConsentId: started.bankConsentId!, secrets: started.secrets })).toEqual({ outcome: 'PENDING' });

    const app = new MiniBrowser();
    await app.go(`${run.url}/sandbox/banks/brabant/sca/app?user=alice`);
    const link = /<a href="([^"]+)">/.exec(app.html)?.[1];
    expect(link).toBeDefined();
    await app.go(new URL(link!, run.url).toString());
    await app.authenticate('alice', otpOf('alice'), run.callback);
    expect(app.text('outcome')).toContain('approved');

    const done = await adapter.consents.poll!(ctx, { bankConsentId: started.bankConsentId!, secrets: started.secrets });
    expect(done.outcome).toBe('AUTHORISED');
    if (done.outcome !== 'AUTHORISED') return;
    expect(done.tokens).toBeNull();
    expect(done.validUntil).toBeInstanceOf(Date);
    const accounts = await adapter.accounts.listAccounts(ctx, { bankConsentId: done.bankConsentId, tokens: null });
    expect(accounts.some((a) => a.iban?.startsWith('BE'))).toBe(true);
  });

  it('reports a decoupled refusal in the bank app as REJECTED', async () => {
    const { adapter, ctx } = adapterFor('brabant');
    const started = await adapter.consents.start(ctx, request({ psuId: 'rejecter', preferredApproach: 'DECOUPLED' }));
    const app = new MiniBrowser();
    await app.go(`${run.url}/sandbox/banks/brabant/sca/app?user=rejecter`);
    const link = /<a href="([^"]+)">/.exec(app.html)?.[1];
    await app.go(new URL(link!, run.url).toString());
    await app.authenticate('rejecter', otpOf('rejecter'), run.callback);
    expect(app.text('outcome')).toContain('declined');
    const done = await adapter.consents.poll!(ctx, { bankConsentId: started.bankConsentId!, secrets: started.secrets });
    expect(done.outcome).toBe('REJECTED');
  });

  it('never picks the decoupled approach without a PSU-ID: Brabant falls back to redirect', async () => {
    const { adapter, ctx } = adapterFor('brabant');
    const started = await adapter.consents.start(ctx, request());
    expect(started.approach).toBe('REDIRECT');
    expect(started.authorizationUrl).toMatch(/^http/);
  });

  it('lists card accounts beside payment accounts and reads their balances and transactions', async () => {
    const { adapter, ctx, access } = await authorisedConsent();
    const accounts = await adapter.accounts.listAccounts(ctx, access);
    const card = accounts.find((a) => a.kind === 'CARD');
    expect(card, 'alice has a card account at Nordlicht').toBeDefined();
    expect(card!.maskedPan).toMatch(/\*/);
    expect(card!.iban).toBeNull();
    const balances = await adapter.accounts.getBalances(ctx, access, card!.bankAccountId);
    expect(balances.length).toBeGreaterThan(0);
    const dateFrom = new Date(Date.now() - 90 * 86_400_000).toISOString().slice(0, 10);
    let count = 0;
    for await (const page of adapter.accounts.listTransactions(ctx, access, card!.bankAccountId, { dateFrom, dateTo: null, status: 'BOTH' })) {
      for (const t of page) {
        count++;
        expect(t.amount.amount).toMatch(/^-?\d+(\.\d+)?$/);
        expect(t.transactionDate).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      }
    }
    expect(count).toBeGreaterThan(0);
  });

  it('lists only booked transactions when asked, within the window', async () => {
    const { adapter, ctx, access } = await authorisedConsent();
    const [account] = (await adapter.accounts.listAccounts(ctx, access)).filter((a) => a.kind !== 'CARD');
    const dateFrom = '2026-09-01';
    const dateTo = '2026-10-31';
    let count = 0;
    for await (const page of adapter.accounts.listTransactions(ctx, access, account.bankAccountId, { dateFrom, dateTo, status: 'BOOKED' })) {
      for (const t of page) {
        count++;
        expect(t.status).toBe('BOOKED');
        expect(t.bookingDate! >= dateFrom && t.bookingDate! <= dateTo, t.bookingDate!).toBe(true);
      }
    }
    expect(count).toBeGreaterThan(0);
  });

  it('maps an expired consent to BankConsentExpired and a consent the PSU revoked at the bank to BankConsentInvalid', async () => {
    const expired = await authorisedConsent();
    expect((await run.control('POST', `/banks/nordlicht/consents/${expired.access.bankConsentId}/expire`)).status).toBe(200);
    const e1 = await failure(expired.adapter.accounts.listAccounts(expired.ctx, expired.access));
    expect(e1).toBeInstanceOf(BankConsentExpired);
    expect((e1 as BankError).bankCode).toBe('CONSENT_EXPIRED');
    expect(await expired.adapter.consents.status(expired.ctx, expired.access)).toBe('EXPIRED');

    const revoked = await authorisedConsent();
    await run.control('POST', `/banks/nordlicht/consents/${revoked.access.bankConsentId}/revoke`);
    expect(await revoked.adapter.consents.status(revoked.ctx, revoked.access)).toBe('REVOKED');
    expect(await failure(revoked.adapter.accounts.listAccounts(revoked.ctx, revoked.access))).toBeInstanceOf(BankConsentInvalid);
    // Revoking what the bank already ended is not an error.
    await expect(revoked.adapter.consents.revoke(revoked.ctx, revoked.access)).resolves.toBeUndefined();
  });

  it('maps a consent the bank does not know to BankConsentInvalid', async () => {
    const { adapter, ctx } = adapterFor('nordlicht');
    const unknown = { bankConsentId: '00000000-0000-4000-8000-000000000000', tokens: null };
    expect(await failure(adapter.consents.status(ctx, unknown))).toBeInstanceOf(BankConsentInvalid);
    expect(await failure(adapter.accounts.listAccounts(ctx, unknown))).toBeInstanceOf(BankConsentInvalid);
  });

  it('maps a used-up daily budget to BankAccessExceeded for unattended reads, while user-present reads still work', async () => {
    const { adapter, ctx, access } = await authorisedConsent();
    await run.control('PUT', `/banks/nordlicht/consents/${access.bankConsentId}/usage`, { used: 1000 });
    const background = { institution: ctx.institution };
    const err = await failure(adapter.accounts.listAccounts(background, access));
    expect(err).toBeInstanceOf(BankAccessExceeded);
    expect((err as BankError).bankCode).toBe('ACCESS_EXCEEDED');
    expect((await adapter.accounts.listAccounts(ctx, access)).length).toBeGreaterThan(0);
  });

  it('retries a read after one 503 from the bank and returns its answer', async () => {
    const { adapter, ctx, access } = await authorisedConsent();
    await run.control('POST', '/banks/nordlicht/faults', { kind: 'status', status: 503, route: '/v1/accounts', method: 'GET', times: 1 });
    calls.length = 0;
    const accounts = await adapter.accounts.listAccounts(ctx, access);
    expect(accounts.length).toBeGreaterThan(0);
    const list = calls.filter((c) => c.operation === 'accounts.list');
    expect(list.map((c) => [c.status, c.outcome])).toEqual([
      [503, 'retry'],
      [200, 'success'],
    ]);
    expect(new Set(list.map((c) => c.requestId)).size).toBe(1);
  });

  it('turns malformed JSON from the bank into BankResponseInvalid', async () => {
    const { adapter, ctx, access } = await authorisedConsent();
    await run.control('POST', '/banks/nordlicht/faults', { kind: 'malformed-json', route: '/v1/accounts', method: 'GET', times: 1 });
    const err = await failure(adapter.accounts.listAccounts(ctx, access));
    expect(err).toBeInstanceOf(BankResponseInvalid);
    expect((err as BankResponseInvalid).institutionId).toBe('nordlicht');
    expect((err as BankResponseInvalid).operation).toBe('accounts.list');
  });

  it('turns an answer that breaks the Berlin Group schema into BankResponseInvalid naming the field, not its value', async () => {
    const { adapter, ctx, access } = await authorisedConsent();
    rewrite = {
      match: /\/v1\/accounts\/[^/]+\/balances$/,
      body: { balances: [{ balanceType: 'closingBooked', balanceAmount: { currency: 'EUR', amount: 12.5 } }] },
    };
    try {
      const [account] = await adapter.accounts.listAccounts(ctx, access);
      const err = await failure(adapter.accounts.getBalances(ctx, access, account.bankAccountId));
      expect(err).toBeInstanceOf(BankResponseInvalid);
      expect((err as BankResponseInvalid).issues.map((i) => i.path)).toContain('balances.0.balanceAmount.amount');
      expect((err as BankResponseInvalid).operation).toBe('accounts.balances');
    } finally {
      rewrite = undefined;
    }
  });

  it('refuses a next link that leaves the bank’s origin', async () => {
    const { adapter, ctx, access } = await authorisedConsent();
    const [account] = await adapter.accounts.listAccounts(ctx, access);
    rewrite = {
      match: /\/transactions(\?|$)/,
      body: {
        transactions: { booked: [], _links: { account: { href: '/v1/accounts/x' }, next: { href: 'https://evil.example/v1/accounts/x/transactions?page=2' } } },
      },
    };
    try {
      const pages = adapter.accounts.listTransactions(ctx, access, account.bankAccountId, { dateFrom: '2026-01-01', dateTo: null, status: 'BOTH' });
      const err = await failure(
        (async () => {
          for await (const _ of pages) void _;
        })(),
      );
      expect(err).toBeInstanceOf(BankResponseInvalid);
    } finally {
      rewrite = undefined;
    }
  });
  it('completes the OAuth SCA approach with a bearer token bound to the consent, refreshes it, and reports OAuth calls to onCall', async () => {
    calls.length = 0;
    const { adapter, ctx, access } = await oauthConsent();
    expect(access.tokens?.accessToken).toBeTruthy();
    expect(access.tokens?.refreshToken).toBeTruthy();
    expect(calls.some((c) => c.operation === 'oauth.authorization_code' && c.outcome === 'success')).toBe(true);
    // The consent id alone is not enough at this bank once OAuth was used.
    expect(await failure(adapter.accounts.listAccounts(ctx, { bankConsentId: access.bankConsentId, tokens: null }))).toBeInstanceOf(BankError);
    const refreshed = await adapter.consents.refresh(ctx, access.tokens!);
    expect(refreshed.accessToken).toBeTruthy();
    expect(refreshed.accessToken).not.toBe(access.tokens!.accessToken);
    expect((await adapter.accounts.listAccounts(ctx, { bankConsentId: access.bankConsentId, tokens: refreshed })).length).toBeGreaterThan(0);

    // Revocation ends the consent and the refresh token at the bank's authorisation server.
    await adapter.consents.revoke(ctx, { bankConsentId: access.bankConsentId, tokens: refreshed });
    expect(await adapter.consents.status(ctx, access)).toBe('TERMINATED');
    const refusal = await failure(adapter.consents.refresh(ctx, refreshed));
    expect((refusal as { code?: string }).code).toBe('REFRESH_TOKEN_INVALID');
  });

  it('reports a replayed OAuth callback (code already used) as FAILED, not as a new authorisation', async () => {
    const { adapter, ctx, started, callbackUrl } = await oauthConsent();
    const again = await adapter.consents.complete(ctx, { callbackUrl, bankConsentId: started.bankConsentId, secrets: started.secrets });
    expect(again).toEqual({ outcome: 'FAILED', reason: 'CODE_INVALID' });
  });

  it('yields an entry the bank repeats at the top of the next page only once', async () => {
    const { adapter, ctx, access } = await authorisedConsent();
    const [account] = (await adapter.accounts.listAccounts(ctx, access)).filter((a) => a.kind !== 'CARD');
    const window = { dateFrom: '2026-01-01', dateTo: null, status: 'BOOKED' as const };
    const clean = (await drain(adapter.accounts.listTransactions(ctx, access, account.bankAccountId, window))).flat();
    await run.control('POST', '/banks/nordlicht/faults', { kind: 'duplicates', route: '/transactions', times: 1 });
    const pages = await drain(adapter.accounts.listTransactions(ctx, access, account.bankAccountId, window));
    expect(pages.length).toBeGreaterThan(1);
    expect(pages.flat().map((t) => t.bankTransactionId)).toEqual(clean.map((t) => t.bankTransactionId));
  });

  it('keeps transactions the bank sends without ids, with a null bank id for modules to fingerprint', async () => {
    const { adapter, ctx, access } = await authorisedConsent();
    const [account] = (await adapter.accounts.listAccounts(ctx, access)).filter((a) => a.kind !== 'CARD');
    await run.control('POST', '/banks/nordlicht/faults', { kind: 'missing-ids', route: '/transactions', times: 1 });
    const pages = await drain(adapter.accounts.listTransactions(ctx, access, account.bankAccountId, { dateFrom: '2026-01-01', dateTo: null, status: 'BOTH' }));
    expect(pages[0].length).toBeGreaterThan(0);
    expect(pages[0].every((t) => t.bankTransactionId === null)).toBe(true);
    expect(pages[1].every((t) => t.bankTransactionId !== null)).toBe(true);
  });

  it('falls back to separate booked and pending listings when the bank does not support bookingStatus=both', async () => {
    const { adapter, ctx, access } = await authorisedConsent();
    const [account] = (await adapter.accounts.listAccounts(ctx, access)).filter((a) => a.kind !== 'CARD');
    rewrite = {
      match: /\/transactions\?(.*&)?bookingStatus=both/,
      status: 400,
      body: { tppMessages: [{ category: 'ERROR', code: 'PARAMETER_NOT_SUPPORTED', text: 'bookingStatus both', path: 'bookingStatus' }] },
    };
    try {
      const all = (
        await drain(adapter.accounts.listTransactions(ctx, access, account.bankAccountId, { dateFrom: '2026-01-01', dateTo: null, status: 'BOTH' }))
      ).flat();
      expect(all.some((t) => t.status === 'BOOKED')).toBe(true);
      expect(all.some((t) => t.status === 'PENDING')).toBe(true);
      const booked = all.findIndex((t) => t.status === 'BOOKED');
      expect(all.slice(booked).findIndex((t) => t.status === 'PENDING')).toBeGreaterThan(0);
    } finally {
      rewrite = undefined;
    }
  });

  it('stops with BankResponseInvalid when the next link points back to a page already read', async () => {
    const { adapter, ctx, access } = await authorisedConsent();
    const [account] = await adapter.accounts.listAccounts(ctx, access);
    rewrite = {
      match: /\/transactions/,
      body: {
        transactions: {
          booked: [],
          _links: { account: { href: '/v1/accounts/x' }, next: { href: `${ctx.institution.aisBaseUrl}/v1/accounts/x/transactions?page=1` } },
        },
      },
    };
    try {
      expect(
        await failure(drain(adapter.accounts.listTransactions(ctx, access, account.bankAccountId, { dateFrom: '2026-01-01', dateTo: null, status: 'BOTH' }))),
      ).toBeInstanceOf(BankResponseInvalid);
    } finally {
      rewrite = undefined;
    }
  });

  it('treats a 429 with ACCESS_EXCEEDED as the used-up daily budget (Berlin Group has no separate throttle code) and keeps Retry-After', async () => {
    const { adapter, ctx, access } = await authorisedConsent();
    await run.control('POST', '/banks/nordlicht/faults', { kind: 'rate-limit', route: '/v1/accounts', retryAfterSeconds: 120, times: 1 });
    const err = await failure(adapter.accounts.listAccounts(ctx, access));
    expect(err).toBeInstanceOf(BankAccessExceeded);
    expect((err as BankError).retryAfterMs).toBe(120_000);
  });

  it('maps a persistent outage on revocation to BankUnavailable without repeating the DELETE', async () => {
    const { adapter, ctx, access } = await authorisedConsent();
    await run.control('POST', '/banks/nordlicht/faults', { kind: 'status', status: 503, route: '/v1/consents', method: 'DELETE', times: 5 });
    calls.length = 0;
    const err = await failure(adapter.consents.revoke(ctx, access));
    expect(err).toBeInstanceOf(BankUnavailable);
    expect(calls.filter((c) => c.operation === 'consent.delete')).toHaveLength(1);
    await run.control('DELETE', '/banks/nordlicht/faults');
  });
  it('sends the confirmation code back when the bank asks for authorisation confirmation (confirmation link)', async () => {
    const { adapter, ctx } = adapterFor('nordlicht');
    const confirmations: unknown[] = [];
    intercept = async (url, init) => {
      if (url.pathname.endsWith('/v1/consents') && init?.method === 'POST') {
        const res = await fetch(url, init);
        const body = (await res.json()) as { consentId: string; _links: Record<string, { href: string }> };
        body._links.confirmation = { href: `${ctx.institution.aisBaseUrl}/v1/consents/${body.consentId}/authorisations/confirm-1` };
        return new Response(JSON.stringify(body), { status: res.status, headers: { 'content-type': 'application/json' } });
      }
      if (url.pathname.endsWith('/authorisations/confirm-1') && init?.method === 'PUT') {
        confirmations.push(JSON.parse(String(init.body)));
        return new Response(JSON.stringify({ scaStatus: 'finalised', _links: {} }), { status: 200, headers: { 'content-type': 'application/json' } });
      }
      return undefined;
    };
    try {
      const started = await adapter.consents.start(ctx, request());
      expect(started.secrets.confirmationHref).toMatch(/confirm-1$/);
      const callbackUrl = await authoriseAtBank(run, started.authorizationUrl!, { username: 'alice', otp: otpOf('alice') });
      const withCode = new URL(callbackUrl);
      withCode.searchParams.set('code', '2256ffgh');
      const done = await adapter.consents.complete(ctx, { callbackUrl: withCode.href, bankConsentId: started.bankConsentId, secrets: started.secrets });
      expect(done.outcome).toBe('AUTHORISED');
      expect(confirmations).toEqual([{ confirmationCode: '2256ffgh' }]);
    } finally {
      intercept = undefined;
    }
  });
  /** Rewrites the bank's answer to POST /v1/consents (a bank that asks for another start of SCA). */
  const reshapeConsentAnswer = (change: (body: { consentId: string; _links: Record<string, { href: string } | undefined> }) => void) => {
    intercept = async (url, init) => {
      if (!(url.pathname.endsWith('/v1/consents') && init?.method === 'POST')) return undefined;
      const res = await fetch(url, init);
      const body = (await res.json()) as { consentId: string; _links: Record<string, { href: string } | undefined> };
      change(body);
      return new Response(JSON.stringify(body), { status: res.status, headers: { 'content-type': 'application/json' } });
    };
  };

  it('follows a startAuthorisation link when the bank wants an explicit start, then sends the end user to the scaRedirect it returns', async () => {
    const { adapter, ctx } = adapterFor('nordlicht');
    reshapeConsentAnswer((body) => {
      body._links = { startAuthorisation: { href: `${ctx.institution.aisBaseUrl}/v1/consents/${body.consentId}/authorisations` }, status: body._links.status };
    });
    try {
      seen.length = 0;
      const started = await adapter.consents.start(ctx, request());
      expect(started.approach).toBe('REDIRECT');
      expect(seen.some((s) => s.url.endsWith(`/v1/consents/${started.bankConsentId}/authorisations`))).toBe(true);
      const callbackUrl = await authoriseAtBank(run, started.authorizationUrl!, { username: 'alice', otp: otpOf('alice') });
      const done = await adapter.consents.complete(ctx, { callbackUrl, bankConsentId: started.bankConsentId, secrets: started.secrets });
      expect(done.outcome).toBe('AUTHORISED');
    } finally {
      intercept = undefined;
    }
  });

  it('refuses the embedded approach with a BankInvalidRequest naming the links the bank offered', async () => {
    const { adapter, ctx } = adapterFor('nordlicht');
    reshapeConsentAnswer((body) => {
      body._links = { startAuthorisationWithPsuAuthentication: { href: `/v1/consents/${body.consentId}/authorisations` } };
    });
    try {
      const err = await failure(adapter.consents.start(ctx, request()));
      expect(err).toBeInstanceOf(BankInvalidRequest);
      expect((err as Error).message).toContain('startAuthorisationWithPsuAuthentication');
    } finally {
      intercept = undefined;
    }
  });

  it('turns a consent status the bank invented into BankResponseInvalid instead of guessing', async () => {
    const { adapter, ctx, access } = await authorisedConsent();
    rewrite = { match: /\/v1\/consents\/[^/]+\/status$/, body: { consentStatus: 'suspendedByBank' } };
    try {
      const err = await failure(adapter.consents.status(ctx, access));
      expect(err).toBeInstanceOf(BankResponseInvalid);
      expect((err as Error).message).toContain('suspendedByBank');
    } finally {
      rewrite = undefined;
    }
  });

  it('lists the payment accounts of a bank without card accounts (405), and skips the card call when the registry says so', async () => {
    const { adapter, ctx, access } = await authorisedConsent();
    rewrite = { match: /\/v1\/card-accounts$/, status: 405, body: { tppMessages: [{ category: 'ERROR', code: 'SERVICE_INVALID' }] } };
    try {
      const accounts = await adapter.accounts.listAccounts(ctx, access);
      expect(accounts.length).toBeGreaterThan(0);
      expect(accounts.every((a) => a.kind !== 'CARD')).toBe(true);
    } finally {
      rewrite = undefined;
    }
    const noCards = adapterFor('nordlicht', { quirks: { sandbox: true, cardAccounts: false } });
    seen.length = 0;
    await noCards.adapter.accounts.listAccounts(noCards.ctx, access);
    expect(seen.map((s) => new URL(s.url).pathname.replace(/^.*\/v1/, '/v1'))).toEqual(['/v1/accounts']);
  });
  it('takes the link of the approach it asked for when the bank offers both scaRedirect and scaOAuth', async () => {
    const { adapter, ctx } = adapterFor('nordlicht');
    reshapeConsentAnswer((body) => {
      body._links.scaOAuth = { href: `${ctx.institution.issuer}/.well-known/openid-configuration` };
    });
    try {
      expect((await adapter.consents.start(ctx, request())).approach).toBe('REDIRECT');
      const oauthFirst = await adapter.consents.start(ctx, request({ preferredApproach: 'OAUTH' }));
      expect(oauthFirst.approach).toBe('OAUTH');
      expect(oauthFirst.secrets.issuer).toBe(ctx.institution.issuer);
    } finally {
      intercept = undefined;
    }
  });
  it('follows next links given relative to the API root, as in the spec’s examples', async () => {
    const { adapter, ctx, access } = await authorisedConsent();
    const [account] = (await adapter.accounts.listAccounts(ctx, access)).filter((a) => a.kind !== 'CARD');
    const window = { dateFrom: '2026-01-01', dateTo: null, status: 'BOTH' as const };
    const absolute = (await drain(adapter.accounts.listTransactions(ctx, access, account.bankAccountId, window))).map((p) => p.length);
    const root = ctx.institution.aisBaseUrl.replace(/\/+$/, '');
    intercept = async (url, init) => {
      if (!url.pathname.endsWith('/transactions')) return undefined;
      const res = await fetch(url, init);
      const body = (await res.json()) as { transactions: { _links: Record<string, { href: string }> } };
      for (const link of Object.values(body.transactions._links)) link.href = link.href.replace(root, '');
      return new Response(JSON.stringify(body), { status: res.status, headers: { 'content-type': 'application/json' } });
    };
    try {
      const relative = (await drain(adapter.accounts.listTransactions(ctx, access, account.bankAccountId, window))).map((p) => p.length);
      expect(relative.length).toBeGreaterThan(1);
      expect(relative).toEqual(absolute);
    } finally {
      intercept = undefined;
    }
  });
});

describe('resolveBankLink', () => {
  it('resolves absolute, origin-relative and API-root-relative links against the bank’s API root', () => {
    const base = 'https://api.bank.example/psd2/';
    expect(resolveBankLink(base, 'https://other.example/sca?x=1')).toBe('https://other.example/sca?x=1');
    expect(resolveBankLink(base, '/psd2/v1/accounts/1/transactions?page=2')).toBe('https://api.bank.example/psd2/v1/accounts/1/transactions?page=2');
    expect(resolveBankLink(base, '/v1/accounts/1/transactions?page=2')).toBe('https://api.bank.example/psd2/v1/accounts/1/transactions?page=2');
    expect(resolveBankLink(base, 'v1/consents/c-1/status')).toBe('https://api.bank.example/psd2/v1/consents/c-1/status');
    expect(resolveBankLink('https://api.bank.example', '/v1/accounts')).toBe('https://api.bank.example/v1/accounts');
    expect(resolveBankLink(base, undefined)).toBeUndefined();
    expect(resolveBankLink(base, '  ')).toBeUndefined();
  });
});
