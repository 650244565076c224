import { describe, expect, it } from 'vitest';
import { computeBackoff, parseRetryAfter, sleep } from './retry';

describe('computeBackoff', () => {
  it('is min(cap, base·2ⁿ) scaled by the jitter draw', () => {
    const backoff = { baseMs: 500, capMs: 30_000 };
    expect([0, 1, 2, 3].map((n) => computeBackoff(n, backoff, () => 0.999999))).toEqual([499, 999, 1999, 3999]);
    expect(computeBackoff(10, backoff, () => 0.5)).toBe(15_000);
    expect(computeBackoff(60, backoff, () => 1)).toBe(30_000);
    expect(computeBackoff(3, backoff, () => 0)).toBe(0);
  });

  it('never exceeds the cap whatever the draw', () => {
    for (let n = 0; n < 40; n++) expect(computeBackoff(n, { baseMs: 500, capMs: 30_000 })).toBeLessThanOrEqual(30_000);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-11-25T12:00:00Z');
  it('reads delay-seconds', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
  });
  it('reads an HTTP date, never negative', () => {
    expect(parseRetryAfter('Wed, 25 Nov 2026 12:01:00 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('Wed, 25 Nov 2026 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('Wednesday, 25-Nov-26 12:00:05 GMT', now)).toBe(5_000);
    expect(parseRetryAfter('Wed Nov 25 12:00:10 2026', now)).toBe(10_000);
  });
  it('ignores what it cannot read', () => {
    for (const value of [undefined, null, '', '-5', '1.5', 'soon', 'Nov 2026?']) expect(parseRetryAfter(value, now)).toBeUndefined();
  });
});

describe('sleep', () => {
  it('waits and can be aborted', async () => {
    await expect(sleep(1)).resolves.toBeUndefined();
    const controller = new AbortController();
    const waiting = sleep(10_000, controller.signal);
    controller.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');
  });
});
