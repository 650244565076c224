/**
 * Checks of a payment before any bank call (DESIGN §5). Pure: no I/O, no clock (`today` is
 * given), so the same input always gets the same verdict and the checks can be fuzzed.
 *
 * Choices made here, where the standards leave room:
 * - Remittance information: SEPA schemes carry up to 140 characters (ISO 20022 unstructured
 *   remittance, EPC rulebook); Faster Payments carry an 18-character payment *reference* (the
 *   FPS field UK banks show the payee), so that is the limit there.
 * - SEPA Instant and Faster Payments are immediate only: a `requestedExecutionDate` is refused
 *   for them (UK future-dated payments are another OBIE resource, domestic-scheduled-payments).
 *   SEPA credit transfers may be dated today up to {@link MAX_EXECUTION_DAYS_AHEAD} days ahead.
 * - Largest amounts: SEPA 999,999,999.99 EUR (the pain.001 amount format); Faster Payments
 *   1,000,000.00 GBP (the scheme's per-payment ceiling).
 * - Faster Payments reach GB accounts only; SEPA schemes reach IBANs of SEPA countries.
 * - The creditor name is 1–70 characters (ISO 20022 Max70Text); the end-to-end id 1–35
 *   characters of the SEPA Latin set, without a leading or trailing `/` or a `//`.
 */
import { electronicFormatIBAN, isSEPACountry, validateBIC, validateIBAN, ValidationErrorsIBAN } from 'ibantools';
import { currencyDigits } from '../../kernel/money';
import { type Problem, ProblemCode, problem } from '../../kernel/problems';
import { compareDecimal } from '../transactions';
import type { PaymentScheme } from '../../banking/model';

/** How far ahead a SEPA credit transfer may be dated. */
export const MAX_EXECUTION_DAYS_AHEAD = 365;

/** What each scheme accepts. */
export const SCHEME_RULES: Readonly<
  Record<
    PaymentScheme,
    { currency: string; remittanceMax: number; immediateOnly: boolean; maxAmount: string; reach: (country: string) => boolean; reachText: string }
  >
> = {
  SEPA_CREDIT_TRANSFER: {
    currency: 'EUR',
    remittanceMax: 140,
    immediateOnly: false,
    maxAmount: '999999999.99',
    reach: isSEPACountry,
    reachText: 'accounts in SEPA countries',
  },
  SEPA_INSTANT: {
    currency: 'EUR',
    remittanceMax: 140,
    immediateOnly: true,
    maxAmount: '999999999.99',
    reach: isSEPACountry,
    reachText: 'accounts in SEPA countries',
  },
  FASTER_PAYMENTS: { currency: 'GBP', remittanceMax: 18, immediateOnly: true, maxAmount: '1000000.00', reach: (c) => c === 'GB', reachText: 'GB accounts' },
};

/** A payment as the developer sent it (strings unchecked; GraphQL has only checked the types). */
export interface PaymentDraft {
  scheme: PaymentScheme;
  debtorAccount: { iban: string } | null;
  creditor: { name: string; iban: string; bic: string | null };
  amount: { amount: string; currency: string };
  remittanceInformation: string | null;
  endToEndId: string | null;
  requestedExecutionDate: string | null;
}

/** A payment that passed every check, in canonical spelling (electronic IBANs, amount at the currency's scale). */
export interface ValidPayment {
  scheme: PaymentScheme;
  debtorAccount: { iban: string } | null;
  creditor: { name: string; iban: string; bic: string | null };
  amount: { amount: string; currency: string };
  remittanceInformation: string | null;
  endToEndId: string | null;
  requestedExecutionDate: string | null;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; userErrors: Problem[] };

