import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { bgTransaction } from './adapters/berlin-group/berlin-group.schemas';
import { answeredAsGiven, skippableEntries, skippedEntriesOf } from './entries';

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

  it('gives a good list back as the bank sent it, without copying its entries', () => {
    const sent = [{ id: 'a', amount: '1.50', note: { kept: true } }];
    const parsed = list.parse(sent);
    expect(parsed[0]).toBe(sent[0]);
  });

  it('keeps and sets aside exactly what zod does with the Berlin Group transaction schema', () => {
    const good = {
      transactionId: 't-1',
      bookingDate: '2026-12-01',
      transactionAmount: { amount: '-12.30', currency: 'EUR' },
      creditorName: 'Shop',
      extra: [1],
    };
    const variants: unknown[] = [
      good,
      { ...good, creditorName: null, remittanceInformationUnstructured: 'Invoice 1' },
      { ...good, remittanceInformationStructured: { reference: 'RF18539007547034' } },
      { ...good, remittanceInformationStructured: 'RF18539007547034' },
      { ...good, transactionAmount: { amount: ' 12.3 ', currency: 'EUR' } },
      { ...good, transactionAmount: { amount: '1e3', currency: 'EUR' } },
      { ...good, transactionAmount: { amount: '12.30', currency: 'eur' } },
      { ...good, transactionAmount: { amount: 12.3, currency: 'EUR' } },
      { ...good, transactionAmount: undefined },
      { ...good, transactionId: 5 },
      { ...good, batchIndicator: 'yes' },
      { ...good, remittanceInformationStructured: { referenceType: 'SCOR' } },
      { ...good, remittanceInformationUnstructuredArray: ['a', 2] },
      { ...good, _links: { transactionDetails: 7 } },
      { ...good, balanceAfterTransaction: { balanceAmount: { amount: '1', currency: 'EUR' }, balanceType: '' } },
      [good],
      null,
    ];
    const entries = skippableEntries(bgTransaction);
    for (const variant of variants) {
      const expected = z.array(bgTransaction).safeParse([good, variant]);
      const parsed = entries.parse([good, variant]);
      if (expected.success) {
        expect(parsed).toEqual(expected.data);
        expect(skippedEntriesOf(parsed)).toEqual([]);
      } else {
        expect(parsed).toEqual([bgTransaction.parse(good)]);
        expect(skippedEntriesOf(parsed).map((e) => e.index)).toEqual([1]);
      }
    }
  });

  it('counts a text’s length as zod does, in code points', () => {
    const short = skippableEntries(z.looseObject({ name: z.string().min(2).max(3) }));
    const parsed = short.parse([{ name: 'abc' }, { name: '😀😀😀' }, { name: '😀😀😀😀' }, { name: '😀' }]);
    expect(parsed).toEqual([{ name: 'abc' }, { name: '😀😀😀' }]);
    expect(skippedEntriesOf(parsed).map((e) => e.index)).toEqual([2, 3]);
    expect(short.parse([{ name: '😀😀😀' }])).toEqual([{ name: '😀😀😀' }]);
  });

  it('leaves to zod a schema that changes what it parses or checks more than JSON Schema says', () => {
    const changing = {
      trimmed: z.looseObject({ id: z.string().trim() }),
      defaulted: z.looseObject({ id: z.string(), kind: z.string().default('card') }),
      refined: z.looseObject({ id: z.string().refine((id) => id !== 'b', 'not b') }),
      stripped: z.object({ id: z.string() }),
      formatted: z.looseObject({ id: z.email() }),
      integer: z.looseObject({ id: z.string(), n: z.int().optional() }),
      transformed: z.looseObject({ id: z.string().transform((id) => id.toUpperCase()) }),
    };
    const sent = [{ id: ' a@x.example ', other: 1 }, { id: 'b' }, { id: 'c@x.example', n: 1.5 }];
    for (const [name, schema] of Object.entries(changing) as [string, z.ZodType][]) {
      expect(answeredAsGiven(z.array(schema)), name).toBeNull();
      // What zod alone keeps: each entry as zod answers it, the malformed ones left out.
      const kept = sent.map((e) => schema.safeParse(e)).flatMap((r) => (r.success ? [r.data] : []));
      const parsed = skippableEntries(schema).safeParse(sent);
      expect(parsed.data, name).toEqual(kept.length > 0 ? kept : undefined);
    }
    expect(answeredAsGiven(z.array(bgTransaction))).not.toBeNull();
  });
});
