import { describe, expect, it } from 'vitest';
import { isValidIban, makeIban, bbanFor } from './iban';
import { balancesOf, buildLedger, formatCents, lazyIndexRange, lazyTransaction, parseAmount, TransactionView, type LazyHistory } from './ledger';

describe('the lazily generated history', () => {
  const h: LazyHistory = {
    count: 1000,
    firstDay: '2026-01-01',
    lastDay: '2026-01-31',
    days: 31,
    seed: 3,
    currency: 'EUR',
    accountId: 'acc-heavy-test',
    locale: 'de',
  };
  const all = Array.from({ length: h.count }, (_, i) => lazyTransaction(h, i));

  it('finds exactly the entries of a date window without generating the others', () => {
    for (const [from, to] of [
      ['2026-01-10', '2026-01-12'],
      ['2026-01-01', '2026-01-01'],
      ['2026-01-31', '2026-01-31'],
      [undefined, '2026-01-05'],
      ['2026-01-20', undefined],
    ] as const) {
      const [start, end] = lazyIndexRange(h, from, to);
      const expected = all.filter((t) => (!from || t.bookingDate >= from) && (!to || t.bookingDate <= to)).map((t) => t.index);
      expect(Array.from({ length: end - start }, (_, i) => start + i)).toEqual(expected);
    }
  });

  it('keeps the heavy balance equal to the sum of its lazy entries', () => {
    const ledger = buildLedger({ id: 'x', country: 'DE', currency: 'EUR', bankCode: '50010517', locale: 'de' }, 1, '2026-11-20');
    const heavy = ledger.accounts.find((a) => a.owner === 'heavy')!;
    let sum = heavy.openingBalanceCents;
    for (let i = 0; i < heavy.lazy!.count; i += 1) sum += lazyTransaction(heavy.lazy!, i).amountCents;
    expect(balancesOf(heavy).bookedCents).toBe(sum);
  });

  it('gives the same entry for the same index every time, newest first', () => {
    expect(lazyTransaction(h, 123)).toEqual(all[123]);
    expect(all[0].bookingDate).toBe('2026-01-31');
    expect(all.at(-1)!.bookingDate).toBe('2026-01-01');
  });
});

describe('the seeded ledger', () => {
  it('gives the heavy user 100,000 transactions and pages through them without materialising them', () => {
    const ledger = buildLedger({ id: 'x', country: 'DE', currency: 'EUR', bankCode: '50010517', locale: 'de' }, 1, '2026-11-20');
    const heavy = ledger.accounts.find((a) => a.owner === 'heavy')!;
    const view = new TransactionView(heavy, {});
    expect(view.total).toBe(100_000);
    const lastPage = view.slice(99_950, 100);
    expect(lastPage).toHaveLength(50);
    expect(lastPage.at(-1)!.index).toBe(99_999);
    expect(heavy.transactions).toHaveLength(0);
  });

  it('uses IBANs that pass the mod-97 check in every country it serves', () => {
    for (const [country, code] of [
      ['DE', '50010517'],
      ['BE', '735'],
      ['FR', '30788'],
      ['GB', 'THAH401276'],
    ] as const) {
      const ledger = buildLedger({ id: country, country, currency: 'EUR', bankCode: code, locale: 'en' }, 1, '2026-11-20');
      for (const a of ledger.accounts) expect(isValidIban(a.iban), a.iban).toBe(true);
    }
    expect(isValidIban(makeIban('DE', bbanFor('DE', '37040044', '0532013000')))).toBe(true);
    expect(makeIban('DE', bbanFor('DE', '37040044', '0532013000'))).toBe('DE89370400440532013000');
    expect(isValidIban('DE89370400440532013001')).toBe(false);
  });

  it('parses and formats amounts in minor units without floating point', () => {
    expect(parseAmount('123.45')).toBe(12_345);
    expect(parseAmount('-0.5')).toBe(-50);
    expect(parseAmount('1.234')).toBeUndefined();
    expect(parseAmount('1e3')).toBeUndefined();
    expect(formatCents(-4_350)).toBe('-43.50');
    expect(formatCents(7)).toBe('0.07');
  });
});
