/**
 * Ports: what modules ask of a bank, in canonical terms. Each standard has one adapter that
 * implements them (banking/adapters/<standard>/); modules never import an adapter.
 */
import type {
  AccessScope,
  BankConsentStatus,
  BankPaymentStatus,
  BankTokens,
  CanonicalAccount,
  CanonicalBalance,
  CanonicalTransaction,
  InstitutionDescriptor,
  Money,
  PaymentScheme,
  ScaApproach,
} from './model';

/** Who and what a bank call is for. */
export interface BankCallContext {
  institution: InstitutionDescriptor;
  /** Set when the end user is present: the bank then does not count the call against `frequencyPerDay`. */
  psuIpAddress?: string;
}

/** What the gateway asks the bank to consent to. */
export interface ConsentRequest {
  scopes: AccessScope[];
  /** Bank-clamped by the caller to `institution.maxConsentDays`. */
  validUntil: Date;
  frequencyPerDay: number;
  /** The gateway's callback, where the bank sends the end user back. */
  redirectUri: string;
  /**
   * Opaque value the callback must carry back (CSRF protection; also identifies the attempt):
   * 22–200 URL-safe characters with at least 128 random bits. Adapters send it as it is.
   */
  state: string;
  /**
   * The end user's login at the bank (`PSU-ID`), when the developer knows it. Banks need it for
   * the decoupled approach (the end user approves in the bank's app, with no redirect).
   */
  psuId?: string;
}

/** The bank's answer to a new consent: where to send the end user, and what to keep for the callback. */
export interface ConsentStarted {
  bankConsentId: string | null;
  approach: ScaApproach;
  /** Where to send the end user; null for the decoupled approach (the bank notifies the user's app). */
  authorizationUrl: string | null;
  /** Values the adapter needs again at the callback (PKCE verifier, nonce…). Sealed by the vault at rest. */
  secrets: Record<string, string>;
}

/** The outcome of the end user's visit to the bank. */
export type ConsentCompleted =
  | { outcome: 'AUTHORISED'; bankConsentId: string | null; tokens: BankTokens | null; validUntil: Date | null }
  | { outcome: 'REJECTED' | 'FAILED'; reason: string };

/** Consent set-up and life cycle at the bank (AIS consents; the same shape serves payment authorisation). */
export interface ConsentAuthorisationPort {
  start(ctx: BankCallContext, request: ConsentRequest): Promise<ConsentStarted>;
  /** Handles the bank's redirect back to the gateway (`callbackUrl` is the full URL it called). */
  complete(ctx: BankCallContext, input: { callbackUrl: string; bankConsentId: string | null; secrets: Record<string, string> }): Promise<ConsentCompleted>;
  /** Decoupled approach: asks the bank whether the end user has decided yet. */
  poll?(ctx: BankCallContext, input: { bankConsentId: string; secrets: Record<string, string> }): Promise<ConsentCompleted | { outcome: 'PENDING' }>;
  status(ctx: BankCallContext, input: { bankConsentId: string | null; tokens: BankTokens | null }): Promise<BankConsentStatus>;
  /** Revokes at the bank where the standard allows it; resolves when the bank has no consent left. */
  revoke(ctx: BankCallContext, input: { bankConsentId: string | null; tokens: BankTokens | null }): Promise<void>;
  refresh(ctx: BankCallContext, tokens: BankTokens): Promise<BankTokens>;
}

/** Credentials of one consent for data calls. */
export interface ConsentAccess {
  bankConsentId: string | null;
  tokens: BankTokens | null;
}

/** Account information (AIS): reading what a consent grants. */
export interface AccountInformationPort {
  listAccounts(ctx: BankCallContext, access: ConsentAccess): Promise<CanonicalAccount[]>;
  getBalances(ctx: BankCallContext, access: ConsentAccess, bankAccountId: string): Promise<CanonicalBalance[]>;
  /**
   * Every page of transactions in the window, following the bank's paging links. With
   * `onBalances`, a bank that can return the account's balances in the same answer (Berlin Group
   * `withBalance=true`) is asked to, saving a call; adapters that can't never call it.
   */
  listTransactions(
    ctx: BankCallContext,
    access: ConsentAccess,
    bankAccountId: string,
    window: { dateFrom: string; dateTo: string | null; status: 'BOOKED' | 'PENDING' | 'BOTH'; onBalances?: (balances: CanonicalBalance[]) => void },
  ): AsyncIterable<CanonicalTransaction[]>;
}

/** One payment the gateway asks a bank to make. Every field was validated by modules/payments before it gets here. */
export interface PaymentRequest {
  scheme: PaymentScheme;
  /** Null where the bank lets the end user choose the account at SCA. */
  debtorAccount: { iban: string } | null;
  creditor: { name: string; iban: string; bic: string | null };
  /** Positive, at most the currency's decimals. */
  amount: Money;
  remittanceInformation: string | null;
  endToEndId: string | null;
  /** `YYYY-MM-DD`; null = immediate. */
  requestedExecutionDate: string | null;
  /** The gateway's payment callback, where the bank sends the end user back. */
  redirectUri: string;
  /** Opaque value the callback carries back (same rules as `ConsentRequest.state`). */
  state: string;
  /**
   * The gateway's own idempotency key for this payment, persisted before the first call. Adapters
   * send it where their standard lets a bank recognise a repeated request (`X-Request-ID`,
   * `x-idempotency-key`, the STET `resourceId`), so a call retried after a timeout never pays twice.
   */
  idempotencyKey: string;
  /**
   * When the gateway recorded the payment (persisted with it, before the first call). Standards
   * that date the instruction in its body (STET `creationDateTime`) send this, so a repeated call
   * carries the very same body and the bank recognises it. Default: now (a retry is then a new body).
   */
  createdAt?: Date;
  /**
   * The end user's login at the bank (`PSU-ID`), when the developer knows it: a bank that offers
   * decoupled SCA then asks the end user in its app, with no redirect.
   */
  psuId?: string;
}

