/**
 * Every JSON response example of the official Berlin Group 1.3.12 file goes through the adapter: a
 * real HTTP server on 127.0.0.1 answers the adapter's call with the example (its `testbank.com`
 * links pointed at that server), and the adapter's schemas and mappers must take it. Each example
 * is also checked against the file's own schema: the few that break it are listed with the reason,
 * and the list is checked too (an entry that starts to conform must leave it).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import pino from 'pino';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BankCancellationAuthorisationRequired, BankInvalidRequest, BankResponseInvalid } from '../../errors';
import type { CanonicalTransaction, InstitutionDescriptor } from '../../model';
import type { BankAdapter, BankCallContext, ConsentAccess } from '../../ports';
import { normaliseSpec } from '../../../../sandbox/core/openapi';
import { createBerlinGroupAdapter } from './berlin-group.adapter';
import { mapAccount, mapCardAccount, mapTransaction } from './berlin-group.mapper';
import { bgAccountDetails, bgCardAccountDetails, bgTransaction } from './berlin-group.schemas';

const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (ajv: Ajv) => Ajv;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
// The vendored copy when the repository has one, else the shared specs beside the checkout.
const SPEC = [path.join(root, 'sandbox/specs/berlin-group-psd2-api-1.3.12.yaml'), path.join(root, '../shared/specs/berlin-group-psd2-api-1.3.12.yaml')].find(
  (f) => existsSync(f),
);
if (!SPEC) throw new Error('the Berlin Group 1.3.12 file is neither in sandbox/specs nor in ../shared/specs');

type Json = Record<string, unknown>;
const doc = parse(readFileSync(SPEC, 'utf8')) as { components: { responses: Record<string, Json>; examples: Record<string, { value: unknown }> } };

const schemaDoc = structuredClone(doc) as unknown as Json;
// The file's draft-4 bounds, rewritten for Ajv as the sandbox's validator does.
normaliseSpec(schemaDoc);
const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false, unicodeRegExp: false });
addFormats(ajv);
for (const f of ['float', 'int32', 'int64', 'byte', 'url']) ajv.addFormat(f, true);
ajv.addSchema({ ...schemaDoc, $id: 'bg' });

interface Example {
  response: string;
  name: string;
  value: unknown;
}

/** Every named JSON example of every response in the file, `$ref`s to components/examples resolved. */
const EXAMPLES: Example[] = Object.entries(doc.components.responses).flatMap(([response, r]) => {
  const json = (r.content as Json | undefined)?.['application/json'] as { examples?: Record<string, { value?: unknown; $ref?: string }> } | undefined;
  return Object.entries(json?.examples ?? {}).map(([name, e]) => ({
    response,
    name,
    value: e.$ref ? doc.components.examples[e.$ref.split('/').pop()!]!.value : e.value,
  }));
});

/**
 * Examples that break the file's own schema, and why. The adapter still takes them: a bank that
 * copies the file's example must not be refused for the file's mistake.
 */
const NONCONFORMING: Record<string, string> = {
  'OK_200_PaymentInitiationStatus extended': 'the example is the JSON text in a YAML string, not an object (served as that text, it parses)',
  'OK_200_CardAccountBalances Example:': 'the first balance has neither balanceType nor balanceAmount (both required), only debitAccounting',
  'OK_200_ConsentInformation Example': 'recurringIndicator is the string "true" (a boolean is required) and the required lastActionDate is missing',
  'OK_200_ConfirmationOfFunds Example': 'fundsAvailable is the string "true" (a boolean is required)',
  'OK_200_UpdatePsuData Update PSU identification - payment initiation (Decoupled Approach)': 'matches none of the oneOf branches: scaStatus is missing',
  'OK_200_UpdatePsuData Update PSU authentication - payment initiation (Embedded Approach)': 'matches two oneOf branches at once (oneOf needs exactly one)',
  'OK_200_UpdatePsuData Select PSU authentication - payment initiation method (Embedded Approach)':
    'otpMaxLength is a string (an integer is required), and no single oneOf branch matches',
  'OK_200_UpdatePsuData Transaction authorisation (Embedded Approach)': 'matches two oneOf branches at once, and the required _links is missing',
  'OK_200_UpdatePsuData Authorisation confirmation': 'matches more than one oneOf branch (oneOf needs exactly one)',
};

