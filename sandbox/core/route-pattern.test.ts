import { describe, expect, it } from 'vitest';
import { MAX_MATCHED_PATH_LENGTH, routeMatches } from './route-pattern';

describe('fault route patterns', () => {
  it('matches a route that occurs anywhere in the path, as the substrings of before', () => {
    expect(routeMatches('transactions', '/v1/accounts/abc/transactions')).toBe(true);
    expect(routeMatches('/balances', '/v1/accounts/abc/balances')).toBe(true);
    expect(routeMatches('balances', '/v1/accounts/abc/transactions')).toBe(false);
  });

  it('lets * stand for any run of characters, slashes included', () => {
    expect(routeMatches('accounts/*/transactions', '/v1/accounts/abc/transactions')).toBe(true);
    expect(routeMatches('accounts/*/transactions', '/v1/accounts/a/b/c/transactions/x')).toBe(true);
    expect(routeMatches('/v1/*/balances', '/v1/accounts/abc/transactions')).toBe(false);
    expect(routeMatches('*', '/anything')).toBe(true);
    expect(routeMatches('a**b', '/xaxxb')).toBe(true);
    expect(routeMatches('accounts*', '/v1/consents')).toBe(false);
  });

  it('reads regular-expression syntax as plain characters', () => {
    expect(routeMatches('/(.+)+Q/', '/v1/accounts/abc/transactions')).toBe(false);
    expect(routeMatches('/(.+)+Q/', '/x/(.+)+Q/y')).toBe(true);
    expect(routeMatches('a.c', '/abc')).toBe(false);
  });

  it('answers a hostile pattern against a long path in well under a millisecond per call', () => {
    const path = `/${'a'.repeat(MAX_MATCHED_PATH_LENGTH * 4)}`;
    const route = `${'*a'.repeat(99)}Q`;
    const started = performance.now();
    for (let i = 0; i < 20; i += 1) expect(routeMatches(route, path)).toBe(false);
    // 20 worst-case calls, bounded by MAX_ROUTE_LENGTH × MAX_MATCHED_PATH_LENGTH steps each.
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
