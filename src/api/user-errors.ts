import { Field, ObjectType, registerEnumType } from 'type-graphql';
import type { ZodError } from 'zod';

/** Stable codes of business problems reported in mutation payloads. */
export enum UserErrorCode {
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
  /** The object is already in the state the mutation asks for. */
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
}

registerEnumType(UserErrorCode, {
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
    NOT_ALLOWED: { description: "The tenant has not allowed this value (e.g. a redirect URI missing from its allow-list)." },
    INVALID_STATE: { description: "The object's current status does not allow this mutation." },
    BANK_ERROR: { description: 'The bank could not be reached or refused the request; nothing was kept.' },
    INSECURE_URL: { description: "A URL is not allowed in this environment (plain http outside the sandbox's loopback)." },
    BUDGET_EXHAUSTED: { description: "Today's unattended reads of this consent are used up (PSD2 `frequencyPerDay`)." },
  },
});

/** A business problem with one mutation's input: which field, what is wrong, and a stable code. */
@ObjectType({ description: "A business problem with a mutation's input: which field, what is wrong, and a stable code." })
export class UserError {
  /** Path to the input field, e.g. ["input", "externalRef"]; empty when not tied to one field. */
  @Field(() => [String], { description: 'Path to the input field, e.g. ["input", "externalRef"]; empty when not tied to one field.' })
  field!: string[];

  @Field(() => String)
  message!: string;

  @Field(() => UserErrorCode)
  code!: UserErrorCode;
}

export function userError(field: string[], code: UserErrorCode, message: string): UserError {
  return Object.assign(new UserError(), { field, code, message });
}

/**
 * Maps zod issues on a mutation input to userErrors. Validation messages set with
 * `{ message: 'CODE:text' }` carry their code; others become INVALID.
 */
export function zodUserErrors(error: ZodError, root: string[] = ['input']): UserError[] {
  return error.issues.map((issue) => {
    const [maybeCode, ...rest] = issue.message.split(':');
    const known = maybeCode in UserErrorCode && rest.length > 0;
    return userError(
      [...root, ...issue.path.map(String)],
      known ? (maybeCode as UserErrorCode) : UserErrorCode.INVALID,
      known ? rest.join(':').trim() : issue.message,
    );
  });
}
