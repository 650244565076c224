/**
 * The one error family for everything a bank can do wrong. Adapters and the HTTP client throw only
 * these; modules branch on the class (or `code`) and never on a bank's wording. Every error names
 * the institution, the operation and our `X-Request-ID`, and carries a redacted excerpt of what the
 * bank said: never a token, an IBAN in full or a person's name.
 */
import type { ZodError } from 'zod';
import type { ErrorCodeReader } from './error-shapes';
import { redactedExcerpt, redactText } from './http/redact';
import { parseRetryAfter } from './http/retry';

/**
 * How one standard's banks say what went wrong: given by the standard's adapter folder (see
 * src/banking/standards.ts), so the reader here never names a standard.
 */
export interface BankErrorDialect {
  /** The codes an error body carries, most important first: the standard's own shape, then any its banks also send. */
  readCodes: ErrorCodeReader;
  /** A 403 without a code we know means the consent no longer allows the call (UK) rather than a refused request. */
  forbiddenMeansConsentInvalid?: boolean;
}

/** Stable codes of the bank error family, one per subclass. */
export enum BankErrorCode {
  /** The consent's validity ran out (or the UK 90-day reauthentication is due): ask the PSU again. */
  CONSENT_EXPIRED = 'BANK_CONSENT_EXPIRED',
  /** The bank does not know the consent, or it was revoked or rejected: ask the PSU again. */
  CONSENT_INVALID = 'BANK_CONSENT_INVALID',
  /** The PSD2 unattended-access limit (`frequencyPerDay`) is used up for today. Never retried. */
  ACCESS_EXCEEDED = 'BANK_ACCESS_EXCEEDED',
  /** The bank throttles us (429 other than ACCESS_EXCEEDED). `retryAfterMs` says when to try again. */
  RATE_LIMITED = 'BANK_RATE_LIMITED',
  /** 5xx, timeout or connection failure: the bank is down or slow. */
  UNAVAILABLE = 'BANK_UNAVAILABLE',
  /** The bank refused the request as malformed or unsupported: our fault, retrying will not help. */
  INVALID_REQUEST = 'BANK_INVALID_REQUEST',
  /** The access token (or our certificate or signature) was refused: refresh or re-authorise. */
  UNAUTHORIZED = 'BANK_UNAUTHORIZED',
  /** The bank answered something that is not what its standard promises (schema, JSON, redirect). */
  RESPONSE_INVALID = 'BANK_RESPONSE_INVALID',
}

/** What every bank error carries. */
export interface BankErrorDetails {
  /** Registry id of the institution that was called. */
  institutionId: string;
  /** Our name of the call, e.g. `accounts.list`, `consent.create`. */
  operation: string;
  /** HTTP status of the bank's answer; absent for timeouts and connection errors. */
  httpStatus?: number;
  /** The bank's own code, e.g. `CONSENT_EXPIRED`, `UK.OBIE.Resource.NotFound`, `invalid_token`. */
  bankCode?: string;
  /** Our `X-Request-ID` for the logical call (the same across its retries). */
  requestId?: string;
  /** How long the bank asked us to wait (from `Retry-After`), in milliseconds. */
  retryAfterMs?: number;
  /** At most 500 characters of the bank's body with secrets and personal data masked. */
  bodyExcerpt?: string;
  /** The underlying error (network failure, ZodError, parse error). */
  cause?: unknown;
}

/** The base of the family. Safe to log: it holds nothing that {@link redactedExcerpt} did not clean. */
export abstract class BankError extends Error {
  abstract readonly code: BankErrorCode;
  /** True when the same request may succeed later without any change (used by the retry loop). */
  abstract readonly transient: boolean;
  readonly institutionId: string;
  readonly operation: string;
  readonly httpStatus: number | undefined;
  readonly bankCode: string | undefined;
  readonly requestId: string | undefined;
  readonly retryAfterMs: number | undefined;
  readonly bodyExcerpt: string | undefined;

