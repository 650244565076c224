import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ADMIN_TOKEN, startSandbox, type Running } from '../../sandbox/testing/harness';
import { freePort } from '../../src/platform/db';
import { parseGlobalId } from '../../src/api/relay/global-id';
import { sandboxPartition } from '../../src/gateway';
import { ciConfig } from './gateway';
import { createFreshDatabase } from './postgres';

const root = path.resolve(import.meta.dirname, '../..');

/** Starts `src/main.ts` as its own process (Node itself, not the tsx wrapper, so SIGKILL leaves nothing behind) and waits until it is ready. */
export async function startGatewayProcess(env: Record<string, string>): Promise<ChildProcess> {
  const p = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout!.on('data', (d) => (out += String(d)));
  p.stderr!.on('data', (d) => (out += String(d)));
  const deadline = Date.now() + 90_000;
  while (!out.includes('Passerelle is ready')) {
    if (p.exitCode !== null || Date.now() > deadline) throw new Error(`gateway did not start: ${out.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return p;
}

/** SIGKILL, and wait until the process is gone. */
export async function kill(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null) return;
  const gone = new Promise((r) => p.once('exit', r));
  p.kill('SIGKILL');
  await gone;
}

/** GraphQL over HTTP to a gateway process, with the demo key it wrote to its data directory. */
export async function gqlWithDemoKey<T>(baseUrl: string, dataDir: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const key = fs.readFileSync(path.join(dataDir, 'demo-api-key'), 'utf8').trim();
  const res = await fetch(`${baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: unknown };
  if (!body.data) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

/** What a crash test needs around a gateway process: a standalone sandbox that outlives it, its own data directory and database, a port. */
export interface ProcessGatewaySetup {
  sandbox: Running;
  dataDir: string;
  port: number;
  baseUrl: string;
  /** The gateway's environment (embedded PGlite in `dataDir`, or a fresh database on CI's PostgreSQL). */
  env: Record<string, string>;
  gql<T>(query: string, variables?: Record<string, unknown>): Promise<T>;
  /** The standalone sandbox's control API in the demo tenant's partition (the banks that tenant's calls reach); needs the gateway up once. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a test reads whatever JSON the server sent
  control<T = Record<string, any>>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  /** Stops the sandbox, drops the database, removes the data directory. */
  cleanup(): Promise<void>;
}

export async function processGatewaySetup(label: string, extraEnv: Record<string, string> = {}): Promise<ProcessGatewaySetup> {
  const sandbox = await startSandbox({ now: new Date() });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `passerelle-${label}-`));
  const fresh = ciConfig.databaseUrl ? await createFreshDatabase(ciConfig.databaseUrl) : undefined;
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const env = {
    ...(process.env as Record<string, string>),
    PORT: String(port),
    DATA_DIR: dataDir,
    DATABASE_URL: fresh?.url ?? '',
    EMBEDDED_PG_PORT: String(await freePort()),
    REDIS_URL: '',
    SANDBOX_URL: `${sandbox.url}/sandbox`,
    SANDBOX_ADMIN_TOKEN: ADMIN_TOKEN,
    LOG_LEVEL: 'info',
    DEMO_TENANT: 'true',
    ...extraEnv,
  };
  let partition: string | undefined;
  return {
    sandbox,
    dataDir,
    port,
    baseUrl,
    env,
    gql: (query, variables = {}) => gqlWithDemoKey(baseUrl, dataDir, query, variables),
    async control(method, path, body) {
      partition ??= await (async () => {
        const { viewer } = await gqlWithDemoKey<{ viewer: { id: string } }>(baseUrl, dataDir, '{ viewer { id } }', {});
        return sandboxPartition(ADMIN_TOKEN, parseGlobalId(viewer.id)!.id);
      })();
      const res = await fetch(`${sandbox.url}/sandbox/t/${partition}/control${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : {} };
    },
    async cleanup() {
      await sandbox.close();
      await fresh?.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
