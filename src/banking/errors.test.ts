import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  BankAccessExceeded,
  BankConsentExpired,
  BankConsentInvalid,
  BankError,
  BankErrorCode,
  bankErrorFromResponse,
  BankInvalidRequest,
  BankRateLimited,
  BankResponseInvalid,
  BankUnauthorized,
  BankUnavailable,
  extractBankCodes,
  isBankError,
  summariseZodIssues,
} from './errors';
import { standards } from './standards';

const SPECS = new URL('../../../shared/specs/', import.meta.url);

type Ctor = abstract new (...args: never[]) => BankError;

// The specification files are large; a YAML parse of each takes seconds, so the two lists the
// tests need are read from the text, in the files' own layout.

/** `MessageCode401_AIS:` … `enum:` followed by `- "CODE"` lines, from the Berlin Group 1.3.8 file. */
function messageCodeEnums(text: string): Array<{ name: string; status: number; codes: string[] }> {
  const out: Array<{ name: string; status: number; codes: string[] }> = [];
  for (const match of text.matchAll(/^ {4}(MessageCode(\d{3})_\w+):[^\n]*\n((?: {6}[^\n]*\n| *\n)+)/gm)) {
    const codes = [...match[3].matchAll(/^ {8}- "([A-Z_]+)"/gm)].map((m) => m[1]);
    if (codes.length > 0) out.push({ name: match[1], status: Number(match[2]), codes });
  }
  return out;
}

/** The `x-namespaced-enum` of `OBError1.ErrorCode` in a UK 3.1.11 file. */
function obError1Codes(text: string): string[] {
  const start = text.indexOf('    OBError1:');
  const section = text.slice(start, text.indexOf('\n    OBErrorResponse1:', start));
  return [...section.matchAll(/^ {12}- "(UK\.OBIE\.[A-Za-z.]+)"/gm)].map((m) => m[1]);
}

function fromWire(standard: string, status: number, body?: unknown, headers?: Record<string, string>): BankError {
  return bankErrorFromResponse({
    institutionId: 'bank-test',
    operation: 'accounts.list',
    dialect: standards.get(standard).protocol.errors,
    status,
    headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    requestId: 'req-1',
    now: Date.parse('2026-11-25T12:00:00Z'),
  });
}

const tpp = (code: string, category = 'ERROR', text = 'Some text.') => ({ tppMessages: [{ category, code, text }] });
const obie = (...codes: string[]) => ({
  Code: '400 BadRequest',
  Id: 'b6f3f3b0-1',
  Message: 'There is something wrong with the request parameters provided',
  Errors: codes.map((ErrorCode) => ({ ErrorCode, Message: 'Detail.', Path: 'Data.Initiation' })),
});
const stet = (status: number, error: string, message = 'Details.') => ({
  timestamp: '2026-11-25T12:00:00Z',
  status,
  error,
  message,
  path: '/stet/psd2/v1.6/accounts',
});

