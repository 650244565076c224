/**
 * Vault benchmark: what sealing and opening bank tokens costs a sync.
 *
 *   npx tsx bench/vault.bench.ts [--iterations N (default 1000)]   (alone)
 *   npm run bench                                     (bench/index.ts calls the default export)
 *
 * Uses DATABASE_URL when set (a fresh `vaultbench_test_*` database, dropped after), else an
 * embedded PGlite in a temporary directory, and the local KMS key file: the KMS is called once at
 * start-up and never on the seal/open path, so the provider does not change these numbers.
 * Prints a markdown table; each vault row is also given as a ratio to AES-256-GCM seal+open alone
 * (same payload, same run), the limit of what a vault can do, with the machine's load average.
 * The data key cache (VAULT_KEY_CACHE_*) is on with its defaults; the `cache off` rows are the same
 * work with VAULT_KEY_CACHE_MAX=0 (every call reads and unwraps the data key).
 */
import 'reflect-metadata';
import type { SqlEntityManager } from '@mikro-orm/postgresql';
import { randomBytes, randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createTestDatabase } from '../test/helpers/database';
import { openVault } from '../src/modules/vault';
import { gcmOpen, gcmSeal, sealAad } from '../src/modules/vault/vault.crypto';
import { machineLoad } from './common';

interface Row {
  operation: string;
  payload: string;
  opsPerSec: number;
  p50us: number;
  p99us: number;
  /** ops/s of the AES-alone row of the same payload (seal+open rows only). */
  limit?: number;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/** Runs `op` `n` times one after another; latency per call and calls per second. */
async function sequential(n: number, op: (i: number) => Promise<unknown> | unknown): Promise<{ opsPerSec: number; p50us: number; p99us: number }> {
  const times: number[] = [];
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await op(i);
    times.push((performance.now() - t0) * 1000);
  }
  const total = performance.now() - start;
  times.sort((a, b) => a - b);
  return { opsPerSec: (n / total) * 1000, p50us: percentile(times, 50), p99us: percentile(times, 99) };
}

/** Runs `n` calls of `op` with `concurrency` in flight; calls per second. */
async function concurrent(n: number, concurrency: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await op(next++);
    }),
  );
  return (n / (performance.now() - start)) * 1000;
}

/** Benchmarks the vault and prints (and returns) a markdown table. */
export default async function vaultBench(options: { iterations?: number; log?: (line: string) => void } = {}): Promise<string> {
  const n = options.iterations ?? 1000;
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const t = await createTestDatabase({ prefix: 'vaultbench', logLevel: 'silent' });
  const rows: Row[] = [];
  const loadBefore = machineLoad();
  try {
    const vault = await openVault({ config: t.config, orm: t.db.orm, logger: t.logger });
    const uncached = await openVault({ config: { ...t.config, vaultKeyCache: { ...t.config.vaultKeyCache, max: 0 } }, orm: t.db.orm, logger: t.logger });
    try {
      const tenantId = randomUUID();
      const em = () => t.db.orm.em.fork() as SqlEntityManager;
      await em().execute(`insert into tenant (id, name, environment) values (?, 'bench', 'sandbox')`, [tenantId]);
      const owners = Array.from({ length: 200 }, (_, i) => `consent-${i}`);
      for (const ownerId of owners) await vault.createDataKey({ tenantId, ownerId });
      const payloads = [
        { name: '64 B (opaque token)', value: randomBytes(48).toString('base64url') },
        { name: '1.2 KB (JWT access token)', value: randomBytes(900).toString('base64url') },
      ];

      // Baseline: one indexed read, the database part of every seal/open.
      const select = await sequential(n, (i) =>
        em().execute('select id from vault_data_key where tenant_id = ? and owner_id = ?', [tenantId, owners[i % owners.length]]),
      );
      rows.push({ operation: 'baseline: indexed data-key read (no crypto)', payload: '–', ...select });

      for (const payload of payloads) {
        // Crypto alone, with the data key already unwrapped: the floor of the cost.
        const key = randomBytes(32);
        const aad = sealAad(randomUUID(), tenantId, 'consent-0', 'access_token');
        const data = Buffer.from(payload.value);
        const crypto = await sequential(n * 5, () => gcmOpen(key, gcmSeal(key, data, aad), aad));
        rows.push({ operation: 'AES-256-GCM seal+open only (key in memory)', payload: payload.name, ...crypto });
        const limit = crypto.opsPerSec;

        const ctx = (i: number) => ({ tenantId, ownerId: owners[i % owners.length], purpose: 'access_token' });
        const sealed: string[] = [];
        const seal = await sequential(n, async (i) => sealed.push(await vault.seal(payload.value, ctx(i))));
        rows.push({ operation: 'vault.seal', payload: payload.name, ...seal });
        const open = await sequential(n, (i) => vault.open(sealed[i], ctx(i)));
        rows.push({ operation: 'vault.open', payload: payload.name, ...open });
        const both = await sequential(n, async (i) => vault.open(await vault.seal(payload.value, ctx(i)), ctx(i)));
        rows.push({ operation: 'vault.seal + vault.open', payload: payload.name, ...both, limit });
        const parallel = await concurrent(n, 16, async (i) => vault.open(await vault.seal(payload.value, ctx(i)), ctx(i)));
        rows.push({ operation: 'vault.seal + vault.open, 16 in flight', payload: payload.name, opsPerSec: parallel, p50us: NaN, p99us: NaN, limit });
        const cold = await sequential(n, async (i) => uncached.open(await uncached.seal(payload.value, ctx(i)), ctx(i)));
        rows.push({ operation: 'vault.seal + vault.open, cache off (VAULT_KEY_CACHE_MAX=0)', payload: payload.name, ...cold, limit });
      }
    } finally {
      await uncached.close();
      await vault.close();
    }
  } finally {
    await t.close();
  }

  const fmt = (x: number) => (Number.isNaN(x) ? '–' : x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1));
  const table = [
    `Vault (${t.config.databaseUrl ? 'PostgreSQL' : 'embedded PGlite'}, ${n} ops per row, Node ${process.versions.node}; ${loadBefore} before, ${machineLoad()} after)`,
    '',
    '| operation | payload | ops/s | p50 µs | p99 µs | ratio to AES alone |',
    '|---|---|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.operation} | ${r.payload} | ${fmt(r.opsPerSec)} | ${fmt(r.p50us)} | ${fmt(r.p99us)} | ${r.limit ? `${(r.opsPerSec / r.limit).toFixed(2)}×` : ''} |`,
    ),
  ].join('\n');
  log(table);
  return table;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { iterations: { type: 'string', default: '1000' } } });
  const iterations = Number(values.iterations);
  if (!Number.isInteger(iterations) || iterations < 10) {
    console.error('usage: tsx bench/vault.bench.ts [--iterations N ≥ 10]');
    process.exit(2);
  }
  await vaultBench({ iterations });
}
