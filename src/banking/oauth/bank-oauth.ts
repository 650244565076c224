import { createHash, createPrivateKey, timingSafeEqual, webcrypto } from 'node:crypto';
import { inspect } from 'node:util';
import * as client from 'openid-client';
import { sharedDiscoveryCache, type DiscoveryCache } from './discovery-cache';
import { createMtlsTransport, type MtlsOptions } from '../http/mtls';
import { callbackError, OAuthError, OAuthErrorCode, toOAuthError, type OAuthOperation } from './oauth.errors';

/** How the gateway authenticates to the bank's token endpoint. */
export type TokenEndpointAuthMethod =
  'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'tls_client_auth' | 'self_signed_tls_client_auth' | 'none';

/**
 * The transport for every request to the authorisation server: `fetch`'s arguments, with form
 * bodies already serialised to strings (so any fetch-like client, mTLS included, can send them).
 */
export type OAuthFetch = client.CustomFetch;

/** One HTTP exchange with the bank's authorisation server, for the audit journal and metrics. No secrets. */
export interface OAuthCallEvent {
  institutionId: string;
  operation: OAuthOperation | 'other';
  method: string;
  /** The endpoint, without query string. */
  url: string;
  /** HTTP status, or 0 when no answer came (network error, timeout). */
  status: number;
  latencyMs: number;
}

/** Key that signs `private_key_jwt` client assertions (UK Open Banking usually asks for PS256). */
export interface ClientAssertionKey {
  /** PEM private key (PKCS#8 or PKCS#1/SEC1). */
  pem: string;
  alg: 'PS256' | 'ES256' | 'RS256';
  /** Key id the bank knows the key by (from the software statement's JWKS). */
  kid?: string;
}

/** Everything needed to talk OAuth to one bank. */
export interface BankOAuthOptions {
  /** Institution id: named in errors and call events. */
  institutionId: string;
  /** Issuer identifier of the bank's authorisation server (discovery at its well-known URL). */
  issuer: string;
  clientId: string;
  clientSecret?: string;
  /**
   * Default: `client_secret_basic` with a secret, `tls_client_auth` with mTLS and no secret,
   * `private_key_jwt` with a `clientAssertionKey`, else `none`.
   */
  tokenEndpointAuthMethod?: TokenEndpointAuthMethod;
  clientAssertionKey?: ClientAssertionKey;
  /**
   * Key that signs authorisation requests as request objects (JAR, RFC 9101; UK OBIE / FAPI). With
   * it, every authorisation request is signed unless `startAuthorization({ signedRequest: false })`.
   */
  requestObjectKey?: ClientAssertionKey;
  /**
   * The gateway's callback, exactly as registered at the bank. Optional: a client that only
   * refreshes, revokes or gets client-credentials tokens needs none, and each authorisation may
   * name its own (`startAuthorization({ redirectUri })`).
   */
  redirectUri?: string;
  /**
   * True only for sandbox institutions: allows plain `http://` issuers, endpoints and redirect
   * URIs. Anything else refuses them with INSECURE_ISSUER before sending a request.
   */
  sandbox: boolean;
  /**
   * Client certificate (QWAC) presented on every https request to the authorisation server, through
   * the bank HTTP layer's mTLS transport. Ignored when `fetch` is given. Call `close()` when done.
   */
  mtls?: MtlsOptions;
  /**
   * Transport for every request (default: global fetch, or a certificate-presenting one with
   * `mtls`). Must not retry POSTs on its own: an authorisation code is good for one try.
   */
  fetch?: OAuthFetch;
  /**
   * Where the metadata lives: `oidc` (default) `<issuer>/.well-known/openid-configuration`;
   * `oauth2` RFC 8414 `/.well-known/oauth-authorization-server<issuer path>`; `oauth2-suffix`
   * `<issuer>/.well-known/oauth-authorization-server` (the form of the Berlin Group's own OAuth
   * examples). In every form the metadata's `issuer` must equal the issuer.
   */
  discoveryAlgorithm?: DiscoveryForm;
  /** Seconds before a request to the bank is abandoned; default 15. */
  timeoutSeconds?: number;
  /** Where discovered metadata is kept; default one cache shared by the process. */
  discoveryCache?: DiscoveryCache;
  /** Called after every HTTP exchange with the authorisation server; must not throw. */
  onCall?: (event: OAuthCallEvent) => void;
  /** Clock for `expiresAt`; default Date.now. */
  now?: () => number;
}

