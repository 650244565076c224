import * as client from 'openid-client';

/**
 * Stable codes of the bank OAuth layer. Callers (the consents module, adapters) branch on `code`;
 * messages are for operators and never contain codes, verifiers, tokens or client secrets.
 */
export enum OAuthErrorCode {
  /** The PSU declined or cancelled at the bank (`error=access_denied` in the callback). */
  ACCESS_DENIED = 'ACCESS_DENIED',
  /** The callback's `state` is missing or is not the one this authorisation started with (forged or replayed callback). */
  STATE_MISMATCH = 'STATE_MISMATCH',
  /** RFC 9207: the callback's `iss` names another server, or is missing though the bank advertises it. */
  ISSUER_MISMATCH = 'ISSUER_MISMATCH',
  /** The bank refused the authorisation code (`invalid_grant`): reused, expired, or PKCE verifier wrong. */
  CODE_INVALID = 'CODE_INVALID',
  /** The bank refused the refresh token (`invalid_grant`): expired or revoked; the PSU must authorise again. */
  REFRESH_TOKEN_INVALID = 'REFRESH_TOKEN_INVALID',
  /** The bank refused our client authentication (`invalid_client`, 401): operator configuration. */
  INVALID_CLIENT = 'INVALID_CLIENT',
  /** The bank refused the request's parameters (`invalid_request`, `invalid_scope`, `unauthorized_client`…). */
  INVALID_REQUEST = 'INVALID_REQUEST',
  /** The callback is unusable: not a URL, or neither `code` nor `error` in it. */
  INVALID_CALLBACK = 'INVALID_CALLBACK',
  /** The bank answered something that breaks the protocol (not JSON, wrong ID token claims, nonce…). */
  RESPONSE_INVALID = 'RESPONSE_INVALID',
  /** The bank failed: 5xx, `server_error`, `temporarily_unavailable`, unreachable or timed out. */
  SERVER_ERROR = 'SERVER_ERROR',
  /** The bank's authorisation server metadata could not be fetched or is not valid for that issuer. */
  DISCOVERY_FAILED = 'DISCOVERY_FAILED',
  /** A plain `http://` issuer or endpoint outside sandbox mode: refused before any request is sent. */
  INSECURE_ISSUER = 'INSECURE_ISSUER',
  /** A programmer error in how this layer was called (missing verifier, reserved parameter overridden…). */
  INVALID_ARGUMENT = 'INVALID_ARGUMENT',
}

/** What the layer was doing when it failed; also the `operation` of call events. */
export type OAuthOperation =
  | 'configure'
  | 'discovery'
  | 'authorization_request'
  | 'pushed_authorization_request'
  | 'callback'
  | 'authorization_code'
  | 'refresh_token'
  | 'client_credentials'
  | 'revocation';

const TRANSIENT = new Set<OAuthErrorCode>([OAuthErrorCode.SERVER_ERROR, OAuthErrorCode.DISCOVERY_FAILED]);

/**
 * The one error type of the bank OAuth layer. Safe to log: its message, properties and cause
 * carry no authorisation code, PKCE verifier, token or client secret.
 */
export class OAuthError extends Error {
  override readonly name = 'OAuthError';
  readonly code: OAuthErrorCode;
  readonly institutionId: string;
  readonly operation: OAuthOperation;
  /** HTTP status of the bank's answer, when there was one. */
  readonly status?: number;
  /** The OAuth `error` value the bank sent (e.g. `invalid_grant`), when it sent one. */
  readonly oauthError?: string;
  /** The bank's `error_description`, shortened and with every secret this layer knows removed. */
  readonly bankDescription?: string;
  /** True when trying again later may succeed (bank down, timeout). */
  readonly retryable: boolean;

  constructor(
    code: OAuthErrorCode,
    message: string,
    details: {
      institutionId: string;
      operation: OAuthOperation;
      status?: number;
      oauthError?: string;
      bankDescription?: string;
      cause?: unknown;
      /** Overrides the code's default (SERVER_ERROR and DISCOVERY_FAILED are retryable). */
      retryable?: boolean;
    },
  ) {
    super(`${details.institutionId}: ${message}`, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.institutionId = details.institutionId;
    this.operation = details.operation;
    if (details.status !== undefined) this.status = details.status;
    if (details.oauthError !== undefined) this.oauthError = details.oauthError;
    if (details.bankDescription !== undefined) this.bankDescription = details.bankDescription;
    this.retryable = details.retryable ?? TRANSIENT.has(code);
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      institutionId: this.institutionId,
      operation: this.operation,
      status: this.status,
      oauthError: this.oauthError,
      bankDescription: this.bankDescription,
      retryable: this.retryable,
    };
  }
}

/** True when `err` is an OAuthError, optionally with the given code. */
export function isOAuthError(err: unknown, code?: OAuthErrorCode): err is OAuthError {
  return err instanceof OAuthError && (code === undefined || err.code === code);
}

/** Context for turning a library or transport failure into an OAuthError. */
export interface ErrorContext {
  institutionId: string;
  operation: OAuthOperation;
  /** Values that must never appear in what the error carries (code, verifier, tokens, secret). */
  secrets: ReadonlyArray<string | undefined>;
}

