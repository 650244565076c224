/**
 * The port the vault uses to wrap and unwrap its master key. It is called once per master key
 * version at start-up and once per rotation, never per request.
 */
export interface KmsProvider {
  /** `local` (key file) or `gcp` (Cloud KMS). */
  readonly kind: 'local' | 'gcp';
  /**
   * Which KMS key this provider uses, as stored beside each wrapped master key: the cryptoKey
   * resource name, or a fingerprint of the local key file. Not secret.
   */
  readonly keyId: string;
  /** Encrypts `plaintext` bound to `aad`; returns the ciphertext and the key version that made it. */
  encrypt(plaintext: Buffer, aad: Buffer): Promise<{ ciphertext: Buffer; keyVersion: string }>;
  /** Decrypts what `encrypt` returned with the same `aad`. */
  decrypt(ciphertext: Buffer, aad: Buffer): Promise<Buffer>;
  /** Releases connections and zeroes any key held in memory. */
  close(): Promise<void>;
}
