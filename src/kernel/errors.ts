/**
 * Codes of errors that stop a whole operation: authentication, limits, malformed requests and
 * faults. Business problems are never these; they are `Problem`s (userErrors in mutation payloads).
 */
export enum ErrorCode {
  UNAUTHENTICATED = 'UNAUTHENTICATED',
  FORBIDDEN = 'FORBIDDEN',
  NOT_FOUND = 'NOT_FOUND',
  BAD_USER_INPUT = 'BAD_USER_INPUT',
  BAD_REQUEST = 'BAD_REQUEST',
  RATE_LIMITED = 'RATE_LIMITED',
  QUERY_TOO_DEEP = 'QUERY_TOO_DEEP',
  QUERY_TOO_COMPLEX = 'QUERY_TOO_COMPLEX',
  QUERY_TOO_LARGE = 'QUERY_TOO_LARGE',
  /** The body's Content-Type, charset or Content-Encoding is not one the gateway reads (JSON in UTF-8). */
  UNSUPPORTED_MEDIA_TYPE = 'UNSUPPORTED_MEDIA_TYPE',
  /** A sandbox* mutation called with a live key, or on a gateway without sandbox banks. */
  SANDBOX_ONLY = 'SANDBOX_ONLY',
  /** A grantee read through an access grant that is revoked, declined, expired or not accepted yet. */
  ACCESS_GRANT_INACTIVE = 'ACCESS_GRANT_INACTIVE',
  INTERNAL_SERVER_ERROR = 'INTERNAL_SERVER_ERROR',
}

/** HTTP status of each code when the error is the whole answer. Exhaustive by construction. */
export const errorHttpStatus: Readonly<Record<ErrorCode, number>> = {
  [ErrorCode.UNAUTHENTICATED]: 401,
  [ErrorCode.FORBIDDEN]: 403,
  [ErrorCode.NOT_FOUND]: 404,
  [ErrorCode.BAD_USER_INPUT]: 400,
  [ErrorCode.BAD_REQUEST]: 400,
  [ErrorCode.RATE_LIMITED]: 429,
  [ErrorCode.QUERY_TOO_DEEP]: 400,
  [ErrorCode.QUERY_TOO_COMPLEX]: 400,
  [ErrorCode.QUERY_TOO_LARGE]: 413,
  [ErrorCode.UNSUPPORTED_MEDIA_TYPE]: 415,
  [ErrorCode.SANDBOX_ONLY]: 403,
  [ErrorCode.ACCESS_GRANT_INACTIVE]: 403,
  [ErrorCode.INTERNAL_SERVER_ERROR]: 500,
};

/**
 * A coded error a service throws when the whole operation is refused (not authorised, not found,
 * sandbox only…); its message is safe to show as it is. The GraphQL edge's one error formatter
 * turns it into a coded GraphQL error; `extensions` carries the code, the extra facts and the
 * HTTP status, in the shape GraphQL servers read from an error.
 */
export class DomainError extends Error {
  readonly extensions: Readonly<Record<string, unknown>>;

  constructor(
    readonly code: ErrorCode,
    message: string,
    extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'DomainError';
    this.extensions = { code, ...extra, http: { status: errorHttpStatus[code] } };
  }
}
