import { describe, expect, it } from 'vitest';
import { absDecimal, compareDecimal, DecimalError, isNegative, normaliseDecimal, parseDecimal, subtractDecimal } from './decimal';

describe('decimal strings', () => {
  it.each([
    ['-12.30', '-12.3'],
    ['0.00', '0'],
    ['-0.00', '0'],
    ['+5', '5'],
    ['007.50', '7.5'],
    ['.5', '0.5'],
    ['12.', '12'],
    ['-0.01', '-0.01'],
    ['123456789012345678901234567890.123456789', '123456789012345678901234567890.123456789'],
  ])('normalises %s to %s', (input, expected) => {
    expect(normaliseDecimal(input)).toBe(expected);
  });

  it.each(['', '-', '+', '.', 'abc', '1e3', 'NaN', 'Infinity', '1,50', '1.2.3', '--1', '1 000'])('refuses %j with a coded error', (input) => {
    expect(() => normaliseDecimal(input)).toThrow(DecimalError);
    try {
      normaliseDecimal(input);
    } catch (e) {
      expect((e as DecimalError).code).toBe('DECIMAL_INVALID');
    }
  });

  it('spells every decimal as exact arithmetic on its value does (normalising is done on the digits)', () => {
    const digits = (n: number) => Array.from({ length: n }, () => String(Math.floor(Math.random() * 10)) + (Math.random() < 0.3 ? '0' : '')).join('');
    for (let i = 0; i < 5_000; i++) {
      const sign = ['', '+', '-'][i % 3]!;
      const int = i % 7 === 0 ? '' : `${i % 5 === 0 ? '00' : ''}${digits(1 + (i % 25))}`;
      const frac = i % 4 === 0 ? '' : `${digits(i % 11)}${i % 6 === 0 ? '000' : ''}`;
      const input = `${sign}${int}${i % 4 === 0 ? '' : '.'}${frac}`;
      if (int === '' && frac === '') continue;
      expect(normaliseDecimal(input), input).toBe(subtractDecimal(input, '0'));
    }
  });

  it('compares by value whatever the number of decimals', () => {
    expect(compareDecimal('-12.3', '-12.30')).toBe(0);
    expect(compareDecimal('1.05', '1.5')).toBe(-1);
    expect(compareDecimal('-1', '-2')).toBe(1);
    expect(compareDecimal('0', '-0.00')).toBe(0);
  });

  it('subtracts exactly where floats would not (0.3 − 0.1 is 0.2)', () => {
    expect(subtractDecimal('0.3', '0.1')).toBe('0.2');
    expect(subtractDecimal('-10', '-12.50')).toBe('2.5');
    expect(subtractDecimal('1.10', '1.1')).toBe('0');
    expect(subtractDecimal('99999999999999999999.99', '-0.01')).toBe('100000000000000000000');
  });

  it('takes absolute values and tells negatives apart from zero', () => {
    expect(absDecimal('-12.30')).toBe('12.3');
    expect(absDecimal('4')).toBe('4');
    expect(isNegative('-0.01')).toBe(true);
    expect(isNegative('-0.00')).toBe(false);
    expect(isNegative('3')).toBe(false);
  });

  it('keeps units and scale exact', () => {
    expect(parseDecimal('-12.30')).toEqual({ units: -123n, scale: 1 });
  });
});