const CONTROL = /\p{C}/u;
const SEPA_LATIN = /^[A-Za-z0-9/\-?:().,'+ ]+$/;
const POSITIVE_DECIMAL = /^(\d{1,18})(?:\.(\d{1,18}))?$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const CURRENCIES = new Set(Intl.supportedValuesOf('currency'));

/** The IBAN in electronic form when it passes ibantools' checksum and country-format checks; otherwise why not. */
export function checkIban(raw: string): { ok: true; iban: string } | { ok: false; message: string } {
  if (typeof raw !== 'string' || raw.length > 64) return { ok: false, message: 'Not an IBAN.' };
  const iban = electronicFormatIBAN(raw) ?? '';
  const { valid, errorCodes } = validateIBAN(iban);
  if (valid) return { ok: true, iban };
  const first = errorCodes[0];
  const message =
    first === ValidationErrorsIBAN.NoIBANProvided
      ? 'Enter an IBAN.'
      : first === ValidationErrorsIBAN.NoIBANCountry
        ? 'The IBAN does not start with a known country code.'
        : first === ValidationErrorsIBAN.WrongBBANLength || first === ValidationErrorsIBAN.WrongBBANFormat
          ? `The IBAN does not have the format of ${iban.slice(0, 2)} account numbers.`
          : 'The IBAN’s check digits are wrong (mod-97): check it for a typo.';
  return { ok: false, message };
}

/** Adds a number of days to a `YYYY-MM-DD` date. */
function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

function isRealDate(s: string): boolean {
  const m = DATE.exec(s);
  if (!m) return false;
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
}

/**
 * Checks a payment against its scheme and, when known, the institution's schemes. Every problem
 * is reported (not just the first), each with the path of its input field and a stable code.
 */
export function validatePayment(
  draft: PaymentDraft,
  context: { today: string; institution: { name: string; paymentSchemes: readonly PaymentScheme[] } | null },
): Checked<ValidPayment> {
  const errors: Problem[] = [];
  const err = (path: string[], code: ProblemCode, message: string) => errors.push(problem(['input', ...path], code, message));
  const rules = SCHEME_RULES[draft.scheme];

  if (context.institution && !context.institution.paymentSchemes.includes(draft.scheme)) {
    err(['scheme'], ProblemCode.NOT_SUPPORTED, `${context.institution.name} does not offer ${draft.scheme} payments.`);
  }

  // Creditor account and name.
  const creditorIban = checkIban(draft.creditor.iban);
  if (!creditorIban.ok) err(['creditor', 'iban'], ProblemCode.INVALID_IBAN, creditorIban.message);
  else if (!rules.reach(creditorIban.iban.slice(0, 2))) {
    err(['creditor', 'iban'], ProblemCode.NOT_SUPPORTED, `${draft.scheme} payments reach ${rules.reachText} only.`);
  }
  const name = typeof draft.creditor.name === 'string' ? draft.creditor.name.trim() : '';
  if (!name) err(['creditor', 'name'], ProblemCode.BLANK, 'Enter the creditor’s name.');
  else if ([...name].length > 70) err(['creditor', 'name'], ProblemCode.TOO_LONG, 'At most 70 characters.');
  else if (CONTROL.test(name)) err(['creditor', 'name'], ProblemCode.INVALID, 'Must not contain control characters.');
  let bic: string | null = null;
  if (draft.creditor.bic != null && draft.creditor.bic.trim() !== '') {
    bic = draft.creditor.bic.trim().toUpperCase();
    if (bic.length > 11 || !validateBIC(bic).valid) {
      err(['creditor', 'bic'], ProblemCode.INVALID_BIC, 'Not a BIC: 8 or 11 characters, bank code, country code, location and optional branch.');
      bic = null;
    }
  }

  // Debtor account: optional (the end user may choose it at the bank).
  let debtorIban: string | null = null;
  if (draft.debtorAccount) {
    const d = checkIban(draft.debtorAccount.iban);
    if (!d.ok) err(['debtorAccount', 'iban'], ProblemCode.INVALID_IBAN, d.message);
    else if (!rules.reach(d.iban.slice(0, 2)))
      err(['debtorAccount', 'iban'], ProblemCode.NOT_SUPPORTED, `${draft.scheme} payments are made from ${rules.reachText} only.`);
    else debtorIban = d.iban;
    if (d.ok && creditorIban.ok && d.iban === creditorIban.iban) {
      err(['creditor', 'iban'], ProblemCode.SAME_ACCOUNT, 'The creditor account is the debtor account: a payment must go to another account.');
    }
  }

  // Amount: a positive decimal string in a currency the scheme accepts, at most its minor digits.
  const currency = typeof draft.amount.currency === 'string' ? draft.amount.currency : '';
  let amount: string | null = null;
  if (!/^[A-Z]{3}$/.test(currency) || !CURRENCIES.has(currency)) {
    err(['amount', 'currency'], ProblemCode.INVALID, 'Not an ISO 4217 currency code (three capital letters, e.g. EUR).');
  } else if (currency !== rules.currency) {
    err(['amount', 'currency'], ProblemCode.UNSUPPORTED_CURRENCY, `${draft.scheme} payments are in ${rules.currency}.`);
  }
  const m = typeof draft.amount.amount === 'string' ? POSITIVE_DECIMAL.exec(draft.amount.amount) : null;
  if (!m) {
    err(['amount', 'amount'], ProblemCode.INVALID_AMOUNT, 'The amount is a positive decimal string such as "12.30".');
  } else {
    const int = m[1]!.replace(/^0+(?=\d)/, '');
    const frac = (m[2] ?? '').replace(/0+$/, '');
    const digits = CURRENCIES.has(currency) ? currencyDigits(currency) : 2;
    if (/^0+$/.test(int) && frac === '') err(['amount', 'amount'], ProblemCode.INVALID_AMOUNT, 'The amount must be more than zero.');
    else if (frac.length > digits)
      err(['amount', 'amount'], ProblemCode.AMOUNT_PRECISION, `${currency || 'This currency'} amounts have at most ${digits} decimals.`);
    else {
      amount = digits > 0 ? `${int}.${frac.padEnd(digits, '0')}` : int;
      if (compareDecimal(amount, rules.maxAmount) > 0) {
        err(['amount', 'amount'], ProblemCode.OUT_OF_RANGE, `${draft.scheme} payments are at most ${rules.maxAmount} ${rules.currency}.`);
      }
    }
  }

  // Remittance information and end-to-end id.
  const remittance = draft.remittanceInformation?.trim() || null;
  if (remittance !== null) {
    if ([...remittance].length > rules.remittanceMax) {
      err(
        ['remittanceInformation'],
        ProblemCode.TOO_LONG,
        draft.scheme === 'FASTER_PAYMENTS'
          ? 'A Faster Payments reference has at most 18 characters.'
          : 'SEPA remittance information has at most 140 characters.',
      );
    } else if (CONTROL.test(remittance)) err(['remittanceInformation'], ProblemCode.INVALID, 'Must not contain control characters.');
  }
  const endToEndId = draft.endToEndId?.trim() || null;
  if (endToEndId !== null) {
    if (endToEndId.length > 35) err(['endToEndId'], ProblemCode.TOO_LONG, 'At most 35 characters.');
    else if (!SEPA_LATIN.test(endToEndId) || endToEndId.startsWith('/') || endToEndId.endsWith('/') || endToEndId.includes('//')) {
      err(['endToEndId'], ProblemCode.INVALID, "Letters, digits and / - ? : ( ) . , ' + and space only, with no leading, trailing or double /.");
    }
  }

  // Execution date.
  const date = draft.requestedExecutionDate;
  if (date != null) {
    if (!isRealDate(date)) err(['requestedExecutionDate'], ProblemCode.INVALID, 'A date written YYYY-MM-DD.');
    else if (rules.immediateOnly) err(['requestedExecutionDate'], ProblemCode.NOT_SUPPORTED, `${draft.scheme} payments are immediate: leave the date out.`);
    else if (date < context.today) err(['requestedExecutionDate'], ProblemCode.EXECUTION_DATE_IN_PAST, `The date is in the past (today is ${context.today}).`);
    else if (date > addDays(context.today, MAX_EXECUTION_DAYS_AHEAD)) {
      err(['requestedExecutionDate'], ProblemCode.OUT_OF_RANGE, `At most ${MAX_EXECUTION_DAYS_AHEAD} days ahead.`);
    }
  }

  if (errors.length > 0 || !creditorIban.ok || amount === null) return { ok: false, userErrors: errors };
  return {
    ok: true,
    value: {
      scheme: draft.scheme,
      debtorAccount: debtorIban ? { iban: debtorIban } : null,
      creditor: { name, iban: creditorIban.iban, bic },
      amount: { amount, currency },
      remittanceInformation: remittance,
      endToEndId,
      requestedExecutionDate: date ?? null,
    },
  };
}

/** An idempotency key: 1–200 printable ASCII characters, not only spaces. */
export function checkIdempotencyKey(key: unknown): Problem[] {
  if (typeof key !== 'string' || key.trim() === '') return [problem(['idempotencyKey'], ProblemCode.BLANK, 'An idempotency key is required.')];
  if (key.length > 200) return [problem(['idempotencyKey'], ProblemCode.TOO_LONG, 'At most 200 characters.')];
  if (!/^[\x20-\x7E]+$/.test(key)) return [problem(['idempotencyKey'], ProblemCode.INVALID, 'Printable ASCII characters only.')];
  return [];
}
