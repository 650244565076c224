/**
 * What the UK Open Banking adapter's ports share for one institution: its bank HTTP client, its
 * OAuth client, client-credentials tokens, and the calls consents, accounts and payments all make.
 */
import type { ZodType } from 'zod';
import { BankInvalidRequest, BankResponseInvalid, BankUnauthorized, isBankError } from '../../errors';
import { createBankHttpClient, type BankHttpClient } from '../../http';
import type { BankTokens } from '../../model';
import { BankOAuth, bankErrorFromOAuth, isOAuthError, type ClientAssertionKey, type OAuthTokens } from '../../oauth';
import { httpTransportOptions, oauthClientOptions, recordOAuthCall, reportSkippedEntries, type BankAdapterDeps } from '../index';
import type { BankCallContext, ConsentAccess } from '../../ports';
import { mapConsentStatus } from './uk-obie.mapper';
import { ukConsentResponseSchema, type UkConsentData } from './uk-obie.schemas';
import { requestObjectSigner } from './uk-obie.request-object';
import { ukObieProtocol } from './uk-obie.protocol';

/** What the adapter needs: the institution, the operator's client registration at the bank, and where to report. */
export interface UkObieAdapterDeps extends BankAdapterDeps {
  /**
   * The TPP's signing key for request objects (JAR). When given, the authorisation request travels
   * as a signed `request` JWT, as UK banks under FAPI require; without it, as plain parameters.
   */
  requestObjectKey?: ClientAssertionKey;
}

/** The scope of UK account-information tokens; `openid` asks for the ID token carrying `openbanking_intent_id`. */
export const CC_SCOPE = 'accounts';
export const PSU_SCOPE = 'openid accounts';
/** A client-credentials token is renewed this long before the bank says it expires. */
const CC_MARGIN_MS = 30_000;
/** Stops a bank whose `Links.Next` never ends. 100 000 transactions at 100 a page is 1 000 pages. */
export const MAX_PAGES = 5_000;

/** The shared part of one institution's UK adapter. */
export type UkObieSession = ReturnType<typeof createUkObieSession>;