describe('the bank error family', () => {
  it('gives every kind its own stable code and keeps the call context', () => {
    const err = fromWire('BERLIN_GROUP', 401, tpp('CONSENT_EXPIRED'));
    expect(err).toBeInstanceOf(BankError);
    expect(err).toBeInstanceOf(BankConsentExpired);
    expect(err.code).toBe(BankErrorCode.CONSENT_EXPIRED);
    expect(err.code).toBe('BANK_CONSENT_EXPIRED');
    expect(err.name).toBe('BankConsentExpired');
    expect(err.institutionId).toBe('bank-test');
    expect(err.operation).toBe('accounts.list');
    expect(err.httpStatus).toBe(401);
    expect(err.bankCode).toBe('CONSENT_EXPIRED');
    expect(err.requestId).toBe('req-1');
    expect(err.message).toContain('accounts.list at bank-test');
    expect(isBankError(err)).toBe(true);
    expect(isBankError(err, BankErrorCode.CONSENT_EXPIRED)).toBe(true);
    expect(isBankError(err, BankErrorCode.CONSENT_INVALID)).toBe(false);
    expect(isBankError(new Error('x'))).toBe(false);
    const codes = new Set(Object.values(BankErrorCode));
    expect(codes.size).toBe(8);
  });

  it('serialises to JSON without its cause', () => {
    const err = new BankUnavailable('down', { institutionId: 'b', operation: 'op', cause: new Error('secret-ish detail'), timedOut: true });
    const json = JSON.stringify(err);
    expect(json).not.toContain('secret-ish');
    expect(JSON.parse(json)).toMatchObject({ code: 'BANK_UNAVAILABLE', timedOut: true, institutionId: 'b' });
    expect(err.cause).toBeInstanceOf(Error);
  });

  it('summarises zod issues by path and code without the received values', () => {
    const schema = z.object({ accounts: z.array(z.object({ iban: z.string(), balance: z.number() })) });
    const result = schema.safeParse({ accounts: [{ iban: 12345, balance: 'DE89370400440532013000' }] });
    expect(result.success).toBe(false);
    const issues = summariseZodIssues(result.error!);
    expect(issues).toEqual([
      { path: 'accounts.0.iban', code: 'invalid_type', expected: 'string' },
      { path: 'accounts.0.balance', code: 'invalid_type', expected: 'number' },
    ]);
    expect(JSON.stringify(issues)).not.toContain('DE89');
    const err = new BankResponseInvalid('bad', { institutionId: 'b', operation: 'op', issues });
    expect(err.issues).toHaveLength(2);
    expect(err.code).toBe(BankErrorCode.RESPONSE_INVALID);
  });
});

