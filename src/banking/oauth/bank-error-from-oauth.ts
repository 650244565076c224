import { BankError, BankInvalidRequest, BankResponseInvalid, BankUnauthorized, BankUnavailable } from '../errors';
import { OAuthErrorCode, type OAuthError } from './oauth.errors';

/**
 * An OAuth failure outside the PSU's callback (client-credentials tokens, refreshes), as the bank
 * error family, the OAuthError kept as the cause. Shared by every adapter whose standard uses the
 * bank's authorisation server for such calls.
 */
export function bankErrorFromOAuth(err: OAuthError, institutionId: string, operation: string): BankError {
  const details = {
    institutionId,
    operation,
    ...(err.status !== undefined ? { httpStatus: err.status } : {}),
    ...(err.oauthError ? { bankCode: err.oauthError } : {}),
    cause: err,
  };
  const message = `${operation} at ${institutionId}: ${err.message}`;
  switch (err.code) {
    case OAuthErrorCode.SERVER_ERROR:
    case OAuthErrorCode.DISCOVERY_FAILED:
      return new BankUnavailable(message, details);
    case OAuthErrorCode.INVALID_CLIENT:
    case OAuthErrorCode.REFRESH_TOKEN_INVALID:
    case OAuthErrorCode.CODE_INVALID:
    case OAuthErrorCode.ACCESS_DENIED:
      return new BankUnauthorized(message, details);
    case OAuthErrorCode.RESPONSE_INVALID:
      return new BankResponseInvalid(message, details);
    default:
      return new BankInvalidRequest(message, details);
  }
}
