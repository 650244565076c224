/**
 * IBAN helpers: generation of valid sandbox IBANs and the check used on payment input, both by
 * ibantools (the library the gateway uses); only the national BBAN layouts of the sandbox's banks
 * are written here.
 */
import { composeIBAN, electronicFormatIBAN, isValidIBAN } from 'ibantools';

/** Builds an IBAN from a country code and its BBAN, computing the check digits. */
export function makeIban(country: string, bban: string): string {
  const iban = composeIBAN({ countryCode: country, bban });
  if (!iban) throw new Error(`No IBAN can be made of a ${country} BBAN of ${bban.length} characters`);
  return iban;
}

/** A well-formed IBAN (spaces and case ignored): country layout, check digits and national checks. */
export function isValidIban(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  const iban = electronicFormatIBAN(value);
  return iban !== null && isValidIBAN(iban);
}

/** French RIB key: 97 - ((89·bank + 15·branch + 3·account) mod 97), letters mapped the French way. */
function ribKey(bank: string, branch: string, account: string): string {
  const map = (s: string) => s.replace(/[A-Z]/g, (c) => String('12345678912345678923456789'.charAt(c.charCodeAt(0) - 65)));
  const b = Number(map(bank));
  const g = Number(map(branch));
  const a = Number(map(account));
  return String(97 - ((89 * b + 15 * g + 3 * a) % 97)).padStart(2, '0');
}

export function bbanFor(country: string, bankCode: string, accountNumber: string): string {
  switch (country) {
    case 'DE':
      return `${bankCode.padStart(8, '0').slice(0, 8)}${accountNumber.padStart(10, '0').slice(-10)}`;
    case 'BE': {
      const base = `${bankCode.padStart(3, '0').slice(0, 3)}${accountNumber.padStart(7, '0').slice(-7)}`;
      const check = Number(base) % 97 || 97;
      return `${base}${String(check).padStart(2, '0')}`;
    }
    case 'FR': {
      const bank = bankCode.padStart(5, '0').slice(0, 5);
      const branch = '00010';
      const account = accountNumber.padStart(11, '0').slice(-11);
      return `${bank}${branch}${account}${ribKey(bank, branch, account)}`;
    }
    case 'GB':
      // bankCode is "ABCD123456": four letters then a six-digit sort code.
      return `${bankCode}${accountNumber.padStart(8, '0').slice(-8)}`;
    default:
      return `${bankCode}${accountNumber}`;
  }
}
