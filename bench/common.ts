// Shared pieces of the account-data benchmarks (sync, page, bank-calls): a gateway on a fresh
// PostgreSQL database, account rows cloned by SQL, child processes, and number formatting.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { loadConfig } from '../src/config';
import { freePort } from '../src/platform/db';
import { startTestGateway, type TestGateway } from '../test/helpers/gateway';
import { createFreshDatabase } from '../test/helpers/postgres';
import { build, isStale } from '../scripts/build.mjs';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The server DATABASE_URL points at; these benchmarks measure real PostgreSQL only. */
export function serverUrl(bench: string): string {
  const url = loadConfig().databaseUrl;
  if (!url) {
    throw new Error(`the ${bench} benchmark needs DATABASE_URL (a PostgreSQL server; a fresh database is created there and dropped after)`);
  }
  return url;
}

/** Gateway settings of every benchmark: production pool size, quiet logs, no rate limit in the way. */
export const BENCH_ENV = { LOG_LEVEL: 'warn', DB_POOL_SIZE: '10', RATE_LIMIT_PER_MINUTE: '1000000', DEMO_TENANT: 'false' };

export interface BenchDatabase {
  url: string;
  dataDir: string;
  drop(): Promise<void>;
}

/** A fresh database and data directory (KMS key file, sandbox token) that outlive one gateway. */
export async function benchDatabase(label: string): Promise<BenchDatabase> {
  const db = await createFreshDatabase(serverUrl(label), label);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `passerelle-${label}-`));
  return {
    url: db.url,
    dataDir,
    async drop() {
      await db.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** An in-process gateway (embedded sandbox banks) on `db`; closing it keeps the database. */
export function gatewayOn(db: BenchDatabase, env: Record<string, string> = {}): Promise<TestGateway> {
  const shared = { config: { dataDir: db.dataDir }, gateway: { db: { url: db.url } } } as unknown as TestGateway;
  return startTestGateway({ sameDataAs: shared, env: { ...BENCH_ENV, ...env } });
}

/** A new end user of the tenant `key` belongs to; its GraphQL id. */
export async function createEndUser(t: TestGateway, key: string, externalRef: string): Promise<string> {
  const r = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
    'mutation($ref: String!) { endUserCreate(input: { externalRef: $ref }) { endUser { id } } }',
    { ref: externalRef },
    key,
  );
  if (!r.body.data?.endUserCreate.endUser) throw new Error(`endUserCreate: ${JSON.stringify(r.body)}`);
  return r.body.data.endUserCreate.endUser.id;
}

/**
 * Copies account `fromId` into `count` new rows of the same tenant and consent (bank account id
 * suffixed, version 0, never synced, no schedule): targets for writes and for generated rows.
 */
export async function cloneAccount(db: Pick<pg.Pool, 'query'>, fromId: string, count = 1, tag = 'bench'): Promise<string[]> {
  const { rows: cols } = await db.query<{ column_name: string }>(
    `select column_name from information_schema.columns where table_schema = current_schema() and table_name = 'account' order by ordinal_position`,
  );
  const overrides: Record<string, string> = {
    id: 'gen_random_uuid()',
    bank_account_id: `a.bank_account_id || '#${tag}-' || g`,
    version: '0',
    last_booked_date: 'null',
    last_synced_at: 'null',
    sync_status: `'NEVER_SYNCED'`,
    sync_error: 'null',
    next_sync_at: 'null',
    created_at: 'now()',
  };
  const names = cols.map((c) => c.column_name);
  const { rows } = await db.query<{ id: string }>(
    `insert into account (${names.map((n) => `"${n}"`).join(', ')})
     select ${names.map((n) => overrides[n] ?? `a."${n}"`).join(', ')} from account a, generate_series(1, $2::int) g where a.id = $1
     returning id`,
    [fromId, count],
  );
  return rows.map((r) => r.id);
}

/** Spawns `tsx <script>` from the repository root. */
export function spawnTsx(script: string, args: string[], env: Record<string, string | undefined> = {}, stdio: 'pipe' | 'ignore' = 'pipe'): ChildProcess {
  return spawn(path.join(root, 'node_modules/.bin/tsx'), [script, ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', stdio, 'inherit'],
  });
}

/**
 * The Node binary the production benchmarks (cold-start, page) run servers on: BENCH_NODE, else
 * this one. The Docker image runs Node 24; `npx node@24 …` or a path to its binary measures that.
 */
export const benchNode = process.env.BENCH_NODE || process.execPath;

/** The version of `benchNode` (v24.…). */
export function benchNodeVersion(): string {
  return execFileSync(benchNode, ['--version'], { encoding: 'utf8' }).trim();
}

/** Runs the production build when dist/ is stale (as `npm start` does), so benchmarks measure current code. */
export async function ensureBuilt(): Promise<void> {
  if (isStale()) await build();
}

/**
 * The NODE_OPTIONS the Docker image sets (its `ENV NODE_OPTIONS=…`), so that benchmarks run the
 * compiled gateway with the production runtime's flags; '' when it sets none.
 */
export function imageNodeOptions(): string {
  const m = /^ENV NODE_OPTIONS=("[^"]*"|\S+)/m.exec(fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8'));
  return m ? m[1]!.replace(/^"|"$/g, '') : '';
}

/** Spawns the compiled gateway (`node dist/main.js`, as the Docker image runs it, with its NODE_OPTIONS) on `benchNode`. */
export function spawnGateway(env: Record<string, string | undefined> = {}, stdio: 'pipe' | 'ignore' = 'pipe'): ChildProcess {
  return spawn(benchNode, ['dist/main.js'], {
    cwd: root,
    env: { ...process.env, NODE_OPTIONS: imageNodeOptions(), ...env },
    stdio: ['ignore', stdio, 'inherit'],
  });
}

/** Spawns a TypeScript script on `benchNode` through tsx's loader (start-up cost only; same runtime as the gateway). */
export function spawnOnBenchNode(
  script: string,
  args: string[],
  env: Record<string, string | undefined> = {},
  stdio: 'pipe' | 'ignore' = 'pipe',
): ChildProcess {
  return spawn(benchNode, ['--import', 'tsx', script, ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', stdio, 'inherit'] });
}

/** Resident set size of a running process in MiB (Linux /proc), or NaN elsewhere. */
export function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/**
 * A gateway process on the bench database, with no sync running, and its port: the production
 * build (`node dist/main.js` on `benchNode` with the image's NODE_OPTIONS, built first when stale).
 */
export async function gatewayProcess(db: BenchDatabase, redisUrl: string, env: Record<string, string> = {}): Promise<{ child: ChildProcess; port: number }> {
  await ensureBuilt();
  const port = await freePort();
  const child = spawnGateway(
    {
      ...BENCH_ENV,
      DATABASE_URL: db.url,
      REDIS_URL: redisUrl,
      DATA_DIR: db.dataDir,
      PORT: String(port),
      EMBEDDED_PG_PORT: String(await freePort()),
      SYNC_CONCURRENCY: '0',
      ...env,
    },
    'ignore',
  );
  return { child, port };
}

/** Stops a child we started and waits for it to exit. */
export async function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGINT', timeoutMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}

/** Polls `url` until it answers 200 (or the child exits). */
export async function waitReady(url: string, child: ChildProcess, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${url}: the process exited (${child.exitCode}) before it was ready`);
    if (
      await fetch(url).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    if (Date.now() > deadline) throw new Error(`${url}: not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The whole stdout of a child process, once it exits with 0. */
export function output(child: ChildProcess): Promise<string> {
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`child exited with ${code}: ${out.slice(-500)}`))));
  });
}

/** Machine load while a benchmark runs: 1-minute load average against the core count. */
export function machineLoad(): string {
  const [one] = os.loadavg();
  return `load average ${one!.toFixed(2)} on ${os.cpus().length} cores`;
}

export const ms = (x: number) => (x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1));
export const num = (x: number) => (Number.isNaN(x) ? '–' : x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(2));
export const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;

/** The middle value (the mean of the two middle ones for an even count). */
export const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
export const percentile = (sorted: ArrayLike<number>, p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
