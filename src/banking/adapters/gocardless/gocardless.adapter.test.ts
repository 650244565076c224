/**
 * The GoCardless adapter against the sandbox upstream over real sockets: the upstream's known
 * behaviours (reissued ids, pending entries without ids, the daily-limit 429, lapsed and suspended
 * requisitions, an answer that breaks its OpenAPI file) and bad credentials.
 */
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_USERS } from '../../../../sandbox';
import { ADMIN_TOKEN, startSandbox, type Running } from '../../../../sandbox/testing/harness';
import { authoriseAtBank } from '../../../../test/contract/adapter-contract';
import { BankErrorCode, type BankError } from '../../errors';
import type { BankCallRecord } from '../../http';
import type { InstitutionDescriptor } from '../../model';
import type { BankAdapter, BankCallContext, ConsentAccess } from '../../ports';
import { sandboxInstitutions } from '../../sandbox-institutions';
import { createGoCardlessAdapter } from './gocardless.adapter';
import { loadGoCardlessInstitutions, UpstreamConfigError } from './gocardless.institutions';

let run: Running;
let institution: InstitutionDescriptor;
let ctx: BankCallContext;
let adapter: BankAdapter;
const calls: BankCallRecord[] = [];
const silent = pino({ level: 'silent' });

const upstream = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${run.url}/sandbox/upstreams/gocardless/control${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(res.status, await res.clone().text()).toBeLessThan(300);
  return res.json() as Promise<Record<string, unknown>>;
};

async function consent(username = 'alice'): Promise<ConsentAccess> {
  const started = await adapter.consents.start(ctx, {
    scopes: ['ACCOUNTS', 'BALANCES', 'TRANSACTIONS'],
    validUntil: new Date(Date.now() + 90 * 86_400_000),
    frequencyPerDay: 4,
    redirectUri: run.callback,
    state: randomBytes(16).toString('base64url'),
  });
  const callbackUrl = await authoriseAtBank(run, started.authorizationUrl!, { username, otp: TEST_USERS.find((u) => u.username === username)!.otp });
  const done = await adapter.consents.complete(ctx, { callbackUrl, bankConsentId: started.bankConsentId, secrets: started.secrets });
  if (done.outcome !== 'AUTHORISED') throw new Error(`consent ${done.outcome}`);
  return { bankConsentId: done.bankConsentId, tokens: done.tokens };
}

const failure = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e as BankError,
  );
const collect = async (it: AsyncIterable<{ bankTransactionId: string | null; status: string }[]>) => {
  const out: { bankTransactionId: string | null; status: string }[] = [];
  for await (const page of it) out.push(...page);
  return out;
};

beforeAll(async () => {
  run = await startSandbox();
  institution = sandboxInstitutions(run.sandbox.banks).find((i) => i.id === 'gc-brabant')!;
  ctx = { institution };
  adapter = createGoCardlessAdapter({ institution, credentials: run.sandbox.clients['gc-brabant']!, logger: silent, onCall: (r) => calls.push(r) });
});
afterAll(async () => run?.close());

