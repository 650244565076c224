/**
 * Signed request objects (RFC 9101 JAR, OpenID Connect §6.1), as UK Open Banking banks ask for
 * them under FAPI: the authorisation request's parameters, `openbanking_intent_id` claims
 * included, in a JWT signed with the TPP's key. BankOAuth hands the parameters it generated
 * (state, nonce, PKCE challenge, redirect URI) to the builder, so the object repeats them exactly.
 */
import { createPrivateKey, randomUUID, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { BankClientConfigError } from '../../errors';
import type { AuthorizationRequestContext, ClientAssertionKey } from '../../oauth';

/** How long a request object is good for: FAPI asks for `exp` at most 60 minutes after `nbf`. */
const LIFETIME_SECONDS = 300;

/**
 * A request-object signer for one key (signing by jose, as openid-client does for its own JWTs);
 * throws {@link BankClientConfigError} when the key does not fit its algorithm.
 */
export function requestObjectSigner(
  institutionId: string,
  key: ClientAssertionKey,
): (ctx: AuthorizationRequestContext, claims: unknown, nowMs?: number) => Promise<string> {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key.pem);
  } catch {
    throw new BankClientConfigError(institutionId, 'the request-object signing key is not a usable private key');
  }
  const type = privateKey.asymmetricKeyType;
  if ((key.alg === 'ES256' && type !== 'ec') || (key.alg !== 'ES256' && type !== 'rsa' && type !== 'rsa-pss')) {
    throw new BankClientConfigError(institutionId, `the request-object signing key does not fit ${key.alg}`);
  }
  return async (ctx, claims, nowMs = Date.now()) => {
    const now = Math.floor(nowMs / 1000);
    const header = { alg: key.alg, typ: 'oauth-authz-req+jwt', ...(key.kid ? { kid: key.kid } : {}) };
    const payload = {
      iss: ctx.clientId,
      aud: ctx.issuer,
      client_id: ctx.clientId,
      response_type: 'code',
      redirect_uri: ctx.redirectUri,
      scope: ctx.scope,
      state: ctx.state,
      ...(ctx.nonce ? { nonce: ctx.nonce } : {}),
      code_challenge: ctx.codeChallenge,
      code_challenge_method: ctx.codeChallengeMethod,
      claims,
      iat: now,
      nbf: now,
      exp: now + LIFETIME_SECONDS,
      jti: randomUUID(),
    };
    return new SignJWT(payload).setProtectedHeader(header).sign(privateKey);
  };
}