/** Socket, DNS and TLS error codes of Node and undici. */
const NETWORK_CODE = /^(E[A-Z0-9_]{2,}|UND_ERR_[A-Z_]+|ERR_SSL_[A-Z0-9_]+|ERR_TLS_[A-Z0-9_]+|[A-Z_]*CERT[A-Z_]*|UNABLE_TO_[A-Z_]+)$/;
/** Of those, the ones that retrying will not fix. */
const CERTIFICATE_CODE = /CERT|UNABLE_TO_|SELF_SIGNED|ERR_SSL_/;

/** OAuth `error` values are ASCII without quotes or backslashes (RFC 6749 §5.2); anything else is dropped. */
const OAUTH_ERROR_VALUE = /^[\x20-\x21\x23-\x5B\x5D-\x7E]{1,64}$/;

/** Removes every known secret from a text coming from the bank or a library, and bounds its length. */
export function redact(text: string | undefined, secrets: ReadonlyArray<string | undefined>): string | undefined {
  if (text === undefined || text === null) return undefined;
  let out = String(text);
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('[redacted]');
  return out.length > 200 ? `${out.slice(0, 200)}…` : out;
}

/**
 * The library's errors keep the callback parameters or the raw response in their `cause` (the
 * code, the tokens). We keep only name, code and message, so that a logger that walks `cause`
 * never meets a secret.
 */
function scrubbedCause(err: unknown, secrets: ErrorContext['secrets']): Error | undefined {
  if (!(err instanceof Error) && !(typeof err === 'object' && err !== null && 'message' in err)) return undefined;
  const e = err as Error & { code?: unknown; cause?: unknown };
  const out = new Error(redact(e.message, secrets) ?? '');
  out.name = e.name;
  if (typeof e.code === 'string') (out as Error & { code?: string }).code = e.code;
  // Keep the network reason of a failed fetch (ECONNREFUSED, certificate errors…): no secrets there.
  const inner = e.cause as { code?: unknown; message?: unknown } | undefined;
  if (inner && typeof inner === 'object' && typeof inner.code === 'string') {
    const netCause = new Error(typeof inner.message === 'string' ? (redact(inner.message, secrets) ?? '') : inner.code);
    (netCause as Error & { code?: string }).code = inner.code;
    Object.defineProperty(out, 'cause', { value: netCause, enumerable: false, configurable: true, writable: true });
  }
  return out;
}

function fromOAuthErrorValue(error: string | undefined, status: number | undefined, ctx: ErrorContext): { code: OAuthErrorCode; message: string } {
  if (error === 'invalid_client' || status === 401) return { code: OAuthErrorCode.INVALID_CLIENT, message: 'the bank refused the client authentication' };
  if (error === 'server_error' || error === 'temporarily_unavailable' || (status !== undefined && status >= 500)) {
    return { code: OAuthErrorCode.SERVER_ERROR, message: 'the bank failed to answer' };
  }
  if (error === 'invalid_grant') {
    if (ctx.operation === 'authorization_code')
      return { code: OAuthErrorCode.CODE_INVALID, message: 'the bank refused the authorisation code (reused, expired or PKCE mismatch)' };
    if (ctx.operation === 'refresh_token')
      return { code: OAuthErrorCode.REFRESH_TOKEN_INVALID, message: 'the bank refused the refresh token (expired or revoked)' };
  }
  if (error === 'access_denied') return { code: OAuthErrorCode.ACCESS_DENIED, message: 'access was denied' };
  return { code: OAuthErrorCode.INVALID_REQUEST, message: 'the bank refused the request' };
}

/**
 * The error a bank put in its redirect to the callback (RFC 6749 §4.1.2.1): `access_denied` is the
 * PSU declining; `server_error` and `temporarily_unavailable` the bank failing; the rest, a request
 * the bank refused.
 */
export function callbackError(error: string, description: string | undefined, ctx: ErrorContext): OAuthError {
  const oauthError = OAUTH_ERROR_VALUE.test(error) ? error : undefined;
  const mapped =
    oauthError === 'access_denied'
      ? { code: OAuthErrorCode.ACCESS_DENIED, message: 'the PSU declined or cancelled at the bank' }
      : fromOAuthErrorValue(oauthError, undefined, ctx);
  return new OAuthError(mapped.code, `${mapped.message}${oauthError ? ` (${oauthError})` : ''}`, {
    institutionId: ctx.institutionId,
    operation: ctx.operation,
    ...(oauthError ? { oauthError } : {}),
    ...(description !== undefined ? { bankDescription: redact(description, ctx.secrets) } : {}),
  });
}

