import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TEST_USERS } from '../../../../sandbox';
import { startSandbox, TEST_NOW, type Running } from '../../../../sandbox/testing/harness';
import {
  BankAccessExceeded,
  BankConsentExpired,
  BankConsentInvalid,
  BankError,
  BankRateLimited,
  BankResponseInvalid,
  BankUnauthorized,
  BankUnavailable,
} from '../../errors';
import type { BankCallRecord } from '../../http';
import type { InstitutionDescriptor } from '../../model';
import type { BankAdapter, BankCallContext, ConsentAccess } from '../../ports';
import { sandboxInstitutions } from '../../sandbox-institutions';
import { authoriseAtBank } from '../../../../test/contract/adapter-contract';
import { createUkObieAdapter } from './uk-obie.adapter';

/** The gateway's state for one attempt (BankOAuth takes 8–200 URL-safe characters). */
const newState = () => `attempt-${randomUUID()}`;
const alice = TEST_USERS.find((u) => u.username === 'alice')!;
const silent = pino({ level: 'silent' });

let run: Running;
let institution: InstitutionDescriptor;
let adapter: BankAdapter;
/** User present: the sandbox does not count these calls against the daily quota. */
let present: BankCallContext;
/** Unattended: no PSU IP address, counted against frequencyPerDay. */
let unattended: BankCallContext;
const records: BankCallRecord[] = [];

beforeAll(async () => {
  run = await startSandbox();
  institution = sandboxInstitutions(run.sandbox.banks).find((i) => i.id === 'thames')!;
  present = { institution, psuIpAddress: '198.51.100.4' };
  unattended = { institution };
  adapter = makeAdapter();
});
afterAll(async () => run?.close());
afterEach(async () => {
  await run.control('DELETE', '/banks/thames/faults');
});

function makeAdapter(fetchImpl?: typeof fetch): BankAdapter {
  return createUkObieAdapter({
    institution,
    credentials: run.sandbox.clients.thames,
    logger: silent,
    onCall: (r) => records.push(r),
    ...(fetchImpl ? { fetch: fetchImpl } : {}),
  });
}

/** A consent authorised by alice at the bank, through the adapter. */
async function authorised(using = adapter): Promise<ConsentAccess & { bankConsentId: string }> {
  const started = await using.consents.start(present, {
    scopes: ['ACCOUNTS', 'BALANCES', 'TRANSACTIONS'],
    validUntil: new Date(Date.now() + 30 * 86_400_000),
    frequencyPerDay: 4,
    redirectUri: run.callback,
    state: newState(),
  });
  const callbackUrl = await authoriseAtBank(run, started.authorizationUrl!, alice);
  const done = await using.consents.complete(present, { callbackUrl, bankConsentId: started.bankConsentId, secrets: started.secrets });
  if (done.outcome !== 'AUTHORISED') throw new Error(`consent not authorised: ${JSON.stringify(done)}`);
  return { bankConsentId: done.bankConsentId!, tokens: done.tokens };
}

async function failure(p: Promise<unknown>): Promise<BankError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BankError);
  return err as BankError;
}

async function fault(body: Record<string, unknown>): Promise<void> {
  const res = await run.control('POST', '/banks/thames/faults', body);
  expect(res.status).toBe(201);
}

/** A fetch that rewrites the JSON of matching bank answers, as a bank that answers differently would. */
function rewriting(match: RegExp, rewrite: (body: Record<string, unknown>) => unknown): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (!match.test(new URL(url).pathname) || (init?.method ?? 'GET') !== 'GET' || res.status !== 200) return res;
    const body = (await res.json()) as Record<string, unknown>;
    return Response.json(rewrite(body), { status: 200, headers: { 'x-fapi-interaction-id': res.headers.get('x-fapi-interaction-id') ?? '' } });
  };
}

async function allTransactions(using: BankAdapter, access: ConsentAccess, accountId: string, status: 'BOOKED' | 'PENDING' | 'BOTH' = 'BOTH') {
  const out = [];
  for await (const page of using.accounts.listTransactions(present, access, accountId, { dateFrom: '2026-10-01', dateTo: null, status })) out.push(...page);
  return out;
}

