import { Field, ObjectType, registerEnumType } from 'type-graphql';
import { ProblemCode, type Problem } from '../kernel/problems';

/**
 * The GraphQL face of the kernel's business problems: the `UserErrorCode` enum and the `UserError`
 * object of mutation payloads. Resolvers return the services' problems as they are: a `Problem`
 * has the `UserError` shape.
 */
export { ProblemCode as UserErrorCode, problem as userError, zodProblems as zodUserErrors } from '../kernel/problems';

registerEnumType(ProblemCode, {
  name: 'UserErrorCode',
  description: 'Stable codes of business problems reported in mutation payloads.',
  valuesConfig: {
    INVALID: { description: 'A value is malformed or out of range.' },
    BLANK: { description: 'A required value is missing or blank.' },
    TOO_LONG: { description: 'A value is longer than allowed.' },
    TAKEN: { description: 'A value must be unique within the tenant and is already used.' },
    NOT_FOUND: { description: 'The referenced object does not exist for this tenant.' },
    ALREADY_REVOKED: { description: 'The object is already revoked.' },
    OUT_OF_RANGE: { description: "A number is outside what is allowed (e.g. above the bank's maximum)." },
    NOT_SUPPORTED: { description: 'The institution does not offer what was asked (a scope, a payment scheme).' },
    NOT_ALLOWED: { description: 'The tenant has not allowed this value (e.g. a redirect URI missing from its allow-list).' },
    INVALID_STATE: { description: "The object's current status does not allow this mutation." },
    BANK_ERROR: { description: 'The bank could not be reached or refused the request; nothing was kept.' },
    INSECURE_URL: { description: "A URL is not allowed in this environment (plain http outside the sandbox's loopback)." },
    BUDGET_EXHAUSTED: { description: "Today's unattended reads of this consent are used up (PSD2 `frequencyPerDay`)." },
    PRIVATE_ADDRESS: { description: 'A URL reaches a private, loopback or link-local address (refused in live: no SSRF).' },
    LIMIT_REACHED: { description: 'The tenant already has as many of these as allowed.' },
    INVALID_IBAN: { description: "An IBAN fails its check digits (mod-97) or its country's format." },
    INVALID_BIC: { description: 'A BIC is not 8 or 11 characters of bank, country, location and branch code.' },
    UNSUPPORTED_CURRENCY: { description: 'The payment scheme does not accept this currency (SEPA: EUR; Faster Payments: GBP).' },
    INVALID_AMOUNT: { description: 'An amount is not a positive decimal string.' },
    AMOUNT_PRECISION: { description: 'An amount has more decimals than its currency allows.' },
    EXECUTION_DATE_IN_PAST: { description: 'A requested execution date is before today.' },
    SAME_ACCOUNT: { description: 'The creditor account is the debtor account.' },
    IDEMPOTENCY_KEY_REUSED: { description: 'The idempotency key was used before with a different request; use a new key for a new payment.' },
    NOT_CANCELLABLE: { description: "The payment can no longer be cancelled, or its bank's standard offers no cancellation." },
    UNKNOWN_CURRENCY: { description: 'A currency is not an ISO 4217 code.' },
    INVALID_DATE: { description: 'A date is not a calendar date written YYYY-MM-DD.' },
    EXTERNAL_ID_REUSED: { description: 'An external id was used before with a different request; the first one is kept.' },
    AMOUNT_EXCEEDED: { description: 'An amount would exceed what the transaction or the expected payment has left.' },
    ALREADY_MATCHED: { description: 'The transaction is already part of a live (suggested or confirmed) match.' },
    END_USER_MISMATCH: { description: 'The objects belong to different end users.' },
    CERTIFICATE_INVALID: {
      description: 'The text is not an X.509 certificate (PEM or base64 DER), or not the kind asked for (a CA certificate, a signing certificate).',
    },
    CERTIFICATE_EXPIRED: { description: 'The certificate (or the CA certificate that issued it) is past its validity period.' },
    CERTIFICATE_NOT_YET_VALID: { description: 'The certificate’s validity period has not started.' },
    CERTIFICATE_KEY_USAGE: {
      description: 'The certificate’s key usage does not allow signatures (digitalSignature or nonRepudiation), or it is a CA certificate.',
    },
    CERTIFICATE_UNTRUSTED: { description: 'The certificate is not issued by a CA certificate the tenant registered (approvalCaCertificateAdd).' },
    CERTIFICATE_REVOKED: { description: 'The tenant revoked this certificate (approverCertificateRevoke).' },
    SIGNATURE_INVALID: { description: 'The signature does not verify with the credential’s key over the payment’s approval document.' },
    SIGNATURE_DOCUMENT_MISMATCH: {
      description: 'The signed payload is not the approval document the gateway computes for the payment now (another payment, revision or decision).',
    },
    ALREADY_DECIDED: { description: 'This member already approved or rejected this revision of the payment.' },
    SELF_APPROVAL_FORBIDDEN: { description: 'The policy forbids the member who requested the payment to approve it.' },
    NOT_AN_APPROVER: { description: 'The member is not an APPROVER of the payment’s end user.' },
    PASSKEY_INVALID: { description: 'The passkey response does not verify (unknown credential, wrong challenge, bad signature).' },
    PASSKEY_ORIGIN_MISMATCH: { description: 'The passkey response was made for another origin than the gateway’s page.' },
    PASSKEY_REPLAYED: { description: 'The passkey response was already used, or its signature counter did not grow.' },
    UNKNOWN_TENANT: { description: 'No tenant of this gateway (and environment) has this public handle.' },
    UNKNOWN_SCOPE: { description: 'An access-grant scope that does not exist (initiation is never grantable).' },
    SELF_GRANT: { description: 'A tenant cannot grant access to itself.' },
  },
});

/** A business problem with one mutation's input: which field, what is wrong, and a stable code. */
@ObjectType({ description: "A business problem with a mutation's input: which field, what is wrong, and a stable code." })
export class UserError implements Problem {
  /** Path to the input field, e.g. ["input", "externalRef"]; empty when not tied to one field. */
  @Field(() => [String], { description: 'Path to the input field, e.g. ["input", "externalRef"]; empty when not tied to one field.' })
  field!: string[];

  @Field(() => String)
  message!: string;

  @Field(() => ProblemCode)
  code!: ProblemCode;
}
