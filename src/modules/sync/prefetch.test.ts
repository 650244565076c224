import { describe, expect, it } from 'vitest';
import { merged, prefetched } from './prefetch';

describe('prefetched', () => {
  it('asks for the next items while the consumer works, never more than `ahead` beyond it, one at a time and in order', async () => {
    const log: string[] = [];
    let running = 0;
    let maxRunning = 0;
    async function* source() {
      for (let i = 0; i < 6; i++) {
        running++;
        maxRunning = Math.max(maxRunning, running);
        log.push(`fetch ${i}`);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        yield i;
      }
    }
    const got: number[] = [];
    for await (const i of prefetched(source(), 2)) {
      log.push(`store ${i}`);
      await new Promise((r) => setTimeout(r, 20));
      got.push(i);
    }
    expect(got).toEqual([0, 1, 2, 3, 4, 5]);
    expect(maxRunning).toBe(1);
    // While page 0 is stored, page 1 is fetched (and no further than 2 ahead).
    expect(log.indexOf('fetch 1')).toBeLessThan(log.indexOf('store 0') + 2);
    for (let i = 0; i < 6; i++) expect(log.indexOf(`fetch ${i}`)).toBeLessThan(log.indexOf(`store ${Math.max(0, i - 2)}`) + 3);
  });

  it('throws the source’s error where its item would have been, after the items before it', async () => {
    async function* source() {
      yield 1;
      yield 2;
      throw new Error('bank down');
    }
    const got: number[] = [];
    await expect(
      (async () => {
        for await (const i of prefetched(source(), 3)) got.push(i);
      })(),
    ).rejects.toThrow('bank down');
    expect(got).toEqual([1, 2]);
  });

  it('lets the source clean up when the consumer stops early', async () => {
    let cleaned = false;
    async function* source() {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        cleaned = true;
      }
    }
    for await (const i of prefetched(source(), 2)) if (i === 3) break;
    expect(cleaned).toBe(true);
  });
});

describe('merged', () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('reads the sources side by side, one step of each at a time, and yields every item of each in its own order', async () => {
    let running = 0;
    let maxRunning = 0;
    const perSource = [0, 0, 0];
    let maxPerSource = 0;
    async function* source(lane: number, n: number, ms: number) {
      for (let i = 0; i < n; i++) {
        running++;
        perSource[lane]!++;
        maxRunning = Math.max(maxRunning, running);
        maxPerSource = Math.max(maxPerSource, ...perSource);
        await sleep(ms);
        running--;
        perSource[lane]!--;
        yield `${lane}:${i}`;
      }
    }
    const got: [number, string][] = [];
    for await (const item of merged([source(0, 5, 20), source(1, 3, 30), source(2, 0, 1)])) got.push(item);
    expect(got).toHaveLength(8);
    for (const lane of [0, 1]) {
      const mine = got.filter(([l]) => l === lane).map(([, v]) => v);
      expect(mine).toEqual(Array.from({ length: lane === 0 ? 5 : 3 }, (_, i) => `${lane}:${i}`));
    }
    // Side by side (both sources were mid-step at once), yet never two steps of one source.
    expect(maxRunning).toBe(2);
    expect(maxPerSource).toBe(1);
  });

  it('throws a source’s error and closes the others after their current step', async () => {
    const closed: number[] = [];
    async function* endless(lane: number) {
      try {
        for (let i = 0; ; i++) {
          await sleep(5);
          yield i;
        }
      } finally {
        closed.push(lane);
      }
    }
    async function* failing() {
      await sleep(12);
      yield -1;
      throw new Error('bank down');
    }
    await expect(
      (async () => {
        for await (const item of merged([endless(0), failing(), endless(2)])) void item;
      })(),
    ).rejects.toThrow('bank down');
    expect(closed.sort()).toEqual([0, 2]);
  });

  it('closes every source when the consumer stops early', async () => {
    const closed: number[] = [];
    async function* endless(lane: number) {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        closed.push(lane);
      }
    }
    for await (const [lane, i] of merged([endless(0), endless(1)])) if (lane === 1 && i === 3) break;
    expect(closed.sort()).toEqual([0, 1]);
  });
});