/** Builds the shared part of one institution's UK adapter. */
export function createUkObieSession(deps: UkObieAdapterDeps) {
  const { institution, logger } = deps;
  const institutionId = institution.id;
  const sandbox = institution.quirks.sandbox === true;
  const log = logger.child({ component: 'uk-obie-adapter', institutionId });
  const requestObjectKey = deps.requestObjectKey ?? deps.credentials.requestObjectKey;
  const signRequestObject = requestObjectKey ? requestObjectSigner(institutionId, requestObjectKey) : undefined;
  const financialId = typeof institution.quirks.fapiFinancialId === 'string' ? institution.quirks.fapiFinancialId : undefined;

  const http: BankHttpClient = createBankHttpClient({
    institutionId,
    baseUrl: institution.aisBaseUrl,
    logger,
    ...(deps.onCall ? { onCall: deps.onCall } : {}),
    ...httpTransportOptions(deps, ukObieProtocol),
    allowInsecureRequests: sandbox,
    // Dropped from 3.1 onwards; banks still on 3.0 want it (institution quirk `fapiFinancialId`).
    ...(financialId ? { defaultHeaders: { 'x-fapi-financial-id': financialId } } : {}),
  });

  // One OAuth client per institution; each authorisation names its redirect URI.
  let oauthClient: Promise<BankOAuth> | undefined;
  function oauth(): Promise<BankOAuth> {
    if (!oauthClient) {
      if (!institution.issuer) {
        return Promise.reject(new BankInvalidRequest(`${institutionId}: the institution has no OAuth issuer`, { institutionId, operation: 'oauth.configure' }));
      }
      const client = BankOAuth.discover({
        institutionId,
        issuer: institution.issuer,
        // Where the bank publishes its metadata, as its registry entry says (default OIDC).
        ...(institution.quirks.oauthMetadataForm ? { discoveryAlgorithm: institution.quirks.oauthMetadataForm } : {}),
        ...oauthClientOptions(deps),
        ...(deps.redirectUri ? { redirectUri: deps.redirectUri } : {}),
        sandbox,
        onCall: recordOAuthCall(deps),
      });
      // A failed discovery is not kept: the next call tries again.
      client.catch(() => {
        if (oauthClient === client) oauthClient = undefined;
      });
      oauthClient = client;
    }
    return oauthClient;
  }

  /** OAuth failures outside the PSU's callback, as the bank error family. */
  async function viaOAuth<T>(operation: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw isOAuthError(err) ? bankErrorFromOAuth(err, institutionId, operation) : err;
    }
  }

  // ----- client-credentials token, kept until shortly before it expires ----------------------

  // One token per scope: `accounts` for account-access consents, `payments` for payment consents.
  const ccTokens = new Map<string, { value: string; expiresAtMs: number }>();
  async function clientToken(scope: string): Promise<string> {
    const kept = ccTokens.get(scope);
    if (kept && kept.expiresAtMs - CC_MARGIN_MS > Date.now()) return kept.value;
    const tokens = await viaOAuth('oauth.client_credentials', async () => (await oauth()).clientCredentials(scope));
    const fresh = { value: tokens.accessToken, expiresAtMs: tokens.expiresAt?.getTime() ?? Date.now() + 5 * 60_000 };
    ccTokens.set(scope, fresh);
    return fresh.value;
  }
  /** A TPP-level call; a refused client token (revoked or expired early at the bank) is renewed once. */
  async function asClient<T>(call: (token: string) => Promise<T>, scope: string = CC_SCOPE): Promise<T> {
    const token = await clientToken(scope);
    try {
      return await call(token);
    } catch (err) {
      if (!(isBankError(err) && err instanceof BankUnauthorized)) throw err;
      ccTokens.delete(scope);
      return call(await clientToken(scope));
    }
  }

  /**
   * Sends the PSU to authorise an intent (an account-access or payment consent): authorisation
   * code with PKCE (PAR when offered), the intent as the essential claim `openbanking_intent_id`,
   * in a signed request object when the operator gave a key. The gateway's own `state` goes to the
   * bank, so the callback leads back to the attempt.
   */
  async function authoriseIntent(intentId: string, scope: string, redirectUri: string, state: string) {
    const client = await viaOAuth('oauth.configure', oauth);
    const claims = {
      id_token: { openbanking_intent_id: { value: intentId, essential: true } },
      userinfo: { openbanking_intent_id: { value: intentId, essential: true } },
    };
    return viaOAuth('oauth.authorization_request', () =>
      client.startAuthorization({
        scope,
        extraParams: signRequestObject ? async (ctx) => ({ request: await signRequestObject(ctx, claims) }) : { claims: JSON.stringify(claims) },
        redirectUri,
        state,
      }),
    );
  }

  async function readConsent(consentId: string): Promise<UkConsentData> {
    const res = await asClient((accessToken) =>
      http.request({
        operation: 'consent.get',
        method: 'GET',
        path: `/account-access-consents/${encodeURIComponent(consentId)}`,
        accessToken,
        schema: ukConsentResponseSchema,
      }),
    );
    return res.data.Data;
  }

  function consentStatusOf(data: UkConsentData, operation: string) {
    const status = mapConsentStatus(data, Date.now());
    if (!status) {
      throw new BankResponseInvalid(`${operation} at ${institutionId}: unknown consent status "${data.Status.slice(0, 20)}"`, { institutionId, operation });
    }
    return status;
  }

  // ----- data calls -----------------------------------------------------------------------------

  function psuToken(access: ConsentAccess, operation: string): string {
    const token = access.tokens?.accessToken;
    if (!token) throw new BankUnauthorized(`${operation} at ${institutionId}: the consent has no access token`, { institutionId, operation });
    return token;
  }

  /**
   * Every page of a listing: the first from `path`, the next ones from the bank's `Links.Next`
   * (never built here). A link seen twice ends the listing as an invalid answer.
   */
  async function* pages<T extends { Links?: { Next?: string } }>(
    ctx: BankCallContext,
    access: ConsentAccess,
    operation: string,
    first: { path: string; query?: Record<string, string | undefined> },
    schema: ZodType<T>,
    /** Lists of independent entries whose malformed members were skipped: reported per answer. */
    entries?: { kind: 'balance' | 'transaction'; of: (data: T) => readonly unknown[] | undefined },
  ): AsyncGenerator<T> {
    const accessToken = psuToken(access, operation);
    const report = (r: { data: T; requestId: string; headers: Headers }) => {
      if (!entries) return;
      reportSkippedEntries(
        { log, institutionId, onSkippedEntries: deps.onSkippedEntries },
        { operation, kind: entries.kind, requestId: r.requestId, bankRequestId: r.headers.get('x-fapi-interaction-id') ?? undefined },
        entries.of(r.data),
      );
    };

    const common = { operation, method: 'GET' as const, accessToken, schema, ...(ctx.psuIpAddress ? { psuIpAddress: ctx.psuIpAddress } : {}) };
    let res = await http.request({ ...common, path: first.path, ...(first.query ? { query: first.query } : {}) });
    const seen = new Set<string>();
    for (let page = 1; ; page++) {
      report(res);
      yield res.data;
      const next = res.data.Links?.Next;
      if (!next) return;
      const key = http.resolveUrl({ url: next }).href;
      if (seen.has(key) || page >= MAX_PAGES) {
        throw new BankResponseInvalid(`${operation} at ${institutionId}: Links.Next ${seen.has(key) ? 'repeats a page' : `goes past ${MAX_PAGES} pages`}`, {
          institutionId,
          operation,
        });
      }
      seen.add(key);
      res = await http.request({ ...common, url: next });
    }
  }

  function requireConsentId(consentId: string | null, operation: string): string {
    if (!consentId) throw new BankInvalidRequest(`${operation} at ${institutionId}: a UK consent always has a bank consent id`, { institutionId, operation });
    return consentId;
  }

  return {
    deps,
    institution,
    logger,
    institutionId,
    sandbox,
    log,
    requestObjectKey,
    signRequestObject,
    financialId,
    http,
    oauth,
    viaOAuth,
    ccTokens,
    clientToken,
    asClient,
    authoriseIntent,
    readConsent,
    consentStatusOf,
    psuToken,
    pages,
    requireConsentId,
  };
}

/** `2026-11-25T10:15:00+00:00`: seconds and an explicit offset, as the UK specification asks. */
export function ukDateTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, '+00:00');
}

export function toBankTokens(tokens: OAuthTokens): BankTokens {
  return { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken ?? null, expiresAt: tokens.expiresAt ?? null };
}

/** The bank does not know the resource (UK: 400/404 `UK.OBIE.Resource.NotFound`, or 404 without a body). */
export function isNotFound(err: unknown): boolean {
  return err instanceof BankInvalidRequest && (err.httpStatus === 404 || /^UK\.OBIE\.Resource\.NotFound$/i.test(err.bankCode ?? ''));
}
