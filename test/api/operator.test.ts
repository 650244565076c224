import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../src/platform/db';
import { startTestGateway, type TestGateway } from '../helpers/gateway';

const exec = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const tsx = path.join(root, 'node_modules/.bin/tsx');

async function viewer(url: string, key: string) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query: '{ viewer { name environment } }' }),
  });
  return (await res.json()) as { data?: { viewer: { name: string; environment: string } } };
}

describe('npm run tenant:create', { timeout: 60_000 }, () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway({ embedded: true, env: { EMBEDDED_PG_PORT: String(await freePort()) } });
  });
  afterAll(async () => t?.close());

  it('creates a tenant and prints a working key while an embedded gateway runs on the same data', async () => {
    const { stdout } = await exec(tsx, ['src/cli/tenant-create.ts', '--name', 'Operator Co', '--env', 'live'], {
      cwd: root,
      env: { ...process.env, DATA_DIR: t.config.dataDir, DATABASE_URL: '', LOG_LEVEL: 'silent' },
    });
    const key = stdout.trim().split('\n').at(-1)!;
    expect(key).toMatch(/^pk_live_/);
    expect(await viewer(t.gateway.graphqlUrl, key)).toEqual({ data: { viewer: { name: 'Operator Co', environment: 'LIVE' } } });
  });

  it('gives the new tenant the public handle other tenants invite it by, and refuses a malformed one', async () => {
    const env = { ...process.env, DATA_DIR: t.config.dataDir, DATABASE_URL: '', LOG_LEVEL: 'silent' };
    const { stdout } = await exec(tsx, ['src/cli/tenant-create.ts', '--name', 'Ledger Co', '--handle', 'ledger-co'], { cwd: root, env });
    expect(stdout).toContain('handle ledger-co');
    const r = await t.gql<{ viewer: { handle: string } }>('{ viewer { handle } }', {}, stdout.trim().split('\n').at(-1)!);
    expect(r.body.data!.viewer.handle).toBe('ledger-co');
    const bad = await exec(tsx, ['src/cli/tenant-create.ts', '--name', 'Bad Co', '--handle', 'Bad Handle'], { cwd: root, env }).catch((e) => e);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('Tenant handle must be');
  });

  it('refuses a missing name or an unknown environment with its usage and a non-zero exit', async () => {
    for (const args of [[], ['--name', 'X', '--env', 'staging'], ['--bogus']]) {
      const r = await exec(tsx, ['src/cli/tenant-create.ts', ...args], { cwd: root, env: { ...process.env, DATA_DIR: t.config.dataDir } }).catch((e) => e);
      expect(r.code).toBe(64);
      expect(r.stderr).toContain('usage: npm run tenant:create');
    }
  });
});

// Each of these spawns real processes that boot PGlite: generous timeouts for a loaded 2-core machine.
describe('npm start (scripts/start.mjs: the compiled src/main.ts)', { timeout: 200_000 }, () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'passerelle-main-'));
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  async function start(port: number): Promise<{ child: ChildProcess; output: () => string }> {
    // Embedded on purpose: this is what a fresh clone runs.
    const child = spawn(process.execPath, ['scripts/start.mjs'], {
      cwd: root,
      env: { ...process.env, DATA_DIR: dataDir, PORT: String(port), EMBEDDED_PG_PORT: String(await freePort()), DATABASE_URL: '', REDIS_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const deadline = Date.now() + 150_000;
    while (!out.includes('Passerelle is ready')) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`gateway did not start:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return { child, output: () => out };
  }

  async function stop(child: ChildProcess): Promise<number | null> {
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGINT');
    return exited;
  }

  it('starts with no configuration, prints the URL and a demo key kept mode 600, and stops cleanly on SIGINT', async () => {
    const port = await freePort();
    const { child, output } = await start(port);
    const key = fs.readFileSync(path.join(dataDir, 'demo-api-key'), 'utf8').trim();
    expect(fs.statSync(path.join(dataDir, 'demo-api-key')).mode & 0o777).toBe(0o600);
    expect(output()).toContain(key);
    expect(output()).toContain(`http://localhost:${port}/graphql`);
    const url = `http://127.0.0.1:${port}/graphql`;
    expect(await viewer(url, key)).toEqual({ data: { viewer: { name: 'Demo', environment: 'SANDBOX' } } });
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);

    // A request in flight when SIGINT arrives still gets its answer. It must have reached the
    // server first: one still on its way on an idle kept-alive connection is reset by the drain,
    // as with any HTTP server, and the compiled gateway stops within milliseconds.
    const inFlight = viewer(url, key);
    await new Promise((r) => setTimeout(r, 30));
    const code = await stop(child);
    expect(await inFlight).toHaveProperty('data.viewer.name', 'Demo');
    expect(code).toBe(0);
    expect(output()).toContain('stopped cleanly');
  });

  it('starts again on the same data directory with the same demo tenant and key', async () => {
    const key = fs.readFileSync(path.join(dataDir, 'demo-api-key'), 'utf8').trim();
    const port = await freePort();
    const { child } = await start(port);
    try {
      expect(await viewer(`http://127.0.0.1:${port}/graphql`, key)).toEqual({ data: { viewer: { name: 'Demo', environment: 'SANDBOX' } } });
    } finally {
      expect(await stop(child)).toBe(0);
    }
  });

  it('refuses to start on an invalid setting, naming the variable', async () => {
    const r = await exec(process.execPath, ['scripts/start.mjs'], { cwd: root, env: { ...process.env, PORT: 'not-a-port' } }).catch((e) => e);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('PORT:');
  });

  it('compiles dist/ again when a source is newer than the last build, and not when nothing changed', async () => {
    const meta = path.join(root, 'dist/meta.json');
    await exec(process.execPath, ['scripts/build.mjs', '--if-stale'], { cwd: root });
    const source = path.join(root, 'src/config.ts');
    const builtAt = fs.statSync(meta).mtimeMs;
    // A save in an editor: same content, newer mtime (never in the future: that would stay stale).
    await new Promise((r) => setTimeout(r, 20));
    const now = new Date();
    fs.utimesSync(source, now, now);
    const rebuilt = await exec(process.execPath, ['scripts/build.mjs', '--if-stale'], { cwd: root });
    expect(rebuilt.stderr).toMatch(/built dist\/ in \d+ ms/);
    expect(fs.statSync(meta).mtimeMs).toBeGreaterThan(builtAt);
    const again = await exec(process.execPath, ['scripts/build.mjs', '--if-stale'], { cwd: root });
    expect(again.stderr).toBe('');
  });
});
