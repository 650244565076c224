import { describe, expect, it } from 'vitest';
import type { InstitutionDescriptor } from '../../banking/model';
import { sideBySide } from './sync.service';

const bank = (standard: string, transactionReadLanes?: number) =>
  ({ id: 'b', standard, quirks: transactionReadLanes === undefined ? {} : { transactionReadLanes } }) as unknown as InstitutionDescriptor;

describe('side-by-side listings of a first read', () => {
  it('cover the window exactly: pending entries in one listing, booked ones in consecutive inclusive ranges, the last open-ended', () => {
    const listings = sideBySide(bank('BERLIN_GROUP', 4), '2024-12-07', '2026-12-07')!;
    expect(listings).toEqual([
      { dateFrom: '2024-12-07', dateTo: null, status: 'PENDING' },
      { dateFrom: '2024-12-07', dateTo: '2025-08-06', status: 'BOOKED' },
      { dateFrom: '2025-08-07', dateTo: '2026-04-07', status: 'BOOKED' },
      { dateFrom: '2026-04-08', dateTo: null, status: 'BOOKED' },
    ]);
    // No day twice, none missing: each range starts the day after the previous one ends.
    const booked = listings.slice(1);
    for (let i = 1; i < booked.length; i++) {
      const end = new Date(`${booked[i - 1]!.dateTo}T00:00:00Z`).getTime();
      expect(new Date(`${booked[i]!.dateFrom}T00:00:00Z`).getTime() - end).toBe(86_400_000);
    }
  });

  it('are one listing (null) where the bank allows fewer than three, the standard reads no date ranges, or the window is short', () => {
    expect(sideBySide(bank('BERLIN_GROUP'), '2024-12-07', '2026-12-07')).toBeNull();
    expect(sideBySide(bank('BERLIN_GROUP', 2), '2024-12-07', '2026-12-07')).toBeNull();
    expect(sideBySide(bank('STET', 4), '2024-12-07', '2026-12-07')).toBeNull();
    expect(sideBySide(bank('NO_SUCH_STANDARD', 4), '2024-12-07', '2026-12-07')).toBeNull();
    expect(sideBySide(bank('BERLIN_GROUP', 4), '2026-11-20', '2026-12-07')).toBeNull();
  });

  it('use fewer ranges on a window too short for each to cover a month', () => {
    const listings = sideBySide(bank('BERLIN_GROUP', 8), '2026-10-01', '2026-12-07')!;
    expect(listings.map((l) => [l.dateFrom, l.dateTo, l.status])).toEqual([
      ['2026-10-01', null, 'PENDING'],
      ['2026-10-01', '2026-11-03', 'BOOKED'],
      ['2026-11-04', null, 'BOOKED'],
    ]);
  });
});
