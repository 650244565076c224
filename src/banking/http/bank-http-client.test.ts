import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  BankAccessExceeded,
  BankClientConfigError,
  BankConsentExpired,
  BankError,
  BankErrorCode,
  BankInvalidRequest,
  BankRateLimited,
  BankResponseInvalid,
  BankUnavailable,
} from '../errors';
import { createBankHttpClient, type BankCallRecord, type BankHttpClientOptions } from './bank-http-client';
import { json, raw, startScriptedServer, type ScriptedServer } from './test-server';
import { standards } from '../standards';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const accountsSchema = z.object({ accounts: z.array(z.object({ resourceId: z.string(), iban: z.string() })) });

let server: ScriptedServer;
let sleeps: number[];
let calls: BankCallRecord[];

beforeAll(async () => {
  server = await startScriptedServer();
});
afterAll(async () => {
  await server.close();
});
afterEach(() => {
  server.received.length = 0;
});

function client(overrides: Partial<BankHttpClientOptions> = {}) {
  sleeps = [];
  calls = [];
  return createBankHttpClient({
    institutionId: 'bank-test',
    protocol: standards.get('BERLIN_GROUP').protocol,
    baseUrl: `${server.origin}/psd2`,
    allowInsecureRequests: true,
    random: () => 0.5,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    onCall: (record) => calls.push(record),
    ...overrides,
  });
}

async function failure(promise: Promise<unknown>): Promise<BankError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof BankError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

const ok = json(200, { accounts: [{ resourceId: 'a1', iban: 'DE89370400440532013000' }] });

describe('a successful call', () => {
  it('sends a fresh X-Request-ID, the token, the PSU IP address and JSON headers, and returns the parsed answer', async () => {
    server.script(ok);
    const c = client();
    const res = await c.request({
      operation: 'accounts.list',
      method: 'GET',
      path: '/v1/accounts',
      query: { withBalance: true },
      schema: accountsSchema,
      accessToken: 'at-secret',
      psuIpAddress: '192.0.2.7',
      headers: { 'Consent-ID': 'consent-1' },
    });
    expect(res.data.accounts[0].resourceId).toBe('a1');
    expect(res.status).toBe(200);
    expect(res.attempts).toBe(1);
    expect(res.requestId).toMatch(UUID);
    const [seen] = server.received;
    expect(seen.url).toBe('/psd2/v1/accounts?withBalance=true');
    expect(seen.headers['x-request-id']).toBe(res.requestId);
    expect(seen.headers.authorization).toBe('Bearer at-secret');
    expect(seen.headers['psu-ip-address']).toBe('192.0.2.7');
    expect(seen.headers['consent-id']).toBe('consent-1');
    expect(seen.headers.accept).toBe('application/json');
    expect(calls).toEqual([
      expect.objectContaining({
        institutionId: 'bank-test',
        operation: 'accounts.list',
        method: 'GET',
        path: '/psd2/v1/accounts?withBalance=true',
        status: 200,
        requestId: res.requestId,
        attempt: 1,
        outcome: 'success',
      }),
    ]);
  });

  it('gives each logical call its own request id', async () => {
    server.script(ok);
    const c = client();
    const a = await c.request({ operation: 'accounts.list', method: 'GET', path: '/v1/accounts', schema: accountsSchema });
    const b = await c.request({ operation: 'accounts.list', method: 'GET', path: '/v1/accounts', schema: accountsSchema });
    expect(a.requestId).not.toBe(b.requestId);
  });

  it('speaks the UK headers: x-fapi-interaction-id and x-fapi-customer-ip-address', async () => {
    server.script(json(200, { Data: {} }));
    const c = client({ protocol: standards.get('UK_OPEN_BANKING').protocol });
    const res = await c.request({
      operation: 'accounts.list',
      method: 'GET',
      path: '/accounts',
      schema: z.object({ Data: z.object({}) }),
      psuIpAddress: '192.0.2.8',
    });
    expect(server.received[0].headers['x-fapi-interaction-id']).toBe(res.requestId);
    expect(server.received[0].headers['x-fapi-customer-ip-address']).toBe('192.0.2.8');
    expect(server.received[0].headers['psu-ip-address']).toBeUndefined();
  });

  it('sends a JSON body and parses an empty 204 answer as undefined', async () => {
    server.script(raw(204, ''));
    const c = client();
    const res = await c.request({ operation: 'consent.delete', method: 'DELETE', path: '/v1/consents/c-1', schema: z.undefined() });
    expect(res.data).toBeUndefined();
    server.script(json(201, { consentId: 'c-2' }));
    const created = await c.request({
      operation: 'consent.create',
      method: 'POST',
      path: '/v1/consents',
      body: { recurringIndicator: true },
      schema: z.object({ consentId: z.string() }),
    });
    expect(created.data.consentId).toBe('c-2');
    expect(server.received[1].body).toBe('{"recurringIndicator":true}');
    expect(server.received[1].headers['content-type']).toBe('application/json');
  });
});

