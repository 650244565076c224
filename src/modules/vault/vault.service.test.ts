import { credentials } from '@grpc/grpc-js';
import type { SqlEntityManager } from '@mikro-orm/postgresql';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeKms, type FakeKmsServer } from '../../../test/fixtures/kms/fake-kms-server';
import { createTestDatabase, type TestDatabase } from '../../../test/helpers/database';
import { LocalKmsProvider, openVault, VaultErrorCode, type KmsProvider, type SealContext, type VaultService } from '.';
import { GcpKmsProvider } from './kms/gcp-kms.provider';
import { VaultDataKey } from './vault-data-key.entity';
import { VaultMasterKey } from './vault-master-key.entity';
import { VaultRotation } from './vault-rotation.entity';
import { masterKeyAad } from './vault.crypto';

/** Counts KMS calls and can be shared by several vault instances (it is never closed by them). */
class CountingKms implements KmsProvider {
  calls = { encrypt: 0, decrypt: 0 };
  constructor(readonly inner: KmsProvider) {}
  get kind() {
    return this.inner.kind;
  }
  get keyId() {
    return this.inner.keyId;
  }
  encrypt(plaintext: Buffer, aad: Buffer) {
    this.calls.encrypt++;
    return this.inner.encrypt(plaintext, aad);
  }
  decrypt(ciphertext: Buffer, aad: Buffer) {
    this.calls.decrypt++;
    return this.inner.decrypt(ciphertext, aad);
  }
  close() {
    return this.inner.close();
  }
}

async function expectCode(promise: Promise<unknown>, code: VaultErrorCode): Promise<void> {
  await expect(promise).rejects.toMatchObject({ name: 'VaultError', code });
}

// One database for the file (an embedded one takes seconds to create); each provider's block
// starts from empty vault tables.
let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase({ prefix: 'vault' });
});
afterAll(async () => {
  await t?.close();
});

