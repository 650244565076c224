/**
 * UK Open Banking Read/Write (3.1.x, and 4.0 codes) → the canonical model. Pure functions: no
 * I/O, no clock except where passed in. Both spellings of every code are read (3.1 `Booked`,
 * 4.0 `BOOK`); amounts stay decimal strings and take their sign from `CreditDebitIndicator`.
 */
import type { AccessScope, AccountKind, BalanceKind, BankConsentStatus, CanonicalAccount, CanonicalBalance, CanonicalTransaction } from '../../model';
import type { UkAccount, UkBalance, UkConsentData, UkTransaction } from './uk-obie.schemas';

/** `Data.Permissions` for the gateway's scopes. Detail permissions: identifiers, names and references. */
export function permissionsFor(scopes: readonly AccessScope[]): string[] {
  // Every UK consent needs ReadAccountsBasic or ReadAccountsDetail, whatever else it asks for.
  const out = ['ReadAccountsDetail'];
  if (scopes.includes('BALANCES')) out.push('ReadBalances');
  if (scopes.includes('TRANSACTIONS')) out.push('ReadTransactionsDetail', 'ReadTransactionsCredits', 'ReadTransactionsDebits');
  return out;
}

/** Consent statuses: 3.1.x long names and 4.0 ISO short codes. */
const CONSENT_STATUS: Record<string, BankConsentStatus> = {
  AwaitingAuthorisation: 'RECEIVED',
  AWAU: 'RECEIVED',
  Authorised: 'VALID',
  AUTH: 'VALID',
  Rejected: 'REJECTED',
  RJCT: 'REJECTED',
  Revoked: 'REVOKED',
  CANC: 'REVOKED',
  EXPD: 'EXPIRED',
};

/**
 * The canonical status of an account-access consent, or undefined for a code neither version
 * defines. An `Authorised` consent whose `ExpirationDateTime` has passed is EXPIRED: 3.1 has no
 * status of its own for that.
 */
export function mapConsentStatus(data: Pick<UkConsentData, 'Status' | 'ExpirationDateTime'>, nowMs: number): BankConsentStatus | undefined {
  const status = CONSENT_STATUS[data.Status.trim()];
  if (status === 'VALID' && data.ExpirationDateTime) {
    const expires = Date.parse(data.ExpirationDateTime);
    if (!Number.isNaN(expires) && expires <= nowMs) return 'EXPIRED';
  }
  return status;
}

/** The consent's end as the bank set it (it may have shortened what was asked), or null. */
export function consentValidUntil(data: Pick<UkConsentData, 'ExpirationDateTime'>): Date | null {
  if (!data.ExpirationDateTime) return null;
  const ms = Date.parse(data.ExpirationDateTime);
  return Number.isNaN(ms) ? null : new Date(ms);
}

// ----- amounts --------------------------------------------------------------------------------

const isDebit = (indicator: string) => /^debit$/i.test(indicator.trim());

/** Unsigned UK amount + indicator → signed decimal string; zero never gets a minus. */
export function signedAmount(amount: string, creditDebitIndicator: string): string {
  if (!isDebit(creditDebitIndicator) || /^0*(\.0*)?$/.test(amount)) return amount;
  return `-${amount}`;
}

// ----- accounts -------------------------------------------------------------------------------

/** 3.1 `AccountSubType` and 4.0 `AccountTypeCode` (ISO ExternalCashAccountType1Code). */
const ACCOUNT_KIND: Record<string, AccountKind> = {
  CurrentAccount: 'CHECKING',
  Savings: 'SAVINGS',
  CreditCard: 'CARD',
  ChargeCard: 'CARD',
  PrePaidCard: 'CARD',
  Loan: 'LOAN',
  Mortgage: 'LOAN',
  EMoney: 'OTHER',
  Wallet: 'OTHER',
  CACC: 'CHECKING',
  TRAN: 'CHECKING',
  SLRY: 'CHECKING',
  ODFT: 'CHECKING',
  SVGS: 'SAVINGS',
  LLSV: 'SAVINGS',
  ONDP: 'SAVINGS',
  MOMA: 'SAVINGS',
  CARD: 'CARD',
  LOAN: 'LOAN',
  MORT: 'LOAN',
  MGLD: 'LOAN',
};

