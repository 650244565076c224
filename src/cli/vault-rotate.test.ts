import type { SqlEntityManager } from '@mikro-orm/postgresql';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/helpers/database';
import { openVault, type VaultService } from '../modules/vault';

const root = path.resolve(import.meta.dirname, '../..');

let t: TestDatabase;
let vault: VaultService;
const tenantId = randomUUID();
const sealed = new Map<string, string>();
const sql = (query: string, params: unknown[] = []) => (t.db.orm.em.fork() as SqlEntityManager).execute(query, params);

/** Runs the CLI as an operator would, against the database this test (the "gateway") has open. */
function runCli(args: string[]) {
  // `node --import tsx` rather than the tsx binary, which runs the script in a child process that
  // a SIGKILL of the wrapper would leave running.
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/vault-rotate.ts', ...args], {
    cwd: root,
    env: { ...process.env, DATA_DIR: t.config.dataDir, DATABASE_URL: t.config.databaseUrl ?? '', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done };
}

beforeAll(async () => {
  t = await createTestDatabase({ prefix: 'vaultcli', logLevel: 'warn' });
  vault = await openVault({ config: t.config, orm: t.db.orm, logger: t.logger });
  await sql(`insert into tenant (id, name, environment) values (?, 'cli', 'sandbox')`, [tenantId]);
  for (let i = 0; i < 30; i++) sealed.set(`consent-${i}`, await vault.seal(`token-${i}`, { tenantId, ownerId: `consent-${i}`, purpose: 'access_token' }));
});

afterAll(async () => {
  await vault?.close();
  await t?.close();
});

describe('npm run vault:rotate', () => {
  it('survives being killed mid-rotation and resumes on the next run while the gateway keeps serving', async () => {
    const first = runCli(['--batch-size', '2', '--batch-delay-ms', '500']);
    // Wait until a few batches are committed, then kill it without warning.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const [row] = await sql(`select rewrapped from vault_rotation where state = 'running'`);
      if (row && Number(row.rewrapped) >= 4) break;
      if (Date.now() > deadline) throw new Error(`rotation did not progress: ${(await first.done.catch(() => undefined))?.stderr ?? ''}`);
      await sleep(50);
    }
    first.child.kill('SIGKILL');
    expect((await first.done).signal).toBe('SIGKILL');

    const versions = await sql('select version, state from vault_master_key order by version');
    expect(versions).toEqual([
      { version: 1, state: 'retiring' },
      { version: 2, state: 'active' },
    ]);
    const [{ n: left }] = await sql('select count(*) as n from vault_data_key where master_key_version = 1');
    expect(Number(left)).toBeGreaterThan(0);
    expect(Number(left)).toBeLessThan(30);
    // The gateway still opens every token: both versions are readable mid-rotation.
    for (const [ownerId, value] of sealed) expect(await vault.openText(value, { tenantId, ownerId, purpose: 'access_token' })).toMatch(/^token-/);

    const second = await runCli(['--batch-size', '5']).done;
    expect(second.stderr).not.toMatch(/error|failed/i);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/^Resumed and finished rotation #1: master key v2 is active, 30 data key\(s\) re-wrapped in \d+ batch\(es\), retired v1\./);
    expect(second.stdout).toContain('master key v1  retired');
    expect(second.stdout).toContain('master key v2  active    30 data key(s)');
    for (const [ownerId, value] of sealed) expect(await vault.openText(value, { tenantId, ownerId, purpose: 'access_token' })).toMatch(/^token-/);

    expect(await vault.status()).toMatchObject({
      kms: { kind: 'local' },
      masterKeys: [
        { version: 1, state: 'retired', dataKeys: 0 },
        { version: 2, state: 'active', dataKeys: 30 },
      ],
      rotation: { id: 1, toVersion: 2, state: 'done', rewrapped: 30, resumes: 1 },
    });
  }, 120_000); // two CLI processes; each takes seconds to start on a loaded two-core machine

  it('rejects bad arguments with exit code 2, before loading anything heavy', async () => {
    const bad = await runCli(['--batch-size', '0']).done;
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('usage: vault-rotate');
  }, 60_000);
});
