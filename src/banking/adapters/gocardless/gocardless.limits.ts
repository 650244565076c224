/**
 * The upstream's limits as a budget. GoCardless Bank Account Data documents rate-limit response
 * headers (`HTTP_X_RATELIMIT_*` in its docs, `X-RateLimit-*` on the wire): a general limit per
 * endpoint group and, on account endpoints, the bank's daily limit per account and access scope
 * (`…-Account-Success-Limit/Remaining/Reset`, reset in seconds). We remember the last word per
 * account and scope, so a call that would meet the bank's daily 429 is not made at all.
 */

/** Access scopes the upstream counts separately. */
export type UpstreamScope = 'details' | 'balances' | 'transactions';

export interface UpstreamLimit {
  limit: number | null;
  remaining: number;
  /** When the count starts again (ms since epoch). */
  resetsAt: number;
}

/** Reads a header by its documented names: `X-RateLimit-<Name>` and Django's `HTTP_X_RATELIMIT_<NAME>`. */
function header(headers: Headers, name: string): string | null {
  return headers.get(`x-ratelimit-${name}`) ?? headers.get(`http_x_ratelimit_${name.replace(/-/g, '_')}`);
}

const int = (v: string | null): number | null => (v !== null && /^\d{1,9}$/.test(v.trim()) ? Number(v.trim()) : null);

/** The account-scope limit in a response's headers, if it carries one. */
export function accountLimitFromHeaders(headers: Headers, now: number): UpstreamLimit | null {
  const remaining = int(header(headers, 'account-success-remaining'));
  const reset = int(header(headers, 'account-success-reset'));
  if (remaining === null || reset === null) return null;
  return { limit: int(header(headers, 'account-success-limit')), remaining, resetsAt: now + reset * 1000 };
}

/** What the upstream last told us, per account and scope; in memory (a restart forgets, the 429 body still speaks). */
export class UpstreamBudget {
  private readonly byKey = new Map<string, UpstreamLimit>();

  constructor(private readonly now: () => number = Date.now) {}

  record(accountId: string, scope: UpstreamScope, headers: Headers): void {
    const limit = accountLimitFromHeaders(headers, this.now());
    if (limit) this.byKey.set(`${accountId} ${scope}`, limit);
  }

  /** Marks the scope used up until `resetsAt` (after the upstream's daily-limit 429). */
  exhaust(accountId: string, scope: UpstreamScope, resetsAt: number): void {
    this.byKey.set(`${accountId} ${scope}`, { limit: null, remaining: 0, resetsAt });
  }

  /** Milliseconds until the scope may be called again; 0 when a call is expected to succeed. */
  waitMs(accountId: string, scope: UpstreamScope): number {
    const known = this.byKey.get(`${accountId} ${scope}`);
    if (!known || known.remaining > 0) return 0;
    const wait = known.resetsAt - this.now();
    return wait > 0 ? wait : 0;
  }

  get(accountId: string, scope: UpstreamScope): UpstreamLimit | undefined {
    return this.byKey.get(`${accountId} ${scope}`);
  }
}