describe('UK Open Banking adapter against Thames & Harbour Bank', () => {
  it('creates the consent with a client-credentials token, reads the bank-adjusted validity back and records every call without tokens', async () => {
    records.length = 0;
    const state = newState();
    const started = await adapter.consents.start(present, {
      scopes: ['ACCOUNTS', 'BALANCES', 'TRANSACTIONS'],
      // More than the bank's 90 days: the bank shortens it and complete() reports its date.
      validUntil: new Date(Date.now() + 200 * 86_400_000),
      frequencyPerDay: 4,
      redirectUri: run.callback,
      state,
    });
    expect(started.approach).toBe('REDIRECT');
    expect(started.bankConsentId).toMatch(/^aac-/);
    expect(Object.keys(started.secrets).sort()).toEqual(['codeVerifier', 'nonce', 'redirectUri', 'state']);
    const atBank = await run.control<{ consent: { status: string } }>('GET', `/banks/thames/consents/${started.bankConsentId}`);
    expect(atBank.body.consent.status).toBe('received');
    expect(await adapter.consents.status(present, { bankConsentId: started.bankConsentId, tokens: null })).toBe('RECEIVED');

    const callbackUrl = await authoriseAtBank(run, started.authorizationUrl!, alice);
    // The gateway finds its attempt by the state the bank sends back.
    expect(new URL(callbackUrl).searchParams.get('state')).toBe(state);
    expect(started.secrets.state).toBe(state);
    const done = await adapter.consents.complete(present, { callbackUrl, bankConsentId: started.bankConsentId, secrets: started.secrets });
    expect(done.outcome).toBe('AUTHORISED');
    if (done.outcome !== 'AUTHORISED') return;
    expect(done.bankConsentId).toBe(started.bankConsentId);
    expect(done.tokens?.refreshToken).toBeTruthy();
    expect(done.tokens?.expiresAt?.getTime()).toBeGreaterThan(Date.now());
    // The bank caps validity at 90 days of its own clock, which starts at TEST_NOW, not today.
    const days = (done.validUntil!.getTime() - TEST_NOW.getTime()) / 86_400_000;
    expect(days).toBeGreaterThanOrEqual(90);
    expect(days).toBeLessThan(91);

    const operations = records.map((r) => r.operation);
    expect(operations).toEqual(
      expect.arrayContaining(['oauth.client_credentials', 'consent.create', 'oauth.pushed_authorization_request', 'oauth.authorization_code', 'consent.get']),
    );
    const seen = JSON.stringify(records);
    for (const secret of [done.tokens!.accessToken, done.tokens!.refreshToken!, started.secrets.codeVerifier, run.sandbox.clients.thames.clientSecret]) {
      expect(seen).not.toContain(secret);
    }
  });

  it('refuses a forged callback and a replayed one as FAILED, without tokens', async () => {
    const started = await adapter.consents.start(present, {
      scopes: ['ACCOUNTS'],
      validUntil: new Date(Date.now() + 10 * 86_400_000),
      frequencyPerDay: 4,
      redirectUri: run.callback,
      state: newState(),
    });
    const callbackUrl = await authoriseAtBank(run, started.authorizationUrl!, alice);
    const forged = new URL(callbackUrl);
    forged.searchParams.set('state', 'forged');
    const refused = await adapter.consents.complete(present, { callbackUrl: forged.href, bankConsentId: started.bankConsentId, secrets: started.secrets });
    expect(refused).toMatchObject({ outcome: 'FAILED', reason: expect.stringMatching(/^STATE_MISMATCH/) });

    expect((await adapter.consents.complete(present, { callbackUrl, bankConsentId: started.bankConsentId, secrets: started.secrets })).outcome).toBe(
      'AUTHORISED',
    );
    const replayed = await adapter.consents.complete(present, { callbackUrl, bankConsentId: started.bankConsentId, secrets: started.secrets });
    expect(replayed).toMatchObject({ outcome: 'FAILED', reason: expect.stringMatching(/^CODE_INVALID/) });
  });

  it('refreshes the PSU tokens, and the new access token reads the accounts', async () => {
    const access = await authorised();
    const refreshed = await adapter.consents.refresh(present, access.tokens!);
    expect(refreshed.accessToken).not.toBe(access.tokens!.accessToken);
    expect(refreshed.refreshToken).toBeTruthy();
    const accounts = await adapter.accounts.listAccounts(present, { bankConsentId: access.bankConsentId, tokens: refreshed });
    expect(accounts.map((a) => a.kind).sort()).toEqual(['CARD', 'CHECKING', 'SAVINGS']);
    const bogus = await failure(adapter.consents.refresh(present, { ...access.tokens!, refreshToken: `${access.tokens!.refreshToken}x` }));
    expect(bogus).toBeInstanceOf(BankUnauthorized);
  });

  it('maps UK accounts: sort-code accounts with the IBAN the bank adds, the card by its masked PAN', async () => {
    const access = await authorised();
    const accounts = await adapter.accounts.listAccounts(present, access);
    const checking = accounts.find((a) => a.kind === 'CHECKING')!;
    expect(checking.iban).toMatch(/^GB\d{2}THAH\d{14}$/);
    expect(checking.currency).toBe('GBP');
    expect(checking.ownerName).toBeTruthy();
    const card = accounts.find((a) => a.kind === 'CARD')!;
    expect(card.iban).toBeNull();
    expect(card.maskedPan).toMatch(/\*/);
  });

  it('reads only pending or only booked transactions when asked, and signs debits', async () => {
    const access = await authorised();
    const [checking] = (await adapter.accounts.listAccounts(present, access)).filter((a) => a.kind === 'CHECKING');
    const both = await allTransactions(adapter, access, checking.bankAccountId);
    const pending = await allTransactions(adapter, access, checking.bankAccountId, 'PENDING');
    const booked = await allTransactions(adapter, access, checking.bankAccountId, 'BOOKED');
    expect(pending.length).toBeGreaterThan(0);
    expect(pending.every((t) => t.status === 'PENDING')).toBe(true);
    expect(booked.every((t) => t.status === 'BOOKED')).toBe(true);
    expect(pending.length + booked.length).toBe(both.length);
    expect(both.some((t) => t.amount.amount.startsWith('-'))).toBe(true);
    const rent = both.find((t) => t.amount.amount.startsWith('-') && t.counterpartyIban);
    expect(rent?.counterpartyName).toBeTruthy();
  });

  it('asks for the window’s whole days: nothing booked before dateFrom or after dateTo', async () => {
    const access = await authorised();
    const [checking] = (await adapter.accounts.listAccounts(present, access)).filter((a) => a.kind === 'CHECKING');
    const edge = await run.control('POST', `/banks/thames/accounts/${checking.bankAccountId}/transactions`, {
      amount: '-1.23',
      bookingDate: '2026-09-30',
      id: 'edge-0930',
    });
    expect(edge.status).toBe(201);
    const txs = [];
    for await (const page of adapter.accounts.listTransactions(present, access, checking.bankAccountId, {
      dateFrom: '2026-09-01',
      dateTo: '2026-09-30',
      status: 'BOTH',
    })) {
      txs.push(...page);
    }
    expect(txs.length).toBeGreaterThan(0);
    expect(txs.every((t) => t.bookingDate! >= '2026-09-01' && t.bookingDate! <= '2026-09-30')).toBe(true);
    expect(txs.find((t) => t.bankTransactionId === 'edge-0930')?.amount.amount).toBe('-1.23');
  });

  it('yields an entry a bank repeats at the top of the next page only once', async () => {
    const access = await authorised();
    const [checking] = await adapter.accounts.listAccounts(present, access);
    const clean = await allTransactions(adapter, access, checking.bankAccountId);
    await fault({ kind: 'duplicates', route: '/transactions' });
    const repeated = await allTransactions(adapter, access, checking.bankAccountId);
    expect(repeated.map((t) => t.bankTransactionId)).toEqual(clean.map((t) => t.bankTransactionId));
  });

  it('keeps transactions without bank ids when the bank leaves them out', async () => {
    const access = await authorised();
    const [checking] = await adapter.accounts.listAccounts(present, access);
    await fault({ kind: 'missing-ids', route: '/transactions' });
    const txs = await allTransactions(adapter, access, checking.bankAccountId);
    expect(txs.length).toBeGreaterThan(0);
    expect(txs.every((t) => t.bankTransactionId === null)).toBe(true);
  });

  it('revokes with DELETE: the status becomes TERMINATED, a second revoke is a no-op, data calls get BankConsentInvalid', async () => {
    const access = await authorised();
    await adapter.consents.revoke(present, access);
    expect(await adapter.consents.status(present, access)).toBe('TERMINATED');
    await adapter.consents.revoke(present, access);
    const err = await failure(adapter.accounts.listAccounts(present, access));
    expect(err).toBeInstanceOf(BankConsentInvalid);
    expect(err.bankCode).toBe('UK.OBIE.Resource.InvalidConsentStatus');
  });

  it('reports an end user who refuses as REJECTED, and the consent status as REJECTED', async () => {
    const started = await adapter.consents.start(present, {
      scopes: ['ACCOUNTS'],
      validUntil: new Date(Date.now() + 10 * 86_400_000),
      frequencyPerDay: 4,
      redirectUri: run.callback,
      state: newState(),
    });
    const rejecter = TEST_USERS.find((u) => u.behaviour === 'rejects')!;
    const callbackUrl = await authoriseAtBank(run, started.authorizationUrl!, rejecter);
    expect((await adapter.consents.complete(present, { callbackUrl, bankConsentId: started.bankConsentId, secrets: started.secrets })).outcome).toBe(
      'REJECTED',
    );
    expect(await adapter.consents.status(present, { bankConsentId: started.bankConsentId, tokens: null })).toBe('REJECTED');
  });

  it('sends x-fapi-interaction-id on every API call, the PSU’s IP only when present, and x-fapi-financial-id when the institution’s quirk names one', async () => {
    const seen: { path: string; headers: Headers }[] = [];
    const capture: typeof fetch = async (input, init) => {
      const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
      if (url.pathname.includes('/aisp/')) seen.push({ path: url.pathname, headers: new Headers(init?.headers) });
      return fetch(input, init);
    };
    const quirky = createUkObieAdapter({
      institution: { ...institution, quirks: { ...institution.quirks, fapiFinancialId: '0015800001041RHAAY' } },
      credentials: run.sandbox.clients.thames,
      logger: silent,
      fetch: capture,
    });
    const access = await authorised(quirky);
    await quirky.accounts.listAccounts(present, access);
    await quirky.accounts.listAccounts(unattended, access);
    const lists = seen.filter((s) => s.path.endsWith('/accounts'));
    expect(lists.map((s) => s.headers.get('x-fapi-customer-ip-address'))).toEqual(['198.51.100.4', null]);
    for (const s of seen) {
      expect(s.headers.get('x-fapi-interaction-id')).toMatch(/^[0-9a-f-]{36}$/);
      expect(s.headers.get('x-fapi-financial-id')).toBe('0015800001041RHAAY');
    }
    expect(seen.map((s) => s.path.split('/').at(-2))).toContain('account-access-consents');
  });
});

