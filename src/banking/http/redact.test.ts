import { describe, expect, it } from 'vitest';
import { describeUrl, isSensitiveKey, maskIban, pathTemplate, redact, redactedExcerpt, redactHeaders, redactText, REDACTED } from './redact';

describe('redact', () => {
  it('masks tokens, secrets, codes, PSU data and names under their keys, at any depth', () => {
    const input = {
      access_token: 'at-1',
      refreshToken: 'rt-1',
      client_secret: 'cs-1',
      code: 'SplxlOBeZQQYbYS6WxSbIA',
      'PSU-IP-Address': '192.0.2.10',
      nested: [{ creditorName: 'Jean Dupont', iban: 'FR7630006000011234567890189', amount: '12.50', currency: 'EUR' }],
      productName: 'Compte courant',
      status: 'valid',
    };
    const out = redact(input) as typeof input;
    expect(out.access_token).toBe(REDACTED);
    expect(out.refreshToken).toBe(REDACTED);
    expect(out.client_secret).toBe(REDACTED);
    expect(out.code).toBe(REDACTED);
    expect(out['PSU-IP-Address']).toBe(REDACTED);
    expect(out.nested[0].creditorName).toBe(REDACTED);
    expect(out.nested[0].iban).toBe('FR76***0189');
    expect(out.nested[0].amount).toBe('12.50');
    expect(out.productName).toBe('Compte courant');
    expect(out.status).toBe('valid');
    // The input is untouched.
    expect(input.access_token).toBe('at-1');
  });

  it('keeps error codes that live under a key named code', () => {
    expect(redact({ code: 'CONSENT_EXPIRED' })).toEqual({ code: 'CONSENT_EXPIRED' });
    expect(redact({ code: 'UK.OBIE.Field.Missing' })).toEqual({ code: 'UK.OBIE.Field.Missing' });
    expect(redact({ code: 'AC17' })).toEqual({ code: 'AC17' });
  });

  it('survives cycles', () => {
    const a: Record<string, unknown> = { name: 'x' };
    a.self = a;
    expect(() => redact(a)).not.toThrow();
  });
});

describe('redactText', () => {
  it('masks bearer credentials, JWTs, key=value secrets, IBANs, card numbers, e-mails and IPs', () => {
    const text =
      'Authorization: Bearer abc.def-123 token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig_value ' +
      'access_token=tok123&code=abcXYZ "refresh_token":"r-9" IBAN GB29 NWBK 6016 1331 9268 19 ' +
      'card 4111 1111 1111 1111 mail jean@example.com from 203.0.113.7';
    const out = redactText(text);
    for (const secret of ['abc.def-123', 'eyJhbGciOiJIUzI1NiJ9', 'tok123', 'abcXYZ', 'r-9', 'NWBK 6016', '4111 1111 1111', 'jean@example.com', '203.0.113.7']) {
      expect(out).not.toContain(secret);
    }
    expect(out).toContain('GB29***6819');
    expect(out).toContain('***1111');
  });

  it('leaves dates, amounts and error codes readable', () => {
    const text = 'bookingDate 2026-11-25T10:00:00Z amount 1234.56 code=CONSENT_EXPIRED';
    expect(redactText(text)).toBe(text);
  });
});

describe('maskIban', () => {
  it('keeps the country, check digits and last four only', () => {
    expect(maskIban('DE89 3704 0044 0532 0130 00')).toBe('DE89***3000');
    expect(maskIban('short')).toBe(REDACTED);
  });
});

describe('redactHeaders', () => {
  it('masks every header that is not known to be harmless', () => {
    const out = redactHeaders(new Headers({ Authorization: 'Bearer x', 'PSU-IP-Address': '1.2.3.4', 'X-Request-ID': 'r1', Cookie: 'a=b' }));
    expect(out).toEqual({ authorization: REDACTED, 'psu-ip-address': REDACTED, 'x-request-id': 'r1', cookie: REDACTED });
    expect(isSensitiveKey('Consent-ID')).toBe(false);
  });
});

describe('redactedExcerpt', () => {
  it('cuts after redacting so no half token is left, and reads text bodies', () => {
    const excerpt = redactedExcerpt(`{"broken json ${'z'.repeat(600)} Bearer abcdef`, 100)!;
    expect(excerpt.length).toBeLessThanOrEqual(100);
    expect(redactedExcerpt('')).toBeUndefined();
    expect(redactedExcerpt(undefined)).toBeUndefined();
  });
});

describe('pathTemplate and describeUrl', () => {
  it('replaces resource ids in paths and keeps the route', () => {
    expect(pathTemplate('/v1/accounts/3dc3d5b3-7023-4848-9853-f5400a64e80f/transactions')).toBe('/v1/accounts/{id}/transactions');
    expect(pathTemplate('/stet/psd2/v1.6/accounts/FR7630006000011234567890189/balances')).toBe('/stet/psd2/v1.6/accounts/{id}/balances');
    expect(pathTemplate('/open-banking/v3.1/aisp/accounts/22289/balances')).toBe('/open-banking/v3.1/aisp/accounts/{id}/balances');
    expect(pathTemplate('/open-banking/v3.1/aisp/account-access-consents/urn-alphabank-intent-88379')).toBe(
      '/open-banking/v3.1/aisp/account-access-consents/{id}',
    );
    expect(pathTemplate('/open-banking/v3.1/pisp/international-scheduled-payment-consents')).toBe(
      '/open-banking/v3.1/pisp/international-scheduled-payment-consents',
    );
    expect(pathTemplate('/v1/payments/sepa-credit-transfers/aBcDeFgHiJkLmNoPqRsT/status')).toBe('/v1/payments/sepa-credit-transfers/{id}/status');
  });

  it('keeps dates and paging in the query and hides every other value', () => {
    const url = new URL(
      'https://bank.example/v1/accounts/acc-1234567890ab/transactions?dateFrom=2026-01-01&bookingStatus=booked&iban=DE89370400440532013000&psuName=Erika',
    );
    const described = describeUrl(url);
    expect(described).toBe('/v1/accounts/{id}/transactions?dateFrom=2026-01-01&bookingStatus=booked&iban={v}&psuName={v}');
  });
});
