import { describe, expect, it } from 'vitest';
import { base64UrlOfUtf8, encodeTransactionCursor } from './accounts.service';

describe('transaction cursors without a buffer per cursor', () => {
  it('encodes exactly as Buffer.from(text).toString("base64url") for ASCII, non-ASCII, empty, boundary and over-long text', () => {
    const texts = [
      '',
      'a',
      'ab',
      'abc',
      't2|x|P|2026-01-01|1|y',
      'Zürich — 100 × €',
      '😀'.repeat(10),
      'x'.repeat(341),
      'x'.repeat(342),
      'é'.repeat(400),
      '😀'.repeat(300),
    ];
    for (const text of texts) expect(base64UrlOfUtf8(text)).toBe(Buffer.from(text, 'utf8').toString('base64url'));
  });

  it('gives each of many cursors encoded in a row its own value (the scratch space is never shared between results)', () => {
    const position = (i: number) => ({
      pending: i % 2 === 0,
      sortDate: '2026-12-07',
      createdVersion: String(i),
      id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    });
    const cursors = Array.from({ length: 100 }, (_, i) => encodeTransactionCursor('11111111-1111-4111-8111-111111111111', position(i)));
    cursors.forEach((c, i) => {
      const p = position(i);
      expect(Buffer.from(c, 'base64url').toString('utf8')).toBe(
        `t2|11111111-1111-4111-8111-111111111111|${p.pending ? 'P' : 'B'}|${p.sortDate}|${p.createdVersion}|${p.id}`,
      );
    });
  });
});
