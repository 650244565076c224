// Cold start: wall time from spawning `tsx src/main.ts` to the first 200 from /readyz, for the
// embedded database (fresh data directory, then a restart on it) and for an external Postgres.
//   npx tsx bench/cold-start.ts [runs]   (external mode needs DATABASE_URL pointing at a server)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config';
import { freePort } from '../src/platform/db';
import { createFreshDatabase } from '../test/helpers/postgres';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

async function timeToReady(env: Record<string, string>): Promise<number> {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(path.join(root, 'node_modules/.bin/tsx'), ['src/main.ts'], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'warn', PORT: String(port), EMBEDDED_PG_PORT: String(await freePort()), ...env },
    stdio: 'ignore',
  });
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error('gateway exited before it was ready');
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false);
      if (ok) return performance.now() - t0;
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGINT');
    await exited;
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export default async function coldStart(runs = 3): Promise<string> {
  const rows: [string, number[]][] = [];
  const fresh: number[] = [];
  const warm: number[] = [];
  for (let i = 0; i < runs; i++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'passerelle-bench-'));
    fresh.push(await timeToReady({ DATA_DIR: dir, DATABASE_URL: '' }));
    warm.push(await timeToReady({ DATA_DIR: dir, DATABASE_URL: '' }));
    fs.rmSync(dir, { recursive: true, force: true });
  }
  rows.push(['embedded PGlite, first start (creates the database)', fresh], ['embedded PGlite, restart on existing data', warm]);
  const server = loadConfig().databaseUrl;
  if (server) {
    const external: number[] = [];
    for (let i = 0; i < runs; i++) {
      const db = await createFreshDatabase(server, 'bench');
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'passerelle-bench-'));
      external.push(await timeToReady({ DATA_DIR: dir, DATABASE_URL: db.url }));
      await db.drop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    rows.push(['external PostgreSQL (fresh database, migrations applied)', external]);
  }
  const table = [
    '| start-up (process spawn → /readyz 200) | median ms | runs (ms) |',
    '|---|---:|---|',
    ...rows.map(([label, xs]) => `| ${label} | ${Math.round(median(xs))} | ${xs.map(Math.round).join(', ')} |`),
  ].join('\n');
  return table;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(await coldStart(Number(process.argv[2] ?? 3)));
}
