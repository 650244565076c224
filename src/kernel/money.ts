/** What a decimal amount may be: an optional minus, up to 18 digits, up to 8 decimals. */
export const DECIMAL_PATTERN = /^-?\d{1,18}(\.\d{1,8})?$/;

const digitsCache = new Map<string, number>();

/** Digits after the decimal point for an ISO 4217 currency (EUR 2, JPY 0, BHD 3). */
export function currencyDigits(currency: string): number {
  let d = digitsCache.get(currency);
  if (d === undefined) {
    try {
      d = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
    } catch {
      d = 2;
    }
    digitsCache.set(currency, d);
  }
  return d;
}

/** Pads a decimal string to at least its currency's digits ("-12.3" EUR → "-12.30"); never rounds. */
export function atCurrencyScale(amount: string, currency: string): string {
  const digits = currencyDigits(currency);
  const dot = amount.indexOf('.');
  const have = dot < 0 ? 0 : amount.length - dot - 1;
  if (have >= digits) return amount;
  return `${dot < 0 ? `${amount}${digits > 0 ? '.' : ''}` : amount}${'0'.repeat(digits - have)}`;
}