/** When to push the authorisation request first (RFC 9126). */
export type ParMode = 'auto' | 'never' | 'required';

/** What the authorisation request carries that extra parameters may need to repeat (UK request objects). */
export interface AuthorizationRequestContext {
  clientId: string;
  issuer: string;
  redirectUri: string;
  scope: string;
  state: string;
  nonce?: string;
  codeChallenge: string;
  codeChallengeMethod: 'S256';
}

export interface StartAuthorizationInput {
  /** Space-separated string or list; `openid` in it adds a nonce. */
  scope: string | readonly string[];
  /**
   * Parameters the bank's standard adds (UK `claims` or signed `request` object, Berlin Group
   * consent references…). A function gets the generated state, nonce and challenge, so a request
   * object can repeat them. They cannot replace the security parameters.
   */
  extraParams?: Record<string, string> | ((ctx: AuthorizationRequestContext) => Record<string, string> | Promise<Record<string, string>>);
  /** `auto` (default): PAR when the bank advertises it; `never`; `required`: fail without PAR. */
  usePar?: ParMode;
  /** Callback for this authorisation; default the client's `redirectUri`. */
  redirectUri?: string;
  /** Send the request as a signed request object; default true when the client has a `requestObjectKey`. */
  signedRequest?: boolean;
  /**
   * The `state` to send, when the caller finds its attempt by it on the way back (the gateway's
   * consent flow does). It must be unguessable: at least 128 bits from a CSPRNG (22 base64url
   * characters); 22–200 URL-safe characters are required. Default: a fresh random value.
   */
  state?: string;
}

/** Keep all of it server-side, bound to the consent; only `url` goes to the browser. */
export interface AuthorizationStart {
  /** Where to send the PSU. */
  url: string;
  state: string;
  /** Secret: never log it, never send it to the browser. */
  codeVerifier: string;
  /** Present when the scope has `openid`. */
  nonce?: string;
  /** True when the request was pushed (the URL carries only `client_id` and `request_uri`). */
  pushed: boolean;
  /** True when the request was sent as a signed request object (JAR). */
  signed: boolean;
  /** The callback the bank will redirect to; the code exchange must name the same. */
  redirectUri: string;
}

/** What `completeAuthorization` checks the callback against. */
export interface ExpectedAuthorization {
  state: string;
  codeVerifier: string;
  nonce?: string;
  /** The redirect URI the authorisation started with; default the client's `redirectUri`. */
  redirectUri?: string;
}

/** Tokens in one shape, whatever the bank sent. Secrets: seal them, never log them. */
export interface OAuthTokens {
  accessToken: string;
  /** `Bearer` (or the bank's type, e.g. `DPoP`). */
  tokenType: string;
  refreshToken?: string;
  /** From `expires_in`, on the gateway clock. */
  expiresAt?: Date;
  /** Scope the bank granted, when it says. */
  scope?: string;
  /** Claims of the ID token, when there was one (UK: `openbanking_intent_id`). */
  idTokenClaims?: Readonly<Record<string, unknown>>;
}

/** What the bank's authorisation server offers, as discovered. */
export interface BankOAuthCapabilities {
  pushedAuthorizationRequests: boolean;
  /** RFC 9207 `iss` in authorisation responses. */
  issuerInAuthorizationResponse: boolean;
  revocation: boolean;
}

/** Parameters an adapter cannot set: they are this layer's security guarantees. */
const RESERVED_PARAMS = new Set([
  'client_id',
  'redirect_uri',
  'response_type',
  'scope',
  'state',
  'nonce',
  'code_challenge',
  'code_challenge_method',
  'request_uri',
]);

