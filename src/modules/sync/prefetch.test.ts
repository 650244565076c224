import { describe, expect, it } from 'vitest';
import { prefetched } from './prefetch';

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
