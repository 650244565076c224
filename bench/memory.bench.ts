// Idle memory of the production gateway (`node dist/main.js` with the Docker image's NODE_OPTIONS)
// against the bare node:http + pg server (bench/bare-server.ts, compiled the same way) on the same
// Node in the same run: external PostgreSQL + Redis, the same with N graphql-ws subscribers, and
// embedded PGlite (first start, then a restart on its data). For each: RSS, and the process's own
// process.memoryUsage() (heap used / total, external, ArrayBuffers) read by bench/memory-probe.mjs.
//   DATABASE_URL=… REDIS_URL=… npx tsx bench/memory.bench.ts [--subscribers 1000]
//   BENCH_NODE=/path/to/node24 npm run bench -- memory      (the Docker image's Node)
// Without DATABASE_URL only the embedded rows are measured; without REDIS_URL, no subscriber row.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { loadConfig } from '../src/config';
import { freePort } from '../src/platform/db';
import { createFreshDatabase } from '../test/helpers/postgres';
import { benchNode, benchNodeVersion, ensureBuilt, imageNodeOptions, machineLoad, rssMiB, root, stop, waitReady } from './common';

/** Idle: this long after /readyz first answers (or the last subscriber connected), the memory is read. */
const IDLE_MS = 5000;
const MiB = 1024 * 1024;

interface Usage {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

const probe = pathToFileURL(path.join(root, 'bench/memory-probe.mjs')).href;

/** Spawns `args` on the bench Node with the image's NODE_OPTIONS and the probe preloaded. */
function spawnProbed(args: string[], env: Record<string, string>, probeFile: string, stdout: 'pipe' | 'ignore' = 'ignore'): ChildProcess {
  return spawn(benchNode, args, {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env, MEMORY_PROBE_FILE: probeFile, NODE_OPTIONS: `${imageNodeOptions()} --import=${probe}`.trim() },
    stdio: ['ignore', stdout, 'inherit'],
  });
}

/** The probed process's memory now: RSS from /proc, the rest from its own process.memoryUsage(). */
async function read(child: ChildProcess, probeFile: string): Promise<Usage> {
  fs.rmSync(probeFile, { force: true });
  const rss = rssMiB(child.pid!);
  child.kill('SIGUSR2');
  for (let i = 0; i < 100 && !fs.existsSync(probeFile); i++) await new Promise((r) => setTimeout(r, 50));
  const m = JSON.parse(fs.readFileSync(probeFile, 'utf8')) as Usage;
  return { rss, heapUsed: m.heapUsed / MiB, heapTotal: m.heapTotal / MiB, external: m.external / MiB, arrayBuffers: m.arrayBuffers / MiB };
}

/** bench/bare-server.ts compiled to plain JavaScript (as the gateway is), beside node_modules so `pg` resolves. */
export async function bareServerScript(): Promise<string> {
  const out = path.join(root, 'node_modules/.cache/passerelle-bench/bare-server.mjs');
  const esbuild = await import('esbuild');
  await esbuild.build({
    entryPoints: [path.join(root, 'bench/bare-server.ts')],
    outfile: out,
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    logLevel: 'warning',
  });
  return out;
}

async function bareServer(databaseUrl: string, probeFile: string): Promise<Usage> {
  const script = await bareServerScript();
  const child = spawnProbed([script], { DATABASE_URL: databaseUrl, PORT: '0', POOL_SIZE: '10' }, probeFile, 'pipe');
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (out.includes('listening ')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`bare server exited (${code}) before it listened`)));
    });
    await new Promise((r) => setTimeout(r, IDLE_MS));
    return await read(child, probeFile);
  } finally {
    await stop(child);
  }
}

/** Starts the gateway, waits for /readyz, runs `during` (if any), idles, reads its memory, stops it. */
async function gateway(
  env: Record<string, string>,
  probeFile: string,
  during?: (graphqlUrl: string, dataDir: string) => Promise<() => Promise<void>>,
): Promise<Usage> {
  const port = await freePort();
  const child = spawnProbed(['dist/main.js'], { PORT: String(port), EMBEDDED_PG_PORT: String(await freePort()), ...env }, probeFile);
  let release: (() => Promise<void>) | undefined;
  try {
    await waitReady(`http://127.0.0.1:${port}/readyz`, child);
    if (during) release = await during(`http://127.0.0.1:${port}/graphql`, env.DATA_DIR!);
    await new Promise((r) => setTimeout(r, IDLE_MS));
    return await read(child, probeFile);
  } finally {
    try {
      await release?.();
    } finally {
      await stop(child); // even when the subscribers reported errors
    }
  }
}