  constructor(message: string, details: BankErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.institutionId = details.institutionId;
    this.operation = details.operation;
    this.httpStatus = details.httpStatus;
    this.bankCode = details.bankCode;
    this.requestId = details.requestId;
    this.retryAfterMs = details.retryAfterMs;
    this.bodyExcerpt = details.bodyExcerpt;
  }

  /** A plain object for logs and the audit journal (no `cause`, whose contents we do not control). */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      institutionId: this.institutionId,
      operation: this.operation,
      httpStatus: this.httpStatus,
      bankCode: this.bankCode,
      requestId: this.requestId,
      retryAfterMs: this.retryAfterMs,
      bodyExcerpt: this.bodyExcerpt,
    };
  }
}

/** See {@link BankErrorCode.CONSENT_EXPIRED}. */
export class BankConsentExpired extends BankError {
  override readonly name = 'BankConsentExpired';
  readonly code = BankErrorCode.CONSENT_EXPIRED;
  readonly transient = false;
}

/** See {@link BankErrorCode.CONSENT_INVALID}. */
export class BankConsentInvalid extends BankError {
  override readonly name = 'BankConsentInvalid';
  readonly code = BankErrorCode.CONSENT_INVALID;
  readonly transient = false;
}

/** See {@link BankErrorCode.ACCESS_EXCEEDED}. `retryAfterMs`, when the bank sent it, is the reset. */
export class BankAccessExceeded extends BankError {
  override readonly name = 'BankAccessExceeded';
  readonly code = BankErrorCode.ACCESS_EXCEEDED;
  readonly transient = false;
}

/** See {@link BankErrorCode.RATE_LIMITED}. */
export class BankRateLimited extends BankError {
  override readonly name = 'BankRateLimited';
  readonly code = BankErrorCode.RATE_LIMITED;
  readonly transient = true;
}

/** See {@link BankErrorCode.UNAVAILABLE}. `timedOut` tells a timeout from a refused connection or a 5xx. */
export class BankUnavailable extends BankError {
  override readonly name = 'BankUnavailable';
  readonly code = BankErrorCode.UNAVAILABLE;
  readonly transient = true;
  readonly timedOut: boolean;

  constructor(message: string, details: BankErrorDetails & { timedOut?: boolean }) {
    super(message, details);
    this.timedOut = details.timedOut ?? false;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), timedOut: this.timedOut };
  }
}

/** See {@link BankErrorCode.INVALID_REQUEST}. */
export class BankInvalidRequest extends BankError {
  override readonly name = 'BankInvalidRequest';
  readonly code = BankErrorCode.INVALID_REQUEST;
  readonly transient = false;
}

/**
 * The bank accepts a payment's cancellation only after the end user authorises it (Berlin Group
 * `202` with a `startAuthorisation` link): the payment is NOT cancelled yet. Where the adapter
 * can run that authorisation (`startCancellationAuthorisation`), `startHref` is the link the bank
 * sent to start it. A {@link BankInvalidRequest}, typed so callers can tell the user why.
 */
export class BankCancellationAuthorisationRequired extends BankInvalidRequest {
  readonly startHref: string | null;
  constructor(message: string, details: BankErrorDetails & { startHref?: string | null }) {
    const { startHref, ...rest } = details;
    super(message, rest);
    this.startHref = startHref ?? null;
  }
}

/** See {@link BankErrorCode.UNAUTHORIZED}. */
export class BankUnauthorized extends BankError {
  override readonly name = 'BankUnauthorized';
  readonly code = BankErrorCode.UNAUTHORIZED;
  readonly transient = false;
}

/** One schema problem, described by where and what, never by the offending value. */
export interface BankSchemaIssue {
  /** JSON path of the field, e.g. `accounts.0.iban`. */
  path: string;
  /** Zod issue code, e.g. `invalid_type`. */
  code: string;
  /** What was expected when the schema says so (a type name), never what was received. */
  expected?: string;
}

/** See {@link BankErrorCode.RESPONSE_INVALID}. `issues` summarises the schema failure without values. */
export class BankResponseInvalid extends BankError {
  override readonly name = 'BankResponseInvalid';
  readonly code = BankErrorCode.RESPONSE_INVALID;
  readonly transient = false;
  readonly issues: readonly BankSchemaIssue[];

