import { isBankError, type BankError } from '../../banking/errors';
import { OAuthError } from '../../banking/oauth';

/**
 * A failure of the bank or of the way to it (the banking error family, or the bank's OAuth
 * server): the one kind a service may report as the bank's (BANK_ERROR, "try again later").
 * Anything else (vault, database, job queue, a bug) is the gateway's own fault: it must reach the
 * GraphQL error formatter, which masks it with a request id and logs it whole.
 */
export function isBankFailure(err: unknown): err is BankError | OAuthError {
  return isBankError(err) || err instanceof OAuthError;
}

/** What a log line says of a bank failure: its safe summary (no token, no body beyond the excerpt). */
export function bankFailureLog(err: BankError | OAuthError): Record<string, unknown> {
  return {
    err: err.name,
    code: err.code,
    institutionId: err.institutionId,
    ...(err instanceof OAuthError ? { status: err.status } : { httpStatus: err.httpStatus, bankCode: err.bankCode }),
  };
}
