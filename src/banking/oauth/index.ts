export {
  BankOAuth,
  issuerFromMetadataUrl,
  type AuthorizationRequestContext,
  type AuthorizationStart,
  type BankOAuthCapabilities,
  type BankOAuthOptions,
  type ClientAssertionKey,
  type ExpectedAuthorization,
  type OAuthCallEvent,
  type OAuthFetch,
  type OAuthTokens,
  type ParMode,
  type StartAuthorizationInput,
  type TokenEndpointAuthMethod,
} from './bank-oauth';
export { DiscoveryCache, DEFAULT_DISCOVERY_TTL_MS, sharedDiscoveryCache } from './discovery-cache';
export { OAuthError, OAuthErrorCode, isOAuthError, type OAuthOperation } from './oauth.errors';