  constructor(message: string, details: BankErrorDetails & { issues?: readonly BankSchemaIssue[] }) {
    super(message, details);
    this.issues = Object.freeze([...(details.issues ?? [])]);
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), issues: this.issues };
  }
}

/** True when `err` belongs to the bank error family, optionally with the given code. */
export function isBankError(err: unknown, code?: BankErrorCode): err is BankError {
  return err instanceof BankError && (code === undefined || err.code === code);
}

/** Summarises a ZodError as paths and issue codes only (at most 20), so no bank value is kept. */
export function summariseZodIssues(error: ZodError): BankSchemaIssue[] {
  return error.issues.slice(0, 20).map((issue) => {
    const out: BankSchemaIssue = { path: issue.path.map(String).join('.') || '(root)', code: issue.code };
    const expected = (issue as { expected?: unknown }).expected;
    if (typeof expected === 'string') out.expected = expected;
    return out;
  });
}

// ---------------------------------------------------------------------------------------------
// From the wire to the family
// ---------------------------------------------------------------------------------------------

/** Input of {@link bankErrorFromResponse}. */
export interface BankErrorResponse {
  institutionId: string;
  operation: string;
  /** The error dialect of the institution's standard. */
  dialect: BankErrorDialect;
  /** HTTP status of the bank's answer. */
  status: number;
  headers?: Headers | Record<string, string | readonly string[] | undefined>;
  /** The body as text, bytes or already parsed JSON. */
  body?: unknown;
  requestId?: string;
  /** Clock for HTTP-date `Retry-After` values (tests). */
  now?: number;
}

type Kind = 'CONSENT_EXPIRED' | 'CONSENT_INVALID' | 'ACCESS_EXCEEDED' | 'RATE_LIMITED' | 'UNAUTHORIZED' | 'UNAVAILABLE' | 'INVALID_REQUEST';