describe('GoCardless adapter against the sandbox upstream', () => {
  it('gets different transactionId and internalTransactionId for the same entries on each fetch when the upstream reissues them, and pending entries without ids', async () => {
    const access = await consent();
    const [account] = await adapter.accounts.listAccounts(ctx, access);
    await upstream('POST', '/behaviour', { reissueIds: true });
    const window = { dateFrom: '2025-01-01', dateTo: null, status: 'BOTH' as const };
    const first = await collect(adapter.accounts.listTransactions(ctx, access, account!.bankAccountId, window));
    const second = await collect(adapter.accounts.listTransactions(ctx, access, account!.bankAccountId, window));
    await upstream('POST', '/behaviour', { reissueIds: false });
    expect(first.length).toBe(second.length);
    const booked = (xs: typeof first) => xs.filter((t) => t.status === 'BOOKED').map((t) => t.bankTransactionId);
    expect(booked(first).every((id) => id !== null)).toBe(true);
    expect(booked(first).filter((id) => booked(second).includes(id))).toEqual([]);
    const pending = first.filter((t) => t.status === 'PENDING');
    expect(pending.length).toBeGreaterThan(0);
    expect(pending.every((t) => t.bankTransactionId === null)).toBe(true);
    // The registry marks the upstream's ids as untrustworthy (identity is ours), and its reads as always counted.
    expect(institution.quirks).toMatchObject({ transactionIdsUnstable: true, userPresentReadsCounted: true });
  });

  it('refuses the daily-limit 429 as ACCESS_EXCEEDED until the reset, then never calls again for that scope that day', async () => {
    const access = await consent();
    const [account] = await adapter.accounts.listAccounts(ctx, access);
    await upstream('POST', `/accounts/${account!.bankAccountId}/exhaust`, { scope: 'balances' });
    const err = await failure(adapter.accounts.getBalances(ctx, access, account!.bankAccountId));
    expect(err?.code).toBe(BankErrorCode.ACCESS_EXCEEDED);
    expect(err?.httpStatus).toBe(429);
    expect(err?.bankCode).toBe('RateLimitError');
    expect(err?.retryAfterMs).toBeGreaterThan(0);
    const before = calls.length;
    const again = await failure(adapter.accounts.getBalances(ctx, access, account!.bankAccountId));
    expect(again?.code).toBe(BankErrorCode.ACCESS_EXCEEDED);
    expect(calls.length).toBe(before);
  });

  it('reads the rate-limit headers and makes no call it can foresee would meet a 429', async () => {
    await upstream('POST', '/behaviour', { dailyLimit: 1 });
    try {
      const access = await consent('sme');
      const [account] = await adapter.accounts.listAccounts(ctx, access);
      const balances = await adapter.accounts.getBalances(ctx, access, account!.bankAccountId);
      expect(balances.length).toBeGreaterThan(0);
      const before = calls.length;
      const err = await failure(adapter.accounts.getBalances(ctx, access, account!.bankAccountId));
      expect(err?.code).toBe(BankErrorCode.ACCESS_EXCEEDED);
      expect(err?.httpStatus).toBeUndefined(); // foreseen, not met
      expect(calls.length).toBe(before);
    } finally {
      await upstream('POST', '/behaviour', { dailyLimit: 4 });
    }
  });

  it('maps an expired requisition (EX) and the upstream’s 401 AccessExpiredError body to CONSENT_EXPIRED, and a suspended one (SU) to a consent error', async () => {
    // heavy's account: no other requisition of this file holds it.
    const access = await consent('heavy');
    const [account] = await adapter.accounts.listAccounts(ctx, access);
    await upstream('POST', `/requisitions/${access.bankConsentId}/status`, { status: 'EX' });
    expect(await adapter.consents.status(ctx, access)).toBe('EXPIRED');
    expect((await failure(adapter.accounts.listAccounts(ctx, access)))?.code).toBe(BankErrorCode.CONSENT_EXPIRED);
    const direct = await failure(adapter.accounts.getBalances(ctx, access, account!.bankAccountId));
    expect(direct).toMatchObject({ code: BankErrorCode.CONSENT_EXPIRED, httpStatus: 401, bankCode: 'AccessExpiredError' });

    const other = await consent();
    await upstream('POST', `/requisitions/${other.bankConsentId}/status`, { status: 'SU' });
    expect(await adapter.consents.status(ctx, other)).toBe('TERMINATED');
    expect((await failure(adapter.accounts.listAccounts(ctx, other)))?.code).toBe(BankErrorCode.CONSENT_INVALID);
  });

  it('refuses reads of an account whose requisition was deleted as a consent error, not a request to retry', async () => {
    const access = await consent('sme');
    const [account] = await adapter.accounts.listAccounts(ctx, access);
    await adapter.consents.revoke(ctx, access);
    // sme's other requisitions of this file (limit test) still hold her accounts: delete them too.
    const held = (await upstream('GET', '/requisitions')) as unknown as { requisitions: { id: string; accounts: string[] }[] };
    for (const r of held.requisitions.filter((x) => x.accounts.includes(account!.bankAccountId)))
      await adapter.consents.revoke(ctx, { bankConsentId: r.id, tokens: null });
    const err = await failure(
      collect(adapter.accounts.listTransactions(ctx, access, account!.bankAccountId, { dateFrom: '2026-01-01', dateTo: null, status: 'BOTH' })),
    );
    expect(err).toMatchObject({ code: BankErrorCode.CONSENT_INVALID, httpStatus: 404 });
  });

  it('refuses an upstream answer that breaks its OpenAPI file as BANK_RESPONSE_INVALID, with the request id in the call record', async () => {
    const access = await consent();
    const [account] = await adapter.accounts.listAccounts(ctx, access);
    await upstream('POST', '/behaviour', { breakNextResponse: true });
    const err = await failure(
      collect(adapter.accounts.listTransactions(ctx, access, account!.bankAccountId, { dateFrom: '2026-01-01', dateTo: null, status: 'BOTH' })),
    );
    expect(err?.code).toBe(BankErrorCode.RESPONSE_INVALID);
    expect(err?.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(calls.find((c) => c.requestId === err!.requestId)).toMatchObject({
      operation: 'accounts.transactions',
      outcome: 'failed',
      errorCode: BankErrorCode.RESPONSE_INVALID,
    });
  });

  it('answers an end user who comes back with a reference other than the attempt’s as FAILED, without asking the upstream', async () => {
    const state = randomBytes(16).toString('base64url');
    const started = await adapter.consents.start(ctx, {
      scopes: ['ACCOUNTS'],
      validUntil: new Date(Date.now() + 86_400_000),
      frequencyPerDay: 4,
      redirectUri: run.callback,
      state,
    });
    const before = calls.length;
    const forged = await adapter.consents.complete(ctx, {
      callbackUrl: `${run.callback}?state=${state}&ref=someone-else`,
      bankConsentId: started.bankConsentId,
      secrets: started.secrets,
    });
    expect(forged).toEqual({ outcome: 'FAILED', reason: 'REFERENCE_MISMATCH' });
    expect(calls.length).toBe(before);
  });

  it('stops with a message naming the settings, never the secret, when the upstream refuses the credentials or they were revoked', async () => {
    const good = run.sandbox.clients['gc-brabant']!;
    const settings = { baseUrl: institution.aisBaseUrl, secretId: good.clientId, countries: [] as string[] };
    const wrong = await loadGoCardlessInstitutions({ ...settings, secretKey: 'not-the-key-1234' }, { logger: silent, environment: 'sandbox' }).then(
      () => new Error('loaded'),
      (e: unknown) => e as Error,
    );
    expect(wrong).toBeInstanceOf(UpstreamConfigError);
    expect(wrong.message).toMatch(/GOCARDLESS_SECRET_ID \/ GOCARDLESS_SECRET_KEY/);
    expect(wrong.message).not.toContain('not-the-key-1234');
    expect(wrong.message).not.toContain(good.clientId);

    const loaded = await loadGoCardlessInstitutions(
      { ...settings, secretKey: good.clientSecret!, countries: ['DE'] },
      { logger: silent, environment: 'sandbox' },
    );
    expect(loaded.institutions.map((i) => [i.id, i.quirks.upstreamInstitutionId, i.paymentSchemes, i.maxHistoryDays, i.maxConsentDays])).toEqual([
      ['gc-nordlicht-nrdldeff', 'NORDLICHT_NRDLDEFF', [], 730, 180],
    ]);

    await upstream('POST', '/behaviour', { secretRevoked: true });
    try {
      const revoked = await loadGoCardlessInstitutions({ ...settings, secretKey: good.clientSecret! }, { logger: silent, environment: 'sandbox' }).then(
        () => new Error('loaded'),
        (e: unknown) => e as Error,
      );
      expect(revoked).toBeInstanceOf(UpstreamConfigError);
      expect(revoked.message).not.toContain(good.clientSecret!);
    } finally {
      await upstream('POST', '/behaviour', { secretRevoked: false });
    }
  });
});

describe('revoked operator credentials at run time', () => {
  it('make the upstream unavailable (naming the settings), never a consent problem', async () => {
    // A fresh adapter of another upstream account, so no token is cached for it.
    const other = { ...run.sandbox.clients['gc-thames']!, clientSecret: 'wrong-secret-key-0000' };
    const thames = sandboxInstitutions(run.sandbox.banks).find((i) => i.id === 'gc-thames')!;
    const refused = createGoCardlessAdapter({ institution: thames, credentials: other, logger: silent });
    const err = await failure(
      refused.accounts.getBalances({ institution: thames }, { bankConsentId: null, tokens: null }, '00000000-0000-4000-8000-000000000000'),
    );
    expect(err?.code).toBe(BankErrorCode.UNAVAILABLE);
    expect(err?.message).toContain('GOCARDLESS_SECRET_ID / GOCARDLESS_SECRET_KEY');
    expect(err?.message).not.toContain('wrong-secret-key-0000');
  });
});

describe('the sandbox upstream is strict', () => {
  it('refuses a request that breaks the OpenAPI file in the upstream’s own error shape', async () => {
    const base = `${run.url}/sandbox/upstreams/gocardless/api/v2`;
    const token = await fetch(`${base}/token/new/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ secret_id: 'only-the-id' }),
    });
    expect(token.status).toBe(400);
    expect(await token.json()).toMatchObject({ status_code: 400, summary: 'Invalid request', detail: expect.stringContaining('secret_key') });
    const good = run.sandbox.clients['gc-brabant']!;
    const pair = (await (
      await fetch(`${base}/token/new/`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ secret_id: good.clientId, secret_key: good.clientSecret }),
      })
    ).json()) as { access: string };
    const badDate = await fetch(`${base}/accounts/00000000-0000-4000-8000-000000000000/transactions/?date_from=2026-13-45`, {
      headers: { authorization: `Bearer ${pair.access}` },
    });
    expect(badDate.status).toBe(400);
    expect(await badDate.json()).toMatchObject({ status_code: 400, detail: expect.stringContaining('date_from') });
    const noToken = await fetch(`${base}/institutions/`);
    expect(noToken.status).toBe(401);
  });
});
