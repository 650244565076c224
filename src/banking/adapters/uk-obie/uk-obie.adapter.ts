/**
 * UK Open Banking Read/Write adapter (3.1.x; 4.0 status codes tolerated). The flow the standard
 * prescribes:
 *
 * 1. a client-credentials token (scope `accounts`) creates an account-access consent
 *    (`POST /account-access-consents` with `Data.Permissions`, `ExpirationDateTime`,
 *    `TransactionFromDateTime`);
 * 2. the PSU authorises it at the bank: authorisation code + PKCE through {@link BankOAuth} (PAR
 *    when offered), the consent id travelling as the essential claim `openbanking_intent_id` in
 *    `claims`, or inside a signed request object when the operator gave a `requestObjectKey`;
 * 3. the code becomes the PSU's tokens; data calls carry them (`/accounts`, `/balances`,
 *    `/transactions`, following `Links.Next`);
 * 4. `DELETE /account-access-consents/{id}` revokes.
 *
 * Payments (uk-obie.payments.ts) take the same path with a `payments` client token, a
 * domestic-payment consent as the intent, and `POST /domestic-payments` after the PSU's approval.
 *
 * Every call goes through the bank HTTP client (timeouts, retries of safe calls, schemas,
 * `x-fapi-interaction-id`, typed errors); OAuth failures outside the PSU's callback become the same
 * {@link BankError} family.
 */
import { skippedEntriesOf } from '../../entries';
import type { ZodType } from 'zod';
import {
  BankError,
  BankInvalidRequest,
  BankResponseInvalid,
  BankUnauthorized,
  isBankError,
} from '../../errors';
import { createBankHttpClient, type BankHttpClient } from '../../http';
import type { BankTokens } from '../../model';
import {
  BankOAuth,
  bankErrorFromOAuth,
  isOAuthError,
  OAuthErrorCode,
  type ClientAssertionKey,
  type OAuthTokens,
} from '../../oauth';
import { httpTransportOptions, oauthClientOptions, recordOAuthCall, type BankAdapterDeps } from '../index';
import type { BankAdapter, BankCallContext, ConsentAccess, ConsentCompleted, ConsentRequest, ConsentStarted } from '../../ports';
import { consentValidUntil, mapAccount, mapBalances, mapConsentStatus, mapTransaction, permissionsFor } from './uk-obie.mapper';
import {
  ukAccountsResponseSchema,
  ukBalancesResponseSchema,
  ukConsentResponseSchema,
  ukEmptySchema,
  ukTransactionsResponseSchema,
  type UkConsentData,
} from './uk-obie.schemas';
import { createUkObiePayments } from './uk-obie.payments';
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
const CC_SCOPE = 'accounts';
const PSU_SCOPE = 'openid accounts';
/** A client-credentials token is renewed this long before the bank says it expires. */
const CC_MARGIN_MS = 30_000;
/** Stops a bank whose `Links.Next` never ends. 100 000 transactions at 100 a page is 1 000 pages. */
const MAX_PAGES = 5_000;

/**
 * Builds the UK Open Banking adapter of one institution. Quirks it reads: `sandbox` (true allows
 * the sandbox's plain-http issuer and API) and `fapiFinancialId` (sent as `x-fapi-financial-id`
 * to banks still on 3.0). `secrets` of a started consent: `state` (the request's), `codeVerifier`,
 * `nonce`, `redirectUri`; `complete` needs them back.
 */