/** Codes as the standards (and the banks we have seen) spell them, after {@link normaliseCode}. */
const KIND_BY_CODE: Record<string, Kind> = {
  // Berlin Group NextGenPSD2 1.3.x (MessageCode4xx_*), STET uses the same names.
  CONSENT_EXPIRED: 'CONSENT_EXPIRED',
  EXPIRED_CONSENT: 'CONSENT_EXPIRED',
  CONSENT_INVALID: 'CONSENT_INVALID',
  CONSENT_UNKNOWN: 'CONSENT_INVALID',
  CONSENT_REVOKED: 'CONSENT_INVALID',
  CONSENT_NOT_FOUND: 'CONSENT_INVALID',
  INVALID_CONSENT: 'CONSENT_INVALID',
  UNKNOWN_CONSENT: 'CONSENT_INVALID',
  REVOKED_CONSENT: 'CONSENT_INVALID',
  ACCESS_EXCEEDED: 'ACCESS_EXCEEDED',
  RATE_LIMITED: 'RATE_LIMITED',
  RATE_LIMIT_EXCEEDED: 'RATE_LIMITED',
  TOO_MANY_REQUESTS: 'RATE_LIMITED',
  TOKEN_INVALID: 'UNAUTHORIZED',
  TOKEN_EXPIRED: 'UNAUTHORIZED',
  TOKEN_UNKNOWN: 'UNAUTHORIZED',
  INVALID_TOKEN: 'UNAUTHORIZED',
  EXPIRED_TOKEN: 'UNAUTHORIZED',
  INVALID_GRANT: 'UNAUTHORIZED',
  INVALID_CLIENT: 'UNAUTHORIZED',
  UNAUTHORIZED: 'UNAUTHORIZED',
  UNAUTHORISED: 'UNAUTHORIZED',
  CERTIFICATE_INVALID: 'UNAUTHORIZED',
  CERTIFICATE_EXPIRED: 'UNAUTHORIZED',
  CERTIFICATE_BLOCKED: 'UNAUTHORIZED',
  CERTIFICATE_REVOKE: 'UNAUTHORIZED',
  CERTIFICATE_REVOKED: 'UNAUTHORIZED',
  CERTIFICATE_MISSING: 'UNAUTHORIZED',
  SIGNATURE_INVALID: 'UNAUTHORIZED',
  SIGNATURE_MISSING: 'UNAUTHORIZED',
  ROLE_INVALID: 'UNAUTHORIZED',
  PSU_CREDENTIALS_INVALID: 'UNAUTHORIZED',
  REQUIRED_KID_MISSING: 'UNAUTHORIZED',
  SERVICE_UNAVAILABLE: 'UNAVAILABLE',
  TEMPORARILY_UNAVAILABLE: 'UNAVAILABLE',
  INTERNAL_SERVER_ERROR: 'UNAVAILABLE',
  SERVER_ERROR: 'UNAVAILABLE',
  FORMAT_ERROR: 'INVALID_REQUEST',
  PARAMETER_NOT_CONSISTENT: 'INVALID_REQUEST',
  PARAMETER_NOT_SUPPORTED: 'INVALID_REQUEST',
  SERVICE_INVALID: 'INVALID_REQUEST',
  SERVICE_BLOCKED: 'INVALID_REQUEST',
  RESOURCE_UNKNOWN: 'INVALID_REQUEST',
  RESOURCE_EXPIRED: 'INVALID_REQUEST',
  RESOURCE_BLOCKED: 'INVALID_REQUEST',
  TIMESTAMP_INVALID: 'INVALID_REQUEST',
  PERIOD_INVALID: 'INVALID_REQUEST',
  SCA_METHOD_UNKNOWN: 'INVALID_REQUEST',
  SCA_INVALID: 'INVALID_REQUEST',
  SESSIONS_NOT_SUPPORTED: 'INVALID_REQUEST',
  PAYMENT_FAILED: 'INVALID_REQUEST',
  EXECUTION_DATE_INVALID: 'INVALID_REQUEST',
  CARD_INVALID: 'INVALID_REQUEST',
  NO_PIIS_ACTIVATION: 'INVALID_REQUEST',
  REFERENCE_MIX_INVALID: 'INVALID_REQUEST',
  REFERENCE_STATUS_INVALID: 'INVALID_REQUEST',
  PRODUCT_INVALID: 'INVALID_REQUEST',
  PRODUCT_UNKNOWN: 'INVALID_REQUEST',
  CANCELLATION_INVALID: 'INVALID_REQUEST',
  REQUESTED_FORMATS_INVALID: 'INVALID_REQUEST',
  STATUS_INVALID: 'INVALID_REQUEST',
  CORPORATE_ID_INVALID: 'INVALID_REQUEST',
  INVALID_REQUEST: 'INVALID_REQUEST',
  BAD_REQUEST: 'INVALID_REQUEST',
  NOT_FOUND: 'INVALID_REQUEST',
  DUPLICATE_REQUEST: 'INVALID_REQUEST',
  PAYMENT_INVALID: 'INVALID_REQUEST',
  // UK Open Banking 3.1.x (OBError1.ErrorCode), compared in full.
  'UK.OBIE.REAUTHENTICATE': 'CONSENT_EXPIRED',
  'UK.OBIE.RESOURCE.INVALIDCONSENTSTATUS': 'CONSENT_INVALID',
  'UK.OBIE.RESOURCE.CONSENTMISMATCH': 'INVALID_REQUEST',
  'UK.OBIE.RESOURCE.INVALIDFORMAT': 'INVALID_REQUEST',
  'UK.OBIE.UNEXPECTEDERROR': 'UNAVAILABLE',
  // GoCardless Bank Account Data (`type` of its ErrorResponse): the bank's daily limit, a lapsed agreement.
  RATELIMITERROR: 'ACCESS_EXCEEDED',
  ACCESSEXPIREDERROR: 'CONSENT_EXPIRED',
  SUSPENDED: 'CONSENT_INVALID',
  AUTHENTICATIONFAILED: 'UNAUTHORIZED',
};

