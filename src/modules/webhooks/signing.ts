import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';

/** Standard Webhooks secrets are `whsec_` + base64 of the key bytes (what `standardwebhooks` and Svix libraries accept). */
export const SECRET_PREFIX = 'whsec_';

/** A new signing secret: 32 random bytes. */
export function newSigningSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

/** An endpoint's secret ready to sign with: decoded once, not per request. */
export type SigningKey = KeyObject;

/**
 * The keys of an endpoint's secrets, in order. Decoding a secret and handing raw bytes to HMAC
 * on every request cost several times the HMAC itself; a KeyObject is prepared once per lease.
 */
export function signingKeys(secrets: readonly string[]): SigningKey[] {
  return secrets.map((secret) => createSecretKey(Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64')));
}

/**
 * The `webhook-signature` header: `v1,<base64 HMAC-SHA256(id.timestamp.body)>` for each key,
 * space-separated — during a rotation both the new and the old secret sign, so a receiver holding
 * either verifies.
 */
export function signatureHeader(keys: readonly SigningKey[], id: string, timestampSeconds: number, body: string): string {
  const signed = `${id}.${timestampSeconds}.${body}`;
  return keys.map((key) => `v1,${createHmac('sha256', key).update(signed).digest('base64')}`).join(' ');
}
