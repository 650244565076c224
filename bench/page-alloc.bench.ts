// Bytes the heap allocates per `account.transactions(first: 100)` request, gateway against the bare
// node:http + pg server (same SQL, same page) on the same Node in the same run: wall time is
// meaningless on a busy machine, allocation is not. Each server runs with --trace-gc and the memory
// probe; allocated = what the collections freed during the window + the heap's growth over it.
//   DATABASE_URL=… npx tsx bench/page-alloc.bench.ts [--requests 2000]
//   BENCH_NODE=/path/to/node24 npm run bench -- page-alloc
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freePort } from '../src/platform/db';
import { BENCH_ENV, benchDatabase, benchNode, benchNodeVersion, ensureBuilt, imageNodeOptions, machineLoad, root, stop, waitReady } from './common';
import { FIRST_PAGE, prepare } from './page.bench';

const probe = pathToFileURL(path.join(root, 'bench/memory-probe.mjs')).href;
const GC_LINE = /(?:Scavenge|Mark-Compact|Minor Mark-Sweep|Mark-Sweep)\S*\s+([\d.]+)\s+\([\d.]+\)\s+->\s+([\d.]+)/;

/** A server process with --trace-gc and the memory probe; its GC lines are collected. */
function traced(args: string[], env: Record<string, string | undefined>, probeFile: string): { child: ChildProcess; freedMiB: () => number; lines: string[] } {
  // --trace-gc is a V8 flag NODE_OPTIONS refuses: it goes on the command line.
  const child = spawn(benchNode, ['--trace-gc', ...args], {
    cwd: root,
    env: { ...process.env, ...env, MEMORY_PROBE_FILE: probeFile, NODE_OPTIONS: `${imageNodeOptions()} --import=${probe}`.trim() },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  let rest = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    const all = (rest + d).split('\n');
    rest = all.pop()!;
    lines.push(...all);
  });
  const freedMiB = () =>
    lines.reduce((sum, l) => {
      const m = GC_LINE.exec(l);
      return m ? sum + Math.max(0, Number(m[1]) - Number(m[2])) : sum;
    }, 0);
  return { child, freedMiB, lines };
}

async function heapUsedMiB(child: ChildProcess, probeFile: string): Promise<number> {
  fs.rmSync(probeFile, { force: true });
  child.kill('SIGUSR2');
  for (let i = 0; i < 100 && !fs.existsSync(probeFile); i++) await new Promise((r) => setTimeout(r, 50));
  return (JSON.parse(fs.readFileSync(probeFile, 'utf8')) as { heapUsed: number }).heapUsed / 2 ** 20;
}

/** Allocation per request over `n` sequential requests after a warm-up, in KiB. */
async function measure(server: ReturnType<typeof traced>, probeFile: string, send: () => Promise<void>, n: number): Promise<number> {
  for (let i = 0; i < 200; i++) await send();
  await new Promise((r) => setTimeout(r, 300));
  const h0 = await heapUsedMiB(server.child, probeFile);
  const f0 = server.freedMiB();
  for (let i = 0; i < n; i++) await send();
  const h1 = await heapUsedMiB(server.child, probeFile);
  await new Promise((r) => setTimeout(r, 300)); // GC lines printed before the probe answered
  const allocated = server.freedMiB() - f0 + (h1 - h0);
  return (allocated * 1024) / n;
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<void> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  if (res.status !== 200 || text.includes('"errors"')) throw new Error(`${url}: ${res.status} ${text.slice(0, 300)}`);
}

export default async function pageAlloc(o: { requests?: number } = {}): Promise<string> {
  const n = o.requests ?? 2000;
  await ensureBuilt();
  const db = await benchDatabase('pagealloc');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'passerelle-alloc-'));
  const probeFile = path.join(work, 'probe.json');
  try {
    const p = await prepare(db, { rows: 2000, benchRows: 1000, accounts: 1, concurrency: 1, warmup: 0, duration: 0, deep: false }, () => undefined);
    const gid = Buffer.from(`gid://passerelle/Account/${p.accountId}`, 'utf8').toString('base64url');
    const loads = [machineLoad()];

    const port = await freePort();
    const gw = traced(
      ['dist/main.js'],
      { ...BENCH_ENV, DATABASE_URL: db.url, DATA_DIR: db.dataDir, PORT: String(port), EMBEDDED_PG_PORT: String(await freePort()), REDIS_URL: undefined },
      probeFile,
    );
    let gateway: number;
    try {
      await waitReady(`http://127.0.0.1:${port}/readyz`, gw.child);
      const url = `http://127.0.0.1:${port}/graphql`;
      gateway = await measure(gw, probeFile, () => post(url, { query: FIRST_PAGE, variables: { id: gid } }, { authorization: `Bearer ${p.key}` }), n);
    } finally {
      await stop(gw.child);
    }

    const { bareServerScript } = await import('./memory.bench');
    const bare = traced([await bareServerScript()], { DATABASE_URL: db.url, PORT: '0', POOL_SIZE: BENCH_ENV.DB_POOL_SIZE }, probeFile);
    let baseline: number;
    try {
      const bound = await new Promise<number>((resolve, reject) => {
        const timer = setInterval(() => {
          const m = bare.lines.map((l) => /^listening (\d+)/.exec(l)).find(Boolean);
          if (m) {
            clearInterval(timer);
            resolve(Number(m[1]));
          }
        }, 50);
        bare.child.once('exit', (code) => reject(new Error(`bare server exited (${code})`)));
      });
      const url = `http://127.0.0.1:${bound}/`;
      baseline = await measure(bare, probeFile, () => post(url, { tenantId: p.tenantId, accountId: p.accountId, first: 100, after: null }), n);
    } finally {
      await stop(bare.child);
    }
    loads.push(machineLoad());
    return [
      `\`account.transactions(first: 100)\`, ${n.toLocaleString('en-US')} sequential requests after 200 of warm-up, on Node ${benchNodeVersion()} with the image's NODE_OPTIONS; heap allocation from --trace-gc (freed by collections) + the heap's growth over the window. Machine: ${loads.join('; ')}.`,
      '',
      '| server | KiB allocated per request | ÷ bare server |',
      '|---|---:|---:|',
      `| gateway (\`node dist/main.js\`) | ${gateway.toFixed(0)} | ${(gateway / baseline).toFixed(1)}× |`,
      `| bare node:http + pg, same SQL and page | ${baseline.toFixed(0)} | 1.0× |`,
    ].join('\n');
  } finally {
    await db.drop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--requests');
  console.log(await pageAlloc({ requests: i > 0 ? Number(process.argv[i + 1]) : undefined }));
}
