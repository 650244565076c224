/**
 * The one place where a bank's payment status becomes the gateway's normalised status
 * (DESIGN §5). Every adapter reports `BankPaymentStatus` through these functions, so the same
 * bank word means the same thing whatever the standard. The bank's own word is always kept in
 * `rawStatus`; enums are open (banks add codes): an unknown word is reported as PENDING, which
 * keeps the payment polled, never as a final outcome we cannot vouch for.
 */
import type { BankPaymentStatus, PaymentStatus } from './model';

/** Statuses after which nothing changes any more: polling stops. */
export const TERMINAL_PAYMENT_STATUSES: ReadonlySet<PaymentStatus> = new Set(['EXECUTED', 'REJECTED', 'CANCELLED', 'FAILED']);

/** True when the payment will not change any more. */
export function isTerminalPaymentStatus(status: PaymentStatus): boolean {
  return TERMINAL_PAYMENT_STATUSES.has(status);
}

/** ISO 20022 codes that mean "received, not decided yet": before SCA the end user still has to authorise. */
const ISO_WAITING = new Set(['RCVD', 'PDNG', 'PATC']);
const ISO_ACCEPTED = new Set(['ACTC', 'ACCP', 'ACWC', 'ACFC', 'ACSP', 'ACWP', 'PART']);
const ISO_EXECUTED = new Set(['ACSC', 'ACCC']);

/**
 * Normalises an ISO 20022 transaction status (Berlin Group `transactionStatus`, STET
 * `paymentInformationStatus`, UK 4.0 codes). `authorised` says whether the end user has passed SCA
 * yet: RCVD before SCA is AUTHORIZATION_REQUIRED, after it PENDING.
 */
export function isoPaymentStatus(raw: string, opts: { authorised: boolean; reasonCode?: string | null }): BankPaymentStatus {
  const code = raw.trim().toUpperCase();
  let status: PaymentStatus;
  if (ISO_WAITING.has(code)) status = opts.authorised ? 'PENDING' : 'AUTHORIZATION_REQUIRED';
  else if (ISO_ACCEPTED.has(code)) status = 'ACCEPTED';
  else if (ISO_EXECUTED.has(code)) status = 'EXECUTED';
  else if (code === 'RJCT') status = 'REJECTED';
  else if (code === 'CANC') status = 'CANCELLED';
  else status = 'PENDING';
  return { status, rawStatus: raw, reasonCode: normaliseReasonCode(opts.reasonCode) };
}

/** UK Open Banking 3.1 words for payment consents and domestic payments (4.0 ISO codes fall back to ISO). */
const UK_WORDS: Record<string, PaymentStatus> = {
  // Payment consent
  awaitingauthorisation: 'AUTHORIZATION_REQUIRED',
  authorised: 'PENDING',
  consumed: 'ACCEPTED',
  rejected: 'REJECTED',
  revoked: 'CANCELLED',
  // Domestic payment
  pending: 'PENDING',
  acceptedsettlementinprocess: 'ACCEPTED',
  acceptedwithoutposting: 'ACCEPTED',
  acceptedsettlementcompleted: 'EXECUTED',
  acceptedcreditsettlementcompleted: 'EXECUTED',
  // UK 4.0 consent codes
  awau: 'AUTHORIZATION_REQUIRED',
  auth: 'PENDING',
  cond: 'ACCEPTED',
};

/**
 * Normalises a UK Open Banking status (payment consent or domestic payment), keeping the bank's
 * word as `rawStatus`. ISO codes (UK 4.0: RCVD, ACSC, RJCT…) go through {@link isoPaymentStatus}.
 */
export function ukPaymentStatus(raw: string, opts: { authorised: boolean; reasonCode?: string | null }): BankPaymentStatus {
  const known = UK_WORDS[raw.trim().toLowerCase()];
  if (known) return { status: known, rawStatus: raw, reasonCode: normaliseReasonCode(opts.reasonCode) };
  return isoPaymentStatus(raw, opts);
}

/** ISO 20022 ExternalStatusReason1Code: four letters or digits (`AM04`, `AC04`, `DS02`, `AB05`, `FF01`, `NARR`). */
const REASON_CODE = /^[A-Z0-9]{4}$/;

/** The ISO reason code in what a bank sent, or null (free text is never passed on as a code). */
export function normaliseReasonCode(value: string | null | undefined): string | null {
  if (!value) return null;
  const code = value.trim().toUpperCase();
  return REASON_CODE.test(code) ? code : null;
}

/** The ISO reason code leading a free text (`"AM04: insufficient funds"`), or null. Only the usual two letters and two digits (or NARR), so a leading word is never taken for a code. */
export function reasonCodeInText(text: string | null | undefined): string | null {
  const m = /^\s*([A-Z]{2}\d{2}|NARR)\b/.exec(text ?? '');
  return m ? m[1]! : null;
}
