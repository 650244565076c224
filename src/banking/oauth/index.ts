/**
 * OAuth 2.0 / OpenID Connect towards the banks' authorisation servers, on openid-client v6.
 *
 * ```ts
 * const oauth = await BankOAuth.discover({
 *   institutionId: 'thames', issuer, clientId, clientSecret,
 *   redirectUri: 'https://gateway.example/callback',
 *   sandbox: institution.environment === 'sandbox', // the only way to allow http:// issuers
 * });
 * const start = await oauth.startAuthorization({ scope: 'openid accounts', extraParams: { claims } });
 * // keep start.state, start.codeVerifier (secret: seal it), start.nonce, start.redirectUri; send the PSU to start.url
 * const tokens = await oauth.completeAuthorization({ callbackUrl, expected: start });
 * const later = await oauth.refresh(tokens.refreshToken!);
 * ```
 *
 * Options worth knowing: `usePar` (auto/never/required), a caller-chosen `state`, a per-call
 * `redirectUri`, `requestObjectKey` (signed request objects, UK/FAPI), `clientAssertionKey`
 * (private_key_jwt), `mtls` (QWAC), `onCall` (audit events without secrets).
 *
 * Every failure is an {@link OAuthError}; branch on its `code` ({@link OAuthErrorCode}).
 */
export {
  BankOAuth,
  discoveryFormOf,
  issuerFromMetadataUrl,
  type AuthorizationRequestContext,
  type AuthorizationStart,
  type BankOAuthCapabilities,
  type BankOAuthOptions,
  type ClientAssertionKey,
  type DiscoveryForm,
  type ExpectedAuthorization,
  type OAuthCallEvent,
  type OAuthFetch,
  type OAuthTokens,
  type ParMode,
  type StartAuthorizationInput,
  type TokenEndpointAuthMethod,
} from './bank-oauth';
export { bankErrorFromOAuth } from './bank-error-from-oauth';
export { DiscoveryCache, DEFAULT_DISCOVERY_TTL_MS, sharedDiscoveryCache } from './discovery-cache';
export { OAuthError, OAuthErrorCode, isOAuthError, type OAuthOperation } from './oauth.errors';