/** Responses of operations the adapter never calls, and why (checked against the spec only). */
const NOT_CALLED: Record<string, string> = {
  OK_200_Authorisations: 'the adapter follows the scaStatus link of the authorisation it started; it never lists authorisations',
  OK_200_UpdatePsuData: 'PSU data updates belong to the embedded approach, which the adapter refuses (the gateway never handles bank credentials)',
  OK_200_GetSigningBasket: 'signing baskets are not offered by the gateway',
  CREATED_201_SigningBasket: 'signing baskets are not offered by the gateway',
  OK_200_ConfirmationOfFunds: 'confirmation of funds (PIIS) is not offered by the gateway',
};

const validatorOf = (response: string) => ajv.getSchema(`bg#/components/responses/${response}/content/application~1json/schema`)!;

/** A bank on 127.0.0.1: routes `METHOD /path` (regex on the path) to a JSON answer. */
class ExampleBank {
  private server!: Server;
  origin = '';
  routes: { method: string; path: RegExp; status: number; body: unknown; headers?: Record<string, string> }[] = [];
  readonly received: { method: string; url: string }[] = [];

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const url = new URL(req.url ?? '/', this.origin);
        this.received.push({ method: req.method ?? '', url: url.pathname });
        const route = this.routes.find((r) => r.method === req.method && r.path.test(url.pathname));
        if (!route) {
          res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ tppMessages: [{ category: 'ERROR', code: 'RESOURCE_UNKNOWN' }] }));
          return;
        }
        // The spec's links point at www.testbank.com: here they lead back to this server.
        // An example given as a string is the JSON text itself, as a bank would put it on the wire.
        const text = typeof route.body === 'string' ? route.body : JSON.stringify(route.body);
        const body = route.body === undefined ? undefined : text.replaceAll('https://www.testbank.com', this.origin);
        res.writeHead(route.status, { 'content-type': 'application/json', 'x-request-id': '99391c7e-ad88-49ec-a2ad-99ddcb1f7721', ...route.headers }).end(body);
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.origin = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  answer(method: string, path: RegExp, body: unknown, status = 200, headers?: Record<string, string>): void {
    this.routes = [{ method, path, status, body, ...(headers ? { headers } : {}) }, ...this.routes];
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe('the Berlin Group 1.3.12 file’s examples', () => {
  const bank = new ExampleBank();
  let institution: InstitutionDescriptor;
  const ctx = (): BankCallContext => ({ institution, psuIpAddress: '203.0.113.7' });
  const access: ConsentAccess = { bankConsentId: 'consent-1', tokens: null };
  const adapter = (overrides: Partial<InstitutionDescriptor> = {}): BankAdapter =>
    createBerlinGroupAdapter({
      institution: { ...institution, ...overrides },
      credentials: { clientId: 'tpp' },
      redirectUri: 'https://gateway.example/callback',
      logger: pino({ level: 'silent' }),
    });

  beforeAll(async () => {
    await bank.start();
    institution = {
      id: 'testbank',
      name: 'Testbank',
      bic: 'TESTDEFFXXX',
      country: 'DE',
      logoUrl: null,
      standard: 'BERLIN_GROUP',
      standardVersion: '1.3.12',
      environment: 'sandbox',
      aisBaseUrl: `${bank.origin}/psd2`,
      pisBaseUrl: `${bank.origin}/psd2`,
      issuer: null,
      scopes: ['ACCOUNTS', 'BALANCES', 'TRANSACTIONS'],
      paymentSchemes: ['SEPA_CREDIT_TRANSFER'],
      paymentProducts: ['sepa-credit-transfers'],
      scaApproaches: ['REDIRECT', 'DECOUPLED'],
      maxConsentDays: 180,
      maxHistoryDays: 730,
      frequencyPerDay: 4,
      quirks: { sandbox: true },
    };
  });
  afterAll(() => bank.close());

  it('are all found (a file without them would make every test below vacuous)', () => {
    expect(EXAMPLES.length).toBeGreaterThanOrEqual(40);
  });

  it.each(EXAMPLES.map((e) => [e.response, e.name, e] as const))('%s “%s” conforms to the file’s own schema, or is listed with the reason', (_r, _n, e) => {
    const validate = validatorOf(e.response);
    const ok = validate(e.value);
    const key = `${e.response} ${e.name}`;
    if (key in NONCONFORMING) expect(ok, `${key} conforms now: take it off the list`).toBe(false);
    else expect(validate.errors ?? [], key).toEqual([]);
  });

  /** How the adapter meets each response the spec gives examples for. */
  const RUNS: Record<string, (value: unknown, name: string) => Promise<void>> = {
    async OK_200_AccountList(value) {
      bank.answer('GET', /\/v1\/accounts$/, value);
      const accounts = await adapter({ quirks: { sandbox: true, cardAccounts: false } }).accounts.listAccounts(ctx(), access);
      expect(accounts).toHaveLength((value as { accounts: unknown[] }).accounts.length);
      for (const a of accounts) expect(a.bankAccountId).toBeTruthy();
    },
    async OK_200_CardAccountList(value) {
      bank.answer('GET', /\/v1\/accounts$/, { accounts: [] });
      bank.answer('GET', /\/v1\/card-accounts$/, value);
      const accounts = await adapter().accounts.listAccounts(ctx(), access);
      expect(accounts.map((a) => a.bankAccountId)).toEqual(
        (value as { cardAccounts: { resourceId: string }[] }).cardAccounts.map((c) => `card:${c.resourceId}`),
      );
    },
    // GET /v1/accounts/{id} and friends are not called (the list carries the same objects): their parsers are.
    async OK_200_AccountDetails(value) {
      expect(mapAccount(bgAccountDetails.parse((value as { account: unknown }).account))?.bankAccountId).toBeTruthy();
    },
    async OK_200_CardAccountDetails(value) {
      expect(mapCardAccount(bgCardAccountDetails.parse((value as { cardAccount: unknown }).cardAccount))?.bankAccountId).toMatch(/^card:/);
    },
    async OK_200_TransactionDetails(value) {
      expect(mapTransaction(bgTransaction.parse((value as { transactionsDetails: unknown }).transactionsDetails), 'BOOKED').amount.amount).toMatch(/^-?\d/);
    },
    async OK_200_Balances(value) {
      bank.answer('GET', /\/v1\/accounts\/acc-1\/balances$/, value);
      const balances = await adapter().accounts.getBalances(ctx(), access, 'acc-1');
      expect(balances).toHaveLength((value as { balances: unknown[] }).balances.length);
    },
    async OK_200_CardAccountBalances(value) {
      bank.answer('GET', /\/v1\/card-accounts\/card-1\/balances$/, value);
      const got = await adapter()
        .accounts.getBalances(ctx(), access, 'card:card-1')
        .catch((err: unknown) => err);
      // Its first entry breaks the schema: refused as a whole, or (where malformed entries are skipped) the two good ones.
      if (Array.isArray(got)) expect(got.map((b) => b.amount.amount)).toEqual(['14355.78', '4175.86']);
      else expect(got).toBeInstanceOf(BankResponseInvalid);
    },
    async OK_200_AccountsTransactions(value) {
      bank.answer('GET', /\/v1\/accounts\/acc-1\/transactions$/, value);
      const report = (value as { transactions?: { booked?: unknown[]; pending?: unknown[]; _links?: { next?: unknown } } }).transactions;
      const read = async () => {
        const out: CanonicalTransaction[] = [];
        for await (const page of adapter().accounts.listTransactions(ctx(), access, 'acc-1', { dateFrom: '2017-10-25', dateTo: null, status: 'BOTH' })) {
          out.push(...page);
          if (report?._links?.next) break; // the example's next page is not part of the file
        }
        return out;
      };
      if (!report) {
        // Example 2: the report is offered only as a download (its href has no scheme: a path below the API root).
        bank.answer('GET', /\/transactions\/download\/$/, exampleOf('OK_200_AccountsTransactions', 'Example 1').value);
        const before = bank.received.length;
        const txs = await read();
        expect(bank.received.slice(before).map((r) => r.url)).toContain('/psd2/www.test-api.com/xs2a/v1/accounts/12345678999/transactions/download/');
        expect(txs.length).toBeGreaterThan(0);
        return;
      }
      const txs = await read();
      expect(txs).toHaveLength((report.booked?.length ?? 0) + (report.pending?.length ?? 0));
    },
    async OK_200_ConsentStatus(value) {
      bank.answer('GET', /\/v1\/consents\/consent-1\/status$/, value);
      expect(await adapter().consents.status(ctx(), { bankConsentId: 'consent-1', tokens: null })).toBe('VALID');
    },
    async OK_200_ConsentInformation(value) {
      bank.answer('GET', /\/v1\/consents\/consent-1\/status$/, { consentStatus: 'valid' });
      bank.answer('GET', /\/v1\/consents\/consent-1$/, value);
      const outcome = await adapter().consents.poll!(ctx(), { bankConsentId: 'consent-1', secrets: {} });
      expect(outcome.outcome).toBe('AUTHORISED');
      expect((outcome as { validUntil: Date }).validUntil.toISOString().slice(0, 10)).toBe((value as { validUntil: string }).validUntil);
    },
    async CREATED_201_Consents(value, name) {
      bank.answer('POST', /\/v1\/consents$/, value, 201);
      bank.answer(
        'POST',
        /\/authorisations$/,
        {
          scaStatus: 'received',
          authorisationId: 'auth-1',
          _links: {
            scaRedirect: { href: 'https://www.testbank.com/authentication/auth-1' },
            scaStatus: { href: '/psd2/v1/consents/1234-wertiq-983/authorisations/auth-1' },
          },
        },
        201,
      );
      const start = () =>
        adapter().consents.start(ctx(), {
          scopes: ['ACCOUNTS', 'BALANCES', 'TRANSACTIONS'],
          validUntil: new Date(Date.now() + 86_400_000),
          frequencyPerDay: 4,
          redirectUri: 'https://gateway.example/callback',
          state: 'state-of-the-spec-example-0001',
          psuId: 'PSU-1234',
          ...(/decoupled/i.test(name) ? { preferredApproach: 'DECOUPLED' } : {}),
        } as Parameters<BankAdapter['consents']['start']>[1]);
      if (/embedded/i.test(name)) {
        // Embedded SCA would pass the PSU's bank credentials through the gateway: refused with a code.
        await expect(start()).rejects.toBeInstanceOf(BankInvalidRequest);
        return;
      }
      if (/OAuth2/.test(name)) {
        bank.answer('GET', /\/\.well-known\/oauth-authorization-server/, oauthMetadata(bank.origin));
        const started = await start().catch((err: unknown) => err);
        // The example's scaOAuth is `{issuer}/.well-known/oauth-authorization-server`: refused as not the RFC 8414
        // form, or (where both forms are accepted) followed to the authorisation endpoint.
        if (started instanceof Error) expect(started).toBeInstanceOf(BankResponseInvalid);
        else expect((started as { authorizationUrl: string }).authorizationUrl).toContain(`${bank.origin}/oauth/authorize`);
        return;
      }
      const started = await start();
      expect(started.bankConsentId).toBe((value as { consentId: string }).consentId);
      if (/decoupled/i.test(name)) expect(started).toMatchObject({ approach: 'DECOUPLED', authorizationUrl: null });
      else expect(started.authorizationUrl).toMatch(/^https?:/);
    },
    async CREATED_201_StartScaProcess(value) {
      // The answer to an explicit start of the authorisation, followed after a consent that asks for it.
      bank.answer('POST', /\/v1\/consents$/, exampleOf('CREATED_201_Consents', 'dedicated start').value, 201);
      bank.answer('POST', /\/v1\/consents\/[^/]+\/authorisations$/, value, 201);
      const before = bank.received.length;
      const started = await adapter().consents.start(ctx(), {
        scopes: ['ACCOUNTS'],
        validUntil: new Date(Date.now() + 86_400_000),
        frequencyPerDay: 4,
        redirectUri: 'https://gateway.example/callback',
        state: 'state-of-the-spec-example-0001',
        psuId: 'PSU-1234',
        preferredApproach: 'DECOUPLED',
      } as Parameters<BankAdapter['consents']['start']>[1]);
      expect(bank.received.slice(before).map((r) => `${r.method} ${r.url}`)).toContain('POST /psd2/v1/consents/1234-wertiq-983/authorisations');
      // Its scaStatus link is kept to follow the end user's decision in the bank's app.
      expect(started).toMatchObject({ approach: 'DECOUPLED', authorizationUrl: null });
    },
    async CREATED_201_PaymentInitiation(value, name) {
      bank.answer('POST', /\/v1\/payments\/sepa-credit-transfers$/, value, 201);
      // (The second example's startAuthorisation link lacks a slash, `/psd2/v1/payments1234-…`: followed as given.)
      bank.answer(
        'POST',
        /\/authorisations$/,
        {
          scaStatus: 'received',
          authorisationId: 'auth-1',
          _links: {
            scaRedirect: { href: 'https://www.testbank.com/authentication/auth-1' },
            scaStatus: { href: '/v1/payments/sepa-credit-transfers/1234-wertiq-983/authorisations/auth-1' },
          },
        },
        201,
      );
      const initiate = () =>
        adapter().payments!.initiate(ctx(), {
          scheme: 'SEPA_CREDIT_TRANSFER',
          amount: { amount: '123.50', currency: 'EUR' },
          creditor: { name: 'Merchant123', iban: 'DE23100120020123456789' },
          debtorAccount: { iban: 'DE40100100103307118608' },
          remittanceInformation: 'Ref Number Merchant',
          redirectUri: 'https://gateway.example/callback',
          state: 'state-of-the-spec-example-0001',
          idempotencyKey: `key-${name}`,
        } as Parameters<NonNullable<BankAdapter['payments']>['initiate']>[1]);
      if (/embedded|decoupled/i.test(name)) {
        // Neither is offered for payments yet: a coded refusal, never a half-started payment.
        await expect(initiate()).rejects.toBeInstanceOf(BankInvalidRequest);
        return;
      }
      if (/OAuth2/.test(name)) {
        bank.answer('GET', /\/\.well-known\/oauth-authorization-server/, oauthMetadata(bank.origin));
        const started = await initiate().catch((err: unknown) => err);
        if (started instanceof Error) expect(started).toBeInstanceOf(BankResponseInvalid);
        else expect((started as { authorizationUrl: string }).authorizationUrl).toContain(`${bank.origin}/oauth/authorize`);
        return;
      }
      const started = await initiate();
      expect(started.bankPaymentId).toBe((value as { paymentId: string }).paymentId);
      expect(started.authorizationUrl).toMatch(/^https?:/);
    },
    async OK_200_PaymentInitiationStatus(value) {
      bank.answer('GET', /\/v1\/payments\/sepa-credit-transfers\/pay-1\/status$/, value);
      const status = await adapter().payments!.status(ctx(), { bankPaymentId: 'pay-1', secrets: { product: 'sepa-credit-transfers' } });
      const body = (typeof value === 'string' ? JSON.parse(value) : value) as { transactionStatus: string };
      expect(status.rawStatus).toBe(body.transactionStatus);
    },
    async RECEIVED_202_PaymentInitiationCancel(value) {
      bank.answer('DELETE', /\/v1\/payments\/sepa-credit-transfers\/pay-1$/, value, 202);
      await expect(adapter().payments!.cancel!(ctx(), { bankPaymentId: 'pay-1', secrets: { product: 'sepa-credit-transfers' } })).rejects.toBeInstanceOf(
        BankCancellationAuthorisationRequired,
      );
    },
  };

  it('has a run or a reason for every response the file gives examples for', () => {
    for (const e of EXAMPLES) expect(e.response in RUNS || e.response in NOT_CALLED, e.response).toBe(true);
  });

  it.each(EXAMPLES.filter((e) => e.response in RUNS).map((e) => [e.response, e.name, e] as const))('%s “%s” goes through the adapter', async (_r, name, e) => {
    await RUNS[e.response]!(structuredClone(e.value), name);
  });
});

function exampleOf(response: string, nameContains = ''): Example {
  const found = EXAMPLES.find((e) => e.response === response && e.name.includes(nameContains));
  if (!found) throw new Error(`no example ${response} ${nameContains}`);
  return found;
}

function oauthMetadata(origin: string): Json {
  return {
    issuer: `${origin}/oauth`,
    authorization_endpoint: `${origin}/oauth/authorize`,
    token_endpoint: `${origin}/oauth/token`,
    response_types_supported: ['code'],
    code_challenge_methods_supported: ['S256'],
  };
}
