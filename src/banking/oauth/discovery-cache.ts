import type * as client from 'openid-client';

/** Default lifetime of a bank's discovered metadata: it changes rarely, and never per request. */
export const DEFAULT_DISCOVERY_TTL_MS = 60 * 60 * 1000;

interface Entry {
  expiresAt: number;
  value: Promise<client.ServerMetadata>;
}

/**
 * Authorisation server metadata per issuer, kept for a TTL. Concurrent look-ups of one issuer share
 * one request; a failed discovery is not kept, so the next call tries again.
 */
export class DiscoveryCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    readonly ttlMs: number = DEFAULT_DISCOVERY_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {
    if (!(ttlMs >= 0)) throw new RangeError('DiscoveryCache: ttlMs must be a number ≥ 0');
  }

  /** The cached metadata of `issuer`, or what `load` discovers (then cached until the TTL ends). */
  get(issuer: string, load: () => Promise<client.ServerMetadata>): Promise<client.ServerMetadata> {
    const hit = this.entries.get(issuer);
    if (hit && hit.expiresAt > this.now()) return hit.value;
    const value = load();
    const entry: Entry = { expiresAt: this.now() + this.ttlMs, value };
    this.entries.set(issuer, entry);
    value.catch(() => {
      if (this.entries.get(issuer) === entry) this.entries.delete(issuer);
    });
    return value;
  }

  /** Forgets one issuer (e.g. after the bank rotated its endpoints), or all. */
  invalidate(issuer?: string): void {
    if (issuer === undefined) this.entries.clear();
    else this.entries.delete(issuer);
  }
}

/** The cache shared by every BankOAuth that is given none. */
export const sharedDiscoveryCache = new DiscoveryCache();