const IBAN_SCHEMES = new Set(['UK.OBIE.IBAN', 'IBAN']);
const PAN_SCHEMES = new Set(['UK.OBIE.PAN', 'PAN']);

/** ISO 13616 check (mod 97), so a roll number or reference is never taken for an IBAN. */
export function isValidIban(value: string): boolean {
  const iban = value.replace(/\s+/g, '').toUpperCase();
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{10,30}$/.test(iban)) return false;
  const digits = `${iban.slice(4)}${iban.slice(0, 4)}`.replace(/[A-Z]/g, (c) => String(c.charCodeAt(0) - 55));
  let rest = 0;
  for (const d of digits) rest = (rest * 10 + Number(d)) % 97;
  return rest === 1;
}

/**
 * Canonical account. The IBAN comes from an `IBAN` scheme entry; failing that, from a
 * `SecondaryIdentification` that is a valid IBAN (some banks put it there beside the sort code and
 * account number). A currency the bank left out (the spec allows it) becomes `XXX`, ISO 4217's
 * "no currency", rather than a guess.
 */
export function mapAccount(account: UkAccount): CanonicalAccount {
  const ids = account.Account ?? [];
  const ibanEntry = ids.find((a) => IBAN_SCHEMES.has(a.SchemeName));
  let iban = ibanEntry ? ibanEntry.Identification.replace(/\s+/g, '').toUpperCase() : null;
  if (!iban) {
    const secondary = ids.map((a) => a.SecondaryIdentification).find((s): s is string => !!s && isValidIban(s));
    iban = secondary ? secondary.replace(/\s+/g, '').toUpperCase() : null;
  }
  const pan = ids.find((a) => PAN_SCHEMES.has(a.SchemeName));
  const typeCode = account.AccountSubType ?? account.AccountTypeCode;
  let kind: AccountKind = typeCode ? (ACCOUNT_KIND[typeCode] ?? 'OTHER') : 'OTHER';
  if (kind === 'OTHER' && pan) kind = 'CARD';
  return {
    bankAccountId: account.AccountId,
    kind,
    iban,
    maskedPan: pan ? pan.Identification : null,
    currency: account.Currency ?? 'XXX',
    ownerName: ids.find((a) => a.Name)?.Name ?? null,
    name: account.Nickname ?? null,
    product: account.Description ?? typeCode ?? null,
    raw: account,
  };
}

// ----- balances -------------------------------------------------------------------------------

/** 3.1 `OBBalanceType1Code` names and 4.0 ISO codes. */
const BALANCE_KIND: Record<string, BalanceKind> = {
  ClosingBooked: 'BOOKED',
  InterimBooked: 'BOOKED',
  OpeningBooked: 'BOOKED',
  PreviouslyClosedBooked: 'BOOKED',
  CLBD: 'BOOKED',
  ITBD: 'BOOKED',
  OPBD: 'BOOKED',
  PRCD: 'BOOKED',
  ClosingAvailable: 'AVAILABLE',
  InterimAvailable: 'AVAILABLE',
  OpeningAvailable: 'AVAILABLE',
  ForwardAvailable: 'AVAILABLE',
  CLAV: 'AVAILABLE',
  ITAV: 'AVAILABLE',
  OPAV: 'AVAILABLE',
  FWAV: 'AVAILABLE',
  Expected: 'EXPECTED',
  XPCD: 'EXPECTED',
};

/**
 * Canonical balances: one per UK balance (its `Type` kept as `bankType`), then one CREDIT_LIMIT
 * per distinct credit line (`bankType` `CreditLine:<Type>`), which banks repeat on every balance.
 * `creditLimitIncluded` tells whether some credit line is counted in that balance.
 */
