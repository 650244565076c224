import { createHash, generateKeyPairSync, randomBytes, randomUUID, verify } from 'node:crypto';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiniBrowser, startSandbox, type Running } from '../../../sandbox/testing/harness';
import { BankOAuth, issuerFromMetadataUrl, type BankOAuthOptions, type OAuthCallEvent, type OAuthFetch } from './bank-oauth';
import { DiscoveryCache } from './discovery-cache';
import { OAuthError, OAuthErrorCode } from './oauth.errors';

const ALICE = { username: 'alice', code: '123456' };
const REJECTER = { username: 'rejecter', code: '456789' };

let run: Running;
/** The gateway's request-object signing key; the sandbox banks know its public half. */
const requestSigning = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const requestObjectKey = { pem: requestSigning.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), alg: 'ES256' as const, kid: 'gateway-jar-1' };
beforeAll(async () => {
  const publicJwk = { ...requestSigning.publicKey.export({ format: 'jwk' }), kid: requestObjectKey.kid, use: 'sig', alg: 'ES256' };
  run = await startSandbox({ clientJwks: { keys: [publicJwk] } });
});
afterAll(async () => {
  await run?.close();
});

function options(bankId: string, over: Partial<BankOAuthOptions> = {}): BankOAuthOptions {
  const creds = run.sandbox.clients[bankId];
  return {
    institutionId: bankId,
    issuer: run.bank(bankId).issuer,
    clientId: creds.clientId,
    clientSecret: creds.clientSecret,
    tokenEndpointAuthMethod: creds.tokenEndpointAuthMethod,
    redirectUri: run.callback,
    sandbox: true,
    ...over,
  };
}

/** The PSU's side: opens the bank's page, logs in, enters the code; returns where the bank redirected. */
async function psuAt(url: string, user: { username: string; code: string }): Promise<string> {
  const browser = new MiniBrowser();
  const early = await browser.go(url, {}, run.callback);
  if (early) return early;
  const redirect = await browser.authenticate(user.username, user.code, run.callback);
  if (!redirect) throw new Error(`the bank did not redirect; page says: ${browser.text('error') ?? browser.html.slice(0, 400)}`);
  return redirect;
}

