import type { ZodError } from 'zod';

/**
 * Stable codes of business problems (a value a client can fix, a state that forbids the action).
 * The GraphQL edge shows them as `UserErrorCode` in mutation payloads.
 */
export enum ProblemCode {
  /** A value is malformed or out of range. */
  INVALID = 'INVALID',
  /** A required value is missing or blank. */
  BLANK = 'BLANK',
  /** A value is longer than allowed. */
  TOO_LONG = 'TOO_LONG',
  /** A value must be unique within the tenant and is already used. */
  TAKEN = 'TAKEN',
  /** The referenced object does not exist for this tenant. */
  NOT_FOUND = 'NOT_FOUND',
  /** The object is already revoked. */
  ALREADY_REVOKED = 'ALREADY_REVOKED',
  /** A URL is not allowed in this environment (plain http outside the sandbox's loopback). */
  INSECURE_URL = 'INSECURE_URL',
  /** A number is outside what is allowed (e.g. above the bank's maximum). */
  OUT_OF_RANGE = 'OUT_OF_RANGE',
  /** The institution does not offer what was asked (a scope, a payment scheme). */
  NOT_SUPPORTED = 'NOT_SUPPORTED',
  /** The tenant has not allowed this value (e.g. a redirect URI missing from its allow-list). */
  NOT_ALLOWED = 'NOT_ALLOWED',
  /** The object's current status does not allow this mutation. */
  INVALID_STATE = 'INVALID_STATE',
  /** The bank could not be reached or refused the request; nothing was kept. */
  BANK_ERROR = 'BANK_ERROR',
  /** Today's unattended reads of this consent are used up (PSD2 `frequencyPerDay`). */
  BUDGET_EXHAUSTED = 'BUDGET_EXHAUSTED',
  /** A URL reaches a private, loopback or link-local address (refused in live: no SSRF). */
  PRIVATE_ADDRESS = 'PRIVATE_ADDRESS',
  /** The tenant already has as many of these as allowed. */
  LIMIT_REACHED = 'LIMIT_REACHED',
  /** An IBAN fails its check digits (mod-97) or its country's format. */
  INVALID_IBAN = 'INVALID_IBAN',
  /** A BIC is not 8 or 11 characters of bank, country, location and branch code. */
  INVALID_BIC = 'INVALID_BIC',
  /** The payment scheme does not accept this currency (SEPA: EUR; Faster Payments: GBP). */
  UNSUPPORTED_CURRENCY = 'UNSUPPORTED_CURRENCY',
  /** An amount is not a positive decimal string. */
  INVALID_AMOUNT = 'INVALID_AMOUNT',
  /** An amount has more decimals than its currency allows. */
  AMOUNT_PRECISION = 'AMOUNT_PRECISION',
  /** A requested execution date is before today. */
  EXECUTION_DATE_IN_PAST = 'EXECUTION_DATE_IN_PAST',
  /** The creditor account is the debtor account. */
  SAME_ACCOUNT = 'SAME_ACCOUNT',
  /** The idempotency key was used before with a different request. */
  IDEMPOTENCY_KEY_REUSED = 'IDEMPOTENCY_KEY_REUSED',
  /** The payment can no longer be cancelled, or its bank's standard offers no cancellation. */
  NOT_CANCELLABLE = 'NOT_CANCELLABLE',
  /** A currency is not an ISO 4217 code. */
  UNKNOWN_CURRENCY = 'UNKNOWN_CURRENCY',
  /** A date is not a calendar date written YYYY-MM-DD. */
  INVALID_DATE = 'INVALID_DATE',
  /** An external id was used before with a different request. */
  EXTERNAL_ID_REUSED = 'EXTERNAL_ID_REUSED',
  /** An amount would exceed what the transaction or the expected payment has left. */
  AMOUNT_EXCEEDED = 'AMOUNT_EXCEEDED',
  /** The transaction is already part of a live (suggested or confirmed) match. */
  ALREADY_MATCHED = 'ALREADY_MATCHED',
  /** The objects belong to different end users. */
  END_USER_MISMATCH = 'END_USER_MISMATCH',
  /** The text is not an X.509 certificate (PEM or base64 DER), or not the kind asked for (a CA certificate, a signing certificate). */
  CERTIFICATE_INVALID = 'CERTIFICATE_INVALID',
  /** The certificate (or the CA certificate that issued it) is past its validity period. */
  CERTIFICATE_EXPIRED = 'CERTIFICATE_EXPIRED',
  /** The certificate’s validity period has not started. */
  CERTIFICATE_NOT_YET_VALID = 'CERTIFICATE_NOT_YET_VALID',
  /** The certificate’s key usage does not allow signatures (digitalSignature or nonRepudiation), or it is a CA certificate. */
  CERTIFICATE_KEY_USAGE = 'CERTIFICATE_KEY_USAGE',
  /** The certificate is not issued by a CA certificate the tenant registered (approvalCaCertificateAdd). */
  CERTIFICATE_UNTRUSTED = 'CERTIFICATE_UNTRUSTED',
  /** The tenant revoked this certificate (approverCertificateRevoke). */
  CERTIFICATE_REVOKED = 'CERTIFICATE_REVOKED',
  /** The signature does not verify with the credential’s key over the payment’s approval document. */
  SIGNATURE_INVALID = 'SIGNATURE_INVALID',
  /** The signed payload is not the approval document the gateway computes for the payment now (another payment, revision or decision). */
  SIGNATURE_DOCUMENT_MISMATCH = 'SIGNATURE_DOCUMENT_MISMATCH',
  /** This member already approved or rejected this revision of the payment. */
  ALREADY_DECIDED = 'ALREADY_DECIDED',
  /** The policy forbids the member who requested the payment to approve it. */
  SELF_APPROVAL_FORBIDDEN = 'SELF_APPROVAL_FORBIDDEN',
  /** The member is not an APPROVER of the payment’s end user. */
  NOT_AN_APPROVER = 'NOT_AN_APPROVER',
  /** The passkey response does not verify (unknown credential, wrong challenge, bad signature). */
  PASSKEY_INVALID = 'PASSKEY_INVALID',
  /** The passkey response was made for another origin than the gateway’s page. */
  PASSKEY_ORIGIN_MISMATCH = 'PASSKEY_ORIGIN_MISMATCH',
  /** The passkey response was already used, or its signature counter did not grow. */
  PASSKEY_REPLAYED = 'PASSKEY_REPLAYED',
  /** No tenant of this gateway (and environment) has this public handle. */
  UNKNOWN_TENANT = 'UNKNOWN_TENANT',
  /** An access-grant scope that does not exist (initiation is never grantable). */
  UNKNOWN_SCOPE = 'UNKNOWN_SCOPE',
  /** A tenant cannot grant access to itself. */
  SELF_GRANT = 'SELF_GRANT',
}

/** A business problem: which input field (path), what is wrong, and a stable code. */
export interface Problem {
  /** Path to the input field, e.g. ["input", "externalRef"]; empty when not tied to one field. */
  readonly field: string[];
  readonly message: string;
  readonly code: ProblemCode;
}

export function problem(field: string[], code: ProblemCode, message: string): Problem {
  return { field, code, message };
}

/**
 * Maps zod issues on an input to problems. Validation messages set with `{ message: 'CODE:text' }`
 * carry their code; others become INVALID.
 */
export function zodProblems(error: ZodError, root: string[] = ['input']): Problem[] {
  return error.issues.map((issue) => {
    const [maybeCode, ...rest] = issue.message.split(':');
    const known = maybeCode in ProblemCode && rest.length > 0;
    return problem(
      [...root, ...issue.path.map(String)],
      known ? (maybeCode as ProblemCode) : ProblemCode.INVALID,
      known ? rest.join(':').trim() : issue.message,
    );
  });
}

/**
 * What a domain operation returns: ok with a value, or the business problems that stopped it
 * (named `userErrors`, as resolvers hand them to clients unchanged).
 */
export type Outcome<T> = { ok: true; value: T } | { ok: false; userErrors: Problem[] };