/** Maps anything openid-client or the transport throws to one OAuthError. */
export function toOAuthError(err: unknown, ctx: ErrorContext): OAuthError {
  if (err instanceof OAuthError) return err;
  const base = { institutionId: ctx.institutionId, operation: ctx.operation, cause: scrubbedCause(err, ctx.secrets) };
  const discovery = ctx.operation === 'discovery';

  if (err instanceof client.ResponseBodyError) {
    const oauthError = OAUTH_ERROR_VALUE.test(err.error) ? err.error : undefined;
    const mapped = discovery
      ? { code: OAuthErrorCode.DISCOVERY_FAILED, message: 'the discovery request failed' }
      : fromOAuthErrorValue(oauthError, err.status, ctx);
    return new OAuthError(mapped.code, `${mapped.message} (HTTP ${err.status}${oauthError ? `, ${oauthError}` : ''})`, {
      ...base,
      status: err.status,
      oauthError,
      bankDescription: redact(err.error_description, ctx.secrets),
      ...(discovery ? { retryable: err.status >= 500 || err.status === 429 } : {}),
    });
  }
  if (err instanceof client.WWWAuthenticateChallengeError) {
    const status = err.response.status;
    const raw = err.cause[0]?.parameters.error;
    const oauthError = raw && OAUTH_ERROR_VALUE.test(raw) ? raw : undefined;
    const mapped = fromOAuthErrorValue(oauthError, status, ctx);
    return new OAuthError(mapped.code, `${mapped.message} (HTTP ${status}${oauthError ? `, ${oauthError}` : ''})`, {
      ...base,
      status,
      oauthError,
      bankDescription: redact(err.cause[0]?.parameters.error_description, ctx.secrets),
    });
  }
  if (err instanceof client.AuthorizationResponseError) return callbackError(err.error, err.error_description, ctx);

  const e = err as { name?: unknown; code?: unknown; message?: unknown; cause?: unknown };
  const libCode = typeof e?.code === 'string' ? e.code : undefined;
  if (libCode === 'OAUTH_HTTP_REQUEST_FORBIDDEN' || libCode === 'OAUTH_REQUEST_PROTOCOL_FORBIDDEN') {
    return new OAuthError(OAuthErrorCode.INSECURE_ISSUER, 'an endpoint of the bank is not https and this institution is not a sandbox', base);
  }
  if (libCode === 'OAUTH_TIMEOUT' || libCode === 'OAUTH_ABORT' || e?.name === 'TimeoutError' || e?.name === 'AbortError') {
    return new OAuthError(discovery ? OAuthErrorCode.DISCOVERY_FAILED : OAuthErrorCode.SERVER_ERROR, 'the bank did not answer in time', base);
  }
  // Global fetch reports network failures as `TypeError: fetch failed` with the socket error as
  // cause; node:https transports (mTLS) throw the socket error itself, which openid-client wraps
  // in a code-less ClientError ("something went wrong").
  const fetchFailed = err instanceof TypeError && !libCode;
  const wrapped = err instanceof client.ClientError && !libCode;
  const socketError = (fetchFailed || wrapped ? e.cause : err) as { code?: unknown; cause?: unknown } | undefined;
  const netCode = socketError?.code ?? (socketError?.cause as { code?: unknown } | undefined)?.code;
  if (fetchFailed || (typeof netCode === 'string' && NETWORK_CODE.test(netCode))) {
    const certificate = typeof netCode === 'string' && CERTIFICATE_CODE.test(netCode);
    return new OAuthError(
      discovery ? OAuthErrorCode.DISCOVERY_FAILED : OAuthErrorCode.SERVER_ERROR,
      certificate ? 'the TLS connection to the bank failed its certificate checks' : 'the bank could not be reached',
      { ...base, retryable: !certificate },
    );
  }
  if (libCode === 'ERR_INVALID_ARG_TYPE' || libCode === 'ERR_INVALID_ARG_VALUE') {
    return new OAuthError(OAuthErrorCode.INVALID_ARGUMENT, 'invalid argument', base);
  }
  if (discovery) {
    const status = libCode === 'OAUTH_RESPONSE_IS_NOT_CONFORM' ? (e.cause as { status?: unknown } | undefined)?.status : undefined;
    const withStatus = typeof status === 'number' ? { status, retryable: status >= 500 || status === 429 } : { retryable: false };
    return new OAuthError(
      OAuthErrorCode.DISCOVERY_FAILED,
      `the bank's authorisation server metadata is unusable${typeof status === 'number' ? ` (HTTP ${status})` : ''}`,
      { ...base, ...withStatus },
    );
  }
  if (libCode === 'OAUTH_RESPONSE_IS_NOT_CONFORM') {
    const status = (e.cause as { status?: unknown } | undefined)?.status;
    if (typeof status === 'number' && status >= 500) {
      return new OAuthError(OAuthErrorCode.SERVER_ERROR, `the bank failed to answer (HTTP ${status})`, { ...base, status });
    }
    return new OAuthError(OAuthErrorCode.RESPONSE_INVALID, `unexpected answer from the bank${typeof status === 'number' ? ` (HTTP ${status})` : ''}`, {
      ...base,
      ...(typeof status === 'number' ? { status } : {}),
    });
  }
  if (libCode?.startsWith('OAUTH_')) return new OAuthError(OAuthErrorCode.RESPONSE_INVALID, "the bank's answer breaks the protocol", base);
  return new OAuthError(OAuthErrorCode.SERVER_ERROR, 'the request to the bank failed', base);
}
