import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TEST_USERS } from '../../../../sandbox';
import { startSandbox, type Running } from '../../../../sandbox/testing/harness';
import {
  BankAccessExceeded,
  BankErrorCode,
  BankConsentExpired,
  BankConsentInvalid,
  BankRateLimited,
  BankResponseInvalid,
  BankUnauthorized,
  BankUnavailable,
} from '../../errors';
import type { BankCallRecord } from '../../http';
import type { AccessScope, CanonicalTransaction, InstitutionDescriptor } from '../../model';
import { OAuthError, OAuthErrorCode } from '../../oauth';
import type { BankAdapter, BankCallContext, ConsentAccess } from '../../ports';
import { sandboxInstitutions } from '../../sandbox-institutions';
import { authoriseAtBank } from '../../../../test/contract/adapter-contract';
import { createStetAdapter } from './stet.adapter';

const silent = pino({ level: 'silent' });
const alice = TEST_USERS.find((u) => u.username === 'alice')!;
/** The gateway's own opaque state, shaped as the consents module makes it. */
const gatewayState = (): string => randomBytes(24).toString('base64url');

describe('STET adapter at Banque du Rivage: consent set-up, paging and the bank’s errors', () => {
  let run: Running;
  let institution: InstitutionDescriptor;
  let adapter: BankAdapter;
  const calls: BankCallRecord[] = [];
  const urls: string[] = [];
  /** Form bodies sent to the bank's authorisation server (PAR, token, revocation). */
  const forms: { url: string; form: URLSearchParams }[] = [];
  /** Rewrites bank answers whose URL matches, to play a bank that breaks its schema. */
  let rewrite: { match: RegExp; body?: (json: Record<string, unknown>) => unknown; text?: (body: string) => string } | undefined;
  const present: BankCallContext = {} as BankCallContext;
  const unattended: BankCallContext = {} as BankCallContext;

  const fetchSpy: typeof fetch = async (input, init) => {
    const url = String(input);
    urls.push(url);
    const type = new Headers(init?.headers).get('content-type') ?? '';
    if (init?.body instanceof URLSearchParams) forms.push({ url, form: new URLSearchParams(init.body) });
    else if (typeof init?.body === 'string' && type.startsWith('application/x-www-form-urlencoded')) forms.push({ url, form: new URLSearchParams(init.body) });
    const res = await fetch(input, init);
    if (!rewrite || !rewrite.match.test(new URL(url).pathname)) return res;
    const text = await res.text();
    const body = rewrite.text ? rewrite.text(text) : JSON.stringify(rewrite.body!(JSON.parse(text) as Record<string, unknown>));
    return new Response(body, { status: res.status, headers: res.headers });
  };

  /** Consents as alice and returns the access and the bank's consent id (from the control API). */
  const connect = async (
    scopes: AccessScope[] = ['ACCOUNTS', 'BALANCES', 'TRANSACTIONS'],
    redirectUri = run.callback,
  ): Promise<{ access: ConsentAccess; consentId: string }> => {
    const before = await run.control<{ consents: { id: string }[] }>('GET', '/banks/rivage/consents');
    const started = await adapter.consents.start(present, {
      scopes,
      validUntil: new Date(Date.now() + 30 * 86_400_000),
      frequencyPerDay: 4,
      redirectUri,
      state: gatewayState(),
    });
    const callbackUrl = await authoriseAtBank(run, started.authorizationUrl!, alice);
    const done = await adapter.consents.complete(present, { callbackUrl, bankConsentId: started.bankConsentId, secrets: started.secrets });
    if (done.outcome !== 'AUTHORISED') throw new Error(`consent not authorised: ${JSON.stringify(done)}`);
    const after = await run.control<{ consents: { id: string }[] }>('GET', '/banks/rivage/consents');
    const known = new Set(before.body.consents.map((c) => c.id));
    const created = after.body.consents.filter((c) => !known.has(c.id));
    expect(created).toHaveLength(1);
    return { access: { bankConsentId: done.bankConsentId, tokens: done.tokens }, consentId: created[0]!.id };
  };

  const collect = async (iterable: AsyncIterable<CanonicalTransaction[]>): Promise<{ pages: number; items: CanonicalTransaction[] }> => {
    let pages = 0;
    const items: CanonicalTransaction[] = [];
    for await (const page of iterable) {
      pages++;
      items.push(...page);
    }
    return { pages, items };
  };

  const failure = (promise: Promise<unknown>): Promise<unknown> =>
    promise.then(
      () => undefined,
      (e: unknown) => e,
    );

  beforeAll(async () => {
    run = await startSandbox();
    institution = sandboxInstitutions(run.sandbox.banks).find((i) => i.id === 'rivage')!;
    Object.assign(present, { institution, psuIpAddress: '203.0.113.7' });
    Object.assign(unattended, { institution });
    adapter = createStetAdapter({
      institution,
      credentials: run.sandbox.clients.rivage!,
      redirectUri: run.callback,
      logger: silent,
      onCall: (r) => calls.push(r),
      fetch: fetchSpy,
    });
  });
  afterEach(async () => {
    rewrite = undefined;
    calls.length = 0;
    urls.length = 0;
    forms.length = 0;
    await run.control('DELETE', '/banks/rivage/faults');
  });
  afterAll(async () => run?.close());

  it('asks for the aisp scope with PKCE S256 and the gateway’s state, and keeps the verifier out of the authorisation URL', async () => {
    const state = gatewayState();
    const started = await adapter.consents.start(present, {
      scopes: ['ACCOUNTS'],
      validUntil: new Date(Date.now() + 86_400_000),
      frequencyPerDay: 4,
      redirectUri: run.callback,
      state,
    });
    expect(started.approach).toBe('REDIRECT');
    expect(started.bankConsentId).toBeNull();
    // The sandbox advertises PAR: the parameters travel in the pushed request, not in the URL.
    const url = new URL(started.authorizationUrl!);
    const pushed = forms.find((f) => f.form.has('code_challenge'));
    const params = pushed?.form ?? url.searchParams;
    expect(params.get('scope')).toBe('aisp');
    expect(params.get('code_challenge_method')).toBe('S256');
    // The consents module finds the attempt by its own state when the bank sends the user back.
    expect(params.get('state')).toBe(state);
    expect(started.secrets.codeVerifier).toBeTruthy();
    expect(params.get('code_challenge')).not.toBe(started.secrets.codeVerifier);
    expect(started.authorizationUrl).not.toContain(started.secrets.codeVerifier);
  });

  it('reports its exchanges with the bank’s authorisation server for the audit journal, with no code or token in them', async () => {
    calls.length = 0;
    await connect();
    const oauth = calls.filter((c) => c.operation.startsWith('oauth.'));
    expect(oauth.map((c) => `${c.operation} ${c.method} ${c.status}`)).toEqual(expect.arrayContaining(['oauth.authorization_code POST 200']));
    for (const c of oauth) expect(c.path).not.toMatch(/code=|token=/);
  });

  it('tells the bank with PUT /consents which accounts it may read, so balances outside the scopes are refused', async () => {
    const { access } = await connect(['ACCOUNTS', 'TRANSACTIONS']);
    expect(calls.some((c) => c.operation === 'consent.put' && c.method === 'PUT' && c.status === 201)).toBe(true);
    const [account] = await adapter.accounts.listAccounts(present, access);
    const refused = await failure(adapter.accounts.getBalances(present, access, account!.bankAccountId));
    expect(refused).toBeInstanceOf(BankConsentInvalid);
    const { items } = await collect(
      adapter.accounts.listTransactions(present, access, account!.bankAccountId, { dateFrom: '2026-11-01', dateTo: null, status: 'BOTH' }),
    );
    expect(items.length).toBeGreaterThan(0);
  });

  it('completes a consent whose redirect URI is another one than the adapter’s default, with its own query', async () => {
    const { access } = await connect(['ACCOUNTS'], `${run.callback}?tenant=t-42`);
    const exchange = forms.find((f) => f.form.get('grant_type') === 'authorization_code');
    expect(exchange?.form.get('redirect_uri')).toBe(`${run.callback}?tenant=t-42`);
    expect((await adapter.accounts.listAccounts(present, access)).length).toBeGreaterThan(0);
  });

  it('follows the account’s links and the bank’s next links, sends dateTo as the exclusive day after, and filters by status', async () => {
    const { access } = await connect();
    const [account] = await adapter.accounts.listAccounts(present, access);
    urls.length = 0;
    const { pages, items } = await collect(
      adapter.accounts.listTransactions(present, access, account!.bankAccountId, { dateFrom: '2026-01-01', dateTo: '2026-10-31', status: 'BOOKED' }),
    );
    expect(pages).toBeGreaterThan(1);
    const first = new URL(urls[0]!);
    expect(first.searchParams.get('dateFrom')).toBe('2026-01-01');
    expect(first.searchParams.get('dateTo')).toBe('2026-11-01');
    // Later pages are the bank's own next links, taken as given.
    expect(urls.slice(1).every((u) => new URL(u).searchParams.has('page'))).toBe(true);
    expect(items.every((t) => t.status === 'BOOKED')).toBe(true);
    for (const t of items) {
      const day = t.bookingDate ?? t.valueDate!;
      expect(day >= '2026-01-01' && day <= '2026-10-31', day).toBe(true);
    }
    expect(items.some((t) => t.amount.amount.startsWith('-'))).toBe(true);
    expect(items.some((t) => !t.amount.amount.startsWith('-'))).toBe(true);
  });

  it('yields an entry the bank repeats at the top of the next page only once', async () => {
    const { access } = await connect();
    const [account] = await adapter.accounts.listAccounts(present, access);
    const window = { dateFrom: '2026-01-01', dateTo: null, status: 'BOTH' as const };
    const clean = await collect(adapter.accounts.listTransactions(present, access, account!.bankAccountId, window));
    await run.control('POST', '/banks/rivage/faults', { kind: 'duplicates', route: '/transactions' });
    const repeated = await collect(adapter.accounts.listTransactions(present, access, account!.bankAccountId, window));
    expect(repeated.pages).toBe(clean.pages);
    expect(repeated.items.map((t) => t.bankTransactionId)).toEqual(clean.items.map((t) => t.bankTransactionId));
  });

  it('maps transactions without bank ids, leaving their identity to the gateway', async () => {
    const { access } = await connect();
    const [account] = await adapter.accounts.listAccounts(present, access);
    await run.control('POST', '/banks/rivage/faults', { kind: 'missing-ids', route: '/transactions' });
    const { items } = await collect(
      adapter.accounts.listTransactions(present, access, account!.bankAccountId, { dateFrom: '2026-11-01', dateTo: null, status: 'BOTH' }),
    );
    expect(items.length).toBeGreaterThan(0);
    expect(items.every((t) => t.bankTransactionId === null && /^-?\d+\.\d{2}$/.test(t.amount.amount))).toBe(true);
  });

  it('turns an expired consent into BankConsentExpired and reports it EXPIRED', async () => {
    const { access, consentId } = await connect();
    await run.control('POST', `/banks/rivage/consents/${consentId}/expire`);
    const err = await failure(adapter.accounts.listAccounts(present, access));
    expect(err).toBeInstanceOf(BankConsentExpired);
    expect((err as BankConsentExpired).bankCode).toBe('CONSENT_EXPIRED');
    expect((err as BankConsentExpired).institutionId).toBe('rivage');
    expect(await adapter.consents.status(present, access)).toBe('EXPIRED');
  });

  it('turns a consent the PSU revoked at the bank into BankConsentInvalid and reports it REVOKED', async () => {
    const { access, consentId } = await connect();
    expect(await adapter.consents.status(present, access)).toBe('VALID');
    await run.control('POST', `/banks/rivage/consents/${consentId}/revoke`);
    expect(await failure(adapter.accounts.listAccounts(present, access))).toBeInstanceOf(BankConsentInvalid);
    expect(await adapter.consents.status(present, access)).toBe('REVOKED');
  });

  it('turns a used-up daily budget into BankAccessExceeded with the reset time, while user-present reads still work', async () => {
    const { access, consentId } = await connect();
    await run.control('PUT', `/banks/rivage/consents/${consentId}/usage`, { used: 4 });
    const err = await failure(adapter.accounts.listAccounts(unattended, access));
    expect(err).toBeInstanceOf(BankAccessExceeded);
    expect((err as BankAccessExceeded).retryAfterMs).toBeGreaterThan(0);
    expect(calls.filter((c) => c.operation === 'accounts.list' && c.status === 429)).toHaveLength(1);
    expect((await adapter.accounts.listAccounts(present, access)).length).toBeGreaterThan(0);
  });

  it('retries a GET after one 503 and ends with BankUnavailable when the bank stays down', async () => {
    const { access } = await connect();
    const [account] = await adapter.accounts.listAccounts(present, access);
    calls.length = 0;
    await run.control('POST', '/banks/rivage/faults', { kind: 'status', status: 503, route: '/balances', times: 1 });
    expect((await adapter.accounts.getBalances(present, access, account!.bankAccountId)).length).toBeGreaterThan(0);
    expect(calls.map((c) => c.outcome)).toEqual(['retry', 'success']);
    await run.control('POST', '/banks/rivage/faults', { kind: 'status', status: 500, route: '/balances' });
    const err = await failure(adapter.accounts.getBalances(present, access, account!.bankAccountId));
    expect(err).toBeInstanceOf(BankUnavailable);
    expect((err as BankUnavailable).httpStatus).toBe(500);
  });

  it('gives up at once on a 429 whose Retry-After is too long to wait, carrying it as retryAfterMs', async () => {
    const { access } = await connect();
    await run.control('POST', '/banks/rivage/faults', { kind: 'rate-limit', retryAfterSeconds: 120, route: '/accounts' });
    calls.length = 0;
    const err = await failure(adapter.accounts.listAccounts(present, access));
    expect(err).toBeInstanceOf(BankRateLimited);
    expect((err as BankRateLimited).retryAfterMs).toBe(120_000);
    expect(calls).toHaveLength(1);
  });

  it('turns a truncated JSON answer into BankResponseInvalid naming the institution and the operation', async () => {
    const { access } = await connect();
    // The sandbox's malformed-json fault only truncates res.json() answers, and the STET bank sends
    // HAL with res.send(): the truncation is played here at the edge instead.
    rewrite = { match: /\/accounts$/, text: (body) => body.slice(0, Math.floor(body.length / 2)) };
    const err = await failure(adapter.accounts.listAccounts(present, access));
    expect(err).toBeInstanceOf(BankResponseInvalid);
    expect((err as BankResponseInvalid).institutionId).toBe('rivage');
    expect((err as BankResponseInvalid).operation).toBe('accounts.list');
    expect((err as BankResponseInvalid).message).toContain('not JSON');
  });

  it('turns an answer whose every transaction has a signed amount and no creditDebitIndicator into BankResponseInvalid with the paths at fault', async () => {
    const { access } = await connect();
    const [account] = await adapter.accounts.listAccounts(present, access);
    rewrite = {
      match: /\/transactions/,
      body: (json) => ({
        ...json,
        transactions: (json.transactions as Record<string, unknown>[]).map(({ creditDebitIndicator: _dropped, ...broken }) => ({
          ...broken,
          transactionAmount: { currency: 'EUR', amount: '-12.30' },
        })),
      }),
    };
    const err = await failure(
      collect(adapter.accounts.listTransactions(present, access, account!.bankAccountId, { dateFrom: '2026-11-01', dateTo: null, status: 'BOTH' })),
    );
    expect(err).toBeInstanceOf(BankResponseInvalid);
    const paths = (err as BankResponseInvalid).issues.map((i) => i.path);
    expect(paths).toContain('transactions.0.creditDebitIndicator');
    expect(paths).toContain('transactions.0.transactionAmount.amount');
    expect(JSON.stringify((err as BankResponseInvalid).toJSON())).not.toContain(access.tokens!.accessToken);
  });

  it('skips the one malformed transaction and balance of otherwise good answers, logs and reports them, and keeps the rest', async () => {
    const reports: { operation: string; kind: string; count: number }[] = [];
    const skipping = createStetAdapter({
      institution,
      credentials: run.sandbox.clients.rivage!,
      redirectUri: run.callback,
      logger: silent,
      fetch: fetchSpy,
      onSkippedEntries: (r) => reports.push(r),
    });
    const { access } = await connect();
    const [account] = await skipping.accounts.listAccounts(present, access);
    const window = { dateFrom: '2026-11-01', dateTo: null, status: 'BOTH' } as const;
    const clean = await collect(skipping.accounts.listTransactions(present, access, account!.bankAccountId, window));
    rewrite = {
      match: /\/(transactions|balances)/,
      body: (json) => {
        const key = 'transactions' in json ? 'transactions' : 'balances';
        const [first, ...rest] = json[key] as Record<string, unknown>[];
        return { ...json, [key]: [{ ...first, [key === 'transactions' ? 'transactionAmount' : 'balanceAmount']: { currency: 'EUR', amount: 7 } }, ...rest] };
      },
    };
    const kept = await collect(skipping.accounts.listTransactions(present, access, account!.bankAccountId, window));
    expect(kept.items.length).toBe(clean.items.length - 1);
    expect((await skipping.accounts.getBalances(present, access, account!.bankAccountId)).length).toBeGreaterThan(0);
    expect(reports).toEqual([
      { institutionId: 'rivage', operation: 'transactions.list', kind: 'transaction', count: 1 },
      { institutionId: 'rivage', operation: 'balances.get', kind: 'balance', count: 1 },
    ]);
  });

  it('refuses a callback whose state is not the one it started with, instead of reporting an outcome', async () => {
    const started = await adapter.consents.start(present, {
      scopes: ['ACCOUNTS'],
      validUntil: new Date(Date.now() + 86_400_000),
      frequencyPerDay: 4,
      redirectUri: run.callback,
      state: gatewayState(),
    });
    const callbackUrl = await authoriseAtBank(run, started.authorizationUrl!, alice);
    const forged = new URL(callbackUrl);
    forged.searchParams.set('state', 'forged');
    const err = await failure(adapter.consents.complete(present, { callbackUrl: forged.href, bankConsentId: null, secrets: started.secrets }));
    expect(err).toBeInstanceOf(OAuthError);
    expect((err as OAuthError).code).toBe(OAuthErrorCode.STATE_MISMATCH);
  });

  it('reports FAILED and revokes the fresh tokens when the bank refuses PUT /consents after the code exchange', async () => {
    await run.control('POST', '/banks/rivage/faults', { kind: 'status', status: 500, route: '/consents', method: 'PUT' });
    const started = await adapter.consents.start(present, {
      scopes: ['ACCOUNTS', 'BALANCES', 'TRANSACTIONS'],
      validUntil: new Date(Date.now() + 86_400_000),
      frequencyPerDay: 4,
      redirectUri: run.callback,
      state: gatewayState(),
    });
    const callbackUrl = await authoriseAtBank(run, started.authorizationUrl!, alice);
    forms.length = 0;
    const done = await adapter.consents.complete(present, { callbackUrl, bankConsentId: null, secrets: started.secrets });
    expect(done).toEqual({ outcome: 'FAILED', reason: expect.stringContaining(BankErrorCode.UNAVAILABLE) });
    // The idempotent PUT was retried before giving up.
    expect(calls.filter((c) => c.operation === 'consent.put').length).toBeGreaterThan(1);
    expect(forms.map((f) => f.form.get('grant_type') ?? f.form.get('token_type_hint'))).toEqual(['authorization_code', 'refresh_token', 'access_token']);
  });

  it('refuses a next link that loops back or leaves the bank’s origin', async () => {
    const { access } = await connect();
    const [account] = await adapter.accounts.listAccounts(present, access);
    const window = { dateFrom: '2026-11-01', dateTo: null, status: 'BOTH' as const };
    rewrite = {
      match: /\/transactions$/,
      body: (json) => ({ ...json, _links: { ...(json._links as object), next: (json._links as { self: unknown }).self } }),
    };
    const loop = await failure(collect(adapter.accounts.listTransactions(present, access, account!.bankAccountId, window)));
    expect(loop).toBeInstanceOf(BankResponseInvalid);
    expect((loop as BankResponseInvalid).message).toContain('loops');
    rewrite = { match: /\/transactions$/, body: (json) => ({ ...json, _links: { next: { href: 'https://evil.example/steal' } } }) };
    const foreign = await failure(collect(adapter.accounts.listTransactions(present, access, account!.bankAccountId, window)));
    expect(foreign).toBeInstanceOf(BankResponseInvalid);
    expect(urls.some((u) => u.includes('evil.example'))).toBe(false);
  });

  it('revokes both tokens at the bank’s revocation endpoint: data calls then get BankUnauthorized and refresh is refused', async () => {
    const { access } = await connect();
    forms.length = 0;
    await adapter.consents.revoke(present, access);
    expect(forms.map((f) => f.form.get('token_type_hint'))).toEqual(['refresh_token', 'access_token']);
    const err = await failure(adapter.accounts.listAccounts(present, access));
    expect(err).toBeInstanceOf(BankUnauthorized);
    expect((err as BankUnauthorized).code).toBe(BankErrorCode.UNAUTHORIZED);
    const refused = await failure(adapter.consents.refresh(present, access.tokens!));
    expect(refused).toBeInstanceOf(OAuthError);
    expect((refused as OAuthError).code).toBe(OAuthErrorCode.REFRESH_TOKEN_INVALID);
  });

  it('turns an access token expired on the bank clock into BankUnauthorized, and refresh() gives a working one', async () => {
    const { access } = await connect();
    await run.control('POST', '/banks/rivage/clock/advance', { hours: 2 });
    const err = await failure(adapter.accounts.listAccounts(present, access));
    expect(err).toBeInstanceOf(BankUnauthorized);
    expect((err as BankUnauthorized).bankCode).toBe('EXPIRED_TOKEN');
    const tokens = await adapter.consents.refresh(present, access.tokens!);
    expect(tokens.accessToken).not.toBe(access.tokens!.accessToken);
    expect(tokens.refreshToken).toBeTruthy();
    expect((await adapter.accounts.listAccounts(present, { bankConsentId: null, tokens })).length).toBeGreaterThan(0);
  });
});
