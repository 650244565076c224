import { AsyncLocalStorage } from 'node:async_hooks';
import { ErrorCode, errorHttpStatus } from '../kernel/errors';

/** Per-request facts every log line and masked error can refer to. */
export interface RequestScope {
  requestId: string;
}

export const requestScope = new AsyncLocalStorage<RequestScope>();

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
  const coded = (code: ErrorCode, message: string) => ({ status: errorHttpStatus[code], body: errorBody(code, message) });
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