export function mapBalances(balances: readonly UkBalance[]): CanonicalBalance[] {
  const out: CanonicalBalance[] = [];
  const lines = new Map<string, CanonicalBalance>();
  for (const b of balances) {
    const dateTime = Date.parse(b.DateTime);
    const creditLines = b.CreditLine ?? [];
    out.push({
      kind: BALANCE_KIND[b.Type] ?? 'OTHER',
      bankType: b.Type,
      amount: { amount: signedAmount(b.Amount.Amount, b.CreditDebitIndicator), currency: b.Amount.Currency },
      referenceDate: b.DateTime.slice(0, 10),
      lastChangeDateTime: Number.isNaN(dateTime) ? null : new Date(dateTime),
      creditLimitIncluded: creditLines.length === 0 ? null : creditLines.some((l) => l.Included),
    });
    for (const line of creditLines) {
      if (!line.Amount) continue;
      const bankType = `CreditLine:${line.Type ?? 'Credit'}`;
      const key = `${bankType}|${line.Amount.Amount}|${line.Amount.Currency}`;
      if (lines.has(key)) continue;
      lines.set(key, {
        kind: 'CREDIT_LIMIT',
        bankType,
        amount: { amount: line.Amount.Amount, currency: line.Amount.Currency },
        referenceDate: b.DateTime.slice(0, 10),
        lastChangeDateTime: Number.isNaN(dateTime) ? null : new Date(dateTime),
        creditLimitIncluded: line.Included,
      });
    }
  }
  return [...out, ...lines.values()];
}

// ----- transactions ---------------------------------------------------------------------------

/**
 * 3.1 `OBEntryStatus1Code` and 4.0 `ExternalEntryStatus1Code`. Rejected entries and 4.0 `INFO`
 * (information only, never posted) are no movement on the account: they are left out. `FUTR`
 * (booked with a future value date) is not settled yet: PENDING.
 */
const TRANSACTION_STATUS: Record<string, 'BOOKED' | 'PENDING' | 'SKIP'> = {
  Booked: 'BOOKED',
  BOOK: 'BOOKED',
  Pending: 'PENDING',
  PDNG: 'PENDING',
  FUTR: 'PENDING',
  Rejected: 'SKIP',
  RJCT: 'SKIP',
  INFO: 'SKIP',
};

/** What to do with a transaction of this status; undefined for a code neither version defines. */
export function transactionStatus(status: string): 'BOOKED' | 'PENDING' | 'SKIP' | undefined {
  return TRANSACTION_STATUS[status.trim()];
}

/**
 * Canonical transaction, or null for an entry that is no movement (rejected, information only)
 * or whose status neither version defines. The counterparty is the other side: the creditor of a
 * debit, the debtor of a credit (account name, else the ultimate party, else the merchant).
 */
export function mapTransaction(t: UkTransaction): CanonicalTransaction | null {
  const status = transactionStatus(t.Status);
  if (status === undefined || status === 'SKIP') return null;
  const debit = isDebit(t.CreditDebitIndicator);
  const other = debit ? t.CreditorAccount : t.DebtorAccount;
  const ultimate = debit ? t.UltimateCreditor : t.UltimateDebtor;
  const agent = debit ? t.CreditorAgent : t.DebtorAgent;
  const counterpartyIban =
    other?.Identification && other.SchemeName && IBAN_SCHEMES.has(other.SchemeName) ? other.Identification.replace(/\s+/g, '').toUpperCase() : null;
  const code = t.BankTransactionCode ? `${t.BankTransactionCode.Code}-${t.BankTransactionCode.SubCode}` : (t.ProprietaryBankTransactionCode?.Code ?? null);
  return {
    bankTransactionId: t.TransactionId?.trim() ? t.TransactionId : null,
    status,
    amount: { amount: signedAmount(t.Amount.Amount, t.CreditDebitIndicator), currency: t.Amount.Currency },
    // UK date-times carry the bank's offset: the calendar day is the one the bank wrote.
    bookingDate: t.BookingDateTime.slice(0, 10),
    valueDate: t.ValueDateTime ? t.ValueDateTime.slice(0, 10) : null,
    transactionDate: null,
    counterpartyName: other?.Name ?? ultimate?.Name ?? t.MerchantDetails?.MerchantName ?? agent?.Name ?? null,
    counterpartyIban,
    remittanceInformation: t.TransactionInformation ?? t.TransactionReference ?? null,
    endToEndId: null,
    bankTransactionCode: code,
    raw: t,
  };
}
