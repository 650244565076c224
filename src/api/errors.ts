import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { DomainError, ErrorCode, errorHttpStatus } from '../kernel/errors';
import { requestScope } from '../platform/http-errors';
import type { Logger } from '../platform/logger';

export { ErrorCode } from '../kernel/errors';
// The HTTP side (request scope, coded bodies outside GraphQL) lives in platform, below every layer that answers HTTP.
export { errorBody, httpRequestError, requestScope, type RequestScope } from '../platform/http-errors';

/** A coded error of the GraphQL edge itself (auth, limits, arguments), safe to show as it is. Services throw the kernel's DomainError. */
export class ApiError extends GraphQLError {
  constructor(
    readonly code: ErrorCode,
    message: string,
    extra: Record<string, unknown> = {},
  ) {
    super(message, { extensions: { code, ...extra, http: { status: errorHttpStatus[code] } } });
    this.name = 'ApiError';
  }
}

/** Codes that GraphQL itself and Apollo Server produce for malformed requests; shown as they are. */
const passThroughCodes = new Set<string>([
  ...Object.values(ErrorCode),
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'OPERATION_RESOLUTION_FAILURE',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
]);

/**
 * The one place errors become what a caller sees. Known coded errors pass; anything else is
 * logged in full and replaced by a masked INTERNAL_SERVER_ERROR carrying the request id.
 */
export function createErrorFormatter(logger: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    // Duck-typed: Apollo may build its errors with its own copy of graphql's GraphQLError class.
    const original = (error as { originalError?: unknown } | null)?.originalError ?? error;
    // Apollo re-codes errors raised by validation rules; ours keep the code they were given.
    if (original instanceof ApiError || original instanceof DomainError)
      formatted = { ...formatted, extensions: { ...formatted.extensions, ...original.extensions } };
    let code = formatted.extensions?.code;
    // Apollo's own refusals of a malformed request (a persisted-query hash that does not match…) carry a 4xx but no code.
    const status = (error as { extensions?: { http?: { status?: unknown } } } | null)?.extensions?.http?.status;
    if (original === error && typeof status === 'number' && status >= 400 && status < 500 && code === ErrorCode.INTERNAL_SERVER_ERROR) {
      code = ErrorCode.BAD_REQUEST;
      formatted = { ...formatted, extensions: { ...formatted.extensions, code } };
    }
    // Apollo tags every uncoded error INTERNAL_SERVER_ERROR: those are the ones to mask.
    if (typeof code === 'string' && passThroughCodes.has(code) && code !== ErrorCode.INTERNAL_SERVER_ERROR) {
      if (code === 'GRAPHQL_PARSE_FAILED' && /contains more th\w+ \d+ tokens/.test(formatted.message)) {
        return { ...formatted, extensions: { code: ErrorCode.QUERY_TOO_LARGE } };
      }
      const { http: _http, stacktrace: _stack, ...extensions } = formatted.extensions ?? {};
      return { ...formatted, extensions };
    }
    const requestId = requestScope.getStore()?.requestId;
    logger.error({ err: original, requestId, path: formatted.path }, 'unexpected error in GraphQL operation');
    return {
      message: `Internal server error. Quote request id ${requestId ?? 'unknown'} when reporting it.`,
      path: formatted.path,
      locations: formatted.locations,
      extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR, requestId },
    };
  };
}
