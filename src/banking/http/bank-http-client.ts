/**
 * The one way Passerelle talks HTTP to a bank. Every adapter call goes through `request`, which
 * enforces the discipline of DESIGN D5: a fresh `X-Request-ID` per logical call, a timeout on every
 * attempt, retries only for safe calls with capped exponential backoff and full jitter, `Retry-After`
 * honoured, URLs kept on the bank's origin, every answer parsed by a schema, every failure turned
 * into a {@link BankError}, and logs that name the call but never carry its secrets or payloads.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { ZodType } from 'zod';
import { BankClientConfigError, BankError, BankErrorCode, bankErrorFromResponse, BankResponseInvalid, BankUnavailable, summariseZodIssues } from '../errors';
import { createMtlsTransport, ResponseTooLarge, type BankFetch, type MtlsOptions } from './mtls';
import type { BankProtocol, BankRequestSigner } from './protocol';
import { describeUrl, redactedExcerpt } from './redact';
import { computeBackoff, DEFAULT_BACKOFF, sleep as defaultSleep, type BackoffOptions } from './retry';

/** HTTP methods bank APIs use. */
export type BankHttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** What happened to one attempt, as the audit journal records it. */
export type BankCallOutcome = 'success' | 'retry' | 'failed' | 'aborted';

/**
 * One attempt of one bank call, for the audit journal (`onCall`). Holds no token, no body and no
 * personal value: `path` is a template (`/v1/accounts/{id}/transactions?dateFrom=2025-01-01`).
 */
export interface BankCallRecord {
  institutionId: string;
  operation: string;
  method: BankHttpMethod;
  /** Path template with only non-personal query values kept. */
  path: string;
  /** HTTP status; absent when no answer came (timeout, connection error). */
  status?: number;
  latencyMs: number;
  /** Our `X-Request-ID`, the same for every attempt of a call. */
  requestId: string;
  /** 1 for the first attempt. */
  attempt: number;
  outcome: BankCallOutcome;
  /** Set when the attempt failed. */
  errorCode?: BankErrorCode;
  /** The bank's own error code, when it sent one (e.g. `CONSENT_EXPIRED`). */
  bankCode?: string;
}

/** Settings of one institution's client. Secure by default; insecure behaviour is named. */
export interface BankHttpClientOptions {
  /** Registry id of the institution; named in every error, log line and audit record. */
  institutionId: string;
  /** The wire conventions of the institution's standard: headers, signing, error reading. */
  protocol: BankProtocol;
  /** Root of the bank's API, e.g. `https://api.bank.example/psd2`. Paths are appended to it. */
  baseUrl: string;
  /** Per attempt, including reading the body. Default 15 000. */
  timeoutMs?: number;
  /** Retries after the first attempt, for safe calls only. Default 3. */
  maxRetries?: number;
  /** Default `{ baseMs: 500, capMs: 30_000 }`. */
  backoff?: Partial<BackoffOptions>;
  /**
   * The longest `Retry-After` we wait for inside a call. A longer one ends the call with the error
   * (`BankRateLimited` or `BankUnavailable`) carrying `retryAfterMs`, for the caller to reschedule.
   * Default 60 000.
   */
  maxRetryAfterMs?: number;
  /** QWAC client certificate for mTLS. Cannot be combined with `fetch`. */
  mtls?: MtlsOptions;
  /** Signs each attempt (QSeal HTTP signatures, for the standards that use them); see {@link BankProtocol.signer}. */
  signer?: BankRequestSigner;
  /** Receives one line per attempt: method, path template, status, latency, request id, attempt. */
  logger?: Logger;
  /** Called once per attempt (the audit journal). Exceptions it throws are logged and ignored. */
  onCall?: (record: BankCallRecord) => void;
  /** Transport, like openid-client's `customFetch`. Default: the global fetch (or mTLS). */
  fetch?: BankFetch;
  /** Allow `http://` URLs. Only for sandbox banks on a trusted network. */
  allowInsecureRequests?: boolean;
  /** Other origins the bank's `_links` may point to (e.g. a separate payments host). */
  additionalOrigins?: readonly string[];
  /** Headers sent on every call (e.g. `x-fapi-financial-id`). Never put secrets here. */
  defaultHeaders?: Readonly<Record<string, string>>;
  /** Largest accepted response body. Default 10 MiB. */
  maxResponseBytes?: number;
  /** Jitter source in [0, 1). Tests pass a constant. */
  random?: () => number;
  /** How to wait between attempts. Tests pass a recorder. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Clock for latency and HTTP-date `Retry-After`. */
  now?: () => number;
}

