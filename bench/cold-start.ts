// Cold start of the production build: wall time from spawning `node dist/main.js` (what the
// Docker image and `npm start` run) to the first 200 from /readyz, and the process's resident
// memory once idle, for the embedded database (fresh data directory, then a restart on it) and
// for an external Postgres. Each is set against the goal and against `node -e ''` on the same
// Node in the same run, with the machine's load average.
//   npx tsx bench/cold-start.ts [runs] [--dev]   (--dev: `tsx src/main.ts` instead, the development start)
//   BENCH_NODE=/path/to/node24 npm run bench -- cold-start   (the Docker image's Node)
// External mode needs DATABASE_URL pointing at a server.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config';
import { freePort } from '../src/platform/db';
import { createFreshDatabase } from '../test/helpers/postgres';
import { benchNode, benchNodeVersion, ensureBuilt, imageNodeOptions, machineLoad, median, rssMiB, root } from './common';

/** Idle: this long after /readyz first answers, with no request, the RSS is read. */
const IDLE_MS = 3000;

function spawnStart(dev: boolean, env: Record<string, string>): ChildProcess {
  const args = dev ? ['--import', 'tsx', 'src/main.ts'] : ['dist/main.js'];
  // The production start runs with the image's NODE_OPTIONS (its V8 heap settings), as in the container.
  return spawn(benchNode, args, {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'warn', ...(dev ? {} : { NODE_OPTIONS: imageNodeOptions() }), ...env },
    stdio: 'ignore',
  });
}

async function startOnce(dev: boolean, env: Record<string, string>): Promise<{ ms: number; rss: number }> {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawnStart(dev, { PORT: String(port), EMBEDDED_PG_PORT: String(await freePort()), ...env });
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error('gateway exited before it was ready');
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const ms = performance.now() - t0;
    await new Promise((r) => setTimeout(r, IDLE_MS));
    return { ms, rss: rssMiB(child.pid!) };
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGINT');
    await exited;
  }
}

async function nodeBaseline(runs: number): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await new Promise((resolve, reject) => spawn(benchNode, ['-e', ''], { stdio: 'ignore' }).once('exit', resolve).once('error', reject));
    xs.push(performance.now() - t0);
  }
  return median(xs);
}

interface Row {
  label: string;
  goalMs: number;
  goalRss: number;
  runs: { ms: number; rss: number }[];
}

export default async function coldStart(runs = 3, dev = false): Promise<string> {
  if (!dev) await ensureBuilt();
  const loads = [machineLoad()];
  const baseline = await nodeBaseline(5);
  const fresh: Row = { label: 'embedded PGlite, first start (creates the database)', goalMs: 6000, goalRss: 300, runs: [] };
  const warm: Row = { label: 'embedded PGlite, restart on existing data', goalMs: 3000, goalRss: 300, runs: [] };
  const rows = [fresh, warm];
  for (let i = 0; i < runs; i++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'passerelle-bench-'));
    fresh.runs.push(await startOnce(dev, { DATA_DIR: dir, DATABASE_URL: '' }));
    warm.runs.push(await startOnce(dev, { DATA_DIR: dir, DATABASE_URL: '' }));
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const server = loadConfig().databaseUrl;
  if (server) {
    loads.push(machineLoad());
    const migrate: Row = { label: 'external PostgreSQL, first start (fresh database, migrations applied)', goalMs: 6000, goalRss: 150, runs: [] };
    const external: Row = { label: 'external PostgreSQL, restart (nothing to migrate)', goalMs: 1500, goalRss: 150, runs: [] };
    for (let i = 0; i < runs; i++) {
      const db = await createFreshDatabase(server, 'bench');
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'passerelle-bench-'));
      migrate.runs.push(await startOnce(dev, { DATA_DIR: dir, DATABASE_URL: db.url }));
      external.runs.push(await startOnce(dev, { DATA_DIR: dir, DATABASE_URL: db.url }));
      await db.drop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    rows.push(migrate, external);
  }
  loads.push(machineLoad());
  const how = dev ? '`tsx src/main.ts` (development)' : '`node dist/main.js` (production build)';
  return [
    `${how} on Node ${benchNodeVersion()}, ${runs} runs each; \`node -e ''\` on the same Node: ${Math.round(baseline)} ms. Idle RSS read ${IDLE_MS / 1000} s after the first 200. Machine: ${loads.join('; ')}.`,
    '',
    "| start-up (process spawn → /readyz 200) | median ms | ÷ goal | ÷ `node -e ''` | runs (ms) | idle RSS MiB (median) | RSS ÷ goal |",
    '|---|---:|---:|---:|---|---:|---:|',
    ...rows.map((r) => {
      const t = median(r.runs.map((x) => x.ms));
      const rss = median(r.runs.map((x) => x.rss));
      return `| ${r.label} | ${Math.round(t)} | ${(t / r.goalMs).toFixed(2)} of ${r.goalMs} | ${(t / baseline).toFixed(1)}× | ${r.runs.map((x) => Math.round(x.ms)).join(', ')} | ${Math.round(rss)} | ${(rss / r.goalRss).toFixed(2)} of ${r.goalRss} |`;
    }),
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  console.log(await coldStart(Number(args.find((a) => /^\d+$/.test(a)) ?? 3), args.includes('--dev')));
}
