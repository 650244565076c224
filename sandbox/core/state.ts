import type { LedgerTransaction } from './ledger';

/** The canonical life of an account-information consent; each standard renders its own words. */
export type ConsentStatus = 'received' | 'valid' | 'rejected' | 'expired' | 'revoked' | 'terminatedByTpp';

export type ScaApproach = 'REDIRECT' | 'OAUTH' | 'DECOUPLED';

export type ScaStatus = 'received' | 'started' | 'psuAuthenticated' | 'finalised' | 'failed';

export interface Authorisation {
  id: string;
  scaStatus: ScaStatus;
  /** The SCA page session that drives this authorisation. */
  sessionId: string;
}

export interface AisConsent {
  id: string;
  clientId?: string;
  status: ConsentStatus;
  /** The PSU who approved it (test user name). */
  userId?: string;
  /** PSU-ID the TPP sent, if any (decoupled needs it). */
  psuId?: string;
  /** IBANs per service; `undefined` means every account of the PSU. */
  access: {
    accounts?: string[];
    balances?: string[];
    transactions?: string[];
    allPsd2?: boolean;
    bankOffered?: boolean;
    /** BG availableAccounts(WithBalance): the account list (and balances) only, no transactions. */
    listOnly?: 'accounts' | 'withBalance';
  };
  /** UK permissions, kept as sent. */
  permissions?: string[];
  recurringIndicator: boolean;
  frequencyPerDay: number;
  /** Last day the consent may be used (inclusive), YYYY-MM-DD. */
  validUntil: string;
  createdAtMs: number;
  statusUpdatedAtMs: number;
  approach: ScaApproach;
  tppRedirectUri?: string;
  tppNokRedirectUri?: string;
  authorisations: Authorisation[];
  /** Standard-specific extras (UK risk, expiration instants, transaction windows). */
  extra: Record<string, unknown>;
}

/** ISO 20022 payment statuses the sandbox uses. */
export type PaymentStatus = 'RCVD' | 'PATC' | 'ACTC' | 'ACSP' | 'ACSC' | 'RJCT' | 'CANC';

export interface Payment {
  id: string;
  /** e.g. sepa-credit-transfers, instant-sepa-credit-transfers, domestic, stet. */
  product: string;
  clientId?: string;
  userId?: string;
  psuId?: string;
  amountCents: number;
  currency: string;
  debtorIban?: string;
  creditorName: string;
  creditorIban?: string;
  creditorAccount?: Record<string, unknown>;
  remittance?: string;
  endToEndId?: string;
  requestedExecutionDate?: string;
  createdAtMs: number;
  authorisedAtMs?: number;
  /** When execution started: RCVD→ACTC→ACSC runs from here on the bank clock. */
  executionStartedAtMs?: number;
  rejected?: { atMs: number; reason: string };
  /** Set when the magic creditor makes the payment fail after acceptance. */
  failsAtSettlement?: string;
  cancelledAtMs?: number;
  approach: ScaApproach;
  tppRedirectUri?: string;
  tppNokRedirectUri?: string;
  authorisations: Authorisation[];
  /** Berlin Group: the PSU's authorisations of this payment's cancellation (DELETE answered 202). */
  cancellationAuthorisations?: Authorisation[];
  idempotencyKey?: string;
  /** The request body as the TPP sent it (UK echoes it back). */
  request: unknown;
  extra: Record<string, unknown>;
}

/** What an OAuth grant (and so every token derived from it) was approved for. */
export interface GrantLink {
  userId: string;
  consentId?: string;
  paymentId?: string;
}

export type FaultKind = 'status' | 'rate-limit' | 'latency' | 'timeout' | 'malformed-json' | 'missing-ids' | 'churn-ids' | 'duplicates';

export interface FaultRule {
  id: string;
  kind: FaultKind;
  /** Path pattern found anywhere in the request path below the bank's API root, `*` for any characters (never a regular expression); all routes if absent. */
  route?: string;
  method?: string;
  /** HTTP status for `status` (500, 503…) and `rate-limit` (429). */
  status?: number;
  retryAfterSeconds?: number;
  latencyMs?: number;
  /** How many matching requests the fault applies to; unlimited if absent. */
  remaining?: number;
}

export type AddedTransaction = LedgerTransaction;