/** The bank's answer to a new payment: where to send the end user, and what to keep for the callback. */
export interface PaymentStarted {
  /** The bank's id of the payment resource (UK: the payment consent, until `complete` answers the payment's id). */
  bankPaymentId: string;
  /** Null for the decoupled approach: the bank asks the end user in its app; follow it with `poll`. */
  authorizationUrl: string | null;
  status: BankPaymentStatus;
  /** Values the adapter needs again (PKCE verifier…). Sealed by the vault at rest. */
  secrets: Record<string, string>;
}

/**
 * The outcome of the end user's visit to the bank for a payment. On AUTHORISED, `bankPaymentId`
 * and `secrets` replace those kept from `initiate` (UK: the domestic payment's id, and the PSU's
 * token so that a repeated `complete` re-submits with the same idempotency key instead of
 * exchanging the spent code again); pass them to `status`, `cancel` and any later `complete`.
 */
export type PaymentCompleted =
  | { outcome: 'AUTHORISED'; bankPaymentId: string; status: BankPaymentStatus; secrets: Record<string, string> }
  | { outcome: 'REJECTED' | 'FAILED'; reason: string; status: BankPaymentStatus | null };

/** Payment initiation (PIS). */
export interface PaymentInitiationPort {
  initiate(ctx: BankCallContext, request: PaymentRequest): Promise<PaymentStarted>;
  /**
   * Handles the bank's redirect back (`callbackUrl` is the full URL it called) and does what the
   * standard needs to set the payment off (UK: exchange the code, then `POST /domestic-payments`
   * with `idempotencyKey`; STET: the confirmation). Safe to call again with the same input.
   */
  complete(
    ctx: BankCallContext,
    input: { callbackUrl: string; bankPaymentId: string; secrets: Record<string, string>; idempotencyKey: string; request: PaymentRequest },
  ): Promise<PaymentCompleted>;
  status(ctx: BankCallContext, input: { bankPaymentId: string; secrets: Record<string, string> }): Promise<BankPaymentStatus>;
  /** Decoupled SCA (no callback): the end user's decision once the bank has it, else PENDING. */
  poll?(ctx: BankCallContext, input: { bankPaymentId: string; secrets: Record<string, string> }): Promise<PaymentCompleted | { outcome: 'PENDING' }>;
  /** Present only where the standard lets the TPP cancel (Berlin Group, STET); resolves with the new status. */
  cancel?(ctx: BankCallContext, input: { bankPaymentId: string; secrets: Record<string, string> }): Promise<BankPaymentStatus>;
  /**
   * Berlin Group: after `cancel` threw `BankCancellationAuthorisationRequired`, starts the end
   * user's authorisation of the cancellation (`POST …/cancellation-authorisations`, redirect SCA).
   * `startHref` is the bank's `startAuthorisation` link; the end user comes back to `redirectUri`
   * carrying `state`. Resolves with where to send them and the secrets `finishCancellationAuthorisation` needs.
   */
  startCancellationAuthorisation?(
    ctx: BankCallContext,
    input: { bankPaymentId: string; secrets: Record<string, string>; startHref: string | null; redirectUri: string; state: string },
  ): Promise<CancellationAuthorisationStarted>;
  /**
   * After the end user's return (`callbackUrl`, the full URL the bank called): reads the
   * authorisation's `scaStatus` and then the payment's status, which says whether it is cancelled.
   */
  finishCancellationAuthorisation?(
    ctx: BankCallContext,
    input: { bankPaymentId: string; secrets: Record<string, string>; cancellationSecrets: Record<string, string>; callbackUrl: string },
  ): Promise<CancellationAuthorisationFinished>;
}

/** A started cancellation authorisation: where the end user approves it, and what finishing it needs (kept sealed). */
export interface CancellationAuthorisationStarted {
  authorizationUrl: string;
  secrets: Record<string, string>;
}

/**
 * How a cancellation authorisation ended: `APPROVED` (the end user authorised it; `status` is the
 * bank's, normally CANCELLED), `DECLINED` (they refused or it failed; the payment goes on as
 * `status` says), `UNDECIDED` (the bank has no verdict yet), or `STATE_MISMATCH`.
 */
export interface CancellationAuthorisationFinished {
  outcome: 'APPROVED' | 'DECLINED' | 'UNDECIDED' | 'STATE_MISMATCH';
  status: BankPaymentStatus | null;
}

/** One adapter per standard implements the ports it supports. */
export interface BankAdapter {
  readonly consents: ConsentAuthorisationPort;
  readonly accounts: AccountInformationPort;
  readonly payments: PaymentInitiationPort;
}