/** UK codes namespaced by a bank (`UK.<BANK>.Rules.AccessExceeded`) are read by their last word. */
const KIND_BY_UK_LEAF: Record<string, Kind> = {
  ACCESS_EXCEEDED: 'ACCESS_EXCEEDED',
  RATE_LIMITED: 'RATE_LIMITED',
  TOO_MANY_REQUESTS: 'RATE_LIMITED',
  REAUTHENTICATE: 'CONSENT_EXPIRED',
  CONSENT_EXPIRED: 'CONSENT_EXPIRED',
  INVALID_CONSENT_STATUS: 'CONSENT_INVALID',
  CONSENT_REVOKED: 'CONSENT_INVALID',
};

/** Which kind wins when a body lists several codes: the one that asks for the most specific reaction. */
const PRECEDENCE: readonly Kind[] = ['ACCESS_EXCEEDED', 'CONSENT_EXPIRED', 'CONSENT_INVALID', 'UNAUTHORIZED', 'RATE_LIMITED', 'UNAVAILABLE', 'INVALID_REQUEST'];

/** `consent-expired`, `Consent Expired` and `CONSENT_EXPIRED` are one code. */
function normaliseCode(code: string): string {
  return code
    .trim()
    .toUpperCase()
    .replace(/[^A-Z0-9.]+/g, '_');
}

function camelToScreaming(word: string): string {
  return word.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

function kindOfCode(code: string, status: number): Kind | undefined {
  const n = normaliseCode(code);
  // UK: a missing consent is a 403 Resource.NotFound; a missing account is a 400/404 Resource.NotFound.
  if (n === 'UK.OBIE.RESOURCE.NOTFOUND') return status === 403 ? 'CONSENT_INVALID' : 'INVALID_REQUEST';
  const direct = KIND_BY_CODE[n];
  if (direct) return direct;
  if (/^UK\.[A-Z0-9]+\./.test(n)) {
    const leaf = code.trim().split('.').pop() ?? '';
    const byLeaf = KIND_BY_UK_LEAF[camelToScreaming(leaf)];
    if (byLeaf) return byLeaf;
    if (/^UK\.OBIE\.(FIELD|HEADER|RULES|UNSUPPORTED|SIGNATURE)\./.test(n)) return n.includes('.SIGNATURE.') ? 'UNAUTHORIZED' : 'INVALID_REQUEST';
  }
  return undefined;
}

function kindOfStatus(status: number, dialect: BankErrorDialect): Kind | undefined {
  if (status === 401) return 'UNAUTHORIZED';
  // Some standards' banks (UK) answer 403 when the consent does not (or no longer) allow the call.
  if (status === 403) return dialect.forbiddenMeansConsentInvalid === true ? 'CONSENT_INVALID' : 'INVALID_REQUEST';
  if (status === 408) return 'UNAVAILABLE';
  if (status === 429) return 'RATE_LIMITED';
  if (status === 501 || status === 505) return 'INVALID_REQUEST';
  if (status >= 500 && status <= 599) return 'UNAVAILABLE';
  if (status >= 400 && status <= 499) return 'INVALID_REQUEST';
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseBody(body: unknown): unknown {
  if (typeof body === 'string') {
    try {
      return JSON.parse(body);
    } catch {
      return body;
    }
  }
  if (body instanceof Uint8Array) return parseBody(new TextDecoder().decode(body));
  return body;
}

function headerValue(headers: BankErrorResponse['headers'], name: string): string | undefined {
  if (!headers) return undefined;
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== wanted || value === undefined) continue;
    return Array.isArray(value) ? value.join(', ') : String(value);
  }
  return undefined;
}

/** `Bearer error="invalid_token", error_description="…"` → `invalid_token`. */
function wwwAuthenticateError(headers: BankErrorResponse['headers']): string | undefined {
  const value = headerValue(headers, 'www-authenticate');
  return value ? /\berror="?([A-Za-z0-9_.-]+)"?/.exec(value)?.[1] : undefined;
}