describe('UK Open Banking adapter: the bank’s error answers as typed errors', () => {
  it('a consent the PSU revoked at the bank: status REVOKED, data calls BankConsentInvalid', async () => {
    const access = await authorised();
    expect((await run.control('POST', `/banks/thames/consents/${access.bankConsentId}/revoke`)).status).toBe(200);
    expect(await adapter.consents.status(present, access)).toBe('REVOKED');
    expect(await failure(adapter.accounts.listAccounts(present, access))).toBeInstanceOf(BankConsentInvalid);
  });

  it('an expired consent: UK.OBIE.Reauthenticate becomes BankConsentExpired', async () => {
    const access = await authorised();
    await run.control('POST', `/banks/thames/consents/${access.bankConsentId}/expire`);
    const err = await failure(adapter.accounts.listAccounts(present, access));
    expect(err).toBeInstanceOf(BankConsentExpired);
    expect(err.httpStatus).toBe(403);
    expect(err.bankCode).toBe('UK.OBIE.Reauthenticate');
  });

  it('the daily unattended quota used up: BankAccessExceeded, not retried; a user-present call still works', async () => {
    const access = await authorised();
    await run.control('PUT', `/banks/thames/consents/${access.bankConsentId}/usage`, { used: 4 });
    records.length = 0;
    const err = await failure(adapter.accounts.listAccounts(unattended, access));
    expect(err).toBeInstanceOf(BankAccessExceeded);
    expect(err.httpStatus).toBe(429);
    expect(records.filter((r) => r.operation === 'accounts.list')).toHaveLength(1);
    expect((await adapter.accounts.listAccounts(present, access)).length).toBe(3);
  });

  it('a single 503 is retried and the read succeeds; a lasting 500 ends as BankUnavailable', async () => {
    const access = await authorised();
    records.length = 0;
    await fault({ kind: 'status', status: 503, route: '/aisp/accounts', method: 'GET', times: 1 });
    expect((await adapter.accounts.listAccounts(present, access)).length).toBe(3);
    expect(records.filter((r) => r.operation === 'accounts.list').map((r) => [r.attempt, r.outcome, r.status])).toEqual([
      [1, 'retry', 503],
      [2, 'success', 200],
    ]);
    await fault({ kind: 'status', status: 500, route: '/balances', method: 'GET' });
    const [account] = await adapter.accounts.listAccounts(present, access);
    const err = await failure(adapter.accounts.getBalances(present, access, account.bankAccountId));
    expect(err).toBeInstanceOf(BankUnavailable);
    expect(err.httpStatus).toBe(500);
  });

  it('a 429 with Retry-After is waited out once and then succeeds; a long one surfaces as BankRateLimited', async () => {
    const access = await authorised();
    await fault({ kind: 'rate-limit', retryAfterSeconds: 1, route: '/aisp/accounts', method: 'GET', times: 1 });
    const started = Date.now();
    expect((await adapter.accounts.listAccounts(present, access)).length).toBe(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    await fault({ kind: 'rate-limit', retryAfterSeconds: 3600, route: '/aisp/accounts', method: 'GET', times: 1 });
    const err = await failure(adapter.accounts.listAccounts(present, access));
    expect(err).toBeInstanceOf(BankRateLimited);
    expect(err.retryAfterMs).toBe(3_600_000);
  });

  it('an expired or wrong access token: BankUnauthorized', async () => {
    const access = await authorised();
    const err = await failure(adapter.accounts.listAccounts(present, { ...access, tokens: { ...access.tokens!, accessToken: 'not-a-token' } }));
    expect(err).toBeInstanceOf(BankUnauthorized);
    expect(err.httpStatus).toBe(401);
  });
});

describe('UK Open Banking adapter: answers that break the standard', () => {
  it('a truncated JSON body becomes BankResponseInvalid, not retried', async () => {
    const access = await authorised();
    await fault({ kind: 'malformed-json', route: '/aisp/accounts', method: 'GET', times: 1 });
    records.length = 0;
    const err = await failure(adapter.accounts.listAccounts(present, access));
    expect(err).toBeInstanceOf(BankResponseInvalid);
    expect(err.operation).toBe('accounts.list');
    expect(err.institutionId).toBe('thames');
    expect(records.filter((r) => r.operation === 'accounts.list')).toHaveLength(1);
  });

  it('an account without AccountId becomes BankResponseInvalid naming the field, not the value', async () => {
    const broken = makeAdapter(
      rewriting(/\/aisp\/accounts$/, (body) => {
        const data = body.Data as { Account: Record<string, unknown>[] };
        return { ...body, Data: { Account: data.Account.map(({ AccountId: _id, ...rest }) => rest) } };
      }),
    );
    const access = await authorised(broken);
    const err = (await failure(broken.accounts.listAccounts(present, access))) as BankResponseInvalid;
    expect(err).toBeInstanceOf(BankResponseInvalid);
    expect(err.issues.map((i) => i.path)).toContain('Data.Account.0.AccountId');
  });

  it('an answer whose every transaction amount has its own minus sign becomes BankResponseInvalid (one alone is skipped, see below)', async () => {
    const broken = makeAdapter(
      rewriting(/\/transactions$/, (body) => {
        const data = body.Data as { Transaction: { Amount: { Amount: string } }[] };
        for (const t of data.Transaction) t.Amount.Amount = `-${t.Amount.Amount}`;
        return body;
      }),
    );
    const access = await authorised(broken);
    const [account] = await broken.accounts.listAccounts(present, access);
    expect(await failure(allTransactions(broken, access, account.bankAccountId))).toBeInstanceOf(BankResponseInvalid);
  });

  it('a Links.Next to another origin is refused, and so is one that loops back', async () => {
    const elsewhere = makeAdapter(
      rewriting(/\/transactions$/, (body) => ({ ...body, Links: { ...(body.Links as object), Next: 'https://elsewhere.example/steal?page=1' } })),
    );
    const access = await authorised(elsewhere);
    const [account] = await elsewhere.accounts.listAccounts(present, access);
    expect(await failure(allTransactions(elsewhere, access, account.bankAccountId))).toBeInstanceOf(BankResponseInvalid);

    const looping = makeAdapter(
      // Every page says the next one is itself.
      rewriting(/\/transactions$/, (body) => {
        const links = body.Links as { Self: string; Next?: string };
        return { ...body, Links: { ...links, Next: links.Self } };
      }),
    );
    const err = await failure(allTransactions(looping, access, account.bankAccountId));
    expect(err).toBeInstanceOf(BankResponseInvalid);
    expect(err.message).toMatch(/repeats a page/);
  });

  it('a bank answering with 4.0 codes (AUTH, BOOK/PDNG, ITBD/ITAV, AccountTypeCode) gives the same canonical data', async () => {
    const to40: Record<string, string> = {
      Authorised: 'AUTH',
      AwaitingAuthorisation: 'AWAU',
      Booked: 'BOOK',
      Pending: 'PDNG',
      InterimBooked: 'ITBD',
      InterimAvailable: 'ITAV',
    };
    const subType: Record<string, string> = { CurrentAccount: 'CACC', Savings: 'SVGS', CreditCard: 'CARD' };
    const convert = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(convert);
      if (!value || typeof value !== 'object') return value;
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        if ((k === 'Status' || k === 'Type') && typeof v === 'string') out[k] = to40[v] ?? v;
        else if (k === 'AccountSubType' && typeof v === 'string') out.AccountTypeCode = subType[v] ?? 'OTHR';
        else if (k === 'AccountType') out.AccountCategory = v;
        else out[k] = convert(v);
      }
      return out;
    };
    const v40 = makeAdapter(rewriting(/\/aisp\//, (body) => convert(body)));
    const access = await authorised(v40);
    expect(await v40.consents.status(present, access)).toBe('VALID');
    const accounts = await v40.accounts.listAccounts(present, access);
    expect(accounts.map((a) => a.kind).sort()).toEqual(['CARD', 'CHECKING', 'SAVINGS']);
    const checking = accounts.find((a) => a.kind === 'CHECKING')!;
    const balances = await v40.accounts.getBalances(present, access, checking.bankAccountId);
    expect(balances.map((b) => [b.kind, b.bankType])).toEqual([
      ['BOOKED', 'ITBD'],
      ['AVAILABLE', 'ITAV'],
    ]);
    const txs = await allTransactions(v40, access, checking.bankAccountId);
    const reference = await allTransactions(adapter, access, checking.bankAccountId);
    expect(txs.map((t) => [t.bankTransactionId, t.status, t.amount.amount])).toEqual(reference.map((t) => [t.bankTransactionId, t.status, t.amount.amount]));
  });

  it('a consent status neither version defines becomes BankResponseInvalid', async () => {
    const odd = makeAdapter(rewriting(/\/account-access-consents\//, (body) => ({ ...body, Data: { ...(body.Data as object), Status: 'Suspended' } })));
    const access = await authorised(adapter);
    const err = await failure(odd.consents.status(present, access));
    expect(err).toBeInstanceOf(BankResponseInvalid);
    expect(err.message).toMatch(/Suspended/);
  });

  it('skips one malformed transaction and one malformed balance of otherwise good answers, reporting each with its count', async () => {
    const reports: { operation: string; kind: string; count: number }[] = [];
    const corrupting: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      const path = new URL(String(input)).pathname;
      if (!/\/(transactions|balances)$/.test(path) || res.status !== 200) return res;
      const body = (await res.json()) as { Data: { Transaction?: Record<string, unknown>[]; Balance?: Record<string, unknown>[] } };
      const list = body.Data.Transaction ?? body.Data.Balance!;
      list[0] = { ...list[0], Amount: { Amount: 12.5, Currency: 'GBP' } };
      return new Response(JSON.stringify(body), { status: 200, headers: res.headers });
    };
    const skipping = createUkObieAdapter({
      institution,
      credentials: run.sandbox.clients.thames,
      logger: silent,
      fetch: corrupting,
      onSkippedEntries: (r) => reports.push(r),
    });
    const access = await authorised(skipping);
    const [account] = await skipping.accounts.listAccounts(present, access);
    const balances = await skipping.accounts.getBalances(present, access, account!.bankAccountId);
    expect(balances.length).toBeGreaterThan(0);
    let count = 0;
    for await (const page of skipping.accounts.listTransactions(present, access, account!.bankAccountId, {
      dateFrom: '2026-09-01',
      dateTo: '2026-09-30',
      status: 'BOTH',
    }))
      count += page.length;
    expect(count).toBeGreaterThan(0);
    expect(reports).toEqual(
      expect.arrayContaining([expect.objectContaining({ kind: 'balance', count: 1 }), expect.objectContaining({ kind: 'transaction', count: 1 })]),
    );
  });
});