describe('Berlin Group errors (tppMessages and RFC 7807 shapes)', () => {
  const cases: Array<[number, string, Ctor]> = [
    [401, 'CONSENT_EXPIRED', BankConsentExpired],
    [401, 'CONSENT_INVALID', BankConsentInvalid],
    [403, 'CONSENT_UNKNOWN', BankConsentInvalid],
    [400, 'CONSENT_UNKNOWN', BankConsentInvalid],
    [429, 'ACCESS_EXCEEDED', BankAccessExceeded],
    [401, 'TOKEN_INVALID', BankUnauthorized],
    [401, 'TOKEN_EXPIRED', BankUnauthorized],
    [401, 'TOKEN_UNKNOWN', BankUnauthorized],
    [401, 'CERTIFICATE_INVALID', BankUnauthorized],
    [401, 'SIGNATURE_MISSING', BankUnauthorized],
    [400, 'FORMAT_ERROR', BankInvalidRequest],
    [400, 'PARAMETER_NOT_SUPPORTED', BankInvalidRequest],
    [400, 'PERIOD_INVALID', BankInvalidRequest],
    [404, 'RESOURCE_UNKNOWN', BankInvalidRequest],
    [405, 'SERVICE_INVALID', BankInvalidRequest],
    [406, 'REQUESTED_FORMATS_INVALID', BankInvalidRequest],
    [409, 'STATUS_INVALID', BankInvalidRequest],
    [503, 'SERVICE_UNAVAILABLE', BankUnavailable],
    [500, 'INTERNAL_SERVER_ERROR', BankUnavailable],
  ];
  it.each(cases)('maps HTTP %i %s to %o', (status, code, ctor) => {
    const err = fromWire('BERLIN_GROUP', status, tpp(code));
    expect(err).toBeInstanceOf(ctor);
    expect(err.bankCode).toBe(code);
    expect(err.httpStatus).toBe(status);
  });

  it('maps every message code of the 1.3.8 specification to a kind chosen on purpose', () => {
    const enums = messageCodeEnums(readFileSync(new URL('berlin-group-psd2-api-1.3.8-with-message-codes.yaml', SPECS), 'utf8'));
    expect(enums.length).toBeGreaterThan(25);
    const expected: Record<string, Ctor> = {
      CONSENT_EXPIRED: BankConsentExpired,
      CONSENT_INVALID: BankConsentInvalid,
      CONSENT_UNKNOWN: BankConsentInvalid,
      ACCESS_EXCEEDED: BankAccessExceeded,
      CERTIFICATE_INVALID: BankUnauthorized,
      CERTIFICATE_EXPIRED: BankUnauthorized,
      CERTIFICATE_BLOCKED: BankUnauthorized,
      CERTIFICATE_REVOKE: BankUnauthorized,
      CERTIFICATE_MISSING: BankUnauthorized,
      SIGNATURE_INVALID: BankUnauthorized,
      SIGNATURE_MISSING: BankUnauthorized,
      ROLE_INVALID: BankUnauthorized,
      PSU_CREDENTIALS_INVALID: BankUnauthorized,
      TOKEN_UNKNOWN: BankUnauthorized,
      TOKEN_INVALID: BankUnauthorized,
      TOKEN_EXPIRED: BankUnauthorized,
      REQUIRED_KID_MISSING: BankUnauthorized,
      CORPORATE_ID_INVALID: BankInvalidRequest,
      FORMAT_ERROR: BankInvalidRequest,
      PARAMETER_NOT_CONSISTENT: BankInvalidRequest,
      PARAMETER_NOT_SUPPORTED: BankInvalidRequest,
      SERVICE_INVALID: BankInvalidRequest,
      SERVICE_BLOCKED: BankInvalidRequest,
      RESOURCE_UNKNOWN: BankInvalidRequest,
      RESOURCE_EXPIRED: BankInvalidRequest,
      RESOURCE_BLOCKED: BankInvalidRequest,
      TIMESTAMP_INVALID: BankInvalidRequest,
      PERIOD_INVALID: BankInvalidRequest,
      SCA_METHOD_UNKNOWN: BankInvalidRequest,
      SCA_INVALID: BankInvalidRequest,
      SESSIONS_NOT_SUPPORTED: BankInvalidRequest,
      PAYMENT_FAILED: BankInvalidRequest,
      EXECUTION_DATE_INVALID: BankInvalidRequest,
      CARD_INVALID: BankInvalidRequest,
      NO_PIIS_ACTIVATION: BankInvalidRequest,
      REFERENCE_MIX_INVALID: BankInvalidRequest,
      PRODUCT_INVALID: BankInvalidRequest,
      PRODUCT_UNKNOWN: BankInvalidRequest,
      CANCELLATION_INVALID: BankInvalidRequest,
      REQUESTED_FORMATS_INVALID: BankInvalidRequest,
      STATUS_INVALID: BankInvalidRequest,
      REFERENCE_STATUS_INVALID: BankInvalidRequest,
    };
    let checked = 0;
    for (const { name, status, codes } of enums) {
      for (const code of codes) {
        const ctor = expected[code];
        expect(ctor, `${code} (${name}) needs a decision`).toBeDefined();
        expect(fromWire('BERLIN_GROUP', Number(status), tpp(code)), `${code} at ${status}`).toBeInstanceOf(ctor);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(100);
  });

  it('reads the error messages before the warnings', () => {
    const body = {
      tppMessages: [
        { category: 'WARNING', code: 'WARNING', text: 'w' },
        { category: 'ERROR', code: 'CONSENT_INVALID', text: 'e' },
      ],
    };
    expect(extractBankCodes(standards.get('BERLIN_GROUP').protocol.errors, body)).toEqual(['CONSENT_INVALID', 'WARNING']);
    expect(fromWire('BERLIN_GROUP', 401, body)).toBeInstanceOf(BankConsentInvalid);
  });

  it('lets the most specific code win when several are listed', () => {
    const body = {
      tppMessages: [
        { category: 'ERROR', code: 'FORMAT_ERROR' },
        { category: 'ERROR', code: 'CONSENT_EXPIRED' },
      ],
    };
    const err = fromWire('BERLIN_GROUP', 400, body);
    expect(err).toBeInstanceOf(BankConsentExpired);
    expect(err.bankCode).toBe('CONSENT_EXPIRED');
  });

  it('reads the RFC 7807 variant with additionalErrors', () => {
    const body = {
      type: 'https://berlingroup.com/error-codes/CONSENT_EXPIRED',
      title: 'Consent expired',
      detail: 'The consent has expired.',
      code: 'CONSENT_EXPIRED',
      additionalErrors: [{ title: 'x', detail: 'y', code: 'TOKEN_INVALID' }],
    };
    expect(extractBankCodes(standards.get('BERLIN_GROUP').protocol.errors, body)).toEqual(['CONSENT_EXPIRED', 'TOKEN_INVALID']);
    expect(fromWire('BERLIN_GROUP', 401, body)).toBeInstanceOf(BankConsentExpired);
  });

  it('keeps a 5xx an outage even when the body names a request problem', () => {
    expect(fromWire('BERLIN_GROUP', 500, tpp('FORMAT_ERROR'))).toBeInstanceOf(BankUnavailable);
  });

  it('carries Retry-After in milliseconds, in seconds or as an HTTP date', () => {
    expect(fromWire('BERLIN_GROUP', 429, tpp('ACCESS_EXCEEDED'), { 'Retry-After': '3600' }).retryAfterMs).toBe(3_600_000);
    const dated = fromWire('BERLIN_GROUP', 503, undefined, { 'retry-after': 'Wed, 25 Nov 2026 12:00:30 GMT' });
    expect(dated).toBeInstanceOf(BankUnavailable);
    expect(dated.retryAfterMs).toBe(30_000);
  });
});

describe('UK Open Banking errors (OBErrorResponse1, 3.1 and 4.0)', () => {
  const cases: Array<[number, unknown, Ctor, string | undefined]> = [
    [403, obie('UK.OBIE.Reauthenticate'), BankConsentExpired, 'UK.OBIE.Reauthenticate'],
    [403, obie('UK.OBIE.Resource.InvalidConsentStatus'), BankConsentInvalid, 'UK.OBIE.Resource.InvalidConsentStatus'],
    [403, obie('UK.OBIE.Resource.NotFound'), BankConsentInvalid, 'UK.OBIE.Resource.NotFound'],
    [400, obie('UK.OBIE.Resource.NotFound'), BankInvalidRequest, 'UK.OBIE.Resource.NotFound'],
    [400, obie('UK.OBIE.Field.Missing', 'UK.OBIE.Field.Invalid'), BankInvalidRequest, 'UK.OBIE.Field.Missing'],
    [400, obie('UK.OBIE.Header.Missing'), BankInvalidRequest, 'UK.OBIE.Header.Missing'],
    [400, obie('UK.OBIE.Unsupported.Currency'), BankInvalidRequest, 'UK.OBIE.Unsupported.Currency'],
    [400, obie('UK.OBIE.Rules.DuplicateReference'), BankInvalidRequest, 'UK.OBIE.Rules.DuplicateReference'],
    [400, obie('UK.OBIE.Signature.Invalid'), BankUnauthorized, 'UK.OBIE.Signature.Invalid'],
    [500, obie('UK.OBIE.UnexpectedError'), BankUnavailable, 'UK.OBIE.UnexpectedError'],
    // A bank's own namespace, as the sandbox's Thames bank answers.
    [
      429,
      { Code: 'ACCESS_EXCEEDED', Id: 'x', Message: 'quota', Errors: [{ ErrorCode: 'UK.THAMES.Rules.AccessExceeded', Message: 'quota' }] },
      BankAccessExceeded,
      'UK.THAMES.Rules.AccessExceeded',
    ],
    [
      429,
      { Code: 'RATE_LIMITED', Id: 'x', Message: 'slow down', Errors: [{ ErrorCode: 'UK.THAMES.Rules.RateLimited', Message: 'slow' }] },
      BankRateLimited,
      'UK.THAMES.Rules.RateLimited',
    ],
    // 4.0: Code and Message are deprecated; ErrorCode is a four-letter code, decided by the status.
    [400, { Errors: [{ ErrorCode: 'U004', Message: 'Missing field' }] }, BankInvalidRequest, 'U004'],
    [403, { Errors: [{ ErrorCode: 'U010', Message: 'Consent not authorised' }] }, BankConsentInvalid, 'U010'],
    [500, { Errors: [{ ErrorCode: 'U000' }] }, BankUnavailable, 'U000'],
    // No body at all, as UK ASPSPs answer 404 and 429.
    [404, undefined, BankInvalidRequest, undefined],
    [429, undefined, BankRateLimited, undefined],
    [502, undefined, BankUnavailable, undefined],
  ];
  it.each(cases)('maps HTTP %i %j to %o', (status, body, ctor, bankCode) => {
    const err = fromWire('UK_OPEN_BANKING', status, body);
    expect(err).toBeInstanceOf(ctor);
    expect(err.bankCode).toBe(bankCode);
  });

  it('reads a 401 without a body from WWW-Authenticate', () => {
    const err = fromWire('UK_OPEN_BANKING', 401, '', { 'WWW-Authenticate': 'Bearer error="invalid_token", error_description="expired"' });
    expect(err).toBeInstanceOf(BankUnauthorized);
    expect(err.bankCode).toBe('invalid_token');
  });

  it('ignores the 3.1 free-text Code such as "400 BadRequest"', () => {
    expect(extractBankCodes(standards.get('UK_OPEN_BANKING').protocol.errors, obie('UK.OBIE.Field.Invalid'))).toEqual(['UK.OBIE.Field.Invalid']);
  });

  it('maps every ErrorCode of the 3.1.11 specifications to a kind chosen on purpose', () => {
    const codes = new Set<string>();
    for (const file of ['uk-obie-3.1.11-account-info.yaml', 'uk-obie-3.1.11-payment-initiation.yaml']) {
      for (const code of obError1Codes(readFileSync(new URL(file, SPECS), 'utf8'))) codes.add(code);
    }
    const expected = (code: string): Ctor => {
      if (code === 'UK.OBIE.Reauthenticate') return BankConsentExpired;
      if (code === 'UK.OBIE.Resource.InvalidConsentStatus') return BankConsentInvalid;
      if (code === 'UK.OBIE.UnexpectedError') return BankUnavailable;
      if (code.startsWith('UK.OBIE.Signature.')) return BankUnauthorized;
      return BankInvalidRequest;
    };
    expect(codes.size).toBeGreaterThan(20);
    for (const code of codes) {
      const status = code === 'UK.OBIE.UnexpectedError' ? 500 : code.startsWith('UK.OBIE.Re') && code !== 'UK.OBIE.Resource.InvalidFormat' ? 403 : 400;
      const ctor = code === 'UK.OBIE.Resource.NotFound' ? BankConsentInvalid : expected(code);
      expect(fromWire('UK_OPEN_BANKING', status, obie(code)), code).toBeInstanceOf(ctor);
    }
  });
});

describe('STET errors (Spring-style error model and OAuth errors)', () => {
  const cases: Array<[number, unknown, Ctor]> = [
    [401, stet(401, 'CONSENT_EXPIRED'), BankConsentExpired],
    [403, stet(403, 'CONSENT_INVALID'), BankConsentInvalid],
    [403, stet(403, 'CONSENT_UNKNOWN'), BankConsentInvalid],
    [429, stet(429, 'ACCESS_EXCEEDED'), BankAccessExceeded],
    [429, stet(429, 'TOO_MANY_REQUESTS'), BankRateLimited],
    [429, stet(429, 'Too Many Requests'), BankRateLimited],
    [401, stet(401, 'INVALID_TOKEN'), BankUnauthorized],
    [401, stet(401, 'EXPIRED_TOKEN'), BankUnauthorized],
    [401, stet(401, 'Unauthorized'), BankUnauthorized],
    [401, { error: 'invalid_token', error_description: 'The access token expired' }, BankUnauthorized],
    [400, stet(400, 'Bad Request'), BankInvalidRequest],
    [400, stet(400, 'FORMAT_ERROR'), BankInvalidRequest],
    [400, stet(400, 'PERIOD_INVALID'), BankInvalidRequest],
    [404, stet(404, 'Not Found'), BankInvalidRequest],
    [403, stet(403, 'Forbidden'), BankInvalidRequest],
    [500, stet(500, 'Internal Server Error'), BankUnavailable],
    [503, stet(503, 'SERVICE_UNAVAILABLE'), BankUnavailable],
  ];
  it.each(cases)('maps HTTP %i %j to %o', (status, body, ctor) => {
    expect(fromWire('STET', status, body)).toBeInstanceOf(ctor);
  });

  it('keeps the bank code as the bank spelled it', () => {
    expect(fromWire('STET', 429, stet(429, 'Too Many Requests')).bankCode).toBe('Too Many Requests');
  });

  it('cleans and shortens free text that a bank puts where the code belongs', () => {
    const err = fromWire('STET', 400, stet(400, `Account FR7630006000011234567890189 is unknown ${'x'.repeat(200)}`));
    expect(err).toBeInstanceOf(BankInvalidRequest);
    expect(err.bankCode!.length).toBeLessThanOrEqual(80);
    expect(err.bankCode).toContain('FR76***0189');
    expect(err.message).not.toContain('FR7630006000011234567890189');
  });
});

describe('answers no standard describes', () => {
  it('turns an HTML 502 page into an outage with a short excerpt', () => {
    const html = `<html><body><h1>502 Bad Gateway</h1>${'x'.repeat(2000)}</body></html>`;
    const err = fromWire('BERLIN_GROUP', 502, html);
    expect(err).toBeInstanceOf(BankUnavailable);
    expect(err.bankCode).toBeUndefined();
    expect(err.bodyExcerpt!.length).toBeLessThanOrEqual(500);
    expect(err.bodyExcerpt).toContain('502 Bad Gateway');
  });

  it('turns an unexpected redirect or success status into BankResponseInvalid', () => {
    expect(fromWire('STET', 302, '')).toBeInstanceOf(BankResponseInvalid);
    expect(fromWire('STET', 200, '{}')).toBeInstanceOf(BankResponseInvalid);
  });

  it('maps 408 to an outage and 501 to an invalid request', () => {
    expect(fromWire('BERLIN_GROUP', 408)).toBeInstanceOf(BankUnavailable);
    expect(fromWire('BERLIN_GROUP', 501)).toBeInstanceOf(BankInvalidRequest);
  });
});

describe('the body excerpt', () => {
  it('masks tokens, IBANs and names and stays within 500 characters', () => {
    const body = {
      tppMessages: [
        {
          category: 'ERROR',
          code: 'FORMAT_ERROR',
          text: 'Account DE89370400440532013000 of Erika Mustermann refused; token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl',
        },
      ],
      account: { iban: 'FR7630006000011234567890189', ownerName: 'Erika Mustermann' },
      access_token: 'at-very-secret',
      padding: 'y'.repeat(3000),
    };
    const err = fromWire('BERLIN_GROUP', 400, body);
    const excerpt = err.bodyExcerpt!;
    expect(excerpt.length).toBeLessThanOrEqual(500);
    expect(excerpt).toContain('FORMAT_ERROR');
    expect(excerpt).not.toContain('DE89370400440532013000');
    expect(excerpt).not.toContain('FR7630006000011234567890189');
    expect(excerpt).not.toContain('at-very-secret');
    expect(excerpt).not.toContain('eyJhbGciOiJSUzI1NiJ9');
    expect(excerpt).toContain('FR76***0189');
    expect(excerpt).toContain('"ownerName":"[redacted]"');
  });
});
