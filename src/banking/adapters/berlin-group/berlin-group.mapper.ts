/**
 * Berlin Group NextGenPSD2 → canonical model. Pure functions over parsed (schema-checked) payloads;
 * no I/O. Amounts stay decimal strings from the wire to the canonical model: never a float.
 */
import type { AccountKind, BalanceKind, BankConsentStatus, CanonicalAccount, CanonicalBalance, CanonicalTransaction, Money } from '../../model';
import type {
  BgAccountDetails,
  BgAccountReference,
  BgAmount,
  BgBalance,
  BgCardAccountDetails,
  BgCardTransaction,
  BgStructuredRemittance,
  BgTransaction,
} from './berlin-group.schemas';

/**
 * Card accounts live under `/v1/card-accounts`, and a bare resource id does not say which
 * collection it belongs to: their `bankAccountId` carries this prefix.
 */
export const CARD_ACCOUNT_PREFIX = 'card:';

/** Where an account's resources live, from the canonical `bankAccountId`. */
export function accountPath(bankAccountId: string): { collection: '/v1/accounts' | '/v1/card-accounts'; resourceId: string } {
  return bankAccountId.startsWith(CARD_ACCOUNT_PREFIX)
    ? { collection: '/v1/card-accounts', resourceId: bankAccountId.slice(CARD_ACCOUNT_PREFIX.length) }
    : { collection: '/v1/accounts', resourceId: bankAccountId };
}

const CONSENT_STATUS: Record<string, BankConsentStatus> = {
  received: 'RECEIVED',
  // Multi-level authorisation under way: still waiting for the PSU side.
  partiallyAuthorised: 'RECEIVED',
  valid: 'VALID',
  rejected: 'REJECTED',
  expired: 'EXPIRED',
  revokedByPsu: 'REVOKED',
  terminatedByTpp: 'TERMINATED',
};

/** The bank's `consentStatus` in canonical form; null for a code the bank added that we do not know. */
export function mapConsentStatus(status: string): BankConsentStatus | null {
  return CONSENT_STATUS[status.trim()] ?? null;
}

/**
 * A Berlin Group amount as a canonical decimal string. Berlin Group amounts are already signed
 * (debit negative), so only the spelling is normalised: no `+`, no blanks, no leading zeros.
 */
export function normaliseAmount(value: string): string {
  const m = /^\s*([+-]?)(\d+)(?:\.(\d+))?\s*$/.exec(value);
  if (!m) throw new RangeError('not a decimal amount');
  const [, sign, whole, fraction] = m;
  const digits = whole.replace(/^0+(?=\d)/, '');
  const body = fraction ? `${digits}.${fraction}` : digits;
  const zero = /^[0.]+$/.test(body);
  return sign === '-' && !zero ? `-${body}` : body;
}

export function mapMoney(amount: BgAmount): Money {
  return { amount: normaliseAmount(amount.amount), currency: amount.currency };
}

/** ISO 20022 ExternalCashAccountType1Code → account kind. */
const KIND_BY_CASH_ACCOUNT_TYPE: Record<string, AccountKind> = {
  CACC: 'CHECKING',
  CASH: 'CHECKING',
  TRAN: 'CHECKING',
  SLRY: 'CHECKING',
  COMM: 'CHECKING',
  CISH: 'CHECKING',
  NREX: 'CHECKING',
  ODFT: 'CHECKING',
  SVGS: 'SAVINGS',
  MOMA: 'SAVINGS',
  ONDP: 'SAVINGS',
  TRAS: 'SAVINGS',
  LOAN: 'LOAN',
  MGLD: 'LOAN',
  CARD: 'CARD',
};

export function accountKind(cashAccountType: string | null | undefined): AccountKind {
  if (!cashAccountType) return 'OTHER';
  return KIND_BY_CASH_ACCOUNT_TYPE[cashAccountType.trim().toUpperCase()] ?? 'OTHER';
}

const compactIban = (iban: string | null | undefined): string | null => (iban ? iban.replace(/\s+/g, '').toUpperCase() : null);

/** An account from `/v1/accounts`; null when the bank gave it no `resourceId` (it cannot be read). */
export function mapAccount(a: BgAccountDetails): CanonicalAccount | null {
  if (!a.resourceId) return null;
  return {
    bankAccountId: a.resourceId,
    kind: accountKind(a.cashAccountType),
    iban: compactIban(a.iban),
    maskedPan: null,
    currency: a.currency,
    ownerName: a.ownerName ?? a.ownerNames?.map((o) => o.name).join(', ') ?? a.psuName ?? null,
    name: a.displayName ?? a.name ?? null,
    product: a.product ?? null,
    raw: a,
  };
}

