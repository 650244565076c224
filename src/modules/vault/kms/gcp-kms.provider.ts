import { KeyManagementServiceClient } from '@google-cloud/kms';
import type { ChannelCredentials } from '@grpc/grpc-js';
import { VaultError, VaultErrorCode } from '../vault.errors';
import { crc32c } from './crc32c';
import type { KmsProvider } from './kms.provider';

/** Options of the Cloud KMS provider. */
export interface GcpKmsOptions {
  /** cryptoKeys resource name: projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>. */
  keyName: string;
  /** `host:port` override of the endpoint (regional endpoint, Private Service Connect, emulator). */
  apiEndpoint?: string;
  /**
   * Explicit channel credentials. Only tests and emulators pass these (e.g. insecure credentials
   * for a loopback server); production uses Application Default Credentials over TLS.
   */
  sslCreds?: ChannelCredentials;
  /** Per-call deadline. */
  timeoutMs?: number;
}

/** gRPC status codes (google.rpc.Code) that mean "this key cannot decrypt this", not an outage. */
const REFUSED_CODES = new Set([3 /* INVALID_ARGUMENT */, 9 /* FAILED_PRECONDITION */]);

/**
 * Google Cloud KMS through the official client. Sends the AAD and the CRC32C of everything it
 * sends, and refuses any answer whose checksums do not verify (D1: corrupted bytes are never used).
 */
export class GcpKmsProvider implements KmsProvider {
  readonly kind = 'gcp' as const;
  readonly keyId: string;
  readonly #client: KeyManagementServiceClient;
  readonly #timeoutMs: number;

  constructor(options: GcpKmsOptions) {
    this.keyId = options.keyName;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    const clientOptions: ConstructorParameters<typeof KeyManagementServiceClient>[0] = {};
    if (options.apiEndpoint) {
      const at = options.apiEndpoint.lastIndexOf(':');
      clientOptions.apiEndpoint = options.apiEndpoint.slice(0, at);
      clientOptions.port = Number(options.apiEndpoint.slice(at + 1));
    }
    if (options.sslCreds) {
      clientOptions.sslCreds = options.sslCreds;
      // Without explicit credentials gax asks google-auth for the universe domain, which probes the
      // GCE metadata server (D1); with our own channel credentials there is nothing to look up.
      clientOptions.universeDomain = 'googleapis.com';
    }
    this.#client = new KeyManagementServiceClient(clientOptions);
  }

  async encrypt(plaintext: Buffer, aad: Buffer): Promise<{ ciphertext: Buffer; keyVersion: string }> {
    let response;
    try {
      [response] = await this.#client.encrypt(
        {
          name: this.keyId,
          plaintext,
          plaintextCrc32c: { value: crc32c(plaintext) },
          additionalAuthenticatedData: aad,
          additionalAuthenticatedDataCrc32c: { value: crc32c(aad) },
        },
        { timeout: this.#timeoutMs },
      );
    } catch (err) {
      throw new VaultError(VaultErrorCode.KMS_UNAVAILABLE, `Cloud KMS encrypt with ${this.keyId} failed`, { cause: err });
    }
    if (!response.verifiedPlaintextCrc32c || !response.verifiedAdditionalAuthenticatedDataCrc32c) {
      throw new VaultError(VaultErrorCode.KMS_INTEGRITY, 'Cloud KMS encrypt: request checksums were not verified by the server');
    }
    const ciphertext = toBuffer(response.ciphertext);
    if (!ciphertext || response.ciphertextCrc32c == null || Number(response.ciphertextCrc32c.value) !== crc32c(ciphertext)) {
      throw new VaultError(VaultErrorCode.KMS_INTEGRITY, 'Cloud KMS encrypt: ciphertext checksum mismatch');
    }
    const keyVersion = response.name ?? '';
    if (!keyVersion.startsWith(`${this.keyId}/cryptoKeyVersions/`)) {
      throw new VaultError(VaultErrorCode.KMS_INTEGRITY, 'Cloud KMS encrypt: answer names another key');
    }
    return { ciphertext, keyVersion };
  }

  async decrypt(ciphertext: Buffer, aad: Buffer): Promise<Buffer> {
    let response;
    try {
      [response] = await this.#client.decrypt(
        {
          name: this.keyId,
          ciphertext,
          ciphertextCrc32c: { value: crc32c(ciphertext) },
          additionalAuthenticatedData: aad,
          additionalAuthenticatedDataCrc32c: { value: crc32c(aad) },
        },
        { timeout: this.#timeoutMs },
      );
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'number' && REFUSED_CODES.has(code)) {
        throw new VaultError(VaultErrorCode.KMS_DECRYPT_FAILED, `Cloud KMS key ${this.keyId} refused to decrypt the master key`, { cause: err });
      }
      throw new VaultError(VaultErrorCode.KMS_UNAVAILABLE, `Cloud KMS decrypt with ${this.keyId} failed`, { cause: err });
    }
    const plaintext = toBuffer(response.plaintext);
    if (!plaintext || response.plaintextCrc32c == null || Number(response.plaintextCrc32c.value) !== crc32c(plaintext)) {
      plaintext?.fill(0);
      throw new VaultError(VaultErrorCode.KMS_INTEGRITY, 'Cloud KMS decrypt: plaintext checksum mismatch');
    }
    return plaintext;
  }

  async close(): Promise<void> {
    await this.#client.close();
  }
}

function toBuffer(value: Uint8Array | string | null | undefined): Buffer | undefined {
  if (value == null) return undefined;
  return typeof value === 'string' ? Buffer.from(value, 'base64') : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}
