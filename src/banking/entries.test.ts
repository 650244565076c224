import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { skippableEntries, skippedEntriesOf } from './entries';

const entry = z.looseObject({ id: z.string(), amount: z.string().regex(/^-?\d+(\.\d+)?$/) });
const list = skippableEntries(entry);

describe('a list of independent entries from a bank', () => {
  it('keeps every entry of a good list, unknown fields included, and sets none aside', () => {
    const parsed = list.parse([
      { id: 'a', amount: '1.50', note: 'kept' },
      { id: 'b', amount: '-2' },
    ]);
    expect(parsed).toEqual([
      { id: 'a', amount: '1.50', note: 'kept' },
      { id: 'b', amount: '-2' },
    ]);
    expect(skippedEntriesOf(parsed)).toEqual([]);
  });

  it('sets aside a malformed entry by its position and keeps the others in order', () => {
    const parsed = list.parse([{ id: 'a', amount: '1' }, { id: 'b', amount: 'lots' }, { amount: '3' }, { id: 'd', amount: '4' }]);
    expect(parsed.map((e) => e.id)).toEqual(['a', 'd']);
    expect(skippedEntriesOf(parsed).map((s) => [s.index, s.issues.map((i) => i.path)])).toEqual([
      [1, ['amount']],
      [2, ['id']],
    ]);
  });

  it('refuses a list whose every entry is malformed, naming each entry’s fields', () => {
    const result = list.safeParse([{ id: 1, amount: '1' }, { id: 'b' }]);
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => i.path)).toEqual([
      [0, 'id'],
      [1, 'amount'],
    ]);
  });
});
