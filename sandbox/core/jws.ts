/**
 * UK Open Banking message signing as a sandbox bank does it (Read/Write 3.1.4+: detached JWS,
 * PS256, the critical `http://openbanking.org.uk/iat|iss|tan` header parameters, no `b64`), with
 * `jose`. The sandbox plays the trust anchor too: it makes the bank's key and the key it tells the
 * TPP to sign with, and publishes the bank's public key as a JWKS.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { errors as joseErrors, exportJWK, FlattenedSign, flattenedVerify, type JWK } from 'jose';

export const OB_IAT = 'http://openbanking.org.uk/iat';
export const OB_ISS = 'http://openbanking.org.uk/iss';
export const OB_TAN = 'http://openbanking.org.uk/tan';
/** The sandbox's own trust anchor name (it is not the Open Banking Directory). */
export const SANDBOX_TAN = 'sandbox.passerelle.invalid';
const CRIT = [OB_IAT, OB_ISS, OB_TAN];
const RECOGNISED = { [OB_IAT]: true, [OB_ISS]: true, [OB_TAN]: true } as const;
/** How old a TPP's signature may be, and how far ahead of the bank's clock. */
const MAX_AGE_SECONDS = 3600;
const MAX_FUTURE_SECONDS = 300;

export interface SigningKeyPair {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  privatePem: string;
}

// RSA key generation is slow: one pair per role and process, shared by every sandbox started in it.
const pairs = new Map<string, SigningKeyPair>();
export function signingKeyPair(kid: string): SigningKeyPair {
  let pair = pairs.get(kid);
  if (!pair) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    pair = { kid, privateKey, publicKey, privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
    pairs.set(kid, pair);
  }
  return pair;
}

/** The public half as a JWKS entry (`use: sig`, PS256). */
export async function publicJwk(pair: SigningKeyPair): Promise<JWK> {
  return { ...(await exportJWK(pair.publicKey)), kid: pair.kid, use: 'sig', alg: 'PS256' };
}

/** `x-jws-signature` of a body, signed by `pair` as `iss`. */
export async function signDetached(pair: SigningKeyPair, iss: string, body: string, nowMs: number): Promise<string> {
  const jws = await new FlattenedSign(new TextEncoder().encode(body))
    .setProtectedHeader({
      alg: 'PS256',
      kid: pair.kid,
      typ: 'JOSE',
      cty: 'application/json',
      [OB_IAT]: Math.floor(nowMs / 1000),
      [OB_ISS]: iss,
      [OB_TAN]: SANDBOX_TAN,
      crit: CRIT,
    })
    .sign(pair.privateKey, { crit: RECOGNISED });
  return `${jws.protected}..${jws.signature}`;
}

/** Why a TPP's signature is refused, as the UK error code the bank answers with. */
export type SignatureProblem = {
  code: 'UK.OBIE.Signature.Missing' | 'UK.OBIE.Signature.Malformed' | 'UK.OBIE.Signature.Invalid' | 'UK.OBIE.Signature.InvalidClaim';
  message: string;
};

/** Checks a TPP's `x-jws-signature` over the exact request body; undefined when it holds. */
export async function checkDetached(
  header: string | undefined,
  body: string,
  expected: { publicKey: KeyObject; kid: string; iss: string; nowMs: number },
): Promise<SignatureProblem | undefined> {
  if (!header) return { code: 'UK.OBIE.Signature.Missing', message: 'x-jws-signature is required on this request.' };
  const parts = header.trim().split('.');
  if (parts.length !== 3 || parts[1] !== '' || !parts[0] || !parts[2])
    return { code: 'UK.OBIE.Signature.Malformed', message: 'x-jws-signature must be a detached JWS (header..signature).' };
  let protectedHeader: Record<string, unknown> | undefined;
  try {
    ({ protectedHeader } = await flattenedVerify(
      { protected: parts[0], payload: Buffer.from(body, 'utf8').toString('base64url'), signature: parts[2] },
      expected.publicKey,
      {
        algorithms: ['PS256'],
        crit: RECOGNISED,
      },
    ));
  } catch (err) {
    if (err instanceof joseErrors.JWSSignatureVerificationFailed)
      return { code: 'UK.OBIE.Signature.Invalid', message: 'x-jws-signature does not match the body.' };
    if (err instanceof joseErrors.JOSEError) return { code: 'UK.OBIE.Signature.Malformed', message: `x-jws-signature is not a valid PS256 JWS (${err.code}).` };
    throw err;
  }
  if (!protectedHeader) return { code: 'UK.OBIE.Signature.Malformed', message: 'x-jws-signature has no protected header.' };
  const crit = Array.isArray(protectedHeader.crit) ? protectedHeader.crit : [];
  const iat = protectedHeader[OB_IAT];
  const now = expected.nowMs / 1000;
  if (!CRIT.every((c) => crit.includes(c))) return { code: 'UK.OBIE.Signature.InvalidClaim', message: 'crit must name the iat, iss and tan parameters.' };
  if (protectedHeader.kid !== expected.kid) return { code: 'UK.OBIE.Signature.InvalidClaim', message: 'kid names no key registered for this client.' };
  if (typeof iat !== 'number' || iat > now + MAX_FUTURE_SECONDS || iat < now - MAX_AGE_SECONDS)
    return { code: 'UK.OBIE.Signature.InvalidClaim', message: 'http://openbanking.org.uk/iat is missing or out of range.' };
  if (protectedHeader[OB_ISS] !== expected.iss) return { code: 'UK.OBIE.Signature.InvalidClaim', message: 'http://openbanking.org.uk/iss is not this client.' };
  if (protectedHeader[OB_TAN] !== SANDBOX_TAN)
    return { code: 'UK.OBIE.Signature.InvalidClaim', message: `http://openbanking.org.uk/tan must be ${SANDBOX_TAN}.` };
  return undefined;
}

/** Signs as a TPP with the key a sandbox client was given (sandbox tests and tools). */
export async function signAsClient(key: { pem: string; kid: string; iss: string }, body: string, nowMs = Date.now()): Promise<string> {
  const privateKey = createPrivateKey(key.pem);
  return signDetached({ kid: key.kid, privateKey, publicKey: createPublicKey(privateKey), privatePem: key.pem }, key.iss, body, nowMs);
}
