import { z } from 'zod';
import { summariseZodIssues, type BankSchemaIssue } from './errors';

/** One entry of a bank's list that broke its schema and was set aside. */
export interface SkippedEntry {
  /** Position in the bank's list. */
  index: number;
  /** What was wrong, by path and kind, never by value. */
  issues: BankSchemaIssue[];
}

// Keyed by the parsed array itself, so a schema's output type stays a plain array.
const skippedByList = new WeakMap<readonly unknown[], SkippedEntry[]>();

/**
 * A list of independent entries (balances, transactions) parsed one by one: an entry that breaks
 * `item` is set aside instead of failing the whole answer, which stays usable. A list whose every
 * entry is malformed is not an "otherwise good answer" and fails the parse as a whole.
 * Read what was set aside with {@link skippedEntriesOf}.
 */
export function skippableEntries<T extends z.ZodType>(item: T) {
  const whole = z.array(item);
  return z.array(z.unknown()).transform((raw, ctx): z.output<T>[] => {
    // Nearly every list is good throughout: one parse of the list costs less than one per entry.
    const all = whole.safeParse(raw);
    if (all.success) return all.data;
    const kept: z.output<T>[] = [];
    const skipped: SkippedEntry[] = [];
    const errors: { index: number; error: z.ZodError }[] = [];
    raw.forEach((entry, index) => {
      const parsed = item.safeParse(entry);
      if (parsed.success) kept.push(parsed.data);
      else {
        skipped.push({ index, issues: summariseZodIssues(parsed.error) });
        errors.push({ index, error: parsed.error });
      }
    });
    if (raw.length > 0 && kept.length === 0) {
      // Each entry's own problems, under its index, so the refusal names the fields.
      for (const { index, error } of errors.slice(0, 5)) {
        for (const issue of error.issues) ctx.addIssue({ code: 'custom', path: [index, ...issue.path], message: issue.message });
      }
      return z.NEVER;
    }
    if (skipped.length > 0) skippedByList.set(kept, skipped);
    return kept;
  });
}

/** The entries set aside while parsing this list (empty when none, or for a list not parsed by {@link skippableEntries}). */
export function skippedEntriesOf(list: readonly unknown[] | null | undefined): SkippedEntry[] {
  return (list && skippedByList.get(list)) ?? [];
}
