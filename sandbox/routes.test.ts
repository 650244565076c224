import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { BANK_DEFINITIONS } from './banks';
import { Bank } from './core/bank';
import { mountBerlinGroup } from './standards/berlin-group/berlin-group';
import { mountUkObie } from './standards/uk-obie/uk-obie';
import { specsDir } from './testing/spec-validator';

/** Every route a bank serves, as "METHOD /normalised/{}/path". */
function served(bank: Bank, prefix: string): string[] {
  const out: string[] = [];
  for (const layer of (bank.api as unknown as { stack: { route?: { path: string; methods: Record<string, boolean> } }[] }).stack) {
    if (!layer.route) continue;
    for (const method of Object.keys(layer.route.methods)) {
      out.push(`${method.toUpperCase()} ${layer.route.path.slice(prefix.length).replace(/:[A-Za-z]+/g, '{}')}`);
    }
  }
  return out;
}

function specOperations(file: string): Set<string> {
  const doc = parse(readFileSync(path.join(specsDir, file), 'utf8')) as { paths: Record<string, Record<string, unknown>> };
  const ops = new Set<string>();
  for (const [p, item] of Object.entries(doc.paths)) {
    for (const method of Object.keys(item)) {
      if (!['get', 'post', 'put', 'delete', 'patch'].includes(method)) continue;
      const normalised = p.replace(/\{[^}]+\}/g, '{}');
      ops.add(`${method.toUpperCase()} ${normalised}`);
      // BG declares payments generically as /v1/{payment-service}/{payment-product}/…
      ops.add(`${method.toUpperCase()} ${normalised.replace(/^\/v1\/\{\}/, '/v1/payments')}`);
    }
  }
  return ops;
}

const ctx = {
  publicUrl: 'http://127.0.0.1:1',
  mountPath: '/sandbox',
  seed: 1,
  adminToken: 'routes-test-token',
  logger: pino({ level: 'silent' }),
  startMs: Date.parse('2026-11-20T00:00:00Z'),
};

describe('the banks serve only operations their official specs declare', () => {
  it('Berlin Group: every route is an operation of berlin-group-psd2-api-1.3.12.yaml', () => {
    const bank = new Bank(
      BANK_DEFINITIONS.find((d) => d.id === 'nordlicht')!,
      ctx,
    );
    mountBerlinGroup(bank);
    const ops = specOperations('berlin-group-psd2-api-1.3.12.yaml');
    const routes = served(bank, '');
    expect(routes.length).toBeGreaterThan(20);
    expect(routes.filter((r) => !ops.has(r))).toEqual([]);
  });

  it('UK Open Banking: every route is an operation of the 3.1.11 account-info or payment-initiation file', () => {
    const def = BANK_DEFINITIONS.find((d) => d.id === 'thames')!;
    const bank = new Bank(def, ctx);
    mountUkObie(bank);
    const ais = specOperations('uk-obie-3.1.11-account-info.yaml');
    const pis = specOperations('uk-obie-3.1.11-payment-initiation.yaml');
    const routes = served(bank, '');
    const unknown = routes.filter((r) => {
      const [method, route] = r.split(' ');
      if (route.startsWith(def.aisPath)) return !ais.has(`${method} ${route.slice(def.aisPath.length)}`);
      if (route.startsWith(def.pisPath)) return !pis.has(`${method} ${route.slice(def.pisPath.length)}`);
      return true;
    });
    expect(routes.length).toBeGreaterThan(10);
    expect(unknown).toEqual([]);
  });
});