describe.each(['local', 'gcp'] as const)('the vault on the %s KMS', (kind) => {
  let server: FakeKmsServer | undefined;
  let kms: CountingKms;
  let vault: VaultService;
  let tenantA: string;
  let tenantB: string;
  const sql = (query: string, params: unknown[] = []) => (t.db.orm.em.fork() as SqlEntityManager).execute(query, params);
  /** A second process booting on the same database and KMS. */
  const boot = () => openVault({ config: t.config, orm: t.db.orm, logger: t.logger, kms });

  beforeAll(async () => {
    await sql('truncate vault_rotation, vault_data_key, vault_master_key');
    let inner: KmsProvider;
    if (kind === 'gcp') {
      server = await startFakeKms();
      inner = new GcpKmsProvider({ keyName: server.keyName, apiEndpoint: server.endpoint, sslCreds: credentials.createInsecure() });
    } else {
      inner = LocalKmsProvider.open(`${t.config.dataDir}/kms-local.key`, { create: true });
    }
    kms = new CountingKms(inner);
    vault = await boot();
    tenantA = randomUUID();
    tenantB = randomUUID();
    await sql(`insert into tenant (id, name, environment) values (?, 'A', 'sandbox'), (?, 'B', 'sandbox')`, [tenantA, tenantB]);
  });

  afterAll(async () => {
    await vault?.close();
    await kms?.close();
    await server?.stop();
  });

  const ctx = (ownerId: string, purpose = 'access_token', tenantId = tenantA): SealContext => ({ tenantId, ownerId, purpose });

  it('creates master key version 1 on an empty database with one KMS call', async () => {
    expect(kms.calls).toEqual({ encrypt: 1, decrypt: 0 });
    const status = await vault.status();
    expect(status.masterKeys).toMatchObject([{ version: 1, state: 'active' }]);
    expect(status.kms).toEqual({ kind, keyId: kms.keyId });
  });

  it('seals and opens a token, with a fresh nonce every time', async () => {
    const token = 'eyJhbGciOi.access-token-1234567890';
    const a = await vault.seal(token, ctx('consent-1'));
    const b = await vault.seal(token, ctx('consent-1'));
    expect(a).toMatch(/^vault:v1:[A-Za-z0-9_-]+$/);
    expect(a).not.toEqual(b);
    expect(a).not.toContain(token);
    expect(await vault.openText(a, ctx('consent-1'))).toBe(token);
    expect((await vault.open(b, ctx('consent-1'))).toString('utf8')).toBe(token);
    const bytes = Buffer.from([0, 1, 2, 255, 254]);
    expect(await vault.open(await vault.seal(bytes, ctx('consent-1', 'refresh_token')), ctx('consent-1', 'refresh_token'))).toEqual(bytes);
    expect(await vault.openText(await vault.seal('', ctx('consent-1')), ctx('consent-1'))).toBe('');
  });

  it('opens with a second instance that unwraps the master key with one KMS call at boot', async () => {
    const sealed = await vault.seal('token-for-second-instance', ctx('consent-2'));
    const before = { ...kms.calls };
    const other = await boot();
    try {
      expect(kms.calls.decrypt - before.decrypt).toBe(1);
      for (let i = 0; i < 5; i++) expect(await other.openText(sealed, ctx('consent-2'))).toBe('token-for-second-instance');
      await other.seal('x', ctx('consent-2b'));
      expect(kms.calls).toEqual({ encrypt: before.encrypt, decrypt: before.decrypt + 1 });
    } finally {
      await other.close();
    }
  });

  it('refuses to open a value copied to another owner, tenant or purpose', async () => {
    const sealed = await vault.seal('access-token-of-consent-3', ctx('consent-3'));
    await vault.createDataKey({ tenantId: tenantA, ownerId: 'consent-4' });
    await vault.createDataKey({ tenantId: tenantB, ownerId: 'consent-3' });
    await expectCode(vault.open(sealed, ctx('consent-4')), VaultErrorCode.OPEN_FAILED);
    await expectCode(vault.open(sealed, ctx('consent-3', 'access_token', tenantB)), VaultErrorCode.OPEN_FAILED);
    await expectCode(vault.open(sealed, ctx('consent-3', 'refresh_token')), VaultErrorCode.OPEN_FAILED);
    await expectCode(vault.open(sealed, ctx('consent-3', 'access_token', randomUUID())), VaultErrorCode.OPEN_FAILED);
    expect(await vault.openText(sealed, ctx('consent-3'))).toBe('access-token-of-consent-3');
  });

  it('refuses a tampered ciphertext with a coded error, never garbage', async () => {
    const sealed = await vault.seal('access-token-to-tamper-with', ctx('consent-5'));
    const body = Buffer.from(sealed.slice('vault:v1:'.length), 'base64url');
    // Every byte after the data key id: nonce, ciphertext and tag.
    for (let i = 16; i < body.length; i++) {
      const bad = Buffer.from(body);
      bad[i] ^= 0x01;
      await expectCode(vault.open(`vault:v1:${bad.toString('base64url')}`, ctx('consent-5')), VaultErrorCode.OPEN_FAILED);
    }
    // A changed data key id points at no key (or another owner's).
    const otherId = Buffer.from(body);
    otherId[3] ^= 0x01;
    await expectCode(vault.open(`vault:v1:${otherId.toString('base64url')}`, ctx('consent-5')), VaultErrorCode.KEY_NOT_FOUND);
    await expectCode(vault.open(`vault:v1:${body.subarray(0, 50).toString('base64url')}`, ctx('consent-5')), VaultErrorCode.OPEN_FAILED);
    await expectCode(vault.open(`vault:v1:${body.subarray(0, 30).toString('base64url')}`, ctx('consent-5')), VaultErrorCode.MALFORMED_SEALED_VALUE);
    await expectCode(vault.open(sealed.replace('vault:v1:', 'vault:v2:'), ctx('consent-5')), VaultErrorCode.MALFORMED_SEALED_VALUE);
    await expectCode(vault.open(`${sealed}!`, ctx('consent-5')), VaultErrorCode.MALFORMED_SEALED_VALUE);
    await expectCode(vault.open('access-token-to-tamper-with', ctx('consent-5')), VaultErrorCode.MALFORMED_SEALED_VALUE);
  });

  it('refuses a data key moved to the wrong master key version, and an unknown version', async () => {
    const sealed = await vault.seal('token-under-version-check', ctx('consent-6'));
    const [dek] = await sql('select id, master_key_version, wrapped_key from vault_data_key where tenant_id = ? and owner_id = ?', [tenantA, 'consent-6']);
    // A genuine master key version 90, wrapped by this KMS, but not the one that wrapped this data key.
    const wrapped = await kms.inner.encrypt(Buffer.alloc(32, 7), masterKeyAad(90));
    await sql(`insert into vault_master_key (version, state, kms_provider, kms_key_id, kms_key_version, wrapped_key) values (90, 'retiring', ?, ?, ?, ?)`, [
      kind,
      kms.keyId,
      wrapped.keyVersion,
      wrapped.ciphertext,
    ]);
    try {
      await sql('update vault_data_key set master_key_version = 90 where id = ?', [dek.id]);
      // The check is on every read of the row: a process that has not cached this key yet (a row
      // edited behind the vault's back does not move its change counter, so `vault` keeps its copy).
      const cold = await boot();
      try {
        await expectCode(cold.open(sealed, ctx('consent-6')), VaultErrorCode.KEY_INTEGRITY);
        await expectCode(cold.seal('more', ctx('consent-6')), VaultErrorCode.KEY_INTEGRITY);
      } finally {
        await cold.close();
      }
      // Version 90's wrapped key swapped for version 1's: the KMS refuses it (AAD names the version).
      const [v1] = await sql('select wrapped_key from vault_master_key where version = 1');
      await sql('update vault_master_key set wrapped_key = ? where version = 90', [v1.wrapped_key]);
      // Boot only unwraps the active version; version 90 is unwrapped (and refused) on first use.
      const fresh = await boot();
      try {
        await expectCode(fresh.open(sealed, ctx('consent-6')), VaultErrorCode.KMS_DECRYPT_FAILED);
      } finally {
        await fresh.close();
      }
      await sql(`update vault_master_key set state = 'retired', wrapped_key = null where version = 90`);
      const fresh2 = await boot();
      try {
        await expectCode(fresh2.open(sealed, ctx('consent-6')), VaultErrorCode.KEY_VERSION_UNKNOWN);
      } finally {
        await fresh2.close();
      }
    } finally {
      await sql('update vault_data_key set master_key_version = ? where id = ?', [dek.master_key_version, dek.id]);
      await sql('delete from vault_master_key where version = 90');
    }
    expect(await vault.openText(sealed, ctx('consent-6'))).toBe('token-under-version-check');
  });

  it('refuses a master key wrapped by another KMS key', async () => {
    const foreign =
      kind === 'local'
        ? LocalKmsProvider.open(`${t.config.dataDir}/other-kms.key`, { create: true })
        : new GcpKmsProvider({ keyName: `${server!.keyName}-other`, apiEndpoint: server!.endpoint, sslCreds: credentials.createInsecure() });
    try {
      await expectCode(openVault({ config: t.config, orm: t.db.orm, logger: t.logger, kms: foreign }), VaultErrorCode.KMS_DECRYPT_FAILED);
    } finally {
      await foreign.close();
    }
  });

  it('makes a shredded owner’s tokens unrecoverable', async () => {
    const access = await vault.seal('access-token-to-shred', ctx('consent-7'));
    const refresh = await vault.seal('refresh-token-to-shred', ctx('consent-7', 'refresh_token'));
    const keep = await vault.seal('access-token-to-keep', ctx('consent-8'));
    expect(await vault.shred({ tenantId: tenantA, ownerId: 'consent-7' })).toEqual({ shredded: true });
    await expectCode(vault.open(access, ctx('consent-7')), VaultErrorCode.KEY_SHREDDED);
    await expectCode(vault.open(refresh, ctx('consent-7', 'refresh_token')), VaultErrorCode.KEY_SHREDDED);
    // Another tenant learns nothing about the key, not even that it was shredded.
    await expectCode(vault.open(access, ctx('consent-7', 'access_token', tenantB)), VaultErrorCode.OPEN_FAILED);
    await expectCode(vault.seal('new-token', ctx('consent-7')), VaultErrorCode.KEY_SHREDDED);
    await expectCode(vault.createDataKey({ tenantId: tenantA, ownerId: 'consent-7' }), VaultErrorCode.KEY_SHREDDED);
    expect(await vault.shred({ tenantId: tenantA, ownerId: 'consent-7' })).toEqual({ shredded: false });
    const rows = await sql('select wrapped_key, master_key_version, shredded_at from vault_data_key where tenant_id = ? and owner_id = ?', [
      tenantA,
      'consent-7',
    ]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ wrapped_key: null, master_key_version: null });
    expect(rows[0].shredded_at).not.toBeNull();
    expect(await vault.openText(keep, ctx('consent-8'))).toBe('access-token-to-keep');
  });

  it('runs inside the caller’s transaction, so a rollback undoes a shred or a new key', async () => {
    const fork = () => t.db.orm.em.fork() as SqlEntityManager;
    const inTx = await fork().transactional(async (em) => {
      const value = await vault.seal('sealed-in-a-transaction', ctx('tx-1'), { em });
      expect(await vault.openText(value, ctx('tx-1'), { em })).toBe('sealed-in-a-transaction');
      return value;
    });
    expect(await vault.openText(inTx, ctx('tx-1'))).toBe('sealed-in-a-transaction');
    await expect(
      fork().transactional(async (em) => {
        expect(await vault.shred({ tenantId: tenantA, ownerId: 'tx-1' }, { em })).toEqual({ shredded: true });
        throw new Error('revocation failed: roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await vault.openText(inTx, ctx('tx-1'))).toBe('sealed-in-a-transaction');
    await expect(
      fork().transactional(async (em) => {
        await vault.createDataKey({ tenantId: tenantA, ownerId: 'tx-2' }, { em });
        throw new Error('consent creation failed: roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await sql('select id from vault_data_key where owner_id = ?', ['tx-2'])).toHaveLength(0);
  });

  it('refuses malformed contexts and unknown tenants', async () => {
    await expectCode(vault.seal('x', { tenantId: 'not-a-uuid', ownerId: 'c', purpose: 'p' }), VaultErrorCode.INVALID_CONTEXT);
    await expectCode(vault.seal('x', { tenantId: tenantA, ownerId: '', purpose: 'p' }), VaultErrorCode.INVALID_CONTEXT);
    await expectCode(vault.seal('x', { tenantId: tenantA, ownerId: 'c', purpose: 'Bad Purpose' }), VaultErrorCode.INVALID_CONTEXT);
    await expectCode(vault.seal('x', { tenantId: randomUUID(), ownerId: 'c', purpose: 'p' }), VaultErrorCode.INVALID_CONTEXT);
  });

  it('rotates the master key, resumes after a crash mid-rotation, and keeps every token readable', async () => {
    const sealed = new Map<string, string>();
    for (let i = 0; i < 12; i++) sealed.set(`rot-${i}`, await vault.seal(`token-rot-${i}`, ctx(`rot-${i}`)));
    const total = Number((await sql('select count(*) as n from vault_data_key where master_key_version is not null'))[0].n);
    const from = (await vault.status()).masterKeys.find((m) => m.state === 'active')!.version;

    // First run "crashes" after its second committed batch.
    let batches = 0;
    await expect(
      vault.rotate({
        batchSize: 3,
        onBatch: () => {
          if (++batches === 2) throw new Error('simulated crash');
        },
      }),
    ).rejects.toThrow('simulated crash');
    let status = await vault.status();
    const to = from + 1;
    expect(status.rotation).toMatchObject({ toVersion: to, state: 'running', rewrapped: 6, batches: 2 });
    expect(status.masterKeys.find((m) => m.version === from)).toMatchObject({ state: 'retiring', dataKeys: total - 6 });
    expect(status.masterKeys.find((m) => m.version === to)).toMatchObject({ state: 'active', dataKeys: 6 });

    // Mid-rotation, both versions open, from this instance and from a freshly started one; new keys use the new version.
    const midway = await boot();
    try {
      for (const [owner, value] of sealed) expect(await midway.openText(value, ctx(owner))).toBe(`token-${owner}`);
      expect((await midway.createDataKey({ tenantId: tenantA, ownerId: 'rot-new' })).masterKeyVersion).toBe(to);
      sealed.set('rot-new', await midway.seal('token-rot-new', ctx('rot-new')));
    } finally {
      await midway.close();
    }

    // A new process resumes the same rotation rather than starting another.
    const resumer = await boot();
    try {
      const report = await resumer.rotate({ batchSize: 3 });
      expect(report).toMatchObject({ resumed: true, toVersion: to, rewrapped: total, retiredVersions: [from] });
    } finally {
      await resumer.close();
    }
    status = await vault.status();
    expect(status.rotation).toMatchObject({ toVersion: to, state: 'done', resumes: 1 });
    expect(status.masterKeys.find((m) => m.version === from)).toMatchObject({ state: 'retired', dataKeys: 0 });
    expect(status.masterKeys.find((m) => m.version === to)).toMatchObject({ state: 'active', dataKeys: total + 1 });
    const [retired] = await sql('select wrapped_key from vault_master_key where version = ?', [from]);
    expect(retired.wrapped_key).toBeNull();

    // Token ciphertexts were never touched: the values sealed before still open, everywhere.
    for (const [owner, value] of sealed) expect(await vault.openText(value, ctx(owner))).toBe(`token-${owner}`);
    const after = await boot();
    try {
      for (const [owner, value] of sealed) expect(await after.openText(value, ctx(owner))).toBe(`token-${owner}`);
    } finally {
      await after.close();
    }

    // A second rotation, from another process, starts afresh and retires the previous version;
    // this instance then forgets (and zeroes) the retired keys it still held.
    const other = await boot();
    try {
      const again = await other.rotate();
      expect(again).toMatchObject({ resumed: false, toVersion: to + 1, rewrapped: total + 1, retiredVersions: [to] });
    } finally {
      await other.close();
    }
    expect(await vault.forgetRetiredKeys()).toEqual([from, to]);
    expect(await vault.forgetRetiredKeys()).toEqual([]);
    for (const [owner, value] of sealed) expect(await vault.openText(value, ctx(owner))).toBe(`token-${owner}`);
  });

  it('keeps sealing and opening while a rotation runs in the same process', async () => {
    const values = new Map<string, string>();
    for (let i = 0; i < 8; i++) values.set(`busy-${i}`, await vault.seal(`token-busy-${i}`, ctx(`busy-${i}`)));
    let rotating = true;
    const rotation = vault.rotate({ batchSize: 1 }).finally(() => (rotating = false));
    let rounds = 0;
    while (rotating || rounds === 0) {
      for (const [owner, value] of values) expect(await vault.openText(value, ctx(owner))).toBe(`token-${owner}`);
      await vault.seal('fresh', ctx(`busy-new-${rounds}`));
      rounds++;
    }
    expect((await rotation).retiredVersions).toHaveLength(1);
  });

  it('maps its tables to the ORM entities', async () => {
    const em = t.db.orm.em.fork();
    const masters = await em.find(VaultMasterKey, {}, { orderBy: { version: 'asc' } });
    expect(masters.filter((m) => m.state === 'active')).toHaveLength(1);
    expect(masters.every((m) => (m.state === 'retired') === (m.wrappedKey === null))).toBe(true);
    const key = await em.findOneOrFail(VaultDataKey, { ownerId: 'consent-1' }, { populate: ['tenant', 'masterKey'] });
    expect(key.tenant.id).toBe(tenantA);
    expect(key.masterKey?.state).toBe('active');
    expect(Buffer.isBuffer(key.wrappedKey)).toBe(true);
    const [rotation] = await em.find(VaultRotation, {}, { orderBy: { id: 'desc' }, limit: 1 });
    expect(rotation).toMatchObject({ state: 'done', rewrapped: expect.any(Number) });
  });

  it('refuses a second rotator while one holds the lock', async (test) => {
    // Embedded PGlite serves every connection from one session, so advisory locks cannot exclude there.
    if (!t.config.databaseUrl) test.skip();
    const pg = await import('pg');
    const holder = new pg.default.Client({ connectionString: t.db.url });
    await holder.connect();
    try {
      await holder.query('select pg_advisory_lock(4242004)');
      await expectCode(vault.rotate(), VaultErrorCode.ROTATION_BUSY);
    } finally {
      await holder.end();
    }
  });

  it('zeroes its keys on close and refuses work after', async () => {
    const other = await boot();
    const sealed = await other.seal('token-before-close', ctx('consent-9'));
    await other.close();
    await expectCode(other.open(sealed, ctx('consent-9')), VaultErrorCode.CLOSED);
    await expectCode(other.seal('x', ctx('consent-9')), VaultErrorCode.CLOSED);
  });
});
