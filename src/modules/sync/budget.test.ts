import { describe, expect, it } from 'vitest';
import { addDays, budgetResetsAt, nextBackgroundSlot, utcDay } from './budget';

describe('the unattended-access budget arithmetic', () => {
  it('resets at the next UTC midnight', () => {
    expect(budgetResetsAt(new Date('2026-03-04T23:59:59Z')).toISOString()).toBe('2026-03-05T00:00:00.000Z');
    expect(budgetResetsAt(new Date('2026-03-04T00:00:00Z')).toISOString()).toBe('2026-03-05T00:00:00.000Z');
  });

  it('adds days across month ends and leap days', () => {
    expect(addDays('2028-02-28', 1)).toBe('2028-02-29');
    expect(addDays('2026-03-01', -3)).toBe('2026-02-26');
    expect(utcDay(new Date('2026-12-31T23:00:00Z'))).toBe('2026-12-31');
  });

  it('never places more than frequencyPerDay background slots in one UTC day, whatever the account', () => {
    for (const id of ['a', 'b1c2', '5f0e9a5e-8a3f-4c9d-9a1e-0b6f5d4c3b2a', 'zzzz']) {
      for (const f of [1, 2, 3, 4]) {
        const perDay = new Map<string, number>();
        let t = new Date('2026-05-01T00:00:00Z');
        for (let i = 0; i < 40; i++) {
          t = nextBackgroundSlot(id, f, t);
          perDay.set(utcDay(t), (perDay.get(utcDay(t)) ?? 0) + 1);
        }
        expect(Math.max(...perDay.values())).toBeLessThanOrEqual(f);
      }
    }
  });

  it('spreads accounts over the slot instead of firing them all at once', () => {
    const start = new Date('2026-05-01T00:00:00Z');
    const times = new Set(Array.from({ length: 50 }, (_, i) => nextBackgroundSlot(`account-${i}`, 4, start).getTime()));
    expect(times.size).toBeGreaterThan(40);
  });
});
