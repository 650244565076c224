// Runs the Postman collection with newman.
//
//   npm run postman                                              starts a gateway in embedded mode, runs the collection twice, stops it
//   npm run postman -- --base-url http://localhost:4000 --api-key pk_sandbox_…   runs it once against a running gateway
//
// The gateway is started the way a user starts it (`tsx src/main.ts`) on a fresh data directory and
// a free port, without DATABASE_URL or REDIS_URL, so it is really the embedded mode. The second run
// against the same gateway proves the collection can be run again and again.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import newman, { type NewmanRunSummary } from 'newman';
import { freePort } from '../src/platform/db';

const root = path.resolve(import.meta.dirname, '..');
const collection = path.join(root, 'postman/passerelle.postman_collection.json');
const environment = path.join(root, 'postman/passerelle.postman_environment.json');
const READY_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 20_000;

interface RunResult {
  ok: boolean;
  line: string;
}

/** One newman run with the CLI report; the result line gives its time and counts. */
function runCollection(label: string, baseUrl: string, apiKey: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    newman.run(
      {
        collection,
        environment,
        envVar: [
          { key: 'baseUrl', value: baseUrl },
          { key: 'apiKey', value: apiKey },
        ],
        reporters: ['cli'],
        timeoutRequest: 30_000,
      },
      (err: Error | null, summary: NewmanRunSummary) => {
        if (err) return reject(err);
        const { stats, timings, failures } = summary.run;
        const ms = (timings.completed ?? 0) - (timings.started ?? 0);
        const ok = failures.length === 0 && !summary.error;
        const line =
          `${label}: ${ok ? 'passed' : 'FAILED'} in ${ms} ms — ${stats.requests.total} requests (${stats.requests.failed} failed), ` +
          `${stats.assertions.total} assertions (${stats.assertions.failed} failed), ${failures.length} failures`;
        resolve({ ok, line });
      },
    );
  });
}

interface Gateway {
  process: ChildProcess;
  baseUrl: string;
  dataDir: string;
  log: () => string;
}

/** `tsx src/main.ts` on a fresh DATA_DIR and a free port, in embedded mode; resolves once /readyz answers 200. */
async function startGateway(): Promise<Gateway> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'passerelle-postman-'));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), DATA_DIR: dataDir, EMBEDDED_PG_PORT: '0', LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' };
  // Embedded means no external services, whatever the caller's shell has set.
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'SANDBOX_URL', 'SANDBOX_ADMIN_TOKEN', 'PUBLIC_URL', 'PASSERELLE_ENV']) delete env[name];
  const tsxCli = path.join(root, 'node_modules/tsx/dist/cli.mjs');
  const child = spawn(process.execPath, [tsxCli, 'src/main.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += String(d)));
  child.stderr!.on('data', (d) => (output += String(d)));
  const gateway = { process: child, baseUrl: `http://127.0.0.1:${port}`, dataDir, log: () => output };

  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the gateway exited with ${child.exitCode} before it was ready:\n${output.slice(-4000)}`);
    if (Date.now() - started > READY_TIMEOUT_MS) {
      await stopGateway(gateway);
      throw new Error(`the gateway was not ready within ${READY_TIMEOUT_MS / 1000} s:\n${output.slice(-4000)}`);
    }
    const ready = await fetch(`${gateway.baseUrl}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  console.log(`gateway ready in ${Date.now() - started} ms at ${gateway.baseUrl} (embedded PGlite in ${dataDir})`);
  return gateway;
}

/** SIGINT, as Ctrl-C would; SIGKILL if it has not stopped in time. Resolves with whether it stopped cleanly. */
async function stopGateway(gateway: Gateway): Promise<boolean> {
  const child = gateway.process;
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode === 0;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  const code = await exited;
  clearTimeout(timer);
  return code === 0;
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { 'base-url': { type: 'string' }, 'api-key': { type: 'string' } } });
  const baseUrl = values['base-url'];
  const apiKey = values['api-key'];
  if (baseUrl !== undefined || apiKey !== undefined) {
    if (!baseUrl || !apiKey) {
      console.error('Give both --base-url and --api-key (a sandbox key), or neither to start a gateway.');
      return 64; // EX_USAGE
    }
    const result = await runCollection('newman', baseUrl.replace(/\/+$/, ''), apiKey);
    console.log(result.line);
    return result.ok ? 0 : 1;
  }

  const gateway = await startGateway();
  const results: RunResult[] = [];
  let stoppedCleanly = false;
  try {
    const key = fs.readFileSync(path.join(gateway.dataDir, 'demo-api-key'), 'utf8').trim();
    results.push(await runCollection('newman run 1', gateway.baseUrl, key));
    results.push(await runCollection('newman run 2 (same gateway)', gateway.baseUrl, key));
  } finally {
    stoppedCleanly = await stopGateway(gateway);
    if (!stoppedCleanly || results.some((r) => !r.ok)) console.error(`--- gateway output (last 4000 characters) ---\n${gateway.log().slice(-4000)}`);
    fs.rmSync(gateway.dataDir, { recursive: true, force: true });
  }
  for (const r of results) console.log(r.line);
  if (!stoppedCleanly) console.error('the gateway did not stop cleanly on SIGINT');
  return results.length === 2 && results.every((r) => r.ok) && stoppedCleanly ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(err.message);
    process.exit(1);
  },
);
