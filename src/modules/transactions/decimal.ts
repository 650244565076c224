/**
 * Decimal strings for money: parsed into a scaled BigInt (`units × 10^-scale`) and never into a
 * float, so "-12.30" and "-12.3" compare equal and no amount is ever rounded.
 */

/** An amount that is not a plain decimal string ("12", "-12.30", "+0.5"). */
export class DecimalError extends Error {
  readonly code = 'DECIMAL_INVALID';
  constructor(readonly input: string) {
    super(`Not a decimal amount: ${JSON.stringify(input)}`);
    this.name = 'DecimalError';
  }
}

/** A decimal as an integer number of units of 10^-scale. */
export interface ScaledDecimal {
  units: bigint;
  scale: number;
}

// Optional sign, digits, optional fraction; ".5" and "5." are accepted, exponents and spaces inside are not.
const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?$/;

/** Sign, integer digits and fraction digits of a decimal string; throws DecimalError on anything else. */
function partsOf(s: string): { sign: string; int: string; frac: string } {
  const m = typeof s === 'string' ? DECIMAL.exec(s.trim()) : null;
  if (!m) throw new DecimalError(String(s));
  const [, sign = '', int = '', frac = ''] = m;
  if (int === '' && frac === '') throw new DecimalError(s);
  return { sign, int, frac };
}

/** Parses a decimal string exactly; throws DecimalError on anything else (including "", "-", "1e3", "NaN"). */
export function parseDecimal(s: string): ScaledDecimal {
  const { sign, int, frac } = partsOf(s);
  const fraction = frac.replace(/0+$/, '');
  const magnitude = BigInt((int || '0') + fraction);
  return { units: sign === '-' ? -magnitude : magnitude, scale: fraction.length };
}

function format(d: ScaledDecimal): string {
  let { units, scale } = d;
  if (units === 0n) return '0';
  while (scale > 0 && units % 10n === 0n) {
    units /= 10n;
    scale--;
  }
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(scale + 1, '0');
  const int = digits.slice(0, digits.length - scale);
  const frac = scale > 0 ? `.${digits.slice(digits.length - scale)}` : '';
  return `${negative ? '-' : ''}${int}${frac}`;
}

function align(a: ScaledDecimal, b: ScaledDecimal): [bigint, bigint, number] {
  const scale = Math.max(a.scale, b.scale);
  return [a.units * 10n ** BigInt(scale - a.scale), b.units * 10n ** BigInt(scale - b.scale), scale];
}

/**
 * The canonical spelling of a decimal: no "+", no leading or trailing zeros, no "-0" ("-12.30" →
 * "-12.3", "0.00" → "0"). The same as formatting parseDecimal's value, done on the digits
 * themselves: it runs for every entry of every sync, and BigInt arithmetic was most of its cost.
 */
export function normaliseDecimal(s: string): string {
  const { sign, int, frac } = partsOf(s);
  const whole = stripLeadingZeros(int);
  const fraction = stripTrailingZeros(frac);
  if (whole === '' && fraction === '') return '0';
  return `${sign === '-' ? '-' : ''}${whole || '0'}${fraction ? `.${fraction}` : ''}`;
}

function stripLeadingZeros(digits: string): string {
  let i = 0;
  while (i < digits.length && digits.charCodeAt(i) === 48) i++;
  return i === 0 ? digits : digits.slice(i);
}

function stripTrailingZeros(digits: string): string {
  let end = digits.length;
  while (end > 0 && digits.charCodeAt(end - 1) === 48) end--;
  return end === digits.length ? digits : digits.slice(0, end);
}

/** -1, 0 or 1 as `a` is less than, equal to or greater than `b`, by value ("1.50" equals "1.5"). */
export function compareDecimal(a: string, b: string): -1 | 0 | 1 {
  const [x, y] = align(parseDecimal(a), parseDecimal(b));
  return x < y ? -1 : x > y ? 1 : 0;
}

/** `a − b`, exact and normalised. */
export function subtractDecimal(a: string, b: string): string {
  const [x, y, scale] = align(parseDecimal(a), parseDecimal(b));
  return format({ units: x - y, scale });
}

/** `|a|`, normalised. */
export function absDecimal(a: string): string {
  const d = parseDecimal(a);
  return format({ units: d.units < 0n ? -d.units : d.units, scale: d.scale });
}

/** Whether `a` is strictly below zero ("-0.00" is not). */
export function isNegative(a: string): boolean {
  return parseDecimal(a).units < 0n;
}