/** Query values; arrays repeat the key, undefined drops it. */
export type BankQuery = Readonly<Record<string, string | number | boolean | readonly (string | number)[] | undefined>>;

/** One logical bank call. Give exactly one of `path` and `url`. */
export interface BankRequestOptions<T> {
  /** Our name of the call (`accounts.list`, `consent.create`…); appears in errors and audit. */
  operation: string;
  method: BankHttpMethod;
  /** Appended to `baseUrl` (`/v1/accounts` → `https://bank/psd2/v1/accounts`). */
  path?: string;
  /**
   * A link from the bank (`_links.next.href`): absolute, or origin-relative. Must stay on the bank's
   * origin (or `additionalOrigins`); anything else is refused with `BankResponseInvalid`.
   */
  url?: string;
  query?: BankQuery;
  /** Extra headers (idempotency key, `TPP-Redirect-URI`, `Consent-ID`…). `X-Request-ID` is ours. */
  headers?: Readonly<Record<string, string | undefined>>;
  /** Sent as JSON. */
  body?: unknown;
  /** Parses the answer; a failure becomes `BankResponseInvalid`. Empty bodies parse as `undefined`. */
  schema: ZodType<T>;
  /**
   * Our `X-Request-ID` for this call instead of a fresh UUID: a payment creation sends the same id
   * on every try (derived from the gateway's idempotency key) so a bank that dedups on it never
   * creates a second payment. Must be a UUID.
   */
  requestId?: string;
  /** Mark a non-GET call safe to repeat (e.g. it carries an idempotency key). Default false. */
  idempotent?: boolean;
  /** The PSU's IP address for user-present calls (`PSU-IP-Address`, UK `x-fapi-customer-ip-address`). */
  psuIpAddress?: string;
  /** Sent as `Authorization: Bearer …`. */
  accessToken?: string;
  /** Cancels the call, waits included. */
  signal?: AbortSignal;
  /** Overrides the client's `timeoutMs` for this call. */
  timeoutMs?: number;
  /**
   * Headers computed from the exact body text, once per call (every retry sends the same), e.g.
   * UK `x-jws-signature`.
   */
  signBody?: (body: string) => Promise<Record<string, string>>;
  /**
   * Checks a 2xx answer's exact body text and headers before it is parsed (e.g. the bank's UK
   * `x-jws-signature`): the error it resolves with ends the call, unretried.
   */
  verifyResponse?: (body: string, headers: Headers) => Promise<BankError | undefined>;
}

/** A successful, schema-checked answer. */
export interface BankHttpResponse<T> {
  data: T;
  status: number;
  headers: Headers;
  /** Our `X-Request-ID`. */
  requestId: string;
  /** How many attempts it took (1 when no retry). */
  attempts: number;
}

/** The client of one institution. */
export interface BankHttpClient {
  readonly institutionId: string;
  /** The normalised base URL. */
  readonly baseUrl: string;
  /**
   * Performs one logical call and returns the parsed answer, or throws a {@link BankError}.
   * Cancellation through `signal` rethrows the signal's reason.
   */
  request<T>(options: BankRequestOptions<T>): Promise<BankHttpResponse<T>>;
  /** Resolves a path or a bank link the way `request` does (same origin checks). */
  resolveUrl(target: { path?: string; url?: string; query?: BankQuery }): URL;
  /** Releases the mTLS agent's sockets, if any. */
  close(): void;
}

const SAFE_METHODS = new Set<BankHttpMethod>(['GET', 'HEAD']);
const CONNECT_FAILURES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN']);

