import { describe, expect, it } from 'vitest';
import { newRowId, parseGlobalId, toGlobalId } from '../../kernel/ids';
import { collectUnusedHeap } from '../../platform/heap';

// A first sync keeps the id of each row it stages until it publishes them (TransactionStaging.added).
describe('row ids', () => {
  it('are distinct lower-case version 4 UUIDs that global ids carry', () => {
    const ids = Array.from({ length: 1_000 }, newRowId);
    expect(new Set(ids).size).toBe(1_000);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(parseGlobalId(toGlobalId('Transaction', ids[0]!))).toEqual({ type: 'Transaction', id: ids[0] });
  });

  it('weigh about a flat string each when kept by the hundred thousand', () => {
    collectUnusedHeap();
    const before = process.memoryUsage().heapUsed;
    const kept = Array.from({ length: 100_000 }, newRowId);
    collectUnusedHeap();
    const bytesEach = (process.memoryUsage().heapUsed - before) / kept.length;
    // Flat: 36 characters, a header and the array's slot, about 65 bytes; as randomUUID gives them, about 490.
    expect(bytesEach).toBeLessThan(150);
    expect(kept).toHaveLength(100_000);
  });
});
