import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { friendlyFormatIBAN } from 'ibantools';
import { checkIban, checkIdempotencyKey, validatePayment, type PaymentDraft } from './validation';

const TODAY = '2026-11-25';
const nordlicht = { name: 'Nordlicht Bank', paymentSchemes: ['SEPA_CREDIT_TRANSFER', 'SEPA_INSTANT'] as const };
const thames = { name: 'Thames & Harbour Bank', paymentSchemes: ['FASTER_PAYMENTS'] as const };

const sepa = (over: Partial<PaymentDraft> = {}): PaymentDraft => ({
  scheme: 'SEPA_CREDIT_TRANSFER',
  debtorAccount: { iban: 'DE89370400440532013000' },
  creditor: { name: 'Keller Bau GmbH', iban: 'FR1420041010050500013M02606', bic: 'BNPAFRPPXXX' },
  amount: { amount: '12.30', currency: 'EUR' },
  remittanceInformation: 'Invoice 2026-114',
  endToEndId: 'E2E-2026-114',
  requestedExecutionDate: null,
  ...over,
});
const fps = (over: Partial<PaymentDraft> = {}): PaymentDraft => ({
  scheme: 'FASTER_PAYMENTS',
  debtorAccount: { iban: 'GB29NWBK60161331926819' },
  creditor: { name: 'Harbour Ltd', iban: 'GB33BUKB20201555555555', bic: null },
  amount: { amount: '5', currency: 'GBP' },
  remittanceInformation: 'INV 42',
  endToEndId: null,
  requestedExecutionDate: null,
  ...over,
});

function codes(draft: PaymentDraft, institution: typeof nordlicht | typeof thames | null = nordlicht) {
  const r = validatePayment(draft, { today: TODAY, institution });
  return r.ok ? [] : r.userErrors.map((e) => `${e.field.join('.')}:${e.code}`);
}

