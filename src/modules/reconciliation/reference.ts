/**
 * References printed on invoices and searched for in what banks report. ISO 11649 creditor
 * references (`RF` + two check digits + up to 21 characters) are generated and verified with the
 * `node-iso11649` package; we only choose the body and normalise text.
 */
import { randomInt } from 'node:crypto';
import { generate, parse, validate } from 'node-iso11649';

// Crockford's base-32 alphabet: no I, L, O, U, so a reference read aloud or retyped stays itself.
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** Body length: 10 characters of base-32 (50 bits) keep the RF reference at 14 characters. */
const BODY_LENGTH = 10;

/**
 * A new ISO 11649 creditor reference. At 14 characters it also fits the 18 characters a UK
 * Faster Payments reference carries, so the same reference serves both.
 */
export function newCreditorReference(): string {
  let body = '';
  for (let i = 0; i < BODY_LENGTH; i++) body += ALPHABET[randomInt(ALPHABET.length)];
  return generate({ reference: body });
}

/** Whether a string (spaces and case ignored) is a valid ISO 11649 reference. */
export function isCreditorReference(text: string): boolean {
  const compact = text.replace(/\s+/g, '').toUpperCase();
  return compact.startsWith('RF') && validate(compact);
}

/** The body of a valid creditor reference (without `RF` and check digits), else null. */
export function creditorReferenceBody(text: string): string | null {
  return isCreditorReference(text) ? parse(text.replace(/\s+/g, '').toUpperCase()) : null;
}

/** FPS carries 18 characters of reference. */
export const UK_REFERENCE_MAX = 18;

/**
 * The comparable form of a reference or a remittance text: upper case, letters and digits only
 * (spaces, dashes, slashes, dots and other separators dropped; accents folded).
 */
export function normaliseReference(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toUpperCase()
    .replace(/[^0-9A-Z]/g, '');
}
