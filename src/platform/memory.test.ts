import { describe, expect, it } from 'vitest';
import { trimHeap } from './memory';

const nodeMajor = Number(process.versions.node.split('.')[0]);

describe('trimHeap', () => {
  it('runs a full collection and reports the heap before and after, without exposing gc in this context', () => {
    const trim = trimHeap();
    expect(trim.pauseMs).toBeGreaterThanOrEqual(0);
    expect(trim.heapTotalAfter).toBeGreaterThan(0);
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
  });

  // Node 20's V8 collects but keeps its pages committed; the Docker image's Node 24 gives them back.
  it.runIf(nodeMajor >= 24)('gives back the heap that a burst of allocations left behind', () => {
    let burst: { i: number; s: string }[] | undefined = Array.from({ length: 300_000 }, (_, i) => ({ i, s: `entry ${i}` }));
    expect(burst.length).toBe(300_000);
    const grown = process.memoryUsage().heapTotal;
    burst = undefined;
    const trim = trimHeap();
    expect(trim.heapTotalBefore).toBeGreaterThanOrEqual(grown - 2 ** 20);
    expect(trim.heapTotalAfter).toBeLessThan(trim.heapTotalBefore / 2);
  });
});