/** A card account from `/v1/card-accounts`; its id carries {@link CARD_ACCOUNT_PREFIX}. */
export function mapCardAccount(a: BgCardAccountDetails): CanonicalAccount | null {
  if (!a.resourceId) return null;
  return {
    bankAccountId: `${CARD_ACCOUNT_PREFIX}${a.resourceId}`,
    kind: 'CARD',
    iban: null,
    maskedPan: a.maskedPan,
    currency: a.currency,
    ownerName: a.ownerName ?? null,
    name: a.displayName ?? a.name ?? null,
    product: a.product ?? null,
    raw: a,
  };
}

const KIND_BY_BALANCE_TYPE: Record<string, BalanceKind> = {
  closingBooked: 'BOOKED',
  openingBooked: 'BOOKED',
  interimBooked: 'BOOKED',
  interimAvailable: 'AVAILABLE',
  forwardAvailable: 'AVAILABLE',
  openingAvailable: 'AVAILABLE',
  closingAvailable: 'AVAILABLE',
  authorised: 'AVAILABLE',
  expected: 'EXPECTED',
  nonInvoiced: 'OTHER',
};

function dateTime(value: string | null | undefined): Date | null {
  if (!value) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function mapBalance(b: BgBalance): CanonicalBalance {
  return {
    kind: KIND_BY_BALANCE_TYPE[b.balanceType] ?? 'OTHER',
    bankType: b.balanceType,
    amount: mapMoney(b.balanceAmount),
    referenceDate: b.referenceDate ?? null,
    lastChangeDateTime: dateTime(b.lastChangeDateTime),
    creditLimitIncluded: b.creditLimitIncluded ?? null,
  };
}

function structuredReference(r: BgStructuredRemittance | null | undefined): string | null {
  if (!r) return null;
  return typeof r === 'string' ? r : r.reference;
}

/** One line of remittance: unstructured first (what the payer wrote), then structured references. */
function remittanceOf(t: BgTransaction): string | null {
  if (t.remittanceInformationUnstructured) return t.remittanceInformationUnstructured;
  const lines = t.remittanceInformationUnstructuredArray?.filter(Boolean);
  if (lines?.length) return lines.join(' ');
  const structured = structuredReference(t.remittanceInformationStructured);
  if (structured) return structured;
  const refs = t.remittanceInformationStructuredArray?.map(structuredReference).filter((r): r is string => !!r);
  if (refs?.length) return refs.join(' ');
  return t.additionalInformation ?? null;
}

function referenceId(ref: BgAccountReference | null | undefined): string | null {
  return compactIban(ref?.iban) ?? null;
}

/**
 * A transaction of an account report. The counterparty of a debit is the creditor and of a credit
 * the debtor; a bank that fills only the other side is read from that side.
 */
export function mapTransaction(t: BgTransaction, status: 'BOOKED' | 'PENDING'): CanonicalTransaction {
  const amount = mapMoney(t.transactionAmount);
  const debit = amount.amount.startsWith('-');
  const creditor = { name: t.creditorName ?? t.ultimateCreditor ?? null, iban: referenceId(t.creditorAccount) };
  const debtor = { name: t.debtorName ?? t.ultimateDebtor ?? null, iban: referenceId(t.debtorAccount) };
  const [first, second] = debit ? [creditor, debtor] : [debtor, creditor];
  const party = first.name || first.iban ? first : second;
  return {
    bankTransactionId: t.transactionId || t.entryReference || null,
    status,
    amount,
    bookingDate: t.bookingDate ?? null,
    valueDate: t.valueDate ?? null,
    transactionDate: null,
    counterpartyName: party.name,
    counterpartyIban: party.iban,
    remittanceInformation: remittanceOf(t),
    endToEndId: t.endToEndId && t.endToEndId !== 'NOTPROVIDED' ? t.endToEndId : null,
    bankTransactionCode: t.bankTransactionCode ?? t.proprietaryBankTransactionCode ?? null,
    raw: t,
  };
}

/**
 * A card transaction. Berlin Group has no merchant name field: the bank's free text
 * (`transactionDetails`) becomes the remittance line; `transactionDate` is when the card was used.
 */
export function mapCardTransaction(t: BgCardTransaction, status: 'BOOKED' | 'PENDING'): CanonicalTransaction {
  const date = t.transactionDate ?? (t.acceptorTransactionDateTime ? t.acceptorTransactionDateTime.slice(0, 10) : null);
  return {
    bankTransactionId: t.cardTransactionId || null,
    status,
    amount: mapMoney(t.transactionAmount),
    bookingDate: t.bookingDate ?? null,
    valueDate: t.valueDate ?? null,
    transactionDate: date,
    counterpartyName: null,
    counterpartyIban: null,
    remittanceInformation: t.transactionDetails || null,
    endToEndId: null,
    bankTransactionCode: t.proprietaryBankTransactionCode ?? null,
    raw: t,
  };
}

/** Berlin Group `validUntil` is a date, valid through that whole day (UTC here). */
export function validUntilDate(validUntil: string): Date {
  return new Date(`${validUntil}T23:59:59.999Z`);
}
