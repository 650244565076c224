import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { VaultError, VaultErrorCode } from '../vault.errors';
import type { KmsProvider } from './kms.provider';

const FORMAT = 'passerelle-local-kms/1';
const BLOB_VERSION = 1;

/**
 * Development KMS: a random AES-256 key in a file readable by its owner only. It wraps the master
 * key exactly as Cloud KMS would, so the rest of the vault cannot tell the difference — but the
 * bank tokens are then only as safe as this file, which is why `live` refuses it by default.
 */
export class LocalKmsProvider implements KmsProvider {
  readonly kind = 'local' as const;
  readonly keyId: string;
  #key: Buffer;
  #closed = false;

  private constructor(key: Buffer) {
    this.#key = key;
    this.keyId = `local:${createHmac('sha256', key).update('passerelle/local-kms/key-id').digest('hex').slice(0, 16)}`;
  }

  /**
   * Reads the key file, or creates it (mode 600) when `create` is true and it does not exist.
   * The vault passes `create` only while the database holds no master key, so a lost key file is
   * reported instead of being silently replaced by one that cannot open anything.
   */
  static open(file: string, options: { create: boolean }): LocalKmsProvider {
    if (!fs.existsSync(file)) {
      if (!options.create) {
        throw new VaultError(
          VaultErrorCode.LOCAL_KMS_REFUSED,
          `Local KMS key file ${file} is missing but the database holds master keys wrapped by it; restore the file from backup`,
        );
      }
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      const body = JSON.stringify({ format: FORMAT, key: randomBytes(32).toString('base64') });
      // Written aside then hard-linked into place: atomic, and two processes starting together can
      // neither overwrite each other's key nor read a half-written file.
      const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
      fs.writeFileSync(tmp, `${body}\n`, { mode: 0o600, flag: 'wx' });
      try {
        fs.linkSync(tmp, file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      } finally {
        fs.rmSync(tmp, { force: true });
      }
    }
    const stat = fs.statSync(file);
    if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
      throw new VaultError(
        VaultErrorCode.LOCAL_KMS_REFUSED,
        `Local KMS key file ${file} is readable by group or others (mode ${(stat.mode & 0o777).toString(8)}); run chmod 600 on it`,
      );
    }
    let key: Buffer;
    try {
      const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as { format?: unknown; key?: unknown };
      if (parsed.format !== FORMAT || typeof parsed.key !== 'string') throw new Error('unknown format');
      key = Buffer.from(parsed.key, 'base64');
      if (key.length !== 32) throw new Error('key is not 32 bytes');
    } catch (err) {
      throw new VaultError(VaultErrorCode.LOCAL_KMS_REFUSED, `Local KMS key file ${file} is not valid (${(err as Error).message})`);
    }
    return new LocalKmsProvider(key);
  }

  async encrypt(plaintext: Buffer, aad: Buffer): Promise<{ ciphertext: Buffer; keyVersion: string }> {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#liveKey(), nonce);
    cipher.setAAD(aad);
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return { ciphertext: Buffer.concat([Buffer.from([BLOB_VERSION]), nonce, body, cipher.getAuthTag()]), keyVersion: this.keyId };
  }

  async decrypt(ciphertext: Buffer, aad: Buffer): Promise<Buffer> {
    if (ciphertext.length < 1 + 12 + 16 || ciphertext[0] !== BLOB_VERSION) {
      throw new VaultError(VaultErrorCode.KMS_DECRYPT_FAILED, 'Local KMS: ciphertext is not a local KMS blob');
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#liveKey(), ciphertext.subarray(1, 13));
      decipher.setAAD(aad);
      decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
      return Buffer.concat([decipher.update(ciphertext.subarray(13, ciphertext.length - 16)), decipher.final()]);
    } catch {
      throw new VaultError(VaultErrorCode.KMS_DECRYPT_FAILED, `Local KMS key ${this.keyId} cannot decrypt this master key (another key file, or tampering)`);
    }
  }

  async close(): Promise<void> {
    this.#key.fill(0);
    this.#closed = true;
  }

  #liveKey(): Buffer {
    if (this.#closed) throw new VaultError(VaultErrorCode.CLOSED, 'Local KMS provider is closed');
    return this.#key;
  }
}
