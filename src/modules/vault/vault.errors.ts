/**
 * Stable error codes of the vault. Callers branch on `code`; messages are for operators and never
 * contain plaintext, key material or sealed values.
 */
export enum VaultErrorCode {
  /** tenantId, ownerId or purpose is missing or malformed. */
  INVALID_CONTEXT = 'VAULT_INVALID_CONTEXT',
  /** The value is not a sealed value this vault understands (unknown format or truncated). */
  MALFORMED_SEALED_VALUE = 'VAULT_MALFORMED_SEALED_VALUE',
  /**
   * Authentication failed: the value was sealed for another tenant, owner or purpose, or it was
   * altered. One code for all of these on purpose, so the error is no oracle.
   */
  OPEN_FAILED = 'VAULT_OPEN_FAILED',
  /** No data key exists for this value (never created here, or from another database). */
  KEY_NOT_FOUND = 'VAULT_KEY_NOT_FOUND',
  /** The owner's data key was deleted (crypto-shredding): its values are gone for good. */
  KEY_SHREDDED = 'VAULT_KEY_SHREDDED',
  /** A data key refers to a master key version that does not exist or has been retired. */
  KEY_VERSION_UNKNOWN = 'VAULT_KEY_VERSION_UNKNOWN',
  /** A wrapped data key does not authenticate under its master key version (database tampering). */
  KEY_INTEGRITY = 'VAULT_KEY_INTEGRITY',
  /** The KMS could not be reached or refused the call (network, permission, quota). */
  KMS_UNAVAILABLE = 'VAULT_KMS_UNAVAILABLE',
  /** A KMS answer failed its CRC32C checks: corrupted in transit, never used. */
  KMS_INTEGRITY = 'VAULT_KMS_INTEGRITY',
  /** The KMS could not decrypt the master key: wrong KMS key, wrong local key file, or tampering. */
  KMS_DECRYPT_FAILED = 'VAULT_KMS_DECRYPT_FAILED',
  /** The local key file is refused (live environment without ALLOW_LOCAL_KMS_IN_LIVE, bad file). */
  LOCAL_KMS_REFUSED = 'VAULT_LOCAL_KMS_REFUSED',
  /** Another process holds the rotation lock. */
  ROTATION_BUSY = 'VAULT_ROTATION_BUSY',
  /** The vault was closed; its keys are zeroed. */
  CLOSED = 'VAULT_CLOSED',
  /** A programmer error; details go to the log, not to users. */
  INTERNAL = 'VAULT_INTERNAL',
}

/** The one error type the vault throws. Carries no secret: safe to log and to map to GraphQL. */
export class VaultError extends Error {
  override readonly name = 'VaultError';

  constructor(
    readonly code: VaultErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: scrubCause(options.cause) });
  }

  toJSON(): { name: string; code: VaultErrorCode; message: string } {
    return { name: this.name, code: this.code, message: this.message };
  }
}

/** True when `err` is a VaultError, optionally with the given code. */
export function isVaultError(err: unknown, code?: VaultErrorCode): err is VaultError {
  return err instanceof VaultError && (code === undefined || err.code === code);
}

/**
 * Keeps only the class name, message and gRPC status of an underlying failure: library errors can
 * hold request objects (and with them key material), which must not travel with ours.
 */
function scrubCause(cause: unknown): Error {
  if (cause instanceof Error) {
    const copy = new Error(cause.message.slice(0, 500));
    copy.name = cause.name;
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'number' || typeof code === 'string') Object.assign(copy, { code });
    return copy;
  }
  return new Error(String(cause).slice(0, 200));
}