async function createBerlinGroupConsent(bankId: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await fetch(`${run.bank(bankId).aisBaseUrl}/v1/consents`, {
    method: 'POST',
    headers: { 'x-request-id': randomUUID(), 'content-type': 'application/json', 'psu-ip-address': '192.0.2.10', ...headers },
    body: JSON.stringify({
      access: { allPsd2: 'allAccounts' },
      recurringIndicator: true,
      validUntil: '2027-03-01',
      frequencyPerDay: 4,
      combinedServiceIndicator: false,
    }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { consentId: string }).consentId;
}

async function createUkConsent(oauth: BankOAuth): Promise<string> {
  const cc = await oauth.clientCredentials('accounts');
  expect(cc.refreshToken).toBeUndefined();
  const res = await fetch(`${run.bank('thames').aisBaseUrl}/account-access-consents`, {
    method: 'POST',
    headers: { authorization: `Bearer ${cc.accessToken}`, 'x-fapi-interaction-id': randomUUID(), 'content-type': 'application/json' },
    body: JSON.stringify({ Data: { Permissions: ['ReadAccountsDetail', 'ReadBalances', 'ReadTransactionsDetail'] }, Risk: {} }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { Data: { ConsentId: string } }).Data.ConsentId;
}

const ukClaims = (consentId: string) =>
  JSON.stringify({
    id_token: { openbanking_intent_id: { value: consentId, essential: true } },
    userinfo: { openbanking_intent_id: { value: consentId, essential: true } },
  });

/** What each standard asks for in its authorisation request; the consent is made first where the standard needs one. */
const flows: Record<string, (oauth: BankOAuth) => Promise<{ scope: string; extraParams?: Record<string, string>; consentId?: string }>> = {
  // Berlin Group OAuth SCA: the consent travels in the scope.
  nordlicht: async () => {
    const consentId = await createBerlinGroupConsent('nordlicht');
    return { scope: `AIS:${consentId} offline_access`, consentId };
  },
  // Brabant offers redirect and decoupled SCA, not OAuth SCA, yet runs the same authorisation server.
  brabant: async () => {
    const consentId = await createBerlinGroupConsent('brabant', { 'tpp-redirect-uri': run.callback });
    return { scope: `AIS:${consentId} offline_access`, consentId };
  },
  // STET: the PSU grants access at the bank; no consent beforehand.
  rivage: async () => ({ scope: 'aisp extended_transaction_history' }),
  // UK OBIE: client-credentials token, account-access-consent, then the intent id as an essential claim.
  thames: async (oauth) => {
    const consentId = await createUkConsent(oauth);
    return { scope: 'openid accounts', extraParams: { claims: ukClaims(consentId) }, consentId };
  },
};

/** Starts an authorisation at rivage (no consent needed) and runs the PSU through it. */
async function rivageCallback(oauth: BankOAuth, user = ALICE) {
  const start = await oauth.startAuthorization({ scope: 'aisp' });
  const callback = await psuAt(start.url, user);
  return { start, callback };
}

async function refusal(p: Promise<unknown>): Promise<OAuthError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OAuthError);
  return err as OAuthError;
}

const withParam = (url: string, name: string, value: string | null) => {
  const u = new URL(url);
  if (value === null) u.searchParams.delete(name);
  else u.searchParams.set(name, value);
  return u.toString();
};

describe('BankOAuth against the sandbox banks over real HTTP', () => {
  it.each(Object.keys(flows))('authorises at %s with PKCE over PAR, exchanges the code for tokens and refreshes them', async (bankId) => {
    const events: OAuthCallEvent[] = [];
    const oauth = await BankOAuth.discover(options(bankId, { discoveryCache: new DiscoveryCache(), onCall: (e) => events.push(e) }));
    expect(oauth.capabilities).toEqual({ pushedAuthorizationRequests: true, issuerInAuthorizationResponse: true, revocation: true });
    const { scope, extraParams, consentId } = await flows[bankId](oauth);

    const start = await oauth.startAuthorization({ scope, extraParams });
    expect(start.pushed).toBe(true);
    const url = new URL(start.url);
    expect(url.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    expect([...url.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
    expect(start.codeVerifier).toMatch(/^[A-Za-z0-9_-]{43,128}$/);
    expect(start.nonce !== undefined).toBe(scope.split(' ').includes('openid'));

    const callback = await psuAt(start.url, ALICE);
    expect(new URL(callback).searchParams.get('iss')).toBe(run.bank(bankId).issuer);
    const before = Date.now();
    const tokens = await oauth.completeAuthorization({ callbackUrl: callback, expected: start });
    expect(tokens.accessToken).toBeTruthy();
    expect(tokens.refreshToken).toBeTruthy();
    expect(tokens.tokenType).toBe('Bearer');
    expect(tokens.expiresAt!.getTime()).toBeGreaterThanOrEqual(before + 3_590_000);
    expect(tokens.expiresAt!.getTime()).toBeLessThanOrEqual(Date.now() + 3_600_000);
    if (bankId === 'thames') expect(tokens.idTokenClaims?.openbanking_intent_id).toBe(consentId);

    const refreshed = await oauth.refresh(tokens.refreshToken!);
    expect(refreshed.accessToken).toBeTruthy();
    expect(refreshed.accessToken).not.toBe(tokens.accessToken);
    expect(refreshed.refreshToken).toBeTruthy();

    const ops = events.map((e) => `${e.operation} ${e.status}`);
    expect(ops).toContain('discovery 200');
    expect(ops).toContain('pushed_authorization_request 201');
    expect(ops).toContain('authorization_code 200');
    expect(ops).toContain('refresh_token 200');
    const serialised = JSON.stringify(events);
    for (const secret of [tokens.accessToken, tokens.refreshToken!, refreshed.accessToken, start.codeVerifier, run.sandbox.clients[bankId].clientSecret]) {
      expect(serialised).not.toContain(secret);
    }
  });

  it('builds a plain authorization URL with PKCE S256, state and redirect_uri when PAR is turned off, and completes it', async () => {
    const oauth = await BankOAuth.discover(options('rivage'));
    const start = await oauth.startAuthorization({ scope: ['aisp'], usePar: 'never' });
    expect(start.pushed).toBe(false);
    const url = new URL(start.url);
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(url.searchParams.get('code_challenge')).toBe(createHash('sha256').update(start.codeVerifier).digest('base64url'));
    expect(url.searchParams.get('state')).toBe(start.state);
    expect(url.searchParams.get('redirect_uri')).toBe(run.callback);
    expect(url.searchParams.get('response_type')).toBe('code');
    expect(url.searchParams.has('request_uri')).toBe(false);
    expect(start.url).not.toContain(start.codeVerifier);
    const tokens = await oauth.completeAuthorization({ callbackUrl: new URL(await psuAt(start.url, ALICE)), expected: start });
    expect(tokens.accessToken).toBeTruthy();
  });

  it('falls back to a plain authorization URL when the bank does not advertise PAR, and refuses when PAR is required', async () => {
    // The same bank, but its metadata without the PAR endpoint.
    const withoutPar: OAuthFetch = async (url, init) => {
      const res = await fetch(url, init as RequestInit);
      if (!url.includes('/.well-known/')) return res;
      const { pushed_authorization_request_endpoint: _dropped, ...rest } = (await res.json()) as Record<string, unknown>;
      return new Response(JSON.stringify(rest), { status: res.status, headers: { 'content-type': 'application/json' } });
    };
    const oauth = await BankOAuth.discover(options('rivage', { fetch: withoutPar, discoveryCache: new DiscoveryCache() }));
    expect(oauth.capabilities.pushedAuthorizationRequests).toBe(false);
    const start = await oauth.startAuthorization({ scope: 'aisp' });
    expect(start.pushed).toBe(false);
    expect(new URL(start.url).searchParams.get('code_challenge_method')).toBe('S256');
    expect((await refusal(oauth.startAuthorization({ scope: 'aisp', usePar: 'required' }))).code).toBe(OAuthErrorCode.INVALID_REQUEST);
  });

  it('refuses a callback whose state is not the expected one (STATE_MISMATCH) without spending the code', async () => {
    const oauth = await BankOAuth.discover(options('rivage'));
    const { start, callback } = await rivageCallback(oauth);
    const forged = await refusal(oauth.completeAuthorization({ callbackUrl: withParam(callback, 'state', 'forged-state'), expected: start }));
    expect(forged.code).toBe(OAuthErrorCode.STATE_MISMATCH);
    const missing = await refusal(oauth.completeAuthorization({ callbackUrl: withParam(callback, 'state', null), expected: start }));
    expect(missing.code).toBe(OAuthErrorCode.STATE_MISMATCH);
    const otherSession = await refusal(oauth.completeAuthorization({ callbackUrl: callback, expected: { ...start, state: 'another-session' } }));
    expect(otherSession.code).toBe(OAuthErrorCode.STATE_MISMATCH);
    // Nothing reached the bank: the genuine callback still works.
    expect((await oauth.completeAuthorization({ callbackUrl: callback, expected: start })).accessToken).toBeTruthy();
  });

  it('refuses a reused authorization code with CODE_INVALID', async () => {
    const oauth = await BankOAuth.discover(options('rivage'));
    const { start, callback } = await rivageCallback(oauth);
    await oauth.completeAuthorization({ callbackUrl: callback, expected: start });
    const replay = await refusal(oauth.completeAuthorization({ callbackUrl: callback, expected: start }));
    expect(replay.code).toBe(OAuthErrorCode.CODE_INVALID);
    expect(replay.oauthError).toBe('invalid_grant');
    expect(replay.status).toBe(400);
    expect(replay.retryable).toBe(false);
  });

  it('refuses a code exchanged with another PKCE verifier with CODE_INVALID', async () => {
    const oauth = await BankOAuth.discover(options('rivage'));
    const { start, callback } = await rivageCallback(oauth);
    const other = await oauth.startAuthorization({ scope: 'aisp', usePar: 'never' });
    const err = await refusal(oauth.completeAuthorization({ callbackUrl: callback, expected: { state: start.state, codeVerifier: other.codeVerifier } }));
    expect(err.code).toBe(OAuthErrorCode.CODE_INVALID);
  });

  it('refuses a callback whose iss names another server, or lacks iss, with ISSUER_MISMATCH', async () => {
    const oauth = await BankOAuth.discover(options('rivage'));
    const { start, callback } = await rivageCallback(oauth);
    expect((await refusal(oauth.completeAuthorization({ callbackUrl: withParam(callback, 'iss', run.bank('thames').issuer), expected: start }))).code).toBe(
      OAuthErrorCode.ISSUER_MISMATCH,
    );
    expect((await refusal(oauth.completeAuthorization({ callbackUrl: withParam(callback, 'iss', null), expected: start }))).code).toBe(
      OAuthErrorCode.ISSUER_MISMATCH,
    );
    expect((await oauth.completeAuthorization({ callbackUrl: callback, expected: start })).accessToken).toBeTruthy();
  });

  it('reports a PSU who declines at the bank as ACCESS_DENIED', async () => {
    const oauth = await BankOAuth.discover(options('nordlicht'));
    const consentId = await createBerlinGroupConsent('nordlicht');
    const start = await oauth.startAuthorization({ scope: `AIS:${consentId}` });
    const callback = await psuAt(start.url, REJECTER);
    expect(new URL(callback).searchParams.get('error')).toBe('access_denied');
    const err = await refusal(oauth.completeAuthorization({ callbackUrl: callback, expected: start }));
    expect(err.code).toBe(OAuthErrorCode.ACCESS_DENIED);
    expect(err.oauthError).toBe('access_denied');
    expect(err.operation).toBe('callback');
    // A forged "declined" callback without the right state is a forgery, not a refusal.
    expect((await refusal(oauth.completeAuthorization({ callbackUrl: withParam(callback, 'state', 'x'), expected: start }))).code).toBe(
      OAuthErrorCode.STATE_MISMATCH,
    );
  });

  it('refuses an http issuer with INSECURE_ISSUER when sandbox is false, before any request', async () => {
    let requests = 0;
    const counting: OAuthFetch = (url, init) => {
      requests += 1;
      return fetch(url, init as RequestInit);
    };
    const err = await refusal(BankOAuth.discover(options('rivage', { sandbox: false, fetch: counting, discoveryCache: new DiscoveryCache() })));
    expect(err.code).toBe(OAuthErrorCode.INSECURE_ISSUER);
    expect(requests).toBe(0);
    // Already discovered (cached) by a sandbox client: still refused, still no request.
    await BankOAuth.discover(options('rivage'));
    expect((await refusal(BankOAuth.discover(options('rivage', { sandbox: false, fetch: counting })))).code).toBe(OAuthErrorCode.INSECURE_ISSUER);
    expect(requests).toBe(0);
  });

  it('refuses an https issuer whose endpoints are plain http when sandbox is false (INSECURE_ISSUER)', async () => {
    // The bank's metadata, served as if from an https issuer: its endpoints stay http.
    const issuer = 'https://bank.invalid/oauth';
    const real = run.bank('rivage').issuer;
    const disguised: OAuthFetch = async (url, init) => {
      if (url === `${issuer}/.well-known/openid-configuration`) {
        const meta = (await (await fetch(`${real}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
        return Response.json({ ...meta, issuer });
      }
      return fetch(url, init as RequestInit);
    };
    const oauth = await BankOAuth.discover(
      options('rivage', { issuer, sandbox: false, redirectUri: 'https://gateway.invalid/callback', fetch: disguised, discoveryCache: new DiscoveryCache() }),
    );
    expect((await refusal(oauth.startAuthorization({ scope: 'aisp' }))).code).toBe(OAuthErrorCode.INSECURE_ISSUER);
    expect((await refusal(oauth.clientCredentials('aisp'))).code).toBe(OAuthErrorCode.INSECURE_ISSUER);
  });

  it('refuses a plain http redirect URI when sandbox is false', async () => {
    const err = await refusal(
      BankOAuth.discover(options('rivage', { issuer: 'https://bank.invalid/oauth', sandbox: false, discoveryCache: new DiscoveryCache() })),
    );
    expect(err.code).toBe(OAuthErrorCode.INSECURE_ISSUER);
    expect(err.message).toContain('redirect URI');
  });

  it('reports DISCOVERY_FAILED for an issuer without metadata and for an unreachable one', async () => {
    const missing = await refusal(
      BankOAuth.discover(options('rivage', { issuer: `${run.url}/sandbox/banks/nobank/oauth`, discoveryCache: new DiscoveryCache() })),
    );
    expect(missing.code).toBe(OAuthErrorCode.DISCOVERY_FAILED);
    expect(missing.operation).toBe('discovery');
    expect(missing.status).toBe(404);
    expect(missing.retryable).toBe(false);
    const unreachable = await refusal(BankOAuth.discover(options('rivage', { issuer: 'http://127.0.0.1:1/oauth', discoveryCache: new DiscoveryCache() })));
    expect(unreachable.code).toBe(OAuthErrorCode.DISCOVERY_FAILED);
    expect(unreachable.retryable).toBe(true);
  });

  it('discovers an issuer once per TTL, shares one request between concurrent clients, and tries again after a failure', async () => {
    let clock = 0;
    let discoveries = 0;
    let failNext = false;
    const counting: OAuthFetch = (url, init) => {
      if (url.includes('/.well-known/')) {
        discoveries += 1;
        if (failNext) {
          failNext = false;
          return Promise.resolve(new Response('down', { status: 503 }));
        }
      }
      return fetch(url, init as RequestInit);
    };
    const cache = new DiscoveryCache(60_000, () => clock);
    const opts = options('thames', { fetch: counting, discoveryCache: cache });
    await Promise.all([BankOAuth.discover(opts), BankOAuth.discover(opts), BankOAuth.discover(opts)]);
    expect(discoveries).toBe(1);
    clock = 59_000;
    await BankOAuth.discover(opts);
    expect(discoveries).toBe(1);
    clock = 61_000;
    failNext = true;
    expect((await refusal(BankOAuth.discover(opts))).code).toBe(OAuthErrorCode.DISCOVERY_FAILED);
    expect(discoveries).toBe(2);
    await BankOAuth.discover(opts);
    expect(discoveries).toBe(3);
  });

  it('reports REFRESH_TOKEN_INVALID for a refresh token the bank does not know or has revoked', async () => {
    const oauth = await BankOAuth.discover(options('rivage'));
    expect((await refusal(oauth.refresh('not-a-refresh-token'))).code).toBe(OAuthErrorCode.REFRESH_TOKEN_INVALID);
    const { start, callback } = await rivageCallback(oauth);
    const tokens = await oauth.completeAuthorization({ callbackUrl: callback, expected: start });
    expect(await oauth.revoke(tokens.refreshToken!, 'refresh_token')).toBe(true);
    const err = await refusal(oauth.refresh(tokens.refreshToken!));
    expect(err.code).toBe(OAuthErrorCode.REFRESH_TOKEN_INVALID);
    expect(err.operation).toBe('refresh_token');
  });

  it('reports a token endpoint that does not answer in time as a retryable SERVER_ERROR', async () => {
    const hangsAtToken: OAuthFetch = (url, init) => {
      if (init.method !== 'POST') return fetch(url, init as RequestInit);
      return new Promise((_resolve, reject) => init.signal?.addEventListener('abort', () => reject(init.signal!.reason), { once: true }));
    };
    const oauth = await BankOAuth.discover(options('thames', { fetch: hangsAtToken, timeoutSeconds: 0.2 }));
    const err = await refusal(oauth.clientCredentials('accounts'));
    expect(err.code).toBe(OAuthErrorCode.SERVER_ERROR);
    expect(err.message).toContain('in time');
    expect(err.retryable).toBe(true);
  });

  it('reports INVALID_CLIENT when the bank refuses the client secret', async () => {
    const oauth = await BankOAuth.discover(options('thames', { clientSecret: 'wrong-secret-value' }));
    const err = await refusal(oauth.clientCredentials('accounts'));
    expect(err.code).toBe(OAuthErrorCode.INVALID_CLIENT);
    expect(err.status).toBe(401);
  });

  it('reports INVALID_CALLBACK for a callback without code or error or with a repeated parameter, and INVALID_ARGUMENT without the PKCE verifier', async () => {
    const oauth = await BankOAuth.discover(options('rivage'));
    const { start, callback } = await rivageCallback(oauth);
    expect((await refusal(oauth.completeAuthorization({ callbackUrl: withParam(callback, 'code', null), expected: start }))).code).toBe(
      OAuthErrorCode.INVALID_CALLBACK,
    );
    expect((await refusal(oauth.completeAuthorization({ callbackUrl: 'not a url', expected: start }))).code).toBe(OAuthErrorCode.INVALID_CALLBACK);
    expect((await refusal(oauth.completeAuthorization({ callbackUrl: `${callback}&state=${start.state}`, expected: start }))).code).toBe(
      OAuthErrorCode.INVALID_CALLBACK,
    );
    expect((await refusal(oauth.completeAuthorization({ callbackUrl: `${callback}&code=other`, expected: start }))).code).toBe(OAuthErrorCode.INVALID_CALLBACK);
    expect((await refusal(oauth.completeAuthorization({ callbackUrl: callback, expected: { state: start.state, codeVerifier: '' } }))).code).toBe(
      OAuthErrorCode.INVALID_ARGUMENT,
    );
  });

  it('does not let extra parameters replace the security parameters', async () => {
    const oauth = await BankOAuth.discover(options('rivage'));
    for (const key of ['state', 'code_challenge', 'code_challenge_method', 'redirect_uri', 'nonce', 'request_uri']) {
      const err = await refusal(oauth.startAuthorization({ scope: 'aisp', extraParams: { [key]: 'x' } }));
      expect(err.code).toBe(OAuthErrorCode.INVALID_ARGUMENT);
    }
  });

  it('hands a request-object builder the state, nonce and challenge it must repeat', async () => {
    const oauth = await BankOAuth.discover(options('thames'));
    const consentId = await createUkConsent(oauth);
    let seen: { state: string; nonce?: string; codeChallenge: string } | undefined;
    const start = await oauth.startAuthorization({
      scope: 'openid accounts',
      extraParams: (ctx) => {
        seen = ctx;
        return { claims: ukClaims(consentId) };
      },
    });
    expect(seen?.state).toBe(start.state);
    expect(seen?.nonce).toBe(start.nonce);
    expect(seen?.codeChallenge).toBe(createHash('sha256').update(start.codeVerifier).digest('base64url'));
    const tokens = await oauth.completeAuthorization({ callbackUrl: await psuAt(start.url, ALICE), expected: start });
    expect(tokens.idTokenClaims?.nonce).toBe(start.nonce);
    expect(tokens.idTokenClaims?.openbanking_intent_id).toBe(consentId);
  });

  it('refuses an ID token whose nonce is not the expected one', async () => {
    const oauth = await BankOAuth.discover(options('thames'));
    const consentId = await createUkConsent(oauth);
    const start = await oauth.startAuthorization({ scope: 'openid accounts', extraParams: { claims: ukClaims(consentId) } });
    const err = await refusal(oauth.completeAuthorization({ callbackUrl: await psuAt(start.url, ALICE), expected: { ...start, nonce: 'another-nonce' } }));
    expect(err.code).toBe(OAuthErrorCode.RESPONSE_INVALID);
  });

  it('keeps codes, verifiers, tokens and the client secret out of every error it throws', async () => {
    const oauth = await BankOAuth.discover(options('rivage'));
    const { start, callback } = await rivageCallback(oauth);
    const code = new URL(callback).searchParams.get('code')!;
    const tokens = await oauth.completeAuthorization({ callbackUrl: callback, expected: start });
    const errors = [
      await refusal(oauth.completeAuthorization({ callbackUrl: callback, expected: start })),
      await refusal(oauth.completeAuthorization({ callbackUrl: withParam(callback, 'state', 'x'), expected: start })),
      await refusal(oauth.completeAuthorization({ callbackUrl: withParam(callback, 'iss', 'https://evil.invalid'), expected: start })),
      await refusal(oauth.refresh(`${tokens.refreshToken}x`)),
      await refusal((await BankOAuth.discover(options('rivage', { clientSecret: 'wrong-secret-value' }))).refresh(tokens.refreshToken!)),
    ];
    const secrets = [code, start.codeVerifier, tokens.accessToken, tokens.refreshToken!, run.sandbox.clients.rivage.clientSecret, 'wrong-secret-value'];
    for (const err of errors) {
      const seen = [err.message, JSON.stringify(err), inspect(err, { depth: 10, showHidden: true }), String(err.stack)].join('\n');
      for (const secret of secrets) expect(seen).not.toContain(secret);
    }
  });
});

describe('BankOAuth client authentication', () => {
  it('signs private_key_jwt client assertions with the configured key and kid', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const sent: URLSearchParams[] = [];
    // The sandbox registers client_secret_basic clients, so the token endpoint is answered here.
    const capture: OAuthFetch = async (url, init) => {
      const form = new URLSearchParams(typeof init.body === 'string' ? init.body : '');
      if (init.method === 'POST' && form.get('grant_type') === 'client_credentials') {
        sent.push(form);
        return Response.json({ access_token: 'pkjwt-token', token_type: 'Bearer', expires_in: 60 });
      }
      return fetch(url, init as RequestInit);
    };
    const oauth = await BankOAuth.discover(
      options('thames', {
        clientSecret: undefined,
        tokenEndpointAuthMethod: undefined,
        clientAssertionKey: { pem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), alg: 'ES256', kid: 'tpp-signing-1' },
        fetch: capture,
      }),
    );
    expect((await oauth.clientCredentials('accounts')).accessToken).toBe('pkjwt-token');
    const body = sent[0];
    expect(body.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    expect(body.get('client_secret')).toBeNull();
    const [h, p, s] = body.get('client_assertion')!.split('.');
    const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>;
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    expect(header).toMatchObject({ alg: 'ES256', kid: 'tpp-signing-1' });
    expect(claims).toMatchObject({ iss: 'passerelle-thames', sub: 'passerelle-thames' });
    expect(verify('sha256', Buffer.from(`${h}.${p}`), { key: publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'))).toBe(true);
  });

  it('refuses incomplete client authentication settings before any request', async () => {
    const cases: Partial<BankOAuthOptions>[] = [
      { clientSecret: undefined, tokenEndpointAuthMethod: 'client_secret_basic' },
      { clientSecret: undefined, tokenEndpointAuthMethod: 'private_key_jwt' },
      { tokenEndpointAuthMethod: 'private_key_jwt', clientAssertionKey: { pem: 'not a key', alg: 'PS256' } },
      { tokenEndpointAuthMethod: 'tls_client_auth' },
      { issuer: 'ftp://bank.invalid/' },
    ];
    for (const over of cases) {
      const err = await refusal(BankOAuth.discover(options('rivage', over)));
      expect(err.code).toBe(OAuthErrorCode.INVALID_ARGUMENT);
    }
  });
});

describe('BankOAuth details', () => {
  it('shows only its institution and issuer when logged or serialised', async () => {
    const oauth = await BankOAuth.discover(options('thames'));
    const secret = run.sandbox.clients.thames.clientSecret;
    expect(JSON.parse(JSON.stringify(oauth))).toEqual({ institutionId: 'thames', issuer: run.bank('thames').issuer });
    expect(inspect(oauth, { depth: 10, showHidden: true })).not.toContain(secret);
    expect(inspect({ client: oauth }, { depth: 10 })).toContain('thames');
  });

  it('keeps a redirect URI with its own query string through the code exchange', async () => {
    const redirectUri = `${run.callback}?bank=rivage`;
    const oauth = await BankOAuth.discover(options('rivage', { redirectUri }));
    const start = await oauth.startAuthorization({ scope: 'aisp' });
    const callback = await psuAt(start.url, ALICE);
    expect(new URL(callback).searchParams.get('bank')).toBe('rivage');
    expect((await oauth.completeAuthorization({ callbackUrl: callback, expected: start })).accessToken).toBeTruthy();
  });

  it('takes the redirect URI per authorisation when the client has none, and needs one to start', async () => {
    const oauth = await BankOAuth.discover(options('rivage', { redirectUri: undefined }));
    expect((await refusal(oauth.startAuthorization({ scope: 'aisp' }))).code).toBe(OAuthErrorCode.INVALID_ARGUMENT);
    const redirectUri = `${run.callback}/rivage?attempt=2`;
    const start = await oauth.startAuthorization({ scope: 'aisp', redirectUri });
    expect(start.redirectUri).toBe(redirectUri);
    const callback = await psuAt(start.url, ALICE);
    expect(callback.startsWith(`${redirectUri}&`)).toBe(true);
    // The exchange must name the same redirect URI: without it there is none to name.
    const { redirectUri: _omitted, ...withoutRedirect } = start;
    expect((await refusal(oauth.completeAuthorization({ callbackUrl: callback, expected: withoutRedirect }))).code).toBe(OAuthErrorCode.INVALID_ARGUMENT);
    const tokens = await oauth.completeAuthorization({ callbackUrl: callback, expected: start });
    expect((await oauth.refresh(tokens.refreshToken!)).accessToken).toBeTruthy();
    const insecure = await BankOAuth.discover(options('rivage', { redirectUri: undefined, sandbox: true }));
    expect((await refusal(insecure.startAuthorization({ scope: 'aisp', redirectUri: 'ftp://gateway.invalid/cb' }))).code).toBe(OAuthErrorCode.INVALID_ARGUMENT);
  });

  it('sends a state the caller chose, so the gateway finds its attempt on the way back, and refuses a malformed one', async () => {
    const oauth = await BankOAuth.discover(options('rivage'));
    const chosen = randomBytes(32).toString('base64url');
    const start = await oauth.startAuthorization({ scope: 'aisp', state: chosen });
    expect(start.state).toBe(chosen);
    const callback = await psuAt(start.url, ALICE);
    expect(new URL(callback).searchParams.get('state')).toBe(chosen);
    expect((await oauth.completeAuthorization({ callbackUrl: callback, expected: start })).accessToken).toBeTruthy();
    for (const bad of ['short', 'has spaces but is long enough', 'a&b=c;long-enough', 'a'.repeat(201)]) {
      expect((await refusal(oauth.startAuthorization({ scope: 'aisp', state: bad }))).code).toBe(OAuthErrorCode.INVALID_ARGUMENT);
    }
  });

  it('signs the authorisation request as a request object (JAR) and pushes it, the UK OBIE way', async () => {
    const pushedBodies: URLSearchParams[] = [];
    const capture: OAuthFetch = (url, init) => {
      if (url.endsWith('/request') && typeof init.body === 'string') pushedBodies.push(new URLSearchParams(init.body));
      return fetch(url, init as RequestInit);
    };
    const oauth = await BankOAuth.discover(options('thames', { requestObjectKey, fetch: capture }));
    const consentId = await createUkConsent(oauth);
    const start = await oauth.startAuthorization({ scope: 'openid accounts', extraParams: { claims: ukClaims(consentId) } });
    expect(start).toMatchObject({ signed: true, pushed: true });
    const pushed = pushedBodies.at(-1)!;
    expect(pushed.has('state')).toBe(false);
    expect(pushed.has('code_challenge')).toBe(false);
    const [h, p, sig] = pushed.get('request')!.split('.');
    expect(JSON.parse(Buffer.from(h, 'base64url').toString())).toMatchObject({ alg: 'ES256', kid: 'gateway-jar-1' });
    expect(verify('sha256', Buffer.from(`${h}.${p}`), { key: requestSigning.publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(sig, 'base64url'))).toBe(true);
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    expect(claims).toMatchObject({
      iss: 'passerelle-thames',
      aud: run.bank('thames').issuer,
      client_id: 'passerelle-thames',
      state: start.state,
      nonce: start.nonce,
      code_challenge: createHash('sha256').update(start.codeVerifier).digest('base64url'),
      code_challenge_method: 'S256',
      redirect_uri: run.callback,
      scope: 'openid accounts',
    });
    expect(claims.exp).toEqual(expect.any(Number));
    const tokens = await oauth.completeAuthorization({ callbackUrl: await psuAt(start.url, ALICE), expected: start });
    expect(tokens.idTokenClaims?.openbanking_intent_id).toBe(consentId);

    // Without PAR the signed request travels in the URL.
    const inUrl = await oauth.startAuthorization({
      scope: 'openid accounts',
      extraParams: { claims: ukClaims(await createUkConsent(oauth)) },
      usePar: 'never',
    });
    expect([...new URL(inUrl.url).searchParams.keys()].sort()).toEqual(['client_id', 'request']);
    expect((await oauth.completeAuthorization({ callbackUrl: await psuAt(inUrl.url, ALICE), expected: inUrl })).accessToken).toBeTruthy();

    const plain = await BankOAuth.discover(options('thames'));
    expect((await refusal(plain.startAuthorization({ scope: 'openid accounts', signedRequest: true }))).code).toBe(OAuthErrorCode.INVALID_ARGUMENT);

    // Signed with a key the bank does not know: refused at the push.
    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const forged = await BankOAuth.discover(options('thames', { requestObjectKey: { pem: stranger, alg: 'ES256', kid: requestObjectKey.kid } }));
    const refused = await refusal(forged.startAuthorization({ scope: 'openid accounts', extraParams: { claims: ukClaims(consentId) } }));
    expect(refused).toMatchObject({ code: OAuthErrorCode.INVALID_REQUEST, operation: 'pushed_authorization_request' });
  });

  it('reports INVALID_REQUEST when the bank refuses the pushed authorization request', async () => {
    const oauth = await BankOAuth.discover(options('thames'));
    const err = await refusal(oauth.startAuthorization({ scope: 'openid accounts', extraParams: { claims: 'not json' } }));
    expect(err.code).toBe(OAuthErrorCode.INVALID_REQUEST);
    expect(err.operation).toBe('pushed_authorization_request');
    expect(err.status).toBe(400);
  });

  it('accepts a callback without iss from a bank that does not advertise RFC 9207, but still refuses a wrong one', async () => {
    const noIss: OAuthFetch = async (url, init) => {
      const res = await fetch(url, init as RequestInit);
      if (!url.includes('/.well-known/')) return res;
      const { authorization_response_iss_parameter_supported: _dropped, ...rest } = (await res.json()) as Record<string, unknown>;
      return Response.json(rest);
    };
    const oauth = await BankOAuth.discover(options('rivage', { fetch: noIss, discoveryCache: new DiscoveryCache() }));
    expect(oauth.capabilities.issuerInAuthorizationResponse).toBe(false);
    const { start, callback } = await rivageCallback(oauth);
    expect((await refusal(oauth.completeAuthorization({ callbackUrl: withParam(callback, 'iss', 'https://evil.invalid'), expected: start }))).code).toBe(
      OAuthErrorCode.ISSUER_MISMATCH,
    );
    expect((await oauth.completeAuthorization({ callbackUrl: withParam(callback, 'iss', null), expected: start })).accessToken).toBeTruthy();
  });

  it('discovers an authorisation server that publishes its metadata in the suffix form, and refuses metadata naming another issuer', async () => {
    const issuer = run.bank('nordlicht').issuer;
    const asked: string[] = [];
    // The sandbox publishes OIDC metadata only: this transport serves it at the suffix path, as such a bank would.
    const suffixBank =
      (served: (body: Record<string, unknown>) => Record<string, unknown>): OAuthFetch =>
      async (url, init) => {
        asked.push(url);
        if (!url.endsWith('/.well-known/oauth-authorization-server')) return fetch(url, init as RequestInit);
        const body = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
        return new Response(JSON.stringify(served(body)), { status: 200, headers: { 'content-type': 'application/json' } });
      };
    const oauth = await BankOAuth.discover(
      options('nordlicht', { discoveryAlgorithm: 'oauth2-suffix', fetch: suffixBank((b) => b), discoveryCache: new DiscoveryCache() }),
    );
    expect(asked[0]).toBe(`${issuer}/.well-known/oauth-authorization-server`);
    expect(oauth).toBeInstanceOf(BankOAuth);
    await expect(
      BankOAuth.discover(
        options('nordlicht', {
          discoveryAlgorithm: 'oauth2-suffix',
          fetch: suffixBank((b) => ({ ...b, issuer: 'http://127.0.0.1:1/other' })),
          discoveryCache: new DiscoveryCache(),
        }),
      ),
    ).rejects.toMatchObject({ code: 'DISCOVERY_FAILED' });
  });

  it('finds the issuer behind a metadata URL, as Berlin Group scaOAuth links give it', async () => {
    const nordlicht = run.bank('nordlicht').issuer;
    expect(issuerFromMetadataUrl(`${nordlicht}/.well-known/openid-configuration`)).toEqual({ issuer: nordlicht, discoveryAlgorithm: 'oidc' });
    expect(issuerFromMetadataUrl('https://bank.example/.well-known/openid-configuration')).toEqual({
      issuer: 'https://bank.example',
      discoveryAlgorithm: 'oidc',
    });
    expect(issuerFromMetadataUrl('https://bank.example/.well-known/oauth-authorization-server/psd2')).toEqual({
      issuer: 'https://bank.example/psd2',
      discoveryAlgorithm: 'oauth2',
    });
    // The suffix form of the Berlin Group's own OAuth examples: the metadata sits below the issuer.
    expect(issuerFromMetadataUrl('https://bank.example/psd2/.well-known/oauth-authorization-server')).toEqual({
      issuer: 'https://bank.example/psd2',
      discoveryAlgorithm: 'oauth2-suffix',
    });
    expect(issuerFromMetadataUrl('https://bank.example/authorize')).toBeUndefined();
    expect(issuerFromMetadataUrl('https://bank.example/.well-known/openid-configuration?x=1')).toBeUndefined();
    expect(issuerFromMetadataUrl('not a url')).toBeUndefined();
  });

  it('discovers RFC 8414 metadata at the well-known URL before the issuer path when asked to', async () => {
    const requested: string[] = [];
    const real = run.bank('rivage').issuer;
    const issuer = 'https://bank.invalid/psd2';
    const rfc8414: OAuthFetch = async (url) => {
      requested.push(url);
      const meta = (await (await fetch(`${real}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
      return Response.json({ ...meta, issuer });
    };
    const oauth = await BankOAuth.discover(
      options('rivage', { issuer, discoveryAlgorithm: 'oauth2', sandbox: true, fetch: rfc8414, discoveryCache: new DiscoveryCache() }),
    );
    expect(oauth.issuer).toBe(issuer);
    expect(requested).toEqual(['https://bank.invalid/.well-known/oauth-authorization-server/psd2']);
  });
});
