import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../config';
import { createLogger } from '../../../platform/logger';
import { openVault } from '..';
import { VaultErrorCode } from '../vault.errors';
import { LocalKmsProvider } from './local-kms.provider';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vault-local-kms-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('the local KMS key file', () => {
  it('is created with mode 600 on first start and reused after', async () => {
    const file = path.join(dir, 'a', 'kms-local.key');
    const first = LocalKmsProvider.open(file, { create: true });
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const { ciphertext } = await first.encrypt(Buffer.from('master'), Buffer.from('aad'));
    const again = LocalKmsProvider.open(file, { create: true });
    expect(again.keyId).toBe(first.keyId);
    expect((await again.decrypt(ciphertext, Buffer.from('aad'))).toString()).toBe('master');
    await expect(again.decrypt(ciphertext, Buffer.from('other'))).rejects.toMatchObject({ code: VaultErrorCode.KMS_DECRYPT_FAILED });
    await first.close();
    await expect(first.encrypt(Buffer.from('x'), Buffer.from('aad'))).rejects.toMatchObject({ code: VaultErrorCode.CLOSED });
  });

  it('is never silently replaced when it is missing', () => {
    expect(() => LocalKmsProvider.open(path.join(dir, 'missing.key'), { create: false })).toThrow(
      expect.objectContaining({ code: VaultErrorCode.LOCAL_KMS_REFUSED }),
    );
    expect(fs.existsSync(path.join(dir, 'missing.key'))).toBe(false);
  });

  it('is refused when group or others can read it, or when it is not a key file', () => {
    const file = path.join(dir, 'open.key');
    LocalKmsProvider.open(file, { create: true });
    fs.chmodSync(file, 0o644);
    expect(() => LocalKmsProvider.open(file, { create: false })).toThrow(expect.objectContaining({ code: VaultErrorCode.LOCAL_KMS_REFUSED }));
    const junk = path.join(dir, 'junk.key');
    fs.writeFileSync(junk, 'not json', { mode: 0o600 });
    expect(() => LocalKmsProvider.open(junk, { create: false })).toThrow(expect.objectContaining({ code: VaultErrorCode.LOCAL_KMS_REFUSED }));
  });

  it('is refused in the live environment unless explicitly allowed', async () => {
    const sandbox = loadConfig({ DATA_DIR: dir });
    const live = { ...sandbox, environment: 'live' as const, kms: { ...sandbox.kms, allowLocalInLive: false } };
    // Refused before the database is touched: no ORM is needed to see it.
    await expect(openVault({ config: live, orm: undefined as never, logger: createLogger('silent') })).rejects.toMatchObject({
      code: VaultErrorCode.LOCAL_KMS_REFUSED,
    });
    expect(fs.existsSync(path.join(dir, 'kms-local.key'))).toBe(false);
  });
});
