import type { SqlEntityManager } from '@mikro-orm/postgresql';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/helpers/database';
import { LOCAL_KMS_KEY_FILE, openVault, VaultError, VaultErrorCode, type SealContext, type VaultService } from '.';

let t: TestDatabase;
const sql = (query: string, params: unknown[] = []) => (t.db.orm.em.fork() as SqlEntityManager).execute(query, params);
const boot = () => openVault({ config: t.config, orm: t.db.orm, logger: t.logger });

beforeAll(async () => {
  t = await createTestDatabase({ prefix: 'vault', logLevel: 'trace' });
});
afterAll(async () => {
  await t?.close();
});

describe('openVault from the configuration', () => {
  it('creates the local key file (mode 600) on first start and reuses it on the next', async () => {
    const file = path.join(t.config.dataDir, LOCAL_KMS_KEY_FILE);
    expect(fs.existsSync(file)).toBe(false);
    const first = await boot();
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const keyId = first.kms.keyId;
    await first.close();
    const second = await boot();
    expect(second.kms).toEqual({ kind: 'local', keyId });
    await second.close();
  });

  it('refuses to start when the key file that wrapped the master key is gone', async () => {
    const file = path.join(t.config.dataDir, LOCAL_KMS_KEY_FILE);
    const saved = fs.readFileSync(file);
    fs.rmSync(file);
    try {
      await expect(boot()).rejects.toMatchObject({ code: VaultErrorCode.LOCAL_KMS_REFUSED });
      expect(fs.existsSync(file)).toBe(false);
    } finally {
      fs.writeFileSync(file, saved, { mode: 0o600 });
    }
  });

  it('starts in live on the local key file only with ALLOW_LOCAL_KMS_IN_LIVE, and says it is insecure', async () => {
    const live = { ...t.config, environment: 'live' as const, kms: { ...t.config.kms, allowLocalInLive: false } };
    await expect(openVault({ config: live, orm: t.db.orm, logger: t.logger })).rejects.toMatchObject({ code: VaultErrorCode.LOCAL_KMS_REFUSED });
    const allowed = { ...live, kms: { ...live.kms, allowLocalInLive: true } };
    const vault = await openVault({ config: allowed, orm: t.db.orm, logger: t.logger });
    await vault.close();
    expect(t.logs.some((l) => l.includes('"level":40') && l.includes('ALLOW_LOCAL_KMS_IN_LIVE'))).toBe(true);
  });
});

describe('after a full token lifecycle', () => {
  let vault: VaultService;
  const tenantId = randomUUID();
  const consentId = randomUUID();
  const access = (n: number) => `at-${n}-${randomBytes(24).toString('base64url')}`;
  const tokens = [access(1), `rt-${randomBytes(32).toString('base64url')}`, access(2)];
  const errors: string[] = [];

  beforeAll(async () => {
    vault = await boot();
    await sql(`insert into tenant (id, name, environment) values (?, 'scan', 'sandbox')`, [tenantId]);
    // Stands in for the consents module: sealed values in a text, a bytea and a jsonb column.
    await sql('create table scan_consent_token (consent_id uuid primary key, access_token text, refresh_token bytea, meta jsonb)');
  });
  afterAll(async () => {
    await vault?.close();
  });

  it('finds no plaintext token or key in any text, bytea or jsonb column, nor in the logs', async () => {
    const ctx = (purpose: string): SealContext => ({ tenantId, ownerId: consentId, purpose });
    const [accessToken, refreshToken, renewed] = tokens;
    const record = async (promise: Promise<unknown>) => {
      const err = await promise.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(VaultError);
      errors.push(JSON.stringify(err), String(err), (err as Error).stack ?? '');
      t.logger.warn({ err }, 'vault refused (expected in this test)');
    };

    // Callback: tokens arrive, are sealed and stored.
    await vault.createDataKey({ tenantId, ownerId: consentId });
    const sealedAccess = await vault.seal(accessToken, ctx('access_token'));
    const sealedRefresh = await vault.seal(refreshToken, ctx('refresh_token'));
    await sql('insert into scan_consent_token values (?, ?, ?, ?)', [
      consentId,
      sealedAccess,
      Buffer.from(sealedRefresh),
      JSON.stringify({ refresh: sealedRefresh, scopes: ['accounts'] }),
    ]);
    // Sync: tokens are opened for use.
    expect(await vault.openText(sealedAccess, ctx('access_token'))).toBe(accessToken);
    await record(vault.open(sealedAccess, ctx('refresh_token')));
    await record(vault.open(sealedAccess, { ...ctx('access_token'), tenantId: randomUUID() }));
    // Operator rotates; tokens still open; refresh replaces the access token.
    await vault.rotate({ batchSize: 1 });
    const [row] = await sql('select access_token, refresh_token from scan_consent_token where consent_id = ?', [consentId]);
    expect(await vault.openText(row.refresh_token.toString(), ctx('refresh_token'))).toBe(refreshToken);
    await sql('update scan_consent_token set access_token = ? where consent_id = ?', [await vault.seal(renewed, ctx('access_token')), consentId]);
    t.logger.info({ status: await vault.status() }, 'vault status');
    // Revocation: crypto-shredding.
    await vault.shred({ tenantId, ownerId: consentId });
    await record(vault.open(row.access_token, ctx('access_token')));

    const keyFile = JSON.parse(fs.readFileSync(path.join(t.config.dataDir, LOCAL_KMS_KEY_FILE), 'utf8')) as { key: string };
    const secrets = [...tokens, keyFile.key];
    const needles = (secret: string) => {
      const raw = secret === keyFile.key ? Buffer.from(secret, 'base64') : Buffer.from(secret, 'utf8');
      return [raw.toString('utf8'), raw.toString('base64'), raw.toString('base64url'), raw.toString('hex')].filter((n) => n.length >= 16);
    };

    const columns = await sql(
      `select table_name, column_name, data_type from information_schema.columns
        where table_schema = current_schema() and data_type in ('text', 'character varying', 'character', 'bytea', 'jsonb', 'json')
        order by table_name, column_name`,
    );
    const tables = new Set(columns.map((c) => c.table_name as string));
    for (const expected of ['vault_master_key', 'vault_data_key', 'vault_rotation', 'tenant', 'scan_consent_token']) expect(tables).toContain(expected);
    let cells = 0;
    for (const { table_name, column_name, data_type } of columns) {
      const values = await sql(`select "${column_name}"::text as v, "${column_name}" as raw from "${table_name}"`);
      for (const { v, raw } of values) {
        if (v == null) continue;
        cells++;
        const haystacks = [String(v)];
        if (data_type === 'bytea') haystacks.push(Buffer.isBuffer(raw) ? raw.toString('latin1') : String(raw));
        for (const secret of secrets) {
          for (const needle of needles(secret)) {
            for (const hay of haystacks) {
              if (hay.includes(needle)) throw new Error(`secret found in ${table_name}.${column_name}`);
            }
          }
        }
      }
    }
    expect(cells).toBeGreaterThan(10);

    const logText = t.logs.join('\n');
    expect(t.logs.length).toBeGreaterThan(5);
    expect(logText).toContain('vault rotation finished');
    for (const text of [logText, ...errors]) {
      for (const secret of secrets) for (const needle of needles(secret)) expect(text.includes(needle)).toBe(false);
    }
  });
});