/** True when the request never reached the bank, so even an unsafe call may be repeated. */
function neverSent(err: unknown): boolean {
  let current: unknown = err;
  for (let depth = 0; depth < 4 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECT_FAILURES.has(code)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** A network error without anything we do not control (its message may quote the URL). */
function networkCause(err: unknown): Error {
  let current: unknown = err;
  for (let depth = 0; depth < 4 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return Object.assign(new Error(`network error ${code}`), { code });
    current = (current as { cause?: unknown }).cause;
  }
  return new Error(err instanceof Error ? err.name : 'network error');
}

/** Creates the HTTP client of one institution. Throws {@link BankClientConfigError} on bad settings. */
export function createBankHttpClient(options: BankHttpClientOptions): BankHttpClient {
  const { institutionId, protocol } = options;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const maxRetries = options.maxRetries ?? 3;
  const backoff: BackoffOptions = { ...DEFAULT_BACKOFF, ...options.backoff };
  const maxRetryAfterMs = options.maxRetryAfterMs ?? 60_000;
  const maxResponseBytes = options.maxResponseBytes ?? 10 * 1024 * 1024;
  const random = options.random ?? Math.random;
  const wait = options.sleep ?? defaultSleep;
  const now = options.now ?? Date.now;
  const allowInsecure = options.allowInsecureRequests === true;

  if (!institutionId) throw new BankClientConfigError('(unknown)', 'institutionId is required');
  if (!(timeoutMs > 0)) throw new BankClientConfigError(institutionId, 'timeoutMs must be positive');
  if (!(maxRetries >= 0) || !Number.isInteger(maxRetries)) throw new BankClientConfigError(institutionId, 'maxRetries must be a whole number ≥ 0');
  if (!(backoff.baseMs >= 0 && backoff.capMs >= backoff.baseMs)) throw new BankClientConfigError(institutionId, 'backoff needs 0 ≤ baseMs ≤ capMs');

  const checkProtocol = (url: URL, what: string): void => {
    if (url.protocol === 'https:') return;
    if (url.protocol === 'http:' && allowInsecure) return;
    throw new BankClientConfigError(
      institutionId,
      url.protocol === 'http:' ? `${what} uses http://; set allowInsecureRequests (sandbox banks only)` : `${what} must be an https URL`,
    );
  };

  let base: URL;
  try {
    base = new URL(options.baseUrl);
  } catch {
    throw new BankClientConfigError(institutionId, 'baseUrl is not a URL');
  }
  checkProtocol(base, 'baseUrl');
  if (base.username || base.password) throw new BankClientConfigError(institutionId, 'baseUrl must not carry credentials');
  base.search = '';
  base.hash = '';
  base.pathname = base.pathname.replace(/\/+$/, '');

  const origins = new Set<string>([base.origin]);
  for (const extra of options.additionalOrigins ?? []) {
    let parsed: URL;
    try {
      parsed = new URL(extra);
    } catch {
      throw new BankClientConfigError(institutionId, `additional origin "${extra}" is not a URL`);
    }
    checkProtocol(parsed, 'an additional origin');
    origins.add(parsed.origin);
  }

  if (options.mtls && options.fetch) throw new BankClientConfigError(institutionId, 'pass either mtls or fetch, not both');
  if (options.mtls && base.protocol !== 'https:') throw new BankClientConfigError(institutionId, 'mTLS needs an https baseUrl');
  let mtls: ReturnType<typeof createMtlsTransport> | undefined;
  if (options.mtls) {
    try {
      mtls = createMtlsTransport(options.mtls, maxResponseBytes);
    } catch {
      throw new BankClientConfigError(institutionId, 'the mTLS certificate or key is not usable');
    }
  }
  const transport: BankFetch = options.fetch ?? mtls?.fetch ?? ((url, init) => fetch(url, init));
  const signer: BankRequestSigner | undefined = options.signer;
  const log = options.logger?.child({ component: 'bank-http', institutionId });

  function resolveUrl(target: { path?: string; url?: string; query?: BankQuery }, operation = '(resolve)'): URL {
    if ((target.path === undefined) === (target.url === undefined)) {
      throw new BankClientConfigError(institutionId, `${operation}: give exactly one of path and url`);
    }
    let url: URL;
    if (target.path !== undefined) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target.path) || target.path.startsWith('//')) {
        throw new BankClientConfigError(institutionId, `${operation}: path must be relative; use url for links`);
      }
      url = new URL(base.href);
      const [pathname, search] = target.path.split('?', 2) as [string, string | undefined];
      // A base at the domain root has pathname `/`: joined as is it would give `//v1/…`.
      url.pathname = `${base.pathname.replace(/\/+$/, '')}/${pathname.replace(/^\/+/, '')}`;
      if (search) url.search = `?${search}`;
    } else {
      try {
        url = new URL(target.url as string, base.origin);
      } catch {
        throw new BankResponseInvalid(`${operation} at ${institutionId}: the bank's link is not a URL`, { institutionId, operation });
      }
      if (!origins.has(url.origin) || (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowInsecure))) {
        throw new BankResponseInvalid(`${operation} at ${institutionId}: refused a link to another origin (${url.protocol}//${url.host})`, {
          institutionId,
          operation,
        });
      }
      if (url.username || url.password) {
        throw new BankResponseInvalid(`${operation} at ${institutionId}: refused a link carrying credentials`, { institutionId, operation });
      }
      url.hash = '';
    }
    for (const [key, value] of Object.entries(target.query ?? {})) {
      if (value === undefined) continue;
      url.searchParams.delete(key);
      if (Array.isArray(value)) for (const v of value) url.searchParams.append(key, String(v));
      else url.searchParams.set(key, String(value));
    }
    return url;
  }

  function buildHeaders<T>(req: BankRequestOptions<T>, requestId: string, hasBody: boolean): Headers {
    const headers = new Headers();
    headers.set('Accept', protocol.accept);
    if (hasBody) headers.set('Content-Type', 'application/json');
    for (const [name, value] of Object.entries(options.defaultHeaders ?? {})) headers.set(name, value);
    for (const [name, value] of Object.entries(req.headers ?? {})) if (value !== undefined) headers.set(name, value);
    headers.set('X-Request-ID', requestId);
    for (const [name, value] of Object.entries(protocol.headers({ requestId, ...(req.psuIpAddress ? { psuIpAddress: req.psuIpAddress } : {}) })))
      headers.set(name, value);
    if (req.accessToken) headers.set('Authorization', `Bearer ${req.accessToken}`);
    return headers;
  }

  async function readBody(response: Response, signal: AbortSignal): Promise<string> {
    if (!response.body) return '';
    const reader = response.body.getReader();
    const chunks: Uint8Array[] = [];
    let total = 0;
    const onAbort = (): void => void reader.cancel().catch(() => undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        if (signal.aborted) throw signal.reason;
        const { done, value } = await reader.read();
        if (signal.aborted) throw signal.reason;
        if (done) break;
        total += value.byteLength;
        if (total > maxResponseBytes) {
          await reader.cancel().catch(() => undefined);
          throw new ResponseTooLarge(maxResponseBytes);
        }
        chunks.push(value);
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  function report(record: BankCallRecord): void {
    const line = { ...record };
    if (record.outcome === 'success') log?.info(line, 'bank call');
    else log?.warn(line, 'bank call failed');
    if (!options.onCall) return;
    try {
      options.onCall(record);
    } catch (err) {
      log?.error({ requestId: record.requestId, err: err instanceof Error ? err.name : 'error' }, 'onCall listener threw');
    }
  }

  async function request<T>(req: BankRequestOptions<T>): Promise<BankHttpResponse<T>> {
    const { operation, method } = req;
    const requestId = req.requestId ?? randomUUID();
    const url = resolveUrl(req, operation);
    const path = describeUrl(url);
    const bodyText = req.body === undefined ? undefined : JSON.stringify(req.body);
    const safe = SAFE_METHODS.has(method) || req.idempotent === true;
    const attemptTimeout = req.timeoutMs ?? timeoutMs;
    const details = { institutionId, operation, requestId };
    const bodyHeaders = bodyText !== undefined && req.signBody ? await req.signBody(bodyText) : undefined;

    for (let attempt = 1; ; attempt++) {
      if (req.signal?.aborted) throw req.signal.reason;
      const headers = buildHeaders(req, requestId, bodyText !== undefined);
      for (const [name, value] of Object.entries(bodyHeaders ?? {})) headers.set(name, value);
      signer?.sign({ method, url, headers, body: bodyText });

      const started = now();
      const controller = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        controller.abort(new DOMException(`timed out after ${attemptTimeout} ms`, 'TimeoutError'));
      }, attemptTimeout);
      const onCallerAbort = (): void => controller.abort(req.signal?.reason);
      req.signal?.addEventListener('abort', onCallerAbort, { once: true });

      let error: BankError;
      let status: number | undefined;
      let retryable: boolean;
      try {
        let response: Response;
        let text: string;
        try {
          response = await transport(url.href, { method, headers, body: bodyText, signal: controller.signal, redirect: 'manual' });
          status = response.status;
          text = await readBody(response, controller.signal);
        } finally {
          clearTimeout(timer);
          req.signal?.removeEventListener('abort', onCallerAbort);
        }

        const refused = status >= 200 && status < 300 && req.verifyResponse ? await req.verifyResponse(text, response.headers) : undefined;
        if (refused) {
          error = refused;
          retryable = false;
        } else if (status >= 200 && status < 300) {
          const result = parseSuccess(req, text, status, details);
          if (!(result instanceof BankError)) {
            report({ institutionId, operation, method, path, status, latencyMs: now() - started, requestId, attempt, outcome: 'success' });
            return { data: result.data, status, headers: response.headers, requestId, attempts: attempt };
          }
          error = result;
          retryable = false;
        } else {
          error = bankErrorFromResponse({
            institutionId,
            operation,
            dialect: protocol.errors,
            status,
            headers: response.headers,
            body: text,
            requestId,
            now: now(),
          });
          retryable = safe && error.transient;
        }
      } catch (err) {
        if (req.signal?.aborted && !timedOut) {
          report({ institutionId, operation, method, path, status, latencyMs: now() - started, requestId, attempt, outcome: 'aborted' });
          throw req.signal.reason;
        }
        if (err instanceof ResponseTooLarge) {
          error = new BankResponseInvalid(`${operation} at ${institutionId}: response larger than ${maxResponseBytes} bytes`, {
            ...details,
            httpStatus: status,
          });
          retryable = false;
        } else if (timedOut) {
          error = new BankUnavailable(`${operation} at ${institutionId}: no answer within ${attemptTimeout} ms`, {
            ...details,
            httpStatus: status,
            timedOut: true,
          });
          retryable = safe;
        } else {
          error = new BankUnavailable(`${operation} at ${institutionId}: the connection failed`, {
            ...details,
            httpStatus: status,
            cause: networkCause(err),
          });
          retryable = safe || (status === undefined && neverSent(err));
        }
      }

      const latencyMs = now() - started;
      const base = { institutionId, operation, method, path, status, latencyMs, requestId, attempt, errorCode: error.code, bankCode: error.bankCode };
      if (!retryable || attempt > maxRetries) {
        report({ ...base, outcome: 'failed' });
        throw error;
      }
      let delay = computeBackoff(attempt - 1, backoff, random);
      if (error.retryAfterMs !== undefined) {
        if (error.retryAfterMs > maxRetryAfterMs) {
          // Too long to hold the caller: give up now and let it reschedule from retryAfterMs.
          report({ ...base, outcome: 'failed' });
          throw error;
        }
        delay = Math.max(delay, error.retryAfterMs);
      }
      report({ ...base, outcome: 'retry' });
      await wait(delay, req.signal);
    }
  }

  function parseSuccess<T>(
    req: BankRequestOptions<T>,
    text: string,
    status: number,
    details: { institutionId: string; operation: string; requestId: string },
  ): { data: T } | BankError {
    let json: unknown;
    if (text.trim() !== '') {
      try {
        json = JSON.parse(text);
      } catch {
        return new BankResponseInvalid(`${details.operation} at ${institutionId}: the answer is not JSON`, {
          ...details,
          httpStatus: status,
          bodyExcerpt: redactedExcerpt(text),
        });
      }
    }
    const parsed = req.schema.safeParse(json);
    if (parsed.success) return { data: parsed.data };
    const issues = summariseZodIssues(parsed.error);
    return new BankResponseInvalid(
      `${details.operation} at ${institutionId}: the answer does not match the schema (${issues
        .slice(0, 3)
        .map((i) => `${i.path}: ${i.code}`)
        .join('; ')})`,
      { ...details, httpStatus: status, bodyExcerpt: redactedExcerpt(json), issues },
    );
  }

  return {
    institutionId,
    baseUrl: base.href,
    request,
    resolveUrl: (target) => resolveUrl(target),
    close: () => mtls?.close(),
  };
}
