import { describe, expect, it } from 'vitest';
import { DataKeyCache } from './vault.key-cache';

const entry = (id: string, ownerId = `owner-${id}`) => ({ id, tenantId: 't', ownerId, masterVersion: 1 });

describe('the data key cache', () => {
  it('keeps its own copy, drops the least recently used past its size, and zeroes what it drops', () => {
    const cache = new DataKeyCache(2, 60_000);
    const keys = [Buffer.alloc(32, 1), Buffer.alloc(32, 2), Buffer.alloc(32, 3)];
    cache.set(entry('a'), keys[0]!);
    cache.set(entry('b'), keys[1]!);
    const a = cache.get('a')!; // now b is the least recently used
    const b = cache.get('b')!;
    cache.get('a');
    cache.set(entry('c'), keys[2]!);
    expect(cache.size).toBe(2);
    expect(cache.get('b')).toBeUndefined();
    expect(b.key.equals(Buffer.alloc(32, 0))).toBe(true);
    expect(a.key.equals(Buffer.alloc(32, 1))).toBe(true);
    keys[0]!.fill(9); // the caller zeroing its buffer does not touch the cached copy
    expect(cache.get('a')!.key.equals(Buffer.alloc(32, 1))).toBe(true);
  });

  it('forgets an entry its lifetime after it was stored, however often it was used, and zeroes it', () => {
    let now = 0;
    const cache = new DataKeyCache(10, 1000, () => now);
    cache.set(entry('a'), Buffer.alloc(32, 1));
    const held = cache.get('a')!;
    now = 999;
    expect(cache.getByOwner('t', 'owner-a')).toBe(held);
    now = 1000;
    expect(cache.get('a')).toBeUndefined();
    expect(held.key.equals(Buffer.alloc(32, 0))).toBe(true);
  });

  it('finds keys by tenant and owner only for that tenant and owner, and zeroes on delete and clear', () => {
    const cache = new DataKeyCache(10, 60_000);
    cache.set(entry('a', 'consent-1'), Buffer.alloc(32, 1));
    cache.set({ ...entry('b', 'consent-1'), tenantId: 'u' }, Buffer.alloc(32, 2));
    expect(cache.getByOwner('t', 'consent-1')!.id).toBe('a');
    expect(cache.getByOwner('u', 'consent-1')!.id).toBe('b');
    expect(cache.getByOwner('t', 'consent-2')).toBeUndefined();
    const a = cache.get('a')!;
    cache.deleteOwner('t', 'consent-1');
    expect(a.key.equals(Buffer.alloc(32, 0))).toBe(true);
    expect(cache.getByOwner('t', 'consent-1')).toBeUndefined();
    const b = cache.get('b')!;
    cache.clear();
    expect(b.key.equals(Buffer.alloc(32, 0))).toBe(true);
    expect(cache.size).toBe(0);
  });

  it('holds nothing when its size is 0', () => {
    const cache = new DataKeyCache(0, 60_000);
    cache.set(entry('a'), Buffer.alloc(32, 1));
    expect(cache.get('a')).toBeUndefined();
  });
});
