import { createHash, generateKeyPairSync } from 'node:crypto';
import Provider, { type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { Bank } from './bank';
import type { MemoryStore } from './oidc-store';
import escapeHtml from 'escape-html';

/** Scopes every sandbox bank understands, across the three standards. */
export const BANK_SCOPES = ['accounts', 'payments', 'aisp', 'pisp', 'extended_transaction_history', 'cbpii'];

const isLoopback = (value: string): boolean => {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  } catch {
    return false;
  }
};

/**
 * The bank's own OAuth 2.0 / OIDC authorisation server (oidc-provider): discovery, PKCE S256, PAR,
 * client credentials, refresh tokens and token lifetimes. Its issuer is plain http: sandbox only.
 */
export function createProvider(bank: Bank, store: MemoryStore): Provider {
  const apiResource = bank.info.apiBaseUrl;
  const cookieKey = createHash('sha256').update(`${bank.ctx.adminToken}/${bank.def.id}/cookies`).digest('base64url');
  // Each bank signs with its own key (EC P-256: fast to generate at start-up).
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: `${bank.def.id}-1`, use: 'sig', alg: 'ES256' };
  const configuration: Configuration = {
    jwks: { keys: [jwk as never] },
    adapter: (model: string) => store.adapterFor(model),
    clients: [
      {
        client_id: bank.client.clientId,
        client_secret: bank.client.clientSecret,
        redirect_uris: bank.client.redirectUris,
        grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
        response_types: ['code'],
        token_endpoint_auth_method: bank.client.tokenEndpointAuthMethod,
        id_token_signed_response_alg: 'ES256',
        ...(bank.ctx.clientJwks ? { jwks: bank.ctx.clientJwks as never } : {}),
      },
    ],
    cookies: { keys: [cookieKey] },
    scopes: ['openid', 'offline_access', ...BANK_SCOPES],
    // UK OBIE asks for the consent through this essential claim (claims parameter or request object).
    claims: { openid: ['sub'], openbanking_intent_id: null },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: false },
      claimsParameter: { enabled: true },
      // Signed request objects (the `request` parameter, also through PAR), verified with the client's jwks.
      requestObjects: { enabled: true, requireSignedRequestObject: false },
      introspection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => apiResource,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: BANK_SCOPES.join(' '),
          audience: apiResource,
          accessTokenFormat: 'opaque',
          accessTokenTTL: bank.def.accessTokenTtlSeconds,
        }),
      },
    },
    pkce: { required: () => false },
    ttl: {
      AccessToken: bank.def.accessTokenTtlSeconds,
      ClientCredentials: bank.def.accessTokenTtlSeconds,
      AuthorizationCode: 300,
      RefreshToken: bank.def.refreshTokenTtlSeconds,
      Grant: bank.def.refreshTokenTtlSeconds,
      Interaction: 3600,
      Session: 3600,
      PushedAuthorizationRequest: 300,
    },
    interactions: {
      url: (_ctx: KoaContextWithOIDC, interaction) => `${bank.basePath}/sca/interaction/${interaction.uid}`,
    },
    findAccount: async (ctx, sub) => ({
      accountId: sub,
      claims: async () => {
        const entities = ctx.oidc.entities as { AuthorizationCode?: { grantId?: string }; RefreshToken?: { grantId?: string }; Grant?: { jti?: string } };
        const grantId = entities.AuthorizationCode?.grantId ?? entities.RefreshToken?.grantId ?? entities.Grant?.jti;
        const link = grantId ? bank.grantLinks.get(grantId) : undefined;
        const intent = link?.consentId ?? link?.paymentId;
        return { sub, ...(intent ? { openbanking_intent_id: intent } : {}) };
      },
    }),
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    // Lifetimes are checked on the bank clock: remember when (in bank time) each token was issued.
    extraTokenClaims: async () => ({ bank_iat: bank.clock.nowSeconds() }),
    clientBasedCORS: () => true,
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = `<!doctype html><html><head><title>${escapeHtml(bank.info.name)}: error</title></head><body><h1>${escapeHtml(bank.info.name)}</h1><p id="error">${escapeHtml(String(out.error))}: ${escapeHtml(String(out.error_description ?? ''))}</p></body></html>`;
    },
  };
  const provider = new Provider(bank.info.issuer, configuration);
  provider.proxy = true;
  // Tests and local tools redirect to any loopback URI; the gateway's /callback is registered.
  const allowed = provider.Client.prototype.redirectUriAllowed;
  provider.Client.prototype.redirectUriAllowed = function redirectUriAllowed(this: InstanceType<typeof provider.Client>, value: string) {
    return isLoopback(value) || allowed.call(this, value);
  };
  // Refresh tokens also age on the bank clock: remember when (bank time) each was first saved.
  const refreshIssued = new Map<string, number>();
  provider.on('refresh_token.saved', (token: { jti: string }) => {
    if (!refreshIssued.has(token.jti)) refreshIssued.set(token.jti, bank.clock.nowSeconds());
  });
  Object.defineProperty(provider.RefreshToken.prototype, 'isExpired', {
    get(this: { jti: string; iat: number; exp: number }) {
      if (this.exp <= Math.floor(Date.now() / 1000)) return true;
      const issued = refreshIssued.get(this.jti);
      return issued !== undefined && bank.clock.nowSeconds() >= issued + (this.exp - this.iat);
    },
  });
  provider.on('server_error', (_ctx, err) => bank.log.error({ err }, 'oidc server error'));
  return provider;
}
