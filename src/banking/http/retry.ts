/** Retry arithmetic for bank calls: capped exponential backoff with full jitter, and `Retry-After`. */

/** Backoff settings: the first delay's ceiling and the ceiling of every delay, in milliseconds. */
export interface BackoffOptions {
  /** Ceiling of the first delay (attempt 0). Default 500. */
  baseMs: number;
  /** No delay is ever longer than this. Default 30 000. */
  capMs: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({ baseMs: 500, capMs: 30_000 });

/**
 * Delay before retry number `retryIndex` (0 for the first retry): `min(cap, base·2ⁿ)·random`,
 * "full jitter", so clients that failed together do not come back together.
 */
export function computeBackoff(retryIndex: number, backoff: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(backoff.capMs, backoff.baseMs * 2 ** Math.max(0, retryIndex));
  return Math.floor(ceiling * Math.min(1, Math.max(0, random())));
}

const HTTP_DATE_FORMS: readonly RegExp[] = [
  /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/, // IMF-fixdate
  /^[A-Z][a-z]+, \d{2}-[A-Z][a-z]{2}-\d{2} \d{2}:\d{2}:\d{2} GMT$/, // obsolete RFC 850
  /^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/, // obsolete asctime
];

/**
 * Reads a `Retry-After` header (RFC 9110 §10.2.3): either delay-seconds or an HTTP date. Returns
 * milliseconds from `now`, never negative, or undefined when the header is absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed === '') return undefined;
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // Only the three HTTP-date forms; Date.parse alone accepts far too much.
  if (!HTTP_DATE_FORMS.some((re) => re.test(trimmed))) return undefined;
  // asctime carries no zone; HTTP dates are always GMT.
  const at = Date.parse(HTTP_DATE_FORMS[2].test(trimmed) ? `${trimmed} GMT` : trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** Waits `ms` milliseconds; rejects with the signal's reason when it is aborted first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
