/**
 * The adapters' account-information flows against Stoplight Prism, a spec-driven mock nobody here
 * wrote, started from the official Berlin Group 1.3.12 and UK Open Banking 3.1.11 files with
 * `--errors`: a request that breaks the file gets an error, not an example, and every answer is
 * checked for Prism's `sl-violations`. Berlin Group is mocked from the file's examples; UK (whose
 * file has none) from its schemas, generated with a fixed seed so a run is repeatable.
 *
 * When Prism cannot start, every test here is skipped with the reason printed: loudly, never a pass.
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { createBerlinGroupAdapter } from '../src/banking/adapters/berlin-group/berlin-group.adapter';
import { createUkObieAdapter } from '../src/banking/adapters/uk-obie/uk-obie.adapter';
import type { CanonicalTransaction, InstitutionDescriptor } from '../src/banking/model';
import type { BankAdapter, BankCallContext, ConsentAccess } from '../src/banking/ports';
import { TEST_USERS } from '../sandbox';
import { startSandbox, type Running } from '../sandbox/testing/harness';
import { authoriseAtBank } from './contract/adapter-contract';
import { sandboxInstitutions } from '../src/banking/sandbox-institutions';
import { startPrism, type PrismServer } from './helpers/prism';

const logger = pino({ level: 'silent' });

/** An institution whose API root is Prism plus the file's server path (the examples' links carry it). */
function institution(standard: 'BERLIN_GROUP' | 'UK_OPEN_BANKING', base: string): InstitutionDescriptor {
  return {
    id: standard === 'BERLIN_GROUP' ? 'prism-bg' : 'prism-uk',
    name: 'Prism',
    bic: 'TESTDEFFXXX',
    country: 'DE',
    logoUrl: null,
    standard,
    standardVersion: standard === 'BERLIN_GROUP' ? '1.3.12' : '3.1.11',
    environment: 'sandbox',
    aisBaseUrl: base,
    pisBaseUrl: base,
    issuer: null,
    scopes: ['ACCOUNTS', 'BALANCES', 'TRANSACTIONS'],
    paymentSchemes: [],
    paymentProducts: [],
    scaApproaches: ['REDIRECT'],
    maxConsentDays: 90,
    maxHistoryDays: 730,
    frequencyPerDay: 4,
    quirks: { sandbox: true },
  };
}

interface PrismCall {
  method: string;
  path: string;
  status: number;
  /** Prism's `sl-violations`, as `request|response <where>: <message>`. */
  violations: string[];
}

/**
 * The transport of the adapters under test: records the status of every answer and Prism's
 * `sl-violations`. Calls go to `<prism><the file's server path>/…` and reach Prism's root, where it
 * serves the file's paths.
 */
function recordingTransport(serverPath: string) {
  const calls: PrismCall[] = [];
  const transport: typeof fetch = async (input, init) => {
    const url = new URL(String(input));
    if (url.pathname.startsWith(`${serverPath}/`)) url.pathname = url.pathname.slice(serverPath.length);
    const res = await fetch(url, init);
    const raw = res.headers.get('sl-violations');
    const violations = raw ? (JSON.parse(raw) as { location: string[]; message: string }[]).map((v) => `${v.location.join(' ')}: ${v.message}`) : [];
    calls.push({ method: init?.method ?? 'GET', path: url.pathname, status: res.status, violations });
    return res;
  };
  return { calls, transport };
}

/**
 * No request of ours broke the file; the answers broke it only where the file's own example or
 * Prism's generated header does (listed in `known`, `<method> <path>: <violation>`).
 */
function expectConformance(calls: PrismCall[], known: RegExp[], pendingRequestFixes: RegExp[] = []): void {
  const requests = calls.flatMap((c) => c.violations.filter((v) => v.startsWith('request')).map((v) => `${c.method} ${c.path}: ${v}`));
  expect(requests.filter((v) => !pendingRequestFixes.some((k) => k.test(v)))).toEqual([]);
  const unexpected = calls
    .flatMap((c) => c.violations.filter((v) => v.startsWith('response')).map((v) => `${c.method} ${c.path}: ${v}`))
    .filter((v) => !known.some((k) => k.test(v)));
  expect(unexpected).toEqual([]);
}

function unavailable(ctx: TestContext, reason: string | undefined): void {
  if (reason) ctx.skip(`Prism could not start: ${reason}`);
}