/** N graphql-ws clients (one connection each) subscribed to the demo tenant's TRANSACTIONS_ADDED events. */
function subscribers(n: number) {
  return async (graphqlUrl: string, dataDir: string): Promise<() => Promise<void>> => {
    const key = fs.readFileSync(path.join(dataDir, 'demo-api-key'), 'utf8').trim();
    const clients: Client[] = [];
    const errors: unknown[] = [];
    for (let i = 0; i < n; i += 50) {
      const batch = Array.from({ length: Math.min(50, n - i) }, () =>
        createClient({
          url: graphqlUrl.replace(/^http/, 'ws'),
          webSocketImpl: WebSocket,
          connectionParams: { authorization: `Bearer ${key}` },
          retryAttempts: 0,
          lazy: false,
        }),
      );
      clients.push(...batch);
      await Promise.all(
        batch.map(
          (c) =>
            new Promise<void>((resolve, reject) => {
              c.on('connected', () => resolve());
              c.on('closed', (e) => reject(new Error(`socket closed before it connected: ${JSON.stringify(e)}`)));
            }),
        ),
      );
      for (const c of batch)
        c.subscribe(
          { query: 'subscription { events(types: [TRANSACTIONS_ADDED]) { id type payload } }' },
          { next: () => undefined, error: (e) => errors.push(e), complete: () => undefined },
        );
    }
    return async () => {
      await Promise.all(clients.map((c) => c.dispose()));
      if (errors.length) throw new Error(`subscription errors: ${JSON.stringify(errors[0])}`);
    };
  };
}

interface Row {
  label: string;
  goal?: number;
  usage: Usage;
}

export default async function memory(o: { subscribers?: number } = {}): Promise<string> {
  const n = o.subscribers ?? 1000;
  await ensureBuilt();
  const config = loadConfig();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'passerelle-memory-'));
  const probeFile = path.join(work, 'probe.json');
  const loads = [machineLoad()];
  const rows: Row[] = [];
  try {
    let bare: Usage | undefined;
    if (config.databaseUrl) {
      const db = await createFreshDatabase(config.databaseUrl, 'memory');
      const dataDir = path.join(work, 'external');
      try {
        bare = await bareServer(db.url, probeFile);
        // Room for the subscribers on the demo key (the per-key limits guard production, not this bench).
        const env = {
          DATABASE_URL: db.url,
          REDIS_URL: config.redisUrl ?? '',
          DATA_DIR: dataDir,
          WS_MAX_CONNECTIONS_PER_KEY: String(n + 10),
          WS_MAX_SUBSCRIPTIONS_PER_KEY: String(n + 10),
          RATE_LIMIT_PER_MINUTE: '1000000',
        };
        await gateway(env, probeFile); // first start: migrations and the demo tenant, not measured
        rows.push({ label: 'external PostgreSQL' + (config.redisUrl ? ' + Redis' : '') + ', idle', goal: 150, usage: await gateway(env, probeFile) });
        if (config.redisUrl)
          rows.push({
            label: `external, ${n.toLocaleString('en-US')} graphql-ws subscribers`,
            goal: 250,
            usage: await gateway(env, probeFile, subscribers(n)),
          });
      } finally {
        await db.drop();
      }
    }
    const embedded = { DATABASE_URL: '', REDIS_URL: '', DATA_DIR: path.join(work, 'embedded') };
    rows.push({ label: 'embedded PGlite, first start (creates the database), idle', usage: await gateway(embedded, probeFile) });
    rows.push({ label: 'embedded PGlite, restart, idle', goal: 300, usage: await gateway(embedded, probeFile) });
    loads.push(machineLoad());
    const f = (x: number) => x.toFixed(0);
    return [
      `\`node dist/main.js\` on Node ${benchNodeVersion()} with the image's NODE_OPTIONS (\`${imageNodeOptions() || 'none'}\`); memory read ${IDLE_MS / 1000} s after /readyz (after the last subscriber connected). Baseline: bench/bare-server.ts (node:http + pg) compiled and run the same way${bare ? `: RSS ${f(bare.rss)} MiB, heap used ${f(bare.heapUsed)} MiB` : ' (not run: no DATABASE_URL)'}. Machine: ${loads.join('; ')}.`,
      '',
      '| process | RSS MiB | ÷ bare server | ÷ goal | heap used | heap total | external | ArrayBuffers |',
      '|---|---:|---:|---:|---:|---:|---:|---:|',
      ...rows.map(
        (r) =>
          `| ${r.label} | ${f(r.usage.rss)} | ${bare ? `${(r.usage.rss / bare.rss).toFixed(1)}×` : '–'} | ${r.goal ? `${(r.usage.rss / r.goal).toFixed(2)} of ${r.goal}` : '–'} | ${f(r.usage.heapUsed)} | ${f(r.usage.heapTotal)} | ${f(r.usage.external)} | ${f(r.usage.arrayBuffers)} |`,
      ),
    ].join('\n');
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--subscribers');
  console.log(await memory({ subscribers: i > 0 ? Number(process.argv[i + 1]) : undefined }));
}
