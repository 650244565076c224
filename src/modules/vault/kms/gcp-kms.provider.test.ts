import { credentials } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeKms, type FakeKmsServer } from '../../../../test/fixtures/kms/fake-kms-server';
import { freePort } from '../../../platform/db';
import { VaultErrorCode } from '../vault.errors';
import { GcpKmsProvider } from './gcp-kms.provider';

describe('the Cloud KMS provider, through the real client against a local KMS gRPC server', () => {
  let server: FakeKmsServer;
  let kms: GcpKmsProvider;
  const aad = Buffer.from('["passerelle.vault.master-key",1,1]');

  beforeAll(async () => {
    server = await startFakeKms();
    kms = new GcpKmsProvider({ keyName: server.keyName, apiEndpoint: server.endpoint, sslCreds: credentials.createInsecure() });
  });

  afterAll(async () => {
    await kms?.close();
    await server?.stop();
  });

  it('encrypts and decrypts with the AAD, naming the key version used', async () => {
    const secret = Buffer.alloc(32, 9);
    const { ciphertext, keyVersion } = await kms.encrypt(secret, aad);
    expect(keyVersion).toBe(`${server.keyName}/cryptoKeyVersions/1`);
    expect(ciphertext.includes(secret)).toBe(false);
    expect(await kms.decrypt(ciphertext, aad)).toEqual(secret);
  });

  it('keeps decrypting after the Cloud KMS key gets a new primary version', async () => {
    const { ciphertext } = await kms.encrypt(Buffer.alloc(32, 1), aad);
    server.rotateKey();
    expect((await kms.encrypt(Buffer.alloc(32, 2), aad)).keyVersion).toBe(`${server.keyName}/cryptoKeyVersions/2`);
    expect(await kms.decrypt(ciphertext, aad)).toEqual(Buffer.alloc(32, 1));
  });

  it('reports a refused decryption (other AAD, altered ciphertext) as VAULT_KMS_DECRYPT_FAILED', async () => {
    const { ciphertext } = await kms.encrypt(Buffer.alloc(32, 3), aad);
    await expect(kms.decrypt(ciphertext, Buffer.from('other'))).rejects.toMatchObject({ code: VaultErrorCode.KMS_DECRYPT_FAILED });
    const altered = Buffer.from(ciphertext);
    altered[20] ^= 1;
    await expect(kms.decrypt(altered, aad)).rejects.toMatchObject({ code: VaultErrorCode.KMS_DECRYPT_FAILED });
  });

  it('refuses an Encrypt answer whose ciphertext CRC32C is wrong', async () => {
    server.inject('bad-ciphertext-crc');
    await expect(kms.encrypt(Buffer.alloc(32, 4), aad)).rejects.toMatchObject({ code: VaultErrorCode.KMS_INTEGRITY });
  });

  it('refuses an Encrypt answer that does not confirm the plaintext CRC32C was verified', async () => {
    server.inject('unverified-plaintext');
    await expect(kms.encrypt(Buffer.alloc(32, 5), aad)).rejects.toMatchObject({ code: VaultErrorCode.KMS_INTEGRITY });
  });

  it('refuses a Decrypt answer whose plaintext CRC32C is wrong, without returning the plaintext', async () => {
    const { ciphertext } = await kms.encrypt(Buffer.alloc(32, 6), aad);
    server.inject('bad-plaintext-crc');
    const err = await kms.decrypt(ciphertext, aad).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'VaultError', code: VaultErrorCode.KMS_INTEGRITY });
    expect(JSON.stringify(err)).not.toContain(Buffer.alloc(32, 6).toString('base64'));
  });

  it('retries a transient UNAVAILABLE answer, as the client library is configured to', async () => {
    server.inject('unavailable');
    const before = server.calls.encrypt;
    await expect(kms.encrypt(Buffer.alloc(32, 7), aad)).resolves.toMatchObject({ keyVersion: expect.any(String) });
    expect(server.calls.encrypt - before).toBe(2);
  });

  it('reports an unreachable KMS as VAULT_KMS_UNAVAILABLE', async () => {
    const port = await freePort();
    const down = new GcpKmsProvider({ keyName: server.keyName, apiEndpoint: `127.0.0.1:${port}`, sslCreds: credentials.createInsecure(), timeoutMs: 500 });
    try {
      await expect(down.encrypt(Buffer.alloc(32), aad)).rejects.toMatchObject({ code: VaultErrorCode.KMS_UNAVAILABLE });
    } finally {
      await down.close();
    }
  });

  it('reports an unknown key as VAULT_KMS_UNAVAILABLE, not as a decryption failure', async () => {
    const other = new GcpKmsProvider({ keyName: `${server.keyName}-missing`, apiEndpoint: server.endpoint, sslCreds: credentials.createInsecure() });
    try {
      await expect(other.encrypt(Buffer.alloc(32), aad)).rejects.toMatchObject({ code: VaultErrorCode.KMS_UNAVAILABLE });
    } finally {
      await other.close();
    }
  });
});
