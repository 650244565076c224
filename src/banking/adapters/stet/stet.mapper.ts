/**
 * STET → canonical. Pure functions over schema-checked payloads (stet.schemas.ts); the bank's own
 * object is kept in `raw`. Unknown codes of open lists map to the canonical "other" value.
 */
import type { AccountKind, BalanceKind, CanonicalAccount, CanonicalBalance, CanonicalTransaction } from '../../model';
import type { StetAccount, StetBalance, StetLink, StetRemittance, StetTransaction } from './stet.schemas';

const ACCOUNT_KINDS: Record<string, AccountKind> = {
  CACC: 'CHECKING',
  CARD: 'CARD',
  // Not in STET's list, but ISO 20022 cash account types some banks send.
  SVGS: 'SAVINGS',
  LOAN: 'LOAN',
};

/** STET balance types. ITxx are interim, CLxx closing, FWAV forward available (ISO 20022 codes). */
const BALANCE_KINDS: Record<string, BalanceKind> = {
  CLBD: 'BOOKED',
  ITBD: 'BOOKED',
  OPBD: 'BOOKED',
  XPCD: 'EXPECTED',
  CLAV: 'AVAILABLE',
  ITAV: 'AVAILABLE',
  FWAV: 'AVAILABLE',
  OTHR: 'OTHER',
  // STET 1.6: value-date balance. Neither booked nor available in the canonical sense.
  VALU: 'OTHER',
};

/** Card identifications in `accountId.other.schemeName`: masked PAN and tokenised PAN. */
const CARD_SCHEMES = new Set(['CPAN', 'TPAN']);

/** Currency when the bank names none: STET is the French standard, whose accounts are in euro. */
const DEFAULT_CURRENCY = 'EUR';

export function mapAccount(account: StetAccount): CanonicalAccount {
  const id = account.accountId;
  const type = account.cashAccountType?.toUpperCase();
  const kind = (type ? ACCOUNT_KINDS[type] : undefined) ?? 'OTHER';
  const other = id?.other;
  const maskedPan = other && other.schemeName && CARD_SCHEMES.has(other.schemeName.toUpperCase()) ? other.identification : null;
  const currency = id?.currency ?? account.balances?.[0]?.balanceAmount.currency ?? DEFAULT_CURRENCY;
  return {
    bankAccountId: account.resourceId,
    kind,
    iban: id?.iban ? id.iban.replace(/\s+/g, '').toUpperCase() : null,
    maskedPan,
    currency,
    // STET has no owner name on the account resource (psuStatus says how the PSU relates to it).
    ownerName: null,
    name: account.name ?? null,
    product: account.product ?? account.details ?? null,
    raw: account,
  };
}

export function mapBalance(balance: StetBalance): CanonicalBalance {
  const type = balance.balanceType;
  const lastChange = balance.lastChangeDateTime ? new Date(balance.lastChangeDateTime) : null;
  return {
    kind: BALANCE_KINDS[type.toUpperCase()] ?? 'OTHER',
    bankType: type,
    amount: { amount: balance.balanceAmount.amount, currency: balance.balanceAmount.currency },
    referenceDate: balance.referenceDate ? balance.referenceDate.slice(0, 10) : null,
    lastChangeDateTime: lastChange && !Number.isNaN(lastChange.getTime()) ? lastChange : null,
    // STET balances do not say whether an overdraft facility is included.
    creditLimitIncluded: null,
  };
}

/** `12.30` + DBIT → `-12.30`; a zero amount stays unsigned. */
export function signedAmount(unsigned: string, indicator: 'CRDT' | 'DBIT'): string {
  if (indicator === 'CRDT' || /^0+(\.0+)?$/.test(unsigned)) return unsigned;
  return `-${unsigned}`;
}

/** BOOK is booked; PDNG, OTHR (e.g. deferred card entries) and codes we do not know are not. */
export function mapTransactionStatus(status: string): 'BOOKED' | 'PENDING' {
  return status.toUpperCase() === 'BOOK' ? 'BOOKED' : 'PENDING';
}

function remittanceText(remittance: StetRemittance | undefined): string | null {
  if (!remittance) return null;
  const lines = Array.isArray(remittance) ? remittance : (remittance.unstructured ?? []);
  const text = lines
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ');
  if (text) return text;
  if (!Array.isArray(remittance)) {
    const reference = remittance.structured?.map((s) => s.creditorReferenceInformation?.reference).find((r) => !!r);
    if (reference) return reference;
  }
  return null;
}

function bankTransactionCode(code: StetTransaction['bankTransactionCode']): string | null {
  if (!code) return null;
  const parts = [code.domain, code.family, code.subFamily].filter((p): p is string => !!p);
  if (parts.length > 0) return parts.join('-');
  return code.code ?? null;
}

const date = (value: string | undefined): string | null => (value ? value.slice(0, 10) : null);

export function mapTransaction(t: StetTransaction): CanonicalTransaction {
  const debit = t.creditDebitIndicator === 'DBIT';
  const parties = t.relatedParties;
  // The counterparty is whoever is on the other side: the creditor of a debit, the debtor of a credit.
  const party = debit ? (parties?.creditor ?? t.creditor) : (parties?.debtor ?? t.debtor);
  const partyAccount = debit ? (parties?.creditorAccount ?? t.creditorAccount) : (parties?.debtorAccount ?? t.debtorAccount);
  return {
    bankTransactionId: t.resourceId || t.entryReference || null,
    status: mapTransactionStatus(t.status),
    amount: { amount: signedAmount(t.transactionAmount.amount, t.creditDebitIndicator), currency: t.transactionAmount.currency },
    bookingDate: date(t.bookingDate),
    valueDate: date(t.valueDate),
    transactionDate: date(t.transactionDate),
    counterpartyName: party?.name ?? null,
    counterpartyIban: partyAccount?.iban ? partyAccount.iban.replace(/\s+/g, '').toUpperCase() : null,
    remittanceInformation: remittanceText(t.remittanceInformation),
    endToEndId: t.endToEndId ?? null,
    bankTransactionCode: bankTransactionCode(t.bankTransactionCode),
    raw: t,
  };
}

/**
 * A HAL link's target, with an RFC 6570 template (`{?dateFrom,dateTo}`) removed. Absolute and
 * origin-relative hrefs are returned as given; a path-relative one (STET's examples write
 * `v1/accounts/Alias1/balances-report`) is resolved against `relativeBase`, the API root.
 */
export function linkHref(link: StetLink | undefined, relativeBase?: string): string | undefined {
  if (!link) return undefined;
  const href = link.templated ? link.href.replace(/\{[^}]*\}/g, '') : link.href;
  if (!relativeBase || /^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith('/')) return href;
  return new URL(href, relativeBase.endsWith('/') ? relativeBase : `${relativeBase}/`).href;
}
