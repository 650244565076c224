/**
 * A bank's clock: it runs at real speed from a starting instant and the control API can move it
 * forward (never back), so consents expire, codes time out and quotas reset on demand.
 */
export class BankClock {
  private offsetMs = 0;

  /** @param realStart the real instant at which the clock shows `start` (default now): copies of a bank share one timeline. */
  constructor(
    private readonly start: number,
    private readonly realStart = Date.now(),
  ) {}

  nowMs(): number {
    return this.start + (Date.now() - this.realStart) + this.offsetMs;
  }

  now(): Date {
    return new Date(this.nowMs());
  }

  /** UTC calendar day (YYYY-MM-DD) on the bank clock. */
  today(): string {
    return this.now().toISOString().slice(0, 10);
  }

  nowSeconds(): number {
    return Math.floor(this.nowMs() / 1000);
  }

  /** Back to the start instant's timeline (used by "reset to seed"). */
  reset(): void {
    this.offsetMs = 0;
  }

  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError('the bank clock only moves forward');
    this.offsetMs += ms;
  }

  /** Seconds until the next UTC midnight on the bank clock (used for Retry-After on quotas). */
  secondsUntilTomorrow(): number {
    const now = this.nowMs();
    const midnight = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), new Date(now).getUTCDate() + 1);
    return Math.max(1, Math.ceil((midnight - now) / 1000));
  }
}

export const addDays = (isoDate: string, days: number): string => {
  const d = new Date(`${isoDate}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
};
