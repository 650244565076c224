/**
 * Checks of an expected payment before anything is written. Pure: no I/O; every problem is
 * reported with the path of its field and a stable code.
 */
import { createHash } from 'node:crypto';
import { currencyDigits } from '../../kernel/money';
import { type Problem, ProblemCode, problem } from '../../kernel/problems';
import { checkIban } from '../payments';
import { normaliseReference } from './reference';

export type Direction = 'INCOMING' | 'OUTGOING';

/** An expected payment as the developer sent it (GraphQL checked only the types). */
export interface ExpectedPaymentDraft {
  endUserId: string | null;
  direction: Direction;
  amount: string;
  currency: string;
  dueDate: string;
  counterpartyName: string | null;
  counterpartyIban: string | null;
  invoiceReference: string | null;
  externalId: string | null;
  accountId: string | null;
  toleranceAmount: string | null;
  toleranceDays: number | null;
}

/** A draft that passed every check, in canonical spelling. */
export interface ValidExpectedPayment {
  endUserId: string;
  direction: Direction;
  amount: string;
  currency: string;
  dueDate: string;
  counterpartyName: string | null;
  counterpartyIban: string | null;
  invoiceReference: string | null;
  normalisedReference: string | null;
  externalId: string | null;
  accountId: string | null;
  toleranceAmount: string;
  toleranceDays: number;
  /** sha256 of the canonical request: an external id sent again must carry the same. */
  requestHash: string;
}

export const MAX_BULK = 1_000;
export const MAX_TOLERANCE_DAYS = 90;
const CURRENCIES = new Set(Intl.supportedValuesOf('currency'));
const AMOUNT = /^(\d{1,15})(?:\.(\d{1,18}))?$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const CONTROL = /\p{C}/u;

function isRealDate(s: string): boolean {
  if (!DATE.test(s)) return false;
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
}

/** Checks a decimal amount for a currency: digits only, at most the currency's decimals. */
function checkAmount(raw: string, currency: string, field: string[], allowZero: boolean): Problem | null {
  const m = typeof raw === 'string' ? AMOUNT.exec(raw.trim()) : null;
  if (!m || (!allowZero && /^0*(\.0*)?$/.test(raw.trim())))
    return problem(
      field,
      ProblemCode.INVALID_AMOUNT,
      allowZero ? 'must be a decimal string of zero or more, e.g. "1.50"' : 'must be a positive decimal string, e.g. "120.00"',
    );
  const decimals = (m[2] ?? '').replace(/0+$/, '').length;
  if (CURRENCIES.has(currency) && decimals > currencyDigits(currency))
    return problem(field, ProblemCode.AMOUNT_PRECISION, `${currency} amounts have at most ${currencyDigits(currency)} decimals`);
  return null;
}

function text(raw: string | null, max: number, field: string[], errors: Problem[]): string | null {
  if (raw === null || raw === undefined) return null;
  const t = raw.trim();
  if (!t) return null;
  if (t.length > max) errors.push(problem(field, ProblemCode.TOO_LONG, `must be at most ${max} characters`));
  else if (CONTROL.test(t)) errors.push(problem(field, ProblemCode.INVALID, 'must not contain control characters'));
  return t;
}

/** Validates one draft; `root` is the path of the draft in the mutation's input. */
export function validateExpectedPayment(
  d: ExpectedPaymentDraft,
  root: (string | number)[],
): { ok: true; value: ValidExpectedPayment } | { ok: false; userErrors: Problem[] } {
  const f = (name: string) => [...root, name].map(String);
  const errors: Problem[] = [];
  if (!d.endUserId) errors.push(problem(f('endUserId'), ProblemCode.NOT_FOUND, 'no end user with this id'));
  const currency = typeof d.currency === 'string' ? d.currency.trim().toUpperCase() : '';
  if (!/^[A-Z]{3}$/.test(currency) || !CURRENCIES.has(currency))
    errors.push(problem(f('currency'), ProblemCode.UNKNOWN_CURRENCY, 'must be an ISO 4217 currency code, e.g. EUR'));
  const amountError = checkAmount(d.amount, currency, f('amount'), false);
  if (amountError) errors.push(amountError);
  const toleranceAmount = d.toleranceAmount ?? '0';
  const toleranceError = checkAmount(toleranceAmount, currency, f('toleranceAmount'), true);
  if (toleranceError) errors.push(toleranceError);
  const toleranceDays = d.toleranceDays ?? 0;
  if (!Number.isInteger(toleranceDays) || toleranceDays < 0 || toleranceDays > MAX_TOLERANCE_DAYS)
    errors.push(problem(f('toleranceDays'), ProblemCode.OUT_OF_RANGE, `must be 0–${MAX_TOLERANCE_DAYS} days`));
  if (typeof d.dueDate !== 'string' || !isRealDate(d.dueDate))
    errors.push(problem(f('dueDate'), ProblemCode.INVALID_DATE, 'must be a calendar date written YYYY-MM-DD'));
  let iban: string | null = null;
  if (d.counterpartyIban !== null && d.counterpartyIban !== undefined && d.counterpartyIban.trim() !== '') {
    const checked = checkIban(d.counterpartyIban);
    if (checked.ok) iban = checked.iban;
    else errors.push(problem(f('counterpartyIban'), ProblemCode.INVALID_IBAN, checked.message));
  }
  const counterpartyName = text(d.counterpartyName, 140, f('counterpartyName'), errors);
  const invoiceReference = text(d.invoiceReference, 140, f('invoiceReference'), errors);
  const externalId = text(d.externalId, 200, f('externalId'), errors);
  if (errors.length > 0) return { ok: false, userErrors: errors };
  const value: Omit<ValidExpectedPayment, 'requestHash'> = {
    endUserId: d.endUserId!,
    direction: d.direction,
    amount: d.amount.trim(),
    currency,
    dueDate: d.dueDate,
    counterpartyName,
    counterpartyIban: iban,
    invoiceReference,
    normalisedReference: invoiceReference ? normaliseReference(invoiceReference) || null : null,
    externalId,
    accountId: d.accountId,
    toleranceAmount,
    toleranceDays,
  };
  const canonical = JSON.stringify([
    value.endUserId,
    value.direction,
    normalise(value.amount),
    value.currency,
    value.dueDate,
    counterpartyName,
    iban,
    invoiceReference,
    value.accountId,
    normalise(toleranceAmount),
    toleranceDays,
  ]);
  return { ok: true, value: { ...value, requestHash: createHash('sha256').update(canonical).digest('hex') } };
}

/** "120.50" and "120.5" are the same request. */
function normalise(amount: string): string {
  const [int, frac = ''] = amount.trim().split('.');
  const f = frac.replace(/0+$/, '');
  return `${String(BigInt(int!))}${f ? `.${f}` : ''}`;
}