export function createUkObieAdapter(deps: UkObieAdapterDeps): BankAdapter {
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
      http.request({ operation: 'consent.get', method: 'GET', path: `/account-access-consents/${encodeURIComponent(consentId)}`, accessToken, schema: ukConsentResponseSchema }),
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
      const skipped = entries ? skippedEntriesOf(entries.of(r.data)) : [];
      if (!entries || skipped.length === 0) return;
      log.warn(
        { operation, kind: entries.kind, requestId: r.requestId, bankRequestId: r.headers.get('x-fapi-interaction-id') ?? undefined, skipped: skipped.length, issues: skipped.slice(0, 5) },
        'bank answer: malformed entries skipped',
      );
      deps.onSkippedEntries?.({ institutionId, operation, kind: entries.kind, count: skipped.length });
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

  // ----- the ports ------------------------------------------------------------------------------

  const payments = createUkObiePayments({ deps, institution, sandbox, log, asClient, authoriseIntent, oauth: () => viaOAuth('oauth.configure', oauth) });

  return {
    payments,
    consents: {
      async start(_ctx: BankCallContext, request: ConsentRequest): Promise<ConsentStarted> {
        const redirectUri = deps.redirectUri ?? request.redirectUri;
        // Discovery first: a bank whose authorisation server is down gets no orphan consent.
        await viaOAuth('oauth.configure', oauth);
        const historyFrom = new Date(Date.now() - institution.maxHistoryDays * 86_400_000);
        const created = await asClient((accessToken) =>
          http.request({
            operation: 'consent.create',
            method: 'POST',
            path: '/account-access-consents',
            accessToken,
            body: {
              Data: {
                Permissions: permissionsFor(request.scopes),
                ExpirationDateTime: ukDateTime(request.validUntil),
                TransactionFromDateTime: ukDateTime(historyFrom),
              },
              Risk: {},
            },
            schema: ukConsentResponseSchema,
          }),
        );
        const consentId = created.data.Data.ConsentId;
        const auth = await authoriseIntent(consentId, PSU_SCOPE, redirectUri, request.state);
        log.info({ consentStatus: created.data.Data.Status, pushed: auth.pushed }, 'UK account-access consent created');
        return {
          bankConsentId: consentId,
          approach: 'REDIRECT',
          authorizationUrl: auth.url,
          secrets: {
            state: auth.state,
            codeVerifier: auth.codeVerifier,
            ...(auth.nonce ? { nonce: auth.nonce } : {}),
            redirectUri: auth.redirectUri,
          },
        };
      },

      async complete(_ctx, input): Promise<ConsentCompleted> {
        const { secrets } = input;
        if (!secrets.state || !secrets.codeVerifier || !secrets.redirectUri) {
          return { outcome: 'FAILED', reason: 'the secrets kept at start (state, PKCE verifier, redirect URI) are missing' };
        }
        const client = await viaOAuth('oauth.configure', oauth);
        let tokens: OAuthTokens;
        try {
          tokens = await client.completeAuthorization({
            callbackUrl: input.callbackUrl,
            expected: {
              state: secrets.state,
              codeVerifier: secrets.codeVerifier,
              redirectUri: secrets.redirectUri,
              ...(secrets.nonce ? { nonce: secrets.nonce } : {}),
            },
          });
        } catch (err) {
          if (isOAuthError(err, OAuthErrorCode.ACCESS_DENIED)) return { outcome: 'REJECTED', reason: err.message };
          if (isOAuthError(err)) return { outcome: 'FAILED', reason: `${err.code}: ${err.message}` };
          throw err;
        }
        const intent = tokens.idTokenClaims?.openbanking_intent_id;
        if (intent !== undefined && input.bankConsentId !== null && intent !== input.bankConsentId) {
          return { outcome: 'FAILED', reason: 'the ID token names another consent than the one this authorisation started with' };
        }
        const consentId = input.bankConsentId ?? (typeof intent === 'string' ? intent : null);
        let validUntil: Date | null = null;
        if (consentId) {
          // The bank may have shortened the validity; and a consent not Authorised is no success.
          const data = await readConsent(consentId);
          const status = consentStatusOf(data, 'consent.get');
          if (status === 'REJECTED') return { outcome: 'REJECTED', reason: 'the bank reports the consent as rejected' };
          if (status !== 'VALID') return { outcome: 'FAILED', reason: `the bank reports the consent as ${status} after authorisation` };
          validUntil = consentValidUntil(data);
        }
        return { outcome: 'AUTHORISED', bankConsentId: consentId, tokens: toBankTokens(tokens), validUntil };
      },

      async status(_ctx, input) {
        const consentId = requireConsentId(input.bankConsentId, 'consent.get');
        try {
          return consentStatusOf(await readConsent(consentId), 'consent.get');
        } catch (err) {
          // After DELETE a UK bank no longer knows the consent: the TPP ended it.
          if (isNotFound(err)) return 'TERMINATED';
          throw err;
        }
      },

      async revoke(_ctx, input) {
        const consentId = requireConsentId(input.bankConsentId, 'consent.delete');
        try {
          await asClient((accessToken) =>
            http.request({
              operation: 'consent.delete',
              method: 'DELETE',
              path: `/account-access-consents/${encodeURIComponent(consentId)}`,
              accessToken,
              schema: ukEmptySchema,
              // Deleting twice leaves the same state: safe to retry.
              idempotent: true,
            }),
          );
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
        // Deleting the consent is the standard's revocation: the bank then refuses its tokens too.
        // (RFC 7009 token revocation is not part of the UK profile and is not sent.)
      },

      async refresh(_ctx, tokens: BankTokens): Promise<BankTokens> {
        if (!tokens.refreshToken) {
          throw new BankUnauthorized(`oauth.refresh_token at ${institutionId}: no refresh token; the PSU must authorise again`, { institutionId, operation: 'oauth.refresh_token' });
        }
        const refreshed = await viaOAuth('oauth.refresh_token', async () => (await oauth()).refresh(tokens.refreshToken!));
        return toBankTokens(refreshed);
      },
    },

    accounts: {
      async listAccounts(ctx, access) {
        const out = [];
        for await (const page of pages(ctx, access, 'accounts.list', { path: '/accounts' }, ukAccountsResponseSchema)) {
          for (const account of page.Data.Account ?? []) out.push(mapAccount(account));
        }
        return out;
      },

      async getBalances(ctx, access, bankAccountId) {
        const balances = [];
        const path = `/accounts/${encodeURIComponent(bankAccountId)}/balances`;
        for await (const page of pages(ctx, access, 'balances.list', { path }, ukBalancesResponseSchema, { kind: 'balance', of: (d) => d.Data.Balance })) balances.push(...page.Data.Balance);
        return mapBalances(balances);
      },

      async *listTransactions(ctx, access, bankAccountId, window) {
        const path = `/accounts/${encodeURIComponent(bankAccountId)}/transactions`;
        const query = {
          // The spec's filters are UTC date-times without zone; the window's days are whole days.
          // With an offset: the 3.1.11 file types these `format: date-time` (RFC 3339), which needs one.
          fromBookingDateTime: `${window.dateFrom}T00:00:00+00:00`,
          toBookingDateTime: window.dateTo ? `${window.dateTo}T23:59:59+00:00` : undefined,
        };
        // Some banks repeat a page's last entry at the top of the next one.
        const seen = new Set<string>();
        for await (const page of pages(ctx, access, 'transactions.list', { path, query }, ukTransactionsResponseSchema, { kind: 'transaction', of: (d) => d.Data.Transaction })) {
          const out = [];
          for (const raw of page.Data.Transaction ?? []) {
            const t = mapTransaction(raw);
            if (!t) continue;
            if (window.status !== 'BOTH' && t.status !== window.status) continue;
            if (t.bankTransactionId) {
              if (seen.has(t.bankTransactionId)) continue;
              seen.add(t.bankTransactionId);
            }
            out.push(t);
          }
          yield out;
        }
      },
    },
  };

  function requireConsentId(consentId: string | null, operation: string): string {
    if (!consentId) throw new BankInvalidRequest(`${operation} at ${institutionId}: a UK consent always has a bank consent id`, { institutionId, operation });
    return consentId;
  }
}

/** `2026-11-25T10:15:00+00:00`: seconds and an explicit offset, as the UK specification asks. */
function ukDateTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, '+00:00');
}

function toBankTokens(tokens: OAuthTokens): BankTokens {
  return { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken ?? null, expiresAt: tokens.expiresAt ?? null };
}

/** The bank does not know the resource (UK: 400/404 `UK.OBIE.Resource.NotFound`, or 404 without a body). */
function isNotFound(err: unknown): boolean {
  return err instanceof BankInvalidRequest && (err.httpStatus === 404 || /^UK\.OBIE\.Resource\.NotFound$/i.test(err.bankCode ?? ''));
}
