import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { collectStartGarbage } from './heap';

const youngGeneration = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size;

describe('collecting the start-up garbage', () => {
  it('collects once without leaving gc() exposed to contexts made later', () => {
    expect(collectStartGarbage()).toBeGreaterThanOrEqual(0);
    expect(vm.runInNewContext('typeof gc')).toBe('undefined');
    expect('gc' in globalThis).toBe(false);
  });

  // Node 20's V8 has no last-resort collection: there it is an ordinary full collection.
  it.runIf(Number(process.versions.node.split('.')[0]) >= 24)('gives back the young generation a burst of allocations grew', () => {
    let kept: object[] = [];
    for (let i = 0; i < 3_000_000; i++) {
      kept.push({ i });
      if (kept.length > 100_000) kept = [];
    }
    const grown = youngGeneration();
    collectStartGarbage();
    expect(youngGeneration()).toBeLessThan(grown);
  });
});