describe('Berlin Group adapter against Prism mocking the official 1.3.12 file', () => {
  let prism: PrismServer | undefined;
  let reason: string | undefined;
  let adapter: BankAdapter;
  let ctx: BankCallContext;
  const { calls, transport } = recordingTransport('/psd2');
  const access: ConsentAccess = { bankConsentId: '1234-wertiq-983', tokens: null };

  beforeAll(async () => {
    const started = await startPrism({ spec: 'berlin-group-psd2-api-1.3.12.yaml' });
    if ('unavailable' in started) {
      reason = started.unavailable;
      console.error(`\n  !!! SKIPPED: Prism (Berlin Group) could not start: ${reason}\n`);
      return;
    }
    prism = started;
    const inst = institution('BERLIN_GROUP', `${prism.origin}/psd2`);
    adapter = createBerlinGroupAdapter({
      institution: inst,
      credentials: { clientId: 'tpp' },
      redirectUri: 'https://gateway.example/callback',
      logger,
      fetch: transport,
    });
    ctx = { institution: inst, psuIpAddress: '203.0.113.7' };
  });
  afterAll(async () => {
    await prism?.stop();
  });

  it('creates a consent whose request passes the file, and gets the redirect to the bank', async (t) => {
    unavailable(t, reason);
    const started = await adapter.consents.start(ctx, {
      scopes: ['ACCOUNTS', 'BALANCES', 'TRANSACTIONS'],
      validUntil: new Date(Date.now() + 30 * 86_400_000),
      frequencyPerDay: 4,
      redirectUri: 'https://gateway.example/callback',
      state: 'state-0123456789',
    });
    expect(started).toMatchObject({ bankConsentId: '1234-wertiq-983', approach: 'REDIRECT' });
    expect(started.authorizationUrl).toMatch(/^https:\/\//);
    expect(calls.at(-1)).toMatchObject({ method: 'POST', path: '/v1/consents', status: 201 });
  });

  it('reads the consent’s status and, once valid, its validity', async (t) => {
    unavailable(t, reason);
    expect(await adapter.consents.status(ctx, { bankConsentId: '1234-wertiq-983', tokens: null })).toBe('VALID');
    const outcome = await adapter.consents.poll!(ctx, { bankConsentId: '1234-wertiq-983', secrets: {} });
    expect(outcome).toMatchObject({ outcome: 'AUTHORISED', bankConsentId: '1234-wertiq-983' });
  });

  it('lists accounts and card accounts', async (t) => {
    unavailable(t, reason);
    const accounts = await adapter.accounts.listAccounts(ctx, access);
    expect(accounts.map((a) => a.bankAccountId)).toEqual(expect.arrayContaining(['3dc3d5b3-7023-4848-9853-f5400a64e80f', expect.stringMatching(/^card:/)]));
    expect(calls.filter((c) => c.path === '/v1/accounts' || c.path === '/v1/card-accounts').every((c) => c.status === 200)).toBe(true);
  });

  it('reads balances', async (t) => {
    unavailable(t, reason);
    const balances = await adapter.accounts.getBalances(ctx, access, '3dc3d5b3-7023-4848-9853-f5400a64e80f');
    expect(balances.length).toBeGreaterThan(0);
    for (const b of balances) expect(b.amount.amount).toMatch(/^-?\d+(\.\d+)?$/);
  });

  it('reads transactions with balances alongside', async (t) => {
    unavailable(t, reason);
    const txs: CanonicalTransaction[] = [];
    for await (const page of adapter.accounts.listTransactions(ctx, access, '3dc3d5b3-7023-4848-9853-f5400a64e80f', {
      dateFrom: '2017-10-01',
      dateTo: '2017-10-31',
      status: 'BOTH',
      onBalances: () => undefined,
    })) {
      txs.push(...page);
    }
    expect(txs.length).toBeGreaterThan(0);
    expect(calls.at(-1)).toMatchObject({ path: '/v1/accounts/3dc3d5b3-7023-4848-9853-f5400a64e80f/transactions', status: 200 });
  });

  it('sent only requests that pass the file, and got no answer breaking it beyond the file’s own examples', (t) => {
    unavailable(t, reason);
    expect(calls.length).toBeGreaterThanOrEqual(7);
    expect(calls.filter((c) => c.status >= 400)).toEqual([]);
    expectConformance(calls, [
      // Prism makes up the 201's Location header from its schema (`format: url`) and then fails it.
      /^POST \/v1\/consents: response header location: .*format "url"/,
      // The file's consent-information example: recurringIndicator "true", no lastActionDate.
      /^GET \/v1\/consents\/1234-wertiq-983: response body( recurringIndicator)?: .*(lastActionDate|must be boolean)/,
    ]);
  });
});

/**
 * UK: the 3.1.11 file has no examples, and data generated from its schemas carries random
 * `Links.Next` hosts (refused, rightly, as another origin), so the UK flows run through Prism's
 * validation proxy in front of the sandbox's UK bank instead: the real consent journey and real
 * paging, with every request and answer checked against the official file on the way.
 */
describe('UK Open Banking adapter through Prism’s validation proxy (official 3.1.11 file) in front of the sandbox bank', () => {
  let prism: PrismServer | undefined;
  let reason: string | undefined;
  let run: Running;
  let adapter: BankAdapter;
  let ctx: BankCallContext;
  let access: ConsentAccess;
  const calls: PrismCall[] = [];

  beforeAll(async () => {
    run = await startSandbox();
    const inst = sandboxInstitutions(run.sandbox.banks).find((i) => i.id === 'thames')!;
    const started = await startPrism({ spec: 'uk-obie-3.1.11-account-info.yaml', mode: { proxy: inst.aisBaseUrl } });
    if ('unavailable' in started) {
      reason = started.unavailable;
      console.error(`\n  !!! SKIPPED: Prism (UK proxy) could not start: ${reason}\n`);
      return;
    }
    prism = started;
    const bankApi = inst.aisBaseUrl.replace(/\/+$/, '');
    // Like an HTTP proxy: the adapter addresses the bank (whose links name the bank), the transport
    // sends each resource call through Prism. OAuth calls go to the bank's authorisation server directly.
    const transport: typeof fetch = async (input, init) => {
      const target = String(input);
      if (!target.startsWith(`${bankApi}/`)) return fetch(input, init);
      const via = new URL(`${prism!.origin}${target.slice(bankApi.length)}`);
      const res = await fetch(via, init);
      const raw = res.headers.get('sl-violations');
      const violations = raw ? (JSON.parse(raw) as { location: string[]; message: string }[]).map((v) => `${v.location.join(' ')}: ${v.message}`) : [];
      calls.push({ method: init?.method ?? 'GET', path: via.pathname, status: res.status, violations });
      return res;
    };
    adapter = createUkObieAdapter({ institution: inst, credentials: run.sandbox.clients.thames!, logger, fetch: transport });
    ctx = { institution: inst, psuIpAddress: '198.51.100.4' };
  });
  afterAll(async () => {
    await prism?.stop();
    await run?.close();
  });

  it('creates a consent, which the end user authorises at the bank', async (t) => {
    unavailable(t, reason);
    const started = await adapter.consents.start(ctx, {
      scopes: ['ACCOUNTS', 'BALANCES', 'TRANSACTIONS'],
      validUntil: new Date(Date.now() + 30 * 86_400_000),
      frequencyPerDay: 4,
      redirectUri: run.callback,
      state: 'attempt-0123456789abcdef',
    });
    const callbackUrl = await authoriseAtBank(
      run,
      started.authorizationUrl!,
      TEST_USERS.find((u) => u.username === 'alice')!,
    );
    const done = await adapter.consents.complete(ctx, { callbackUrl, bankConsentId: started.bankConsentId, secrets: started.secrets });
    expect(done.outcome).toBe('AUTHORISED');
    if (done.outcome !== 'AUTHORISED') return;
    access = { bankConsentId: done.bankConsentId, tokens: done.tokens };
    expect(calls.map((c) => `${c.method} ${c.path} ${c.status}`)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^POST \/account-access-consents 201$/)]),
    );
  });

  it('lists accounts, reads balances, and reads transactions over several pages', async (t) => {
    unavailable(t, reason);
    const accounts = await adapter.accounts.listAccounts(ctx, access);
    expect(accounts.length).toBeGreaterThan(0);
    const account = accounts[0]!.bankAccountId;
    expect((await adapter.accounts.getBalances(ctx, access, account)).length).toBeGreaterThan(0);
    const txs: CanonicalTransaction[] = [];
    const from = new Date(Date.now() - 365 * 86_400_000).toISOString().slice(0, 10);
    for await (const page of adapter.accounts.listTransactions(ctx, access, account, { dateFrom: from, dateTo: null, status: 'BOTH' })) txs.push(...page);
    expect(txs.length).toBeGreaterThan(0);
    expect(calls.filter((c) => c.path.endsWith('/transactions')).length, 'pages read').toBeGreaterThanOrEqual(2);
  });

  it('sent only requests that pass the file, and got only answers that pass it', (t) => {
    unavailable(t, reason);
    expect(calls.length).toBeGreaterThanOrEqual(5);
    expect(calls.filter((c) => c.status >= 400)).toEqual([]);
    expectConformance(calls, [], []);
  });
});

describe('starting Prism', () => {
  it('reports why it cannot start (here: no such file) rather than letting the tests pass', async () => {
    const started = await startPrism({ spec: 'no-such-file.yaml' });
    expect(started).toEqual({ unavailable: expect.stringContaining('no-such-file.yaml') });
  });
});
