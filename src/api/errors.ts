import { AsyncLocalStorage } from 'node:async_hooks';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { DomainError, ErrorCode, errorHttpStatus } from '../kernel/errors';
import type { Logger } from '../platform/logger';

export { ErrorCode } from '../kernel/errors';

const httpStatus = errorHttpStatus;

/** A coded error of the GraphQL edge itself (auth, limits, arguments), safe to show as it is. Services throw the kernel's DomainError. */
export class ApiError extends GraphQLError {
  constructor(
    readonly code: ErrorCode,
    message: string,
    extra: Record<string, unknown> = {},
  ) {
    super(message, { extensions: { code, ...extra, http: { status: httpStatus[code] } } });
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

/** Per-request facts every log line and masked error can refer to. */
export interface RequestScope {
  requestId: string;
}

export const requestScope = new AsyncLocalStorage<RequestScope>();

/**
 * The one place errors become what a caller sees. Known coded errors pass; anything else is
 * logged in full and replaced by a masked INTERNAL_SERVER_ERROR carrying the request id.
 */
export function createErrorFormatter(logger: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    // Duck-typed: Apollo may build its errors with its own copy of graphql's GraphQLError class.
    const original = (error as { originalError?: unknown } | null)?.originalError ?? error;
    // Apollo re-codes errors raised by validation rules; ours keep the code they were given.
    if (original instanceof ApiError || original instanceof DomainError) formatted = { ...formatted, extensions: { ...formatted.extensions, ...original.extensions } };
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

/** The JSON body of a coded error answered outside GraphQL execution (rate limit, body too large). */
export function errorBody(code: ErrorCode, message: string, extra: Record<string, unknown> = {}) {
  return { errors: [{ message, extensions: { code, ...extra } }] };
}

/**
 * What a failure of the HTTP layer before GraphQL (body parsing, the client's own request) answers:
 * a coded error with its status, or null when it is not the client's doing (the caller masks it).
 */
export function httpRequestError(err: unknown): { status: number; body: ReturnType<typeof errorBody> } | null {
  const e = err as { type?: string; status?: number; expose?: boolean } | null;
  const coded = (code: ErrorCode, message: string) => ({ status: httpStatus[code], body: errorBody(code, message) });
  switch (e?.type) {
    case 'entity.too.large':
      return coded(ErrorCode.QUERY_TOO_LARGE, 'Request body is too large.');
    case 'entity.parse.failed':
      return coded(ErrorCode.BAD_REQUEST, 'Request body is not valid JSON.');
    case 'charset.unsupported':
      return coded(ErrorCode.UNSUPPORTED_MEDIA_TYPE, 'Unsupported charset: send JSON in UTF-8 (Content-Type: application/json; charset=utf-8).');
    case 'encoding.unsupported':
      return coded(ErrorCode.UNSUPPORTED_MEDIA_TYPE, 'Unsupported Content-Encoding: send the body uncompressed, gzip, deflate or br.');
  }
  // Any other error http-errors marks as the client's (4xx, expose): a malformed request, never a fault.
  if (e?.expose === true && typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
    return { status: e.status, body: errorBody(e.status === 415 ? ErrorCode.UNSUPPORTED_MEDIA_TYPE : ErrorCode.BAD_REQUEST, 'The request could not be read.') };
  }
  return null;
}