const sha256 = (s: string) => createHash('sha256').update(s).digest();
/** Constant-time equality, so a forged callback learns nothing from timing. */
const sameSecret = (a: string, b: string) => timingSafeEqual(sha256(a), sha256(b));

function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

/** Why a redirect URI cannot be used, if it cannot: not http(s), or plain http outside the sandbox. */
function redirectUriProblem(value: string, sandbox: boolean): { code: OAuthErrorCode; message: string } | undefined {
  const url = parseUrl(value);
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.hash) {
    return { code: OAuthErrorCode.INVALID_ARGUMENT, message: 'the redirect URI is not an http(s) URL without fragment' };
  }
  if (url.protocol === 'http:' && !sandbox) {
    return { code: OAuthErrorCode.INSECURE_ISSUER, message: 'the redirect URI is plain http and this institution is not a sandbox' };
  }
  return undefined;
}

async function importAssertionKey(key: ClientAssertionKey): Promise<client.PrivateKey> {
  const der = createPrivateKey(key.pem).export({ format: 'der', type: 'pkcs8' });
  const algorithm =
    key.alg === 'ES256' ? { name: 'ECDSA', namedCurve: 'P-256' } : { name: key.alg === 'PS256' ? 'RSA-PSS' : 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const cryptoKey = await webcrypto.subtle.importKey('pkcs8', der, algorithm, false, ['sign']);
  return { key: cryptoKey as unknown as client.CryptoKey, ...(key.kid ? { kid: key.kid } : {}) };
}

/**
 * The OAuth 2.0 / OIDC client the bank adapters use, one per institution and client registration,
 * built on openid-client: discovery (cached per issuer), authorisation code with PKCE S256, PAR
 * where the bank offers it, `state` and RFC 9207 `iss` checks, refresh, client credentials and
 * revocation. Every failure is an {@link OAuthError} with a stable code; nothing it throws or
 * reports contains a code, verifier, token or secret.
 */
export class BankOAuth {
  // ES private fields: `inspect` and JSON never show them, so a logged client shows no secret.
  readonly #options: Readonly<BankOAuthOptions>;
  readonly #config: client.Configuration;
  readonly #metadata: Readonly<client.ServerMetadata>;
  /** Code → redirect URI of the exchange in flight, read by the transport (see `discover`). */
  readonly #redirectUriByCode: Map<string, string>;
  readonly #close: () => void;
  readonly #requestObjectKey: client.PrivateKey | undefined;

  private constructor(
    options: Readonly<BankOAuthOptions>,
    config: client.Configuration,
    metadata: Readonly<client.ServerMetadata>,
    redirectUriByCode: Map<string, string>,
    close: () => void,
    requestObjectKey: client.PrivateKey | undefined,
  ) {
    this.#options = options;
    this.#config = config;
    this.#metadata = metadata;
    this.#redirectUriByCode = redirectUriByCode;
    this.#close = close;
    this.#requestObjectKey = requestObjectKey;
  }

  /** Releases the sockets of the mTLS transport this client made (none otherwise). */
  close(): void {
    this.#close();
  }

  /** The institution this client talks to. */
  get institutionId(): string {
    return this.#options.institutionId;
  }

  toJSON(): { institutionId: string; issuer: string } {
    return { institutionId: this.institutionId, issuer: this.issuer };
  }

  [inspect.custom](): string {
    return `BankOAuth { institutionId: ${JSON.stringify(this.institutionId)}, issuer: ${JSON.stringify(this.issuer)} }`;
  }

  /**
   * Discovers the bank's authorisation server (or takes it from the cache) and returns a client
   * for it. Refuses an `http://` issuer or redirect URI with INSECURE_ISSUER unless `sandbox`,
   * before any request.
   */
  static async discover(options: BankOAuthOptions): Promise<BankOAuth> {
    const institutionId = options.institutionId;
    const fail = (code: OAuthErrorCode, message: string) => new OAuthError(code, message, { institutionId, operation: 'configure' });
    const issuerUrl = parseUrl(options.issuer);
    if (!issuerUrl || (issuerUrl.protocol !== 'https:' && issuerUrl.protocol !== 'http:')) {
      throw fail(OAuthErrorCode.INVALID_ARGUMENT, 'the issuer is not an http(s) URL');
    }
    if (issuerUrl.protocol === 'http:' && options.sandbox !== true) {
      throw fail(OAuthErrorCode.INSECURE_ISSUER, 'the issuer is plain http and this institution is not a sandbox');
    }
    if (options.redirectUri !== undefined) {
      const problem = redirectUriProblem(options.redirectUri, options.sandbox === true);
      if (problem) throw fail(problem.code, problem.message);
    }
    if (!options.clientId) throw fail(OAuthErrorCode.INVALID_ARGUMENT, 'clientId is required');
    const method =
      options.tokenEndpointAuthMethod ??
      (options.clientSecret ? 'client_secret_basic' : options.clientAssertionKey ? 'private_key_jwt' : options.mtls ? 'tls_client_auth' : 'none');
    let clientAuth: client.ClientAuth;
    switch (method) {
      case 'client_secret_basic':
      case 'client_secret_post':
        if (!options.clientSecret) throw fail(OAuthErrorCode.INVALID_ARGUMENT, `${method} needs clientSecret`);
        clientAuth = method === 'client_secret_basic' ? client.ClientSecretBasic(options.clientSecret) : client.ClientSecretPost(options.clientSecret);
        break;
      case 'private_key_jwt':
        if (!options.clientAssertionKey) throw fail(OAuthErrorCode.INVALID_ARGUMENT, 'private_key_jwt needs clientAssertionKey');
        try {
          clientAuth = client.PrivateKeyJwt(await importAssertionKey(options.clientAssertionKey));
        } catch {
          throw fail(OAuthErrorCode.INVALID_ARGUMENT, `clientAssertionKey is not a usable ${options.clientAssertionKey.alg} private key`);
        }
        break;
      case 'tls_client_auth':
      case 'self_signed_tls_client_auth':
        if (!options.mtls && !options.fetch) throw fail(OAuthErrorCode.INVALID_ARGUMENT, `${method} needs mtls (or a fetch that presents the certificate)`);
        clientAuth = client.TlsClientAuth();
        break;
      case 'none':
        clientAuth = client.None();
        break;
      default:
        throw fail(OAuthErrorCode.INVALID_ARGUMENT, 'unknown tokenEndpointAuthMethod');
    }
    let requestObjectKey: client.PrivateKey | undefined;
    if (options.requestObjectKey) {
      try {
        requestObjectKey = await importAssertionKey(options.requestObjectKey);
      } catch {
        throw fail(OAuthErrorCode.INVALID_ARGUMENT, `requestObjectKey is not a usable ${options.requestObjectKey.alg} private key`);
      }
    }

    const mtls = !options.fetch && options.mtls ? createMtlsTransport(options.mtls) : undefined;
    const transport: OAuthFetch =
      options.fetch ??
      ((url, init) =>
        // Plain http reaches only sandbox banks (openid-client refuses it otherwise): no certificate there.
        mtls && url.startsWith('https:') ? mtls.fetch(url, init as RequestInit) : fetch(url, init as RequestInit));
    const now = options.now ?? Date.now;
    let metadata: client.ServerMetadata | undefined;
    const redirectUriByCode = new Map<string, string>();
    const observed: OAuthFetch = async (url, init) => {
      // openid-client derives redirect_uri from the callback URL by dropping its query; send the
      // one the authorisation started with, so a redirect URI with its own query still matches.
      if (init.body instanceof URLSearchParams && init.body.get('grant_type') === 'authorization_code') {
        const redirectUri = redirectUriByCode.get(init.body.get('code') ?? '');
        if (redirectUri) init.body.set('redirect_uri', redirectUri);
      }
      const operation = operationOf(url, init.body, metadata);
      // Any fetch-like transport takes a string body; openid-client already set the form content type.
      const request = init.body instanceof URLSearchParams ? { ...init, body: init.body.toString() } : init;
      const started = now();
      let status = 0;
      try {
        const res = await transport(url, request);
        status = res.status;
        return res;
      } finally {
        if (options.onCall) {
          try {
            options.onCall({
              institutionId,
              operation,
              method: init.method,
              url: url.split('?')[0],
              status,
              latencyMs: Math.max(0, now() - started),
            });
          } catch {
            /* an observer must not break the authorisation */
          }
        }
      }
    };
    const timeout = options.timeoutSeconds ?? 15;
    const cache = options.discoveryCache ?? sharedDiscoveryCache;
    try {
      const algorithm = options.discoveryAlgorithm ?? 'oidc';
      metadata = await cache.get(`${algorithm} ${issuerUrl.href}`, async () => {
        // openid-client fetches a URL holding /.well-known/ as it is and skips its issuer check: done below.
        const suffix = algorithm === 'oauth2-suffix';
        const target = suffix ? new URL(`${issuerUrl.href.replace(/\/+$/, '')}/.well-known/oauth-authorization-server`) : issuerUrl;
        const discovered = await client.discovery(target, options.clientId, undefined, undefined, {
          algorithm: algorithm === 'oidc' ? 'oidc' : 'oauth2',
          execute: options.sandbox === true ? [client.allowInsecureRequests] : [],
          [client.customFetch]: observed,
          timeout,
        });
        const found = discovered.serverMetadata();
        if (suffix && found.issuer.replace(/\/+$/, '') !== issuerUrl.href.replace(/\/+$/, '')) {
          throw new OAuthError(OAuthErrorCode.DISCOVERY_FAILED, 'the metadata names another issuer than the one it was published for', {
            institutionId,
            operation: 'discovery',
          });
        }
        return found;
      });
    } catch (err) {
      mtls?.close();
      throw toOAuthError(err, { institutionId, operation: 'discovery', secrets: [options.clientSecret] });
    }

    const clientMetadata: Partial<client.ClientMetadata> = {
      ...(options.clientSecret ? { client_secret: options.clientSecret } : {}),
      ...(options.mtls && metadata.mtls_endpoint_aliases ? { use_mtls_endpoint_aliases: true } : {}),
    };
    const config = new client.Configuration(metadata, options.clientId, clientMetadata, clientAuth);
    if (options.sandbox === true) client.allowInsecureRequests(config);
    config[client.customFetch] = observed;
    config.timeout = timeout;
    return new BankOAuth(Object.freeze({ ...options }), config, metadata, redirectUriByCode, () => mtls?.close(), requestObjectKey);
  }

  /** The issuer the bank's metadata names (equal to the configured one: openid-client checks). */
  get issuer(): string {
    return this.#metadata.issuer;
  }

  /** What the bank's authorisation server advertises. */
  get capabilities(): BankOAuthCapabilities {
    return {
      pushedAuthorizationRequests: typeof this.#metadata.pushed_authorization_request_endpoint === 'string',
      issuerInAuthorizationResponse: this.#metadata.authorization_response_iss_parameter_supported === true,
      revocation: typeof this.#metadata.revocation_endpoint === 'string',
    };
  }

  /**
   * Builds the URL the PSU is sent to: authorisation code flow, PKCE S256 always, a fresh
   * `state` (and `nonce` with `openid`), pushed to the bank first when PAR applies.
   */
  async startAuthorization(input: StartAuthorizationInput): Promise<AuthorizationStart> {
    const scope = (typeof input.scope === 'string' ? input.scope.split(/\s+/) : [...input.scope]).filter(Boolean).join(' ');
    if (!scope) throw this.error(OAuthErrorCode.INVALID_ARGUMENT, 'a scope is required', 'authorization_request');
    const redirectUri = this.redirectUriFor(input.redirectUri, 'authorization_request');
    const mode: ParMode = input.usePar ?? 'auto';
    const pushed = mode !== 'never' && this.capabilities.pushedAuthorizationRequests;
    if (mode === 'required' && !pushed) {
      throw this.error(
        OAuthErrorCode.INVALID_REQUEST,
        'PAR is required but the bank does not advertise a pushed_authorization_request_endpoint',
        'authorization_request',
      );
    }
    const codeVerifier = client.randomPKCECodeVerifier();
    const codeChallenge = await client.calculatePKCECodeChallenge(codeVerifier);
    if (input.state !== undefined && !/^[A-Za-z0-9._~-]{22,200}$/.test(input.state)) {
      throw this.error(OAuthErrorCode.INVALID_ARGUMENT, 'state must be 22–200 URL-safe characters (at least 128 random bits)', 'authorization_request');
    }
    const state = input.state ?? client.randomState();
    const nonce = scope.split(' ').includes('openid') ? client.randomNonce() : undefined;
    const context: AuthorizationRequestContext = {
      clientId: this.#options.clientId,
      issuer: this.#metadata.issuer,
      redirectUri,
      scope,
      state,
      ...(nonce ? { nonce } : {}),
      codeChallenge,
      codeChallengeMethod: 'S256',
    };
    const extra = typeof input.extraParams === 'function' ? await input.extraParams(context) : (input.extraParams ?? {});
    for (const [key, value] of Object.entries(extra)) {
      if (RESERVED_PARAMS.has(key)) throw this.error(OAuthErrorCode.INVALID_ARGUMENT, `extraParams may not set "${key}"`, 'authorization_request');
      if (typeof value !== 'string') throw this.error(OAuthErrorCode.INVALID_ARGUMENT, `extraParams "${key}" must be a string`, 'authorization_request');
    }
    const params: Record<string, string> = {
      ...extra,
      response_type: 'code',
      redirect_uri: redirectUri,
      scope,
      state,
      code_challenge: codeChallenge,
      code_challenge_method: 'S256',
      ...(nonce ? { nonce } : {}),
    };
    const signed = input.signedRequest ?? this.#requestObjectKey !== undefined;
    if (signed && !this.#requestObjectKey) {
      throw this.error(OAuthErrorCode.INVALID_ARGUMENT, 'a signed request needs the client option requestObjectKey', 'authorization_request');
    }
    let operation: OAuthOperation = 'authorization_request';
    try {
      // The request object carries every parameter; the URL (or the push) only client_id and request.
      let request: Record<string, string> | URLSearchParams = params;
      if (signed) request = (await client.buildAuthorizationUrlWithJAR(this.#config, params, this.#requestObjectKey!)).searchParams;
      operation = pushed ? 'pushed_authorization_request' : 'authorization_request';
      const url = pushed ? await client.buildAuthorizationUrlWithPAR(this.#config, request) : client.buildAuthorizationUrl(this.#config, request);
      return { url: url.href, state, codeVerifier, ...(nonce ? { nonce } : {}), pushed, signed, redirectUri };
    } catch (err) {
      throw this.wrap(err, operation, [codeVerifier]);
    }
  }

  /**
   * Checks the bank's redirect to the callback and exchanges its code for tokens. In order:
   * `iss` (RFC 9207), `state`, the bank's error (ACCESS_DENIED when the PSU declined), then the
   * code exchange with the PKCE verifier (CODE_INVALID when reused or expired).
   */
  async completeAuthorization(input: { callbackUrl: string | URL; expected: ExpectedAuthorization }): Promise<OAuthTokens> {
    const { expected } = input;
    if (!expected || !expected.state || !expected.codeVerifier) {
      throw this.error(OAuthErrorCode.INVALID_ARGUMENT, 'the expected state and PKCE code verifier are required', 'callback');
    }
    const redirectUri = this.redirectUriFor(expected.redirectUri, 'callback');
    const callback = input.callbackUrl instanceof URL ? new URL(input.callbackUrl.href) : parseUrl(String(input.callbackUrl));
    if (!callback) throw this.error(OAuthErrorCode.INVALID_CALLBACK, 'the callback is not a URL', 'callback');
    const params = callback.searchParams;
    for (const name of ['code', 'state', 'iss', 'error']) {
      if (params.getAll(name).length > 1) throw this.error(OAuthErrorCode.INVALID_CALLBACK, `the callback repeats "${name}"`, 'callback');
    }
    const code = params.get('code') ?? undefined;
    const secrets = [code, expected.codeVerifier];

    const iss = params.get('iss');
    if (iss !== null ? iss !== this.#metadata.issuer : this.capabilities.issuerInAuthorizationResponse) {
      throw this.error(
        OAuthErrorCode.ISSUER_MISMATCH,
        iss === null ? 'the callback has no iss though the bank advertises RFC 9207' : 'the callback names another issuer (mix-up attack?)',
        'callback',
      );
    }
    const state = params.get('state');
    if (state === null || !sameSecret(state, expected.state)) {
      throw this.error(
        OAuthErrorCode.STATE_MISMATCH,
        state === null ? 'the callback has no state' : 'the callback state is not the one this authorisation started with',
        'callback',
      );
    }
    const bankError = params.get('error');
    if (bankError !== null) {
      throw callbackError(bankError, params.get('error_description') ?? undefined, {
        institutionId: this.#options.institutionId,
        operation: 'callback',
        secrets: [...secrets, this.#options.clientSecret],
      });
    }
    if (!code) throw this.error(OAuthErrorCode.INVALID_CALLBACK, 'the callback has neither code nor error', 'callback');

    // openid-client checks iss and state again, then exchanges the code.
    this.#redirectUriByCode.set(code, redirectUri);
    try {
      const response = await client.authorizationCodeGrant(this.#config, callback, {
        pkceCodeVerifier: expected.codeVerifier,
        expectedState: state,
        ...(expected.nonce ? { expectedNonce: expected.nonce, idTokenExpected: true } : {}),
      });
      return this.normalise(response);
    } catch (err) {
      throw this.wrap(err, 'authorization_code', secrets);
    } finally {
      this.#redirectUriByCode.delete(code);
    }
  }

  /**
   * New tokens from a refresh token. The result always has a `refreshToken`: the rotated one when
   * the bank rotates, else the one given. REFRESH_TOKEN_INVALID means the PSU must authorise again.
   */
  async refresh(refreshToken: string, options: { scope?: string } = {}): Promise<OAuthTokens> {
    if (!refreshToken) throw this.error(OAuthErrorCode.INVALID_ARGUMENT, 'a refresh token is required', 'refresh_token');
    try {
      const response = await client.refreshTokenGrant(this.#config, refreshToken, options.scope ? { scope: options.scope } : undefined);
      const tokens = this.normalise(response);
      return { ...tokens, refreshToken: tokens.refreshToken ?? refreshToken };
    } catch (err) {
      throw this.wrap(err, 'refresh_token', [refreshToken]);
    }
  }

  /** A token for the gateway itself (UK: to create account-access and payment consents). */
  async clientCredentials(scope: string | readonly string[]): Promise<OAuthTokens> {
    const joined = (typeof scope === 'string' ? scope.split(/\s+/) : [...scope]).filter(Boolean).join(' ');
    try {
      const response = await client.clientCredentialsGrant(this.#config, joined ? { scope: joined } : undefined);
      return this.normalise(response);
    } catch (err) {
      throw this.wrap(err, 'client_credentials', []);
    }
  }

  /**
   * Revokes a token at the bank (RFC 7009). Returns false, sending nothing, when the bank has no
   * revocation endpoint.
   */
  async revoke(token: string, tokenTypeHint?: 'access_token' | 'refresh_token'): Promise<boolean> {
    if (!this.capabilities.revocation) return false;
    if (!token) throw this.error(OAuthErrorCode.INVALID_ARGUMENT, 'a token is required', 'revocation');
    try {
      await client.tokenRevocation(this.#config, token, tokenTypeHint ? { token_type_hint: tokenTypeHint } : undefined);
      return true;
    } catch (err) {
      throw this.wrap(err, 'revocation', [token]);
    }
  }

  private normalise(response: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers): OAuthTokens {
    const expiresIn = response.expiresIn();
    const claims = response.id_token ? response.claims() : undefined;
    const type = response.token_type;
    return {
      accessToken: response.access_token,
      tokenType: type === 'bearer' ? 'Bearer' : type === 'dpop' ? 'DPoP' : type,
      ...(response.refresh_token ? { refreshToken: response.refresh_token } : {}),
      ...(expiresIn !== undefined ? { expiresAt: new Date((this.#options.now ?? Date.now)() + expiresIn * 1000) } : {}),
      ...(typeof response.scope === 'string' ? { scope: response.scope } : {}),
      ...(claims ? { idTokenClaims: Object.freeze({ ...claims }) } : {}),
    };
  }

  private redirectUriFor(given: string | undefined, operation: OAuthOperation): string {
    const redirectUri = given ?? this.#options.redirectUri;
    if (!redirectUri) throw this.error(OAuthErrorCode.INVALID_ARGUMENT, 'a redirect URI is required (client option or per authorisation)', operation);
    const problem = redirectUriProblem(redirectUri, this.#options.sandbox === true);
    if (problem) throw this.error(problem.code, problem.message, operation);
    return redirectUri;
  }

  private error(code: OAuthErrorCode, message: string, operation: OAuthOperation): OAuthError {
    return new OAuthError(code, message, { institutionId: this.#options.institutionId, operation });
  }

  private wrap(err: unknown, operation: OAuthOperation, secrets: Array<string | undefined>): OAuthError {
    return toOAuthError(err, { institutionId: this.#options.institutionId, operation, secrets: [...secrets, this.#options.clientSecret] });
  }
}

function operationOf(url: string, body: client.CustomFetchOptions['body'], metadata: client.ServerMetadata | undefined): OAuthCallEvent['operation'] {
  if (body instanceof URLSearchParams) {
    const grant = body.get('grant_type');
    if (grant === 'authorization_code' || grant === 'refresh_token' || grant === 'client_credentials') return grant;
  }
  const endpoint = url.split('?')[0];
  if (!metadata) return endpoint.includes('/.well-known/') ? 'discovery' : 'other';
  const aliases = metadata.mtls_endpoint_aliases ?? {};
  const is = (name: 'pushed_authorization_request_endpoint' | 'revocation_endpoint') => endpoint === metadata[name] || endpoint === aliases[name];
  if (is('pushed_authorization_request_endpoint')) return 'pushed_authorization_request';
  if (is('revocation_endpoint')) return 'revocation';
  if (endpoint.includes('/.well-known/')) return 'discovery';
  return 'other';
}

/** Where an authorisation server's metadata lives relative to its issuer (see `discoveryAlgorithm`). */
export type DiscoveryForm = 'oidc' | 'oauth2' | 'oauth2-suffix';

/** A stored discovery form read back (anything unknown is the OIDC default). */
export const discoveryFormOf = (value: unknown): DiscoveryForm => (value === 'oauth2' || value === 'oauth2-suffix' ? value : 'oidc');

/**
 * The issuer identifier behind a metadata URL (Berlin Group `_links.scaOAuth` points at the
 * metadata, not the issuer): `<issuer>/.well-known/openid-configuration` (OIDC),
 * `<origin>/.well-known/oauth-authorization-server<path>` (RFC 8414) or
 * `<issuer>/.well-known/oauth-authorization-server` (the suffix form of the Berlin Group's OAuth
 * examples). Undefined for anything else.
 */
export function issuerFromMetadataUrl(metadataUrl: string): { issuer: string; discoveryAlgorithm: DiscoveryForm } | undefined {
  const url = parseUrl(metadataUrl);
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.search || url.hash) return undefined;
  const oidcSuffix = '/.well-known/openid-configuration';
  if (url.pathname.endsWith(oidcSuffix)) {
    const path = url.pathname.slice(0, -oidcSuffix.length);
    return { issuer: `${url.origin}${path}`, discoveryAlgorithm: 'oidc' };
  }
  const oauthPrefix = '/.well-known/oauth-authorization-server';
  if (url.pathname === oauthPrefix || url.pathname.startsWith(`${oauthPrefix}/`)) {
    const path = url.pathname.slice(oauthPrefix.length);
    return { issuer: `${url.origin}${path}`, discoveryAlgorithm: 'oauth2' };
  }
  if (url.pathname.endsWith(oauthPrefix)) {
    const path = url.pathname.slice(0, -oauthPrefix.length);
    return { issuer: `${url.origin}${path}`, discoveryAlgorithm: 'oauth2-suffix' };
  }
  return undefined;
}
