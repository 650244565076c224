/**
 * The vault's byte formats, in one place: AES-256-GCM with a fresh 96-bit nonce per encryption,
 * and the additional authenticated data (AAD) that binds every ciphertext to where it belongs.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const NONCE = 12;
const TAG = 16;

/** AES-256-GCM: nonce ‖ ciphertext ‖ tag. */
export function gcmSeal(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const nonce = randomBytes(NONCE);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(aad);
  const body = cipher.update(plaintext);
  const last = cipher.final();
  return Buffer.concat([nonce, body, last, cipher.getAuthTag()]);
}

/** Inverse of gcmSeal; throws (without detail) when the tag does not verify. */
export function gcmOpen(key: Buffer, blob: Buffer, aad: Buffer): Buffer {
  if (blob.length < NONCE + TAG) throw new Error('too short');
  const decipher = createDecipheriv('aes-256-gcm', key, blob.subarray(0, NONCE));
  decipher.setAAD(aad);
  decipher.setAuthTag(blob.subarray(blob.length - TAG));
  const body = decipher.update(blob.subarray(NONCE, blob.length - TAG));
  const last = decipher.final();
  return last.length === 0 ? body : Buffer.concat([body, last]);
}

// AADs are JSON arrays: unambiguous (no separator can be smuggled in a field) and versioned.

/** Binds a wrapped master key to its version. */
export function masterKeyAad(version: number): Buffer {
  return Buffer.from(JSON.stringify(['passerelle.vault.master-key', 1, version]));
}

/** Binds a wrapped data key to its row, its owner and the master key version that wraps it. */
export function dataKeyAad(dataKeyId: string, tenantId: string, ownerId: string, masterVersion: number): Buffer {
  return Buffer.from(JSON.stringify(['passerelle.vault.data-key', 1, dataKeyId, tenantId, ownerId, masterVersion]));
}

/** Binds a sealed value to its data key, tenant, owner and purpose. */
export function sealAad(dataKeyId: string, tenantId: string, ownerId: string, purpose: string): Buffer {
  return Buffer.from(JSON.stringify(['passerelle.vault.sealed', 1, dataKeyId, tenantId, ownerId, purpose]));
}

/** Prefix of every sealed value: recognisable in a column, versioned for future formats. */
export const SEALED_PREFIX = 'vault:v1:';
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const UUID_BYTES = 16;

/** `vault:v1:` + base64url(data key id (16 bytes) ‖ nonce ‖ ciphertext ‖ tag). */
export function encodeSealed(dataKeyId: string, blob: Buffer): string {
  return SEALED_PREFIX + Buffer.concat([uuidToBytes(dataKeyId), blob]).toString('base64url');
}

/** Splits a sealed value; undefined when it is not one. */
export function decodeSealed(sealed: string): { dataKeyId: string; blob: Buffer } | undefined {
  if (typeof sealed !== 'string' || !sealed.startsWith(SEALED_PREFIX)) return undefined;
  const body = sealed.slice(SEALED_PREFIX.length);
  if (!BASE64URL.test(body)) return undefined;
  const bytes = Buffer.from(body, 'base64url');
  if (bytes.length < UUID_BYTES + NONCE + TAG) return undefined;
  return { dataKeyId: bytesToUuid(bytes.subarray(0, UUID_BYTES)), blob: bytes.subarray(UUID_BYTES) };
}

function uuidToBytes(uuid: string): Buffer {
  return Buffer.from(uuid.replace(/-/g, ''), 'hex');
}

function bytesToUuid(bytes: Buffer): string {
  const h = bytes.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
