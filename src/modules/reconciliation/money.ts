import { currencyDigits } from '../../kernel/money';
import { parseDecimal } from '../transactions';

/** A decimal string as integer minor units of its currency ("12.3" EUR → 1230n); extra decimals are cut toward zero. */
export function toMinor(amount: string, currency: string): bigint {
  const d = parseDecimal(amount);
  const digits = currencyDigits(currency);
  return d.scale <= digits ? d.units * 10n ** BigInt(digits - d.scale) : d.units / 10n ** BigInt(d.scale - digits);
}

/** Minor units back to a decimal string at the currency's scale (1230n EUR → "12.30"). */
export function fromMinor(units: bigint, currency: string): string {
  const digits = currencyDigits(currency);
  const negative = units < 0n;
  const s = (negative ? -units : units).toString().padStart(digits + 1, '0');
  const int = s.slice(0, s.length - digits);
  return `${negative ? '-' : ''}${int}${digits > 0 ? `.${s.slice(s.length - digits)}` : ''}`;
}