describe('payment validation', () => {
  it('accepts a well-formed SEPA payment and spells it canonically (electronic IBANs, amount at the currency scale)', () => {
    const r = validatePayment(
      sepa({
        creditor: { name: ' Keller Bau GmbH ', iban: 'fr14 2004 1010 0505 0001 3m02 606', bic: 'bnpafrpp' },
        amount: { amount: '0012.3', currency: 'EUR' },
      }),
      {
        today: TODAY,
        institution: nordlicht,
      },
    );
    expect(r).toEqual({
      ok: true,
      value: expect.objectContaining({
        creditor: { name: 'Keller Bau GmbH', iban: 'FR1420041010050500013M02606', bic: 'BNPAFRPP' },
        amount: { amount: '12.30', currency: 'EUR' },
      }),
    });
    expect(codes(fps(), thames)).toEqual([]);
  });

  it('refuses a wrong IBAN checksum, a wrong country format and an unknown country, at the field that holds it', () => {
    expect(codes(sepa({ creditor: { name: 'X', iban: 'FR1420041010050500013M02607', bic: null } }))).toEqual(['input.creditor.iban:INVALID_IBAN']);
    expect(codes(sepa({ debtorAccount: { iban: 'DE8937040044053201300' } }))).toEqual(['input.debtorAccount.iban:INVALID_IBAN']);
    expect(codes(sepa({ creditor: { name: 'X', iban: 'QQ89370400440532013000', bic: null } }))).toEqual(['input.creditor.iban:INVALID_IBAN']);
  });

  it('refuses a malformed BIC', () => {
    expect(codes(sepa({ creditor: { name: 'X', iban: 'FR1420041010050500013M02606', bic: 'BNP1FRPP' } }))).toEqual(['input.creditor.bic:INVALID_BIC']);
    expect(codes(sepa({ creditor: { name: 'X', iban: 'FR1420041010050500013M02606', bic: 'BNPAFRPPXX' } }))).toEqual(['input.creditor.bic:INVALID_BIC']);
  });

  it('accepts only the currency of the scheme, and only ISO 4217 codes', () => {
    expect(codes(sepa({ amount: { amount: '1.00', currency: 'GBP' } }))).toEqual(['input.amount.currency:UNSUPPORTED_CURRENCY']);
    expect(codes(fps({ amount: { amount: '1.00', currency: 'EUR' } }), thames)).toEqual(['input.amount.currency:UNSUPPORTED_CURRENCY']);
    expect(codes(sepa({ amount: { amount: '1.00', currency: 'EURO' } }))).toEqual(['input.amount.currency:INVALID']);
    expect(codes(sepa({ amount: { amount: '1.00', currency: 'eur' } }))).toEqual(['input.amount.currency:INVALID']);
  });

  it('wants an amount above zero with at most the currency’s decimals, below the scheme’s ceiling', () => {
    expect(codes(sepa({ amount: { amount: '0.00', currency: 'EUR' } }))).toEqual(['input.amount.amount:INVALID_AMOUNT']);
    expect(codes(sepa({ amount: { amount: '-1.00', currency: 'EUR' } }))).toEqual(['input.amount.amount:INVALID_AMOUNT']);
    expect(codes(sepa({ amount: { amount: '1e3', currency: 'EUR' } }))).toEqual(['input.amount.amount:INVALID_AMOUNT']);
    expect(codes(sepa({ amount: { amount: '1.001', currency: 'EUR' } }))).toEqual(['input.amount.amount:AMOUNT_PRECISION']);
    expect(codes(sepa({ amount: { amount: '1.0010', currency: 'EUR' } }))).toEqual(['input.amount.amount:AMOUNT_PRECISION']);
    expect(codes(sepa({ amount: { amount: '1.500000', currency: 'EUR' } }))).toEqual([]);
    expect(codes(sepa({ amount: { amount: '1000000000.00', currency: 'EUR' } }))).toEqual(['input.amount.amount:OUT_OF_RANGE']);
    expect(codes(fps({ amount: { amount: '1000000.01', currency: 'GBP' } }), thames)).toEqual(['input.amount.amount:OUT_OF_RANGE']);
  });

  it('limits remittance to 140 characters on SEPA and the reference to 18 on Faster Payments', () => {
    expect(codes(sepa({ remittanceInformation: 'x'.repeat(140) }))).toEqual([]);
    expect(codes(sepa({ remittanceInformation: 'x'.repeat(141) }))).toEqual(['input.remittanceInformation:TOO_LONG']);
    expect(codes(fps({ remittanceInformation: 'x'.repeat(18) }), thames)).toEqual([]);
    expect(codes(fps({ remittanceInformation: 'x'.repeat(19) }), thames)).toEqual(['input.remittanceInformation:TOO_LONG']);
  });

  it('refuses an execution date in the past, and any date for the immediate-only schemes', () => {
    expect(codes(sepa({ requestedExecutionDate: '2026-11-24' }))).toEqual(['input.requestedExecutionDate:EXECUTION_DATE_IN_PAST']);
    expect(codes(sepa({ requestedExecutionDate: TODAY }))).toEqual([]);
    expect(codes(sepa({ requestedExecutionDate: '2026-12-01' }))).toEqual([]);
    expect(codes(sepa({ requestedExecutionDate: '2026-02-30' }))).toEqual(['input.requestedExecutionDate:INVALID']);
    expect(codes(sepa({ scheme: 'SEPA_INSTANT', requestedExecutionDate: '2026-12-01' }))).toEqual(['input.requestedExecutionDate:NOT_SUPPORTED']);
    expect(codes(fps({ requestedExecutionDate: '2026-12-01' }), thames)).toEqual(['input.requestedExecutionDate:NOT_SUPPORTED']);
  });

  it('refuses paying an account to itself, whatever its spelling', () => {
    expect(codes(sepa({ creditor: { name: 'Me', iban: friendlyFormatIBAN('DE89370400440532013000')!.toLowerCase(), bic: null } }))).toEqual([
      'input.creditor.iban:SAME_ACCOUNT',
    ]);
  });

  it('refuses a scheme the institution does not offer, and accounts the scheme does not reach', () => {
    expect(codes(fps(), nordlicht)).toEqual(['input.scheme:NOT_SUPPORTED']);
    expect(codes(fps({ creditor: { name: 'Y', iban: 'DE89370400440532013000', bic: null } }), thames)).toEqual(['input.creditor.iban:NOT_SUPPORTED']);
  });

  it('reports every problem at once', () => {
    expect(
      codes(
        sepa({
          creditor: { name: '', iban: 'nope', bic: 'nope' },
          amount: { amount: '0', currency: 'GBP' },
          endToEndId: '/bad//',
          remittanceInformation: 'y'.repeat(200),
        }),
      ),
    ).toEqual([
      'input.creditor.iban:INVALID_IBAN',
      'input.creditor.name:BLANK',
      'input.creditor.bic:INVALID_BIC',
      'input.amount.currency:UNSUPPORTED_CURRENCY',
      'input.amount.amount:INVALID_AMOUNT',
      'input.remittanceInformation:TOO_LONG',
      'input.endToEndId:INVALID',
    ]);
  });

  it('wants an idempotency key of 1–200 printable characters', () => {
    expect(checkIdempotencyKey('order-42')).toEqual([]);
    expect(checkIdempotencyKey('x'.repeat(200))).toEqual([]);
    expect(checkIdempotencyKey('').map((e) => e.code)).toEqual(['BLANK']);
    expect(checkIdempotencyKey('   ').map((e) => e.code)).toEqual(['BLANK']);
    expect(checkIdempotencyKey('x'.repeat(201)).map((e) => e.code)).toEqual(['TOO_LONG']);
    expect(checkIdempotencyKey('a\nb').map((e) => e.code)).toEqual(['INVALID']);
  });
});

