/**
 * The canonical banking model: what modules see of any bank, whatever standard it speaks.
 * Adapters translate each standard to and from these shapes; nothing here names a standard's
 * field.
 */
import type { InstitutionQuirks } from './quirks';

/**
 * Id of a standard of the registry of standards (src/banking/standards.ts): a PSD2 API standard,
 * or an upstream aggregator reaching banks for us. The registry is the only list of them.
 */
export type Standard = string;

/** What a consent may grant access to. */
export type AccessScope = 'ACCOUNTS' | 'BALANCES' | 'TRANSACTIONS';

/** How the bank authenticates the PSU. */
export type ScaApproach = 'REDIRECT' | 'OAUTH' | 'DECOUPLED' | 'EMBEDDED';

/** Payment schemes the gateway can initiate. */
export type PaymentScheme = 'SEPA_CREDIT_TRANSFER' | 'SEPA_INSTANT' | 'FASTER_PAYMENTS';

/** Everything the gateway knows about one bank: identity, endpoints, limits and quirks. */
export interface InstitutionDescriptor {
  /** Stable slug, e.g. `nordlicht`; part of the institution's global id. */
  id: string;
  name: string;
  bic: string;
  /** ISO 3166-1 alpha-2. */
  country: string;
  logoUrl: string | null;
  standard: Standard;
  /** Version of the standard the bank speaks, e.g. `1.3.12`, `1.6`, `3.1.11`. */
  standardVersion: string;
  /** `sandbox` institutions serve sandbox tenants only; `live` ones serve live tenants only. */
  environment: 'sandbox' | 'live';
  /** Root of the account-information API (paths of the standard are appended). */
  aisBaseUrl: string;
  /** Root of the payment-initiation API. */
  pisBaseUrl: string;
  /** OAuth authorisation server of the bank (OIDC discovery at its well-known URL). */
  issuer: string | null;
  scopes: AccessScope[];
  paymentSchemes: PaymentScheme[];
  /** The bank's own product names (e.g. `sepa-credit-transfers`, `SCT`, `domestic-payments`). */
  paymentProducts: string[];
  scaApproaches: ScaApproach[];
  /** Longest consent validity the bank grants, in days (EEA ≤ 180; UK 90 with reconfirmation). */
  maxConsentDays: number;
  /** How far back the bank serves transactions, in days. */
  maxHistoryDays: number;
  /** Unattended reads per consent and scope per day (PSD2: at most 4). */
  frequencyPerDay: number;
  /** Bank-specific behaviour as typed data (e.g. `{ "transactionIdsUnstable": true }`), never a fork. */
  quirks: InstitutionQuirks;
}

/** A decimal amount as a string ("-12.30"), never a float, with its ISO 4217 currency. */
export interface Money {
  amount: string;
  currency: string;
}

/** Bank tokens of one consent. Held in memory only while a call runs; at rest they are sealed by the vault. */
export interface BankTokens {
  accessToken: string;
  refreshToken: string | null;
  /** When the access token stops working, if the bank said. */
  expiresAt: Date | null;
}

/** Kind of account, whatever the bank calls it. */
export type AccountKind = 'CHECKING' | 'SAVINGS' | 'CARD' | 'LOAN' | 'OTHER';

/** One account as a bank reports it, in canonical form. */
export interface CanonicalAccount {
  /** The bank's own id of the account resource (used in its URLs). */
  bankAccountId: string;
  kind: AccountKind;
  iban: string | null;
  /** Masked card number for card accounts, e.g. `1234 56** **** 7890`. */
  maskedPan: string | null;
  currency: string;
  ownerName: string | null;
  name: string | null;
  product: string | null;
  /** The bank's own fields, kept for support and for quirks. Never sent to GraphQL. */
  raw: unknown;
}

/** Balance kinds across standards; the bank's own type is kept beside it. */
export type BalanceKind = 'BOOKED' | 'AVAILABLE' | 'EXPECTED' | 'CREDIT_LIMIT' | 'OTHER';

export interface CanonicalBalance {
  kind: BalanceKind;
  /** The bank's own balance type, e.g. `closingBooked`, `interimAvailable`, `CLBD`, `InterimAvailable`. */
  bankType: string;
  amount: Money;
  referenceDate: string | null;
  lastChangeDateTime: Date | null;
  creditLimitIncluded: boolean | null;
}

/** One transaction as the bank reports it, in canonical form (identity is decided by modules/transactions). */
export interface CanonicalTransaction {
  /** The bank's id when it gives one (its stability is an institution quirk). */
  bankTransactionId: string | null;
  status: 'BOOKED' | 'PENDING';
  /** Signed: debits negative, whatever the bank's convention. */
  amount: Money;
  bookingDate: string | null;
  valueDate: string | null;
  transactionDate: string | null;
  counterpartyName: string | null;
  counterpartyIban: string | null;
  remittanceInformation: string | null;
  endToEndId: string | null;
  bankTransactionCode: string | null;
  raw: unknown;
}

/** PSD2 consent states as a bank reports them. */
export type BankConsentStatus = 'RECEIVED' | 'VALID' | 'REJECTED' | 'EXPIRED' | 'REVOKED' | 'TERMINATED';

/** Normalised payment status (DESIGN §5): the same words whatever the bank's standard. */
/**
 * A payment's normalised status. AWAITING_APPROVAL and REJECTED_BY_APPROVER are the gateway's own
 * (an end user's approval policy, before any bank call); banks never report them.
 */
export type PaymentStatus =
  'AWAITING_APPROVAL' | 'REJECTED_BY_APPROVER' | 'AUTHORIZATION_REQUIRED' | 'PENDING' | 'ACCEPTED' | 'EXECUTED' | 'REJECTED' | 'CANCELLED' | 'FAILED';

/** A payment's status as the bank reported it: normalised, plus the bank's own words. */
export interface BankPaymentStatus {
  status: PaymentStatus;
  /** The bank's own status: ISO 20022 (`RCVD`, `ACTC`, `ACSC`, `RJCT`, `CANC`…) or, at UK banks, the OBIE status (`AcceptedSettlementCompleted`…). */
  rawStatus: string;
  /** ISO 20022 status reason when the bank gave one (`AM04`, `AC04`, `DS02`…). */
  reasonCode: string | null;
}
