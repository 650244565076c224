/**
 * Identifiers the adapters send with a payment, derived from the gateway's idempotency key so
 * that every try of the same payment carries the same ones: a bank that recognises a repeated
 * request (by `X-Request-ID`, `x-idempotency-key` or the instruction id) then answers the payment
 * it already has instead of creating a second one.
 */
import { createHash } from 'node:crypto';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const digest = (purpose: string, key: string) => createHash('sha256').update(`passerelle/${purpose}/${key}`).digest();

/** A UUID for `X-Request-ID`: the key itself when it is a UUID, else a name-based UUID (version 5 layout, SHA-256) of it. */
export function paymentRequestId(idempotencyKey: string): string {
  if (UUID.test(idempotencyKey)) return idempotencyKey.toLowerCase();
  const b = digest('request-id', idempotencyKey).subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x50;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * An ISO 20022 instruction/message id (at most 35 characters of `[A-Za-z0-9]`): stable for the key,
 * so a repeated body is byte-for-byte the same.
 */
export function paymentInstructionId(idempotencyKey: string): string {
  return `PSR${digest('instruction-id', idempotencyKey).toString('hex').slice(0, 32)}`;
}

/** UK `x-idempotency-key` (at most 40 characters): the key itself when it fits, else its request id. */
export function ukIdempotencyKey(idempotencyKey: string): string {
  return idempotencyKey.length <= 40 && /^[\x21-\x7e]+$/.test(idempotencyKey) ? idempotencyKey : paymentRequestId(idempotencyKey);
}

/** A URL with query parameters set (the callback's `state`, a failure marker). */
export function withQuery(uri: string, params: Record<string, string>): string {
  const url = new URL(uri);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.href;
}