describe('payment validation under generated junk', () => {
  it('accepts an amount only when it is a positive decimal with at most two decimals, and then spells it with exactly two', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^-?\d{0,12}(\.\d{0,4})?$/), fc.double().map(String)), (amount) => {
        const r = validatePayment(sepa({ amount: { amount, currency: 'EUR' } }), { today: TODAY, institution: nordlicht });
        const m = /^(\d+)(?:\.(\d+))?$/.exec(amount);
        const positive = !!m && /[1-9]/.test(amount);
        const decimals = m ? (m[2] ?? '').replace(/0+$/, '').length : 0;
        const small = !!m && BigInt(m[1]!) < 1_000_000_000n;
        expect(r.ok).toBe(positive && decimals <= 2 && small);
        if (r.ok) {
          expect(r.value.amount.amount).toMatch(/^(0|[1-9]\d*)\.\d{2}$/);
          // Same value: no rounding, no float.
          const [i, f = ''] = amount.split('.');
          expect(BigInt(r.value.amount.amount.replace('.', ''))).toBe(BigInt(i! + f.padEnd(2, '0').slice(0, 2)));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on junk IBANs and accepts one only when its mod-97 checksum holds', () => {
    const mod97 = (iban: string) => {
      const moved = iban.slice(4) + iban.slice(0, 4);
      const digits = moved.replace(/[A-Z]/g, (c) => String(c.charCodeAt(0) - 55));
      return BigInt(digits) % 97n === 1n;
    };
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^[A-Z]{2}\d{2}[A-Z0-9]{10,30}$/)), (iban) => {
        const r = checkIban(iban);
        if (r.ok) {
          expect(r.iban).toMatch(/^[A-Z]{2}\d{2}[A-Z0-9]+$/);
          expect(mod97(r.iban)).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('turns any single-character change of a valid IBAN into a refusal or another valid IBAN, never a crash', () => {
    const valid = 'DE89370400440532013000';
    fc.assert(
      fc.property(fc.integer({ min: 0, max: valid.length - 1 }), fc.constantFrom(...'0123456789'), (at, digit) => {
        const changed = valid.slice(0, at) + digit + valid.slice(at + 1);
        const r = checkIban(changed);
        // mod-97 catches every single-digit substitution.
        expect(r.ok).toBe(changed === valid);
      }),
    );
  });
});
