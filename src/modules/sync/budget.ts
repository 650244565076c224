/**
 * The PSD2 unattended-access budget, as arithmetic: at most `frequencyPerDay` background reads
 * per consent, account and scope per UTC day, and background syncs placed on evenly spaced slots
 * that differ per account, so a day's syncs are spread out instead of all firing at midnight.
 */

const DAY_MS = 86_400_000;

/** The UTC calendar day of an instant, 'YYYY-MM-DD'. */
export const utcDay = (at: Date): string => at.toISOString().slice(0, 10);

/** When today's counters start again: the next UTC midnight. */
export const budgetResetsAt = (at: Date): Date => new Date(Math.floor(at.getTime() / DAY_MS) * DAY_MS + DAY_MS);

/** Adds (or subtracts) whole days to a 'YYYY-MM-DD' date. */
export function addDays(day: string, days: number): string {
  return utcDay(new Date(Date.parse(`${day}T00:00:00Z`) + days * DAY_MS));
}

/** A stable number in [0, 1) from an id: the account's phase within each slot. */
function phaseOf(id: string): number {
  let h = 2166136261;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619);
  return (h >>> 0) / 2 ** 32;
}

/**
 * The next background slot strictly after `after`: the day is cut into `frequencyPerDay` equal
 * slots, each account syncs at its own offset within them. Consecutive slots are a full interval
 * apart, so a day never holds more than `frequencyPerDay` of them.
 */
export function nextBackgroundSlot(accountId: string, frequencyPerDay: number, after: Date): Date {
  const interval = DAY_MS / Math.max(1, frequencyPerDay);
  const dayStart = Math.floor(after.getTime() / DAY_MS) * DAY_MS;
  const offset = Math.floor(phaseOf(accountId) * interval);
  let t = dayStart + offset;
  while (t <= after.getTime()) t += interval;
  return new Date(t);
}
