/**
 * UK Open Banking message signing (`x-jws-signature`, Read/Write API profile 3.1.4 and later, so
 * 3.1.11): a detached JWS (RFC 7515 appendix F) over the exact body bytes, PS256, with the three
 * critical OB header parameters `http://openbanking.org.uk/iat` (seconds), `…/iss` (the signer:
 * `{org-id}/{software-statement-id}` for a TPP, `{org-id}` for a bank) and `…/tan` (the trust
 * anchor that publishes the signer's keys). From 3.1.4 the `b64` parameter is gone: the payload is
 * base64url-encoded in the signing input like any JWS. Signing and verifying go through `jose`.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import {
  createRemoteJWKSet,
  customFetch,
  errors as joseErrors,
  FlattenedSign,
  flattenedVerify,
  type FlattenedVerifyGetKey,
  type JWSHeaderParameters,
} from 'jose';
import { BankClientConfigError, BankError, BankResponseInvalid, BankUnavailable } from '../../errors';
import type { UkJwsSigningKey } from '../index';

export const OB_IAT = 'http://openbanking.org.uk/iat';
export const OB_ISS = 'http://openbanking.org.uk/iss';
export const OB_TAN = 'http://openbanking.org.uk/tan';
/** The Open Banking Directory, the usual trust anchor. */
export const OB_DIRECTORY_TAN = 'openbanking.org.uk';
const CRIT = [OB_IAT, OB_ISS, OB_TAN];
/** What `jose` needs to know to accept those parameters as critical. */
const RECOGNISED_CRIT = { [OB_IAT]: true, [OB_ISS]: true, [OB_TAN]: true } as const;

/** Signs bodies with the operator's key; throws {@link BankClientConfigError} when the key is not an RSA key. */
export function ukJwsSigner(institutionId: string, key: UkJwsSigningKey): (body: string, nowMs?: number) => Promise<string> {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key.pem);
  } catch {
    throw new BankClientConfigError(institutionId, 'the x-jws-signature key is not a usable private key');
  }
  if (privateKey.asymmetricKeyType !== 'rsa' && privateKey.asymmetricKeyType !== 'rsa-pss') {
    throw new BankClientConfigError(institutionId, 'the x-jws-signature key must be an RSA key (PS256)');
  }
  return async (body, nowMs = Date.now()) => {
    const jws = await new FlattenedSign(new TextEncoder().encode(body))
      .setProtectedHeader({
        alg: 'PS256',
        kid: key.kid,
        typ: 'JOSE',
        cty: 'application/json',
        [OB_IAT]: Math.floor(nowMs / 1000),
        [OB_ISS]: key.iss,
        [OB_TAN]: key.tan ?? OB_DIRECTORY_TAN,
        crit: CRIT,
      })
      .sign(privateKey, { crit: RECOGNISED_CRIT });
    // Detached: the payload part stays empty; the body travels as the body.
    return `${jws.protected}..${jws.signature}`;
  };
}

/** How a bank's signatures are checked. */
export interface UkJwsVerifierOptions {
  institutionId: string;
  /** The bank's published signing keys (JWKS), e.g. its directory keystore URL. */
  jwksUrl: string;
  /** The trust anchor the bank's `tan` must name; default `openbanking.org.uk`. */
  tan?: string;
  /** The bank's `iss` (its org id), when the registry knows it; otherwise any `iss` with a key in the JWKS passes. */
  iss?: string;
  /** How far `iat` may lie in the future (clock skew), in seconds. Default 300. */
  maxFutureSeconds?: number;
  /** Transport for the JWKS (tests, mTLS); default the global fetch. */
  fetch?: typeof fetch;
  now?: () => number;
}

/**
 * Returns the check of one answer: `undefined` when `x-jws-signature` verifies against the exact
 * body, else the {@link BankError} to throw (`BankResponseInvalid` for a missing, malformed or
 * wrong signature; `BankUnavailable` when the bank's JWKS cannot be fetched).
 */
export function ukJwsVerifier(options: UkJwsVerifierOptions): (operation: string, body: string, headers: Headers) => Promise<BankError | undefined> {
  const { institutionId } = options;
  const fetchImpl = options.fetch;
  const jwks = createRemoteJWKSet(new URL(options.jwksUrl), {
    timeoutDuration: 10_000,
    ...(fetchImpl ? { [customFetch]: (url: string, init: RequestInit) => fetchImpl(url, init) } : {}),
  });
  const now = options.now ?? Date.now;
  const tan = options.tan ?? OB_DIRECTORY_TAN;
  const maxFuture = options.maxFutureSeconds ?? 300;

  return async (operation, body, headers) => {
    const invalid = (why: string) =>
      new BankResponseInvalid(`${operation} at ${institutionId}: the bank's x-jws-signature ${why}`, { institutionId, operation });
    const value = headers.get('x-jws-signature');
    if (!value) return invalid('is missing');
    const parts = value.trim().split('.');
    if (parts.length !== 3 || parts[1] !== '' || !parts[0] || !parts[2]) return invalid('is not a detached JWS');
    let header: JWSHeaderParameters;
    try {
      ({ protectedHeader: header } = (await flattenedVerify(
        { protected: parts[0], payload: Buffer.from(body, 'utf8').toString('base64url'), signature: parts[2] },
        jwks as unknown as FlattenedVerifyGetKey,
        { algorithms: ['PS256'], crit: RECOGNISED_CRIT },
      )) as { protectedHeader: JWSHeaderParameters });
    } catch (err) {
      // The JWKS could not be had: a timeout, a non-200 answer, or a network failure of the fetch.
      const unreachable =
        err instanceof joseErrors.JWKSTimeout ||
        (err instanceof joseErrors.JOSEError && err.code === 'ERR_JOSE_GENERIC' && /JSON Web Key Set/i.test(err.message)) ||
        (err instanceof TypeError && /fetch/i.test(err.message));
      if (unreachable) {
        return new BankUnavailable(`${operation} at ${institutionId}: the bank's signing keys (JWKS) cannot be fetched`, { institutionId, operation });
      }
      if (err instanceof joseErrors.JWSSignatureVerificationFailed) return invalid('does not match the body');
      if (err instanceof joseErrors.JWKSNoMatchingKey) return invalid('names a key the bank does not publish');
      if (err instanceof joseErrors.JOSEError) return invalid(`is malformed (${err.code})`);
      throw err;
    }
    const crit = Array.isArray(header.crit) ? header.crit : [];
    if (!CRIT.every((c) => crit.includes(c))) return invalid('lacks the Open Banking critical parameters');
    const iat = header[OB_IAT];
    if (typeof iat !== 'number' || !Number.isFinite(iat) || iat > now() / 1000 + maxFuture) return invalid('has no valid http://openbanking.org.uk/iat');
    if (header[OB_TAN] !== tan) return invalid(`names another trust anchor than ${tan}`);
    if (typeof header[OB_ISS] !== 'string' || (options.iss !== undefined && header[OB_ISS] !== options.iss)) return invalid('names another signer');
    return undefined;
  };
}