describe('retries', () => {
  it('retries a GET on 503 with the same X-Request-ID and capped exponential backoff with full jitter', async () => {
    server.script(json(503, {}), json(503, {}), ok);
    const c = client({ backoff: { baseMs: 100, capMs: 150 } });
    const res = await c.request({ operation: 'accounts.list', method: 'GET', path: '/v1/accounts', schema: accountsSchema });
    expect(res.attempts).toBe(3);
    const ids = server.received.map((r) => r.headers['x-request-id']);
    expect(new Set(ids).size).toBe(1);
    expect(ids[0]).toBe(res.requestId);
    // min(cap, base·2ⁿ)·random with random = 0.5: min(150, 100)·0.5, min(150, 200)·0.5
    expect(sleeps).toEqual([50, 75]);
    expect(calls.map((c) => c.outcome)).toEqual(['retry', 'retry', 'success']);
    expect(calls.map((c) => c.attempt)).toEqual([1, 2, 3]);
  });

  it('gives up after maxRetries and throws BankUnavailable', async () => {
    server.script(json(502, {}));
    const c = client({ maxRetries: 2 });
    const err = await failure(c.request({ operation: 'accounts.list', method: 'GET', path: '/v1/accounts', schema: accountsSchema }));
    expect(err).toBeInstanceOf(BankUnavailable);
    expect(err.httpStatus).toBe(502);
    expect(server.received).toHaveLength(3);
    expect(calls.map((c) => c.outcome)).toEqual(['retry', 'retry', 'failed']);
  });

  it('waits at least Retry-After given in seconds', async () => {
    server.script(json(429, {}, { 'Retry-After': '2' }), ok);
    const c = client({ protocol: standards.get('STET').protocol });
    await c.request({ operation: 'accounts.list', method: 'GET', path: '/v1/accounts', schema: accountsSchema });
    expect(sleeps).toEqual([2000]);
  });

  it('waits at least Retry-After given as an HTTP date', async () => {
    const now = Date.parse('2026-11-25T12:00:00Z');
    server.script(json(503, {}, { 'Retry-After': 'Wed, 25 Nov 2026 12:00:07 GMT' }), ok);
    const c = client({ now: () => now });
    await c.request({ operation: 'accounts.list', method: 'GET', path: '/v1/accounts', schema: accountsSchema });
    expect(sleeps).toEqual([7000]);
  });

  it('keeps the backoff when it is longer than Retry-After', async () => {
    server.script(json(503, {}, { 'Retry-After': '0' }), ok);
    const c = client({ backoff: { baseMs: 400, capMs: 1000 } });
    await c.request({ operation: 'accounts.list', method: 'GET', path: '/v1/accounts', schema: accountsSchema });
    expect(sleeps).toEqual([200]);
  });

  it('gives up at once with BankRateLimited and retryAfterMs when Retry-After exceeds maxRetryAfterMs', async () => {
    server.script(json(429, {}, { 'Retry-After': '120' }), ok);
    const c = client({ protocol: standards.get('STET').protocol, maxRetryAfterMs: 60_000 });
    const err = await failure(c.request({ operation: 'accounts.list', method: 'GET', path: '/v1/accounts', schema: accountsSchema }));
    expect(err).toBeInstanceOf(BankRateLimited);
    expect(err.retryAfterMs).toBe(120_000);
    expect(server.received).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it('never retries ACCESS_EXCEEDED, even for a GET', async () => {
    server.script(json(429, { tppMessages: [{ category: 'ERROR', code: 'ACCESS_EXCEEDED', text: 'limit' }] }, { 'Retry-After': '1' }), ok);
    const c = client();
    const err = await failure(c.request({ operation: 'transactions.list', method: 'GET', path: '/v1/accounts/a1/transactions', schema: accountsSchema }));
    expect(err).toBeInstanceOf(BankAccessExceeded);
    expect(err.retryAfterMs).toBe(1000);
    expect(server.received).toHaveLength(1);
    expect(calls).toEqual([expect.objectContaining({ outcome: 'failed', errorCode: BankErrorCode.ACCESS_EXCEEDED, bankCode: 'ACCESS_EXCEEDED', status: 429 })]);
  });

  it('does not retry a POST without idempotency, whatever the status', async () => {
    server.script(json(503, {}), json(201, { consentId: 'c' }));
    const c = client();
    const err = await failure(
      c.request({
        operation: 'payment.initiate',
        method: 'POST',
        path: '/v1/payments/sepa-credit-transfers',
        body: { a: 1 },
        schema: z.object({ consentId: z.string() }),
      }),
    );
    expect(err).toBeInstanceOf(BankUnavailable);
    expect(server.received).toHaveLength(1);
  });

  it('retries a POST marked idempotent (it carries an idempotency key)', async () => {
    server.script(json(500, {}), json(201, { consentId: 'c' }));
    const c = client({ protocol: standards.get('UK_OPEN_BANKING').protocol });
    const res = await c.request({
      operation: 'payment.initiate',
      method: 'POST',
      path: '/pisp/domestic-payments',
      body: { Data: {} },
      headers: { 'x-idempotency-key': 'idem-1' },
      idempotent: true,
      schema: z.object({ consentId: z.string() }),
    });
    expect(res.attempts).toBe(2);
    expect(server.received.map((r) => r.headers['x-idempotency-key'])).toEqual(['idem-1', 'idem-1']);
  });

  it('does not retry errors that will not change: consent expired, invalid request', async () => {
    server.script(json(401, { tppMessages: [{ category: 'ERROR', code: 'CONSENT_EXPIRED' }] }));
    const c = client();
    expect(await failure(c.request({ operation: 'accounts.list', method: 'GET', path: '/v1/accounts', schema: accountsSchema }))).toBeInstanceOf(
      BankConsentExpired,
    );
    server.script(json(400, { tppMessages: [{ category: 'ERROR', code: 'FORMAT_ERROR' }] }));
    expect(await failure(c.request({ operation: 'accounts.list', method: 'GET', path: '/v1/accounts', schema: accountsSchema }))).toBeInstanceOf(
      BankInvalidRequest,
    );
    expect(server.received).toHaveLength(2);
  });

  it('retries even a POST when the connection was refused (nothing reached the bank)', async () => {
    const closed = await startScriptedServer();
    const origin = closed.origin;
    await closed.close();
    const c = client({ baseUrl: origin, maxRetries: 2 });
    const err = await failure(c.request({ operation: 'payment.initiate', method: 'POST', path: '/v1/payments', body: {}, schema: z.unknown() }));
    expect(err).toBeInstanceOf(BankUnavailable);
    expect((err as BankUnavailable).timedOut).toBe(false);
    expect(err.httpStatus).toBeUndefined();
    expect(calls).toHaveLength(3);
    expect(calls[0]).not.toHaveProperty('status', expect.anything());
  });
});

describe('timeouts', () => {
  it('aborts an attempt that gets no answer in time, retries a GET, then throws BankUnavailable with timedOut', async () => {
    server.script(() => {
      /* never answers */
    });
    const c = client({ timeoutMs: 50, maxRetries: 1 });
    const started = Date.now();
    const err = await failure(c.request({ operation: 'accounts.list', method: 'GET', path: '/v1/accounts', schema: accountsSchema }));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(err).toBeInstanceOf(BankUnavailable);
    expect((err as BankUnavailable).timedOut).toBe(true);
    expect(server.received).toHaveLength(2);
  });

  it('counts a body that stalls after the headers against the timeout', async () => {
    server.script((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"accounts":');
    });
    // Long enough for the headers to arrive on a busy machine, so the stall is in the body.
    const c = client({ timeoutMs: 500, maxRetries: 0 });
    const err = await failure(c.request({ operation: 'accounts.list', method: 'GET', path: '/v1/accounts', schema: accountsSchema }));
    expect(err).toBeInstanceOf(BankUnavailable);
    expect((err as BankUnavailable).timedOut).toBe(true);
    expect(err.httpStatus).toBe(200);
  });

  it('stops at once when the caller aborts, waits included', async () => {
    server.script(json(503, {}));
    const controller = new AbortController();
    const c = client({
      sleep: (ms, signal) =>
        new Promise((_resolve, reject) => {
          controller.abort(new Error('caller gave up'));
          reject(signal?.reason);
        }),
    });
    await expect(
      c.request({ operation: 'accounts.list', method: 'GET', path: '/v1/accounts', schema: accountsSchema, signal: controller.signal }),
    ).rejects.toThrow('caller gave up');
    expect(server.received).toHaveLength(1);
  });
});

describe('URLs', () => {
  it('joins paths to a base URL at the domain root without a double slash (no //v1/…)', async () => {
    server.script(ok);
    const c = client({ baseUrl: server.origin });
    expect(c.resolveUrl({ path: '/v1/accounts' }).href).toBe(`${server.origin}/v1/accounts`);
    expect(client({ baseUrl: `${server.origin}/` }).resolveUrl({ path: 'v1/accounts' }).href).toBe(`${server.origin}/v1/accounts`);
    await c.request({ operation: 'accounts.list', method: 'GET', path: '/v1/accounts', schema: accountsSchema });
    expect(server.received.map((r) => r.url)).toEqual(['/v1/accounts']);
  });

  it('follows a same-origin _links href, absolute or origin-relative, and keeps its query', async () => {
    server.script(ok);
    const c = client();
    await c.request({ operation: 'transactions.next', method: 'GET', url: `${server.origin}/psd2/v1/accounts/a1/transactions?page=2`, schema: accountsSchema });
    await c.request({ operation: 'transactions.next', method: 'GET', url: '/psd2/v1/accounts/a1/transactions?page=3', schema: accountsSchema });
    expect(server.received.map((r) => r.url)).toEqual(['/psd2/v1/accounts/a1/transactions?page=2', '/psd2/v1/accounts/a1/transactions?page=3']);
  });

  it('refuses a link to another origin without sending anything', async () => {
    server.script(ok);
    const c = client();
    for (const url of ['https://evil.example/psd2/v1/accounts', '//evil.example/psd2/v1/accounts', `http://localhost:1/psd2`]) {
      const err = await failure(c.request({ operation: 'transactions.next', method: 'GET', url, schema: accountsSchema, accessToken: 'at-secret' }));
      expect(err).toBeInstanceOf(BankResponseInvalid);
      expect(err.message).toContain('another origin');
    }
    expect(server.received).toHaveLength(0);
  });

  it('accepts origins listed in additionalOrigins', () => {
    const c = client({ additionalOrigins: ['https://payments.bank.example'] });
    expect(c.resolveUrl({ url: 'https://payments.bank.example/v1/payments/p1' }).href).toBe('https://payments.bank.example/v1/payments/p1');
  });

  it('refuses an http:// base URL unless allowInsecureRequests is set', () => {
    expect(() => createBankHttpClient({ institutionId: 'b', protocol: standards.get('STET').protocol, baseUrl: 'http://bank.example' })).toThrow(
      BankClientConfigError,
    );
    expect(() => createBankHttpClient({ institutionId: 'b', protocol: standards.get('STET').protocol, baseUrl: 'http://bank.example' })).toThrow(
      /allowInsecureRequests/,
    );
    expect(() => createBankHttpClient({ institutionId: 'b', protocol: standards.get('STET').protocol, baseUrl: 'https://bank.example' })).not.toThrow();
  });

  it('refuses an https client from following an http link on the same host', () => {
    const c = createBankHttpClient({ institutionId: 'b', protocol: standards.get('STET').protocol, baseUrl: 'https://bank.example/api' });
    expect(() => c.resolveUrl({ url: 'http://bank.example/api/accounts' })).toThrow(BankResponseInvalid);
    expect(c.resolveUrl({ path: 'accounts', query: { dateFrom: '2026-01-01', status: ['a', 'b'] } }).href).toBe(
      'https://bank.example/api/accounts?dateFrom=2026-01-01&status=a&status=b',
    );
  });
});

describe('answers that are not what the standard promises', () => {
  it('turns a schema failure into BankResponseInvalid with issues and a redacted excerpt, without retrying', async () => {
    server.script(json(200, { accounts: [{ resourceId: 42, iban: 'DE89370400440532013000', name: 'Erika Mustermann', access_token: 'leaked-token' }] }));
    const c = client();
    const err = await failure(c.request({ operation: 'accounts.list', method: 'GET', path: '/v1/accounts', schema: accountsSchema }));
    expect(err).toBeInstanceOf(BankResponseInvalid);
    const invalid = err as BankResponseInvalid;
    expect(invalid.issues).toEqual([{ path: 'accounts.0.resourceId', code: 'invalid_type', expected: 'string' }]);
    expect(invalid.httpStatus).toBe(200);
    expect(invalid.requestId).toMatch(UUID);
    expect(invalid.bodyExcerpt).toContain('DE89***3000');
    const everything = JSON.stringify(invalid) + invalid.message + String(invalid.stack);
    for (const secret of ['DE89370400440532013000', 'Erika', 'leaked-token']) expect(everything).not.toContain(secret);
    expect(server.received).toHaveLength(1);
  });

  it('turns malformed JSON and HTML into BankResponseInvalid', async () => {
    const c = client();
    server.script(raw(200, '{"accounts": [', { 'content-type': 'application/json' }));
    expect(await failure(c.request({ operation: 'accounts.list', method: 'GET', path: '/v1/accounts', schema: accountsSchema }))).toBeInstanceOf(
      BankResponseInvalid,
    );
    server.script(raw(200, '<html>maintenance</html>', { 'content-type': 'text/html' }));
    const html = await failure(c.request({ operation: 'accounts.list', method: 'GET', path: '/v1/accounts', schema: accountsSchema }));
    expect(html).toBeInstanceOf(BankResponseInvalid);
    expect(html.bodyExcerpt).toBe('<html>maintenance</html>');
  });

  it('does not follow redirects', async () => {
    server.script(raw(302, '', { location: 'https://evil.example/' }));
    const c = client();
    expect(await failure(c.request({ operation: 'accounts.list', method: 'GET', path: '/v1/accounts', schema: accountsSchema }))).toBeInstanceOf(
      BankResponseInvalid,
    );
    expect(server.received).toHaveLength(1);
  });

  it('refuses an answer larger than maxResponseBytes', async () => {
    server.script(json(200, { accounts: [], padding: 'x'.repeat(5000) }));
    const c = client({ maxResponseBytes: 1000 });
    const err = await failure(c.request({ operation: 'accounts.list', method: 'GET', path: '/v1/accounts', schema: accountsSchema }));
    expect(err).toBeInstanceOf(BankResponseInvalid);
    expect(err.message).toContain('larger than 1000 bytes');
  });
});

describe('logs and the audit record', () => {
  it('never contain the token, the PSU IP address, an IBAN or a body', async () => {
    const lines: string[] = [];
    const logger = pino(
      { level: 'trace' },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(chunk.toString('utf8'));
          done();
        },
      }),
    );
    server.script(json(503, { tppMessages: [{ category: 'ERROR', code: 'SERVICE_UNAVAILABLE', text: 'Account DE89370400440532013000 down' }] }), ok);
    const c = client({ logger });
    await c.request({
      operation: 'transactions.list',
      method: 'GET',
      path: '/v1/accounts/DE89370400440532013000/transactions',
      query: { dateFrom: '2026-01-01', iban: 'FR7630006000011234567890189' },
      schema: accountsSchema,
      accessToken: 'at-super-secret',
      psuIpAddress: '198.51.100.23',
    });
    const log = lines.join('\n');
    expect(lines.length).toBe(2);
    expect(log).toContain('transactions.list');
    expect(log).toContain('/psd2/v1/accounts/{id}/transactions?dateFrom=2026-01-01&iban={v}');
    const audit = JSON.stringify(calls);
    for (const secret of ['at-super-secret', 'Bearer', '198.51.100.23', 'DE89370400440532013000', 'FR7630006000011234567890189', 'tppMessages', 'resourceId']) {
      expect(log).not.toContain(secret);
      expect(audit).not.toContain(secret);
    }
    const first = JSON.parse(lines[0]) as Record<string, unknown>;
    expect(first).toMatchObject({ institutionId: 'bank-test', operation: 'transactions.list', method: 'GET', status: 503, attempt: 1, outcome: 'retry' });
    expect(typeof first.latencyMs).toBe('number');
    expect(first.requestId).toMatch(UUID);
  });

  it('keeps working when the onCall listener throws', async () => {
    server.script(ok);
    const c = client({
      onCall: () => {
        throw new Error('journal down');
      },
    });
    await expect(c.request({ operation: 'accounts.list', method: 'GET', path: '/v1/accounts', schema: accountsSchema })).resolves.toBeDefined();
  });
});