/**
 * The error codes a body carries, most important first, as the institution's standard reads them
 * (src/banking/error-shapes.ts has the shapes). A body that is not a JSON object carries none.
 */
export function extractBankCodes(dialect: BankErrorDialect, body: unknown): string[] {
  const parsed = parseBody(body);
  return isRecord(parsed) ? dialect.readCodes(parsed) : [];
}

const CONSTRUCTORS: Record<Kind, new (message: string, details: BankErrorDetails) => BankError> = {
  CONSENT_EXPIRED: BankConsentExpired,
  CONSENT_INVALID: BankConsentInvalid,
  ACCESS_EXCEEDED: BankAccessExceeded,
  RATE_LIMITED: BankRateLimited,
  UNAUTHORIZED: BankUnauthorized,
  UNAVAILABLE: BankUnavailable,
  INVALID_REQUEST: BankInvalidRequest,
};

const DESCRIPTIONS: Record<Kind, string> = {
  CONSENT_EXPIRED: 'the consent has expired',
  CONSENT_INVALID: 'the consent is invalid, revoked or unknown',
  ACCESS_EXCEEDED: 'the daily access limit of the consent is used up',
  RATE_LIMITED: 'too many requests',
  UNAUTHORIZED: 'the access token or client credentials were refused',
  UNAVAILABLE: 'the bank is unavailable',
  INVALID_REQUEST: 'the bank refused the request',
};

/**
 * Chooses the family member for a bank's error answer. The bank's codes decide first (the most
 * specific wins: access exceeded, consent expired, consent invalid, token, rate limit, outage,
 * invalid request); when there is no code we know, the HTTP status decides. Never throws.
 */
export function bankErrorFromResponse(response: BankErrorResponse): BankError {
  const { institutionId, operation, dialect, status, headers, requestId } = response;
  const parsed = parseBody(response.body);
  const codes = extractBankCodes(dialect, parsed);
  const authError = wwwAuthenticateError(headers);
  if (authError && !codes.includes(authError)) codes.push(authError);

  let kind: Kind | undefined;
  let bankCode: string | undefined = codes[0];
  const kinds = codes.map((code) => ({ code, kind: kindOfCode(code, status) }));
  for (const candidate of PRECEDENCE) {
    const hit = kinds.find((k) => k.kind === candidate);
    if (!hit) continue;
    // A server failure stays an outage whatever the body says, unless it names the consent or quota.
    if (status >= 500 && (candidate === 'INVALID_REQUEST' || candidate === 'UNAUTHORIZED' || candidate === 'RATE_LIMITED')) continue;
    kind = candidate;
    bankCode = hit.code;
    break;
  }
  kind ??= kindOfStatus(status, dialect);

  const retryAfterMs = parseRetryAfter(headerValue(headers, 'retry-after'), response.now ?? Date.now());
  const details: BankErrorDetails = {
    institutionId,
    operation,
    httpStatus: status,
    // Some banks put free text where a code belongs: keep it short and clean.
    bankCode: bankCode === undefined ? undefined : redactText(bankCode).slice(0, 80),
    requestId,
    retryAfterMs,
    bodyExcerpt: redactedExcerpt(parsed),
  };
  if (kind === undefined) {
    return new BankResponseInvalid(`${operation} at ${institutionId}: unexpected HTTP ${status} from the bank`, details);
  }
  const Ctor = CONSTRUCTORS[kind];
  return new Ctor(`${operation} at ${institutionId}: ${DESCRIPTIONS[kind]} (HTTP ${status}${details.bankCode ? ` ${details.bankCode}` : ''})`, details);
}

/**
 * A bank client was configured wrongly (bad base URL, unusable key or certificate, insecure URL
 * without `allowInsecureRequests`). Thrown when the client is created, never during a call.
 */
export class BankClientConfigError extends Error {
  override readonly name = 'BankClientConfigError';
  readonly code = 'BANK_CLIENT_CONFIG' as const;

  constructor(
    readonly institutionId: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${institutionId}: ${message}`, options?.cause === undefined ? undefined : { cause: options.cause });
  }
}
