/**
 * STET 1.4–1.6 (France) adapter. AISP access is an OAuth 2.0 authorisation code (scope `aisp`,
 * PKCE) obtained at the bank's pages: there is no consent resource to create first. After the code
 * exchange the adapter lists the accounts and tells the bank, with `PUT /consents`, which accounts'
 * balances and transactions the PSU consented to. Data calls follow the bank's HAL `_links`.
 * Payment initiation (PISP) lives in stet.payments.ts.
 */
import { skippedEntriesOf } from '../../entries';
import { httpTransportOptions, oauthClientOptions, recordOAuthCall, type BankAdapterDeps } from '../index';
import { BankClientConfigError, BankConsentExpired, BankConsentInvalid, BankError, BankResponseInvalid } from '../../errors';
import { createBankHttpClient, type BankHttpClient } from '../../http';
import type { AccessScope, BankConsentStatus, BankTokens, CanonicalAccount, CanonicalTransaction, InstitutionDescriptor } from '../../model';
import { BankOAuth, OAuthError, OAuthErrorCode, type OAuthTokens } from '../../oauth';
import type {
  AccountInformationPort,
  BankAdapter,
  BankCallContext,
  ConsentAccess,
  ConsentAuthorisationPort,
  ConsentCompleted,
} from '../../ports';
import { linkHref, mapAccount, mapBalance, mapTransaction } from './stet.mapper';
import { createStetPayments } from './stet.payments';
import {
  stetAccountsResponse,
  stetBalancesResponse,
  stetConsentsPutResponse,
  stetTransactionsResponse,
  type StetAccount,
} from './stet.schemas';
import { stetProtocol } from './stet.protocol';

/** What the STET adapter needs. */
export type StetAdapterDeps = BankAdapterDeps;

/** Keys of `ConsentStarted.secrets` (kept sealed between `start` and `complete`). */
interface StetSecrets {
  /** The OAuth `state` sent (the consent request's own): what the callback must carry back. */
  oauthState: string;
  codeVerifier: string;
  redirectUri: string;
  /** The canonical scopes asked for, space-separated: `PUT /consents` grants them. */
  scopes: string;
}

const isSandbox = (institution: InstitutionDescriptor): boolean => institution.quirks.sandbox === true;

/** Creates the STET adapter of one institution. */
export function createStetAdapter(deps: StetAdapterDeps): BankAdapter {
  const { institution, logger } = deps;
  const sandbox = isSandbox(institution);
  const oauthScope = typeof institution.quirks.stetOAuthScope === 'string' ? institution.quirks.stetOAuthScope : 'aisp';
  // Path-relative links resolve against the API root unless the bank's own base is configured.
  const linkBase = typeof institution.quirks.stetRelativeLinkBase === 'string' ? institution.quirks.stetRelativeLinkBase : institution.aisBaseUrl;
  const link = (l: Parameters<typeof linkHref>[0]) => linkHref(l, linkBase);
  const log = logger.child({ component: 'stet-adapter', institutionId: institution.id });

  /** Malformed entries set aside in an otherwise good answer: logged with the request ids and counted, never their values. */
  const reportSkipped = (operation: string, kind: 'balance' | 'transaction', res: { requestId: string; headers: Headers }, list: readonly unknown[]) => {
    const skipped = skippedEntriesOf(list);
    if (skipped.length === 0) return;
    log.warn({ operation, kind, requestId: res.requestId, bankRequestId: res.headers.get('x-request-id') ?? undefined, skipped: skipped.length, issues: skipped.slice(0, 5) }, 'bank answer: malformed entries skipped');
    deps.onSkippedEntries?.({ institutionId: institution.id, operation, kind, count: skipped.length });
  };
  const issuer = institution.issuer;
  if (!issuer) throw new BankClientConfigError(institution.id, 'a STET institution needs an OAuth issuer (AISP access is an authorisation code)');

  const additionalOrigins = [institution.pisBaseUrl]
    .filter(Boolean)
    .map((u) => new URL(u).origin)
    .filter((o) => o !== new URL(institution.aisBaseUrl).origin);
  const http: BankHttpClient = createBankHttpClient({
    institutionId: institution.id,
    baseUrl: institution.aisBaseUrl,
    logger,
    onCall: deps.onCall,
    ...httpTransportOptions(deps, stetProtocol),
    allowInsecureRequests: sandbox,
    additionalOrigins,
  });

  // One OAuth client for the institution: each authorisation names its own redirect URI.
  let oauthClient: Promise<BankOAuth> | undefined;
  const oauth = (): Promise<BankOAuth> => {
    if (!oauthClient) {
      const discovering = BankOAuth.discover({
        institutionId: institution.id,
        issuer,
        // Where the bank publishes its metadata, as its registry entry says (default OIDC).
        ...(institution.quirks.oauthMetadataForm ? { discoveryAlgorithm: institution.quirks.oauthMetadataForm } : {}),
        ...oauthClientOptions(deps),
        ...(deps.redirectUri ? { redirectUri: deps.redirectUri } : {}),
        sandbox,
        onCall: recordOAuthCall(deps),
      });
      // A failed discovery is not kept: the next call tries again.
      discovering.catch(() => {
        if (oauthClient === discovering) oauthClient = undefined;
      });
      oauthClient = discovering;
    }
    return oauthClient;
  };

  // Links the bank gave for each account (`_links.balances`, `_links.transactions`), so later calls
  // follow them instead of building the standard's paths. Paths are the fallback.
  const accountLinks = new Map<string, { balances?: string; transactions?: string }>();

  const bearer = (access: ConsentAccess, operation: string): string => {
    const token = access.tokens?.accessToken;
    if (!token) {
      throw new BankConsentInvalid(`${operation} at ${institution.id}: no access token for this consent`, { institutionId: institution.id, operation });
    }
    return token;
  };

  const toBankTokens = (tokens: OAuthTokens): BankTokens => ({
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken ?? null,
    expiresAt: tokens.expiresAt ?? null,
  });

  async function fetchAccounts(ctx: BankCallContext, accessToken: string, operation: string): Promise<StetAccount[]> {
    const accounts: StetAccount[] = [];
    const seen = new Set<string>();
    let target: { path?: string; url?: string } = { path: '/accounts' };
    for (;;) {
      const { data } = await http.request({ operation, method: 'GET', ...target, schema: stetAccountsResponse, accessToken, psuIpAddress: ctx.psuIpAddress });
      for (const account of data.accounts) {
        accounts.push(account);
        accountLinks.set(account.resourceId, { balances: link(account._links?.balances), transactions: link(account._links?.transactions) });
      }
      const next = link(data._links?.next);
      if (!next) return accounts;
      const key = http.resolveUrl({ url: next }).href;
      if (seen.has(key)) throw new BankResponseInvalid(`${operation} at ${institution.id}: the bank's next link loops`, { institutionId: institution.id, operation });
      seen.add(key);
      target = { url: next };
    }
  }

  async function revokeTokens(tokens: BankTokens): Promise<boolean> {
    const client = await oauth();
    if (!client.capabilities.revocation) return false;
    // The refresh token first: with it gone no new access token can be minted.
    if (tokens.refreshToken) await client.revoke(tokens.refreshToken, 'refresh_token');
    await client.revoke(tokens.accessToken, 'access_token');
    return true;
  }

  /** `PUT /consents`: which accounts' balances and transactions the PSU consented to. */
  async function putConsents(ctx: BankCallContext, accessToken: string, body: { balances: unknown[]; transactions: unknown[] }): Promise<void> {
    await http.request({
      operation: 'consent.put',
      method: 'PUT',
      path: '/consents',
      body: { ...body, trustedBeneficiaries: false, psuIdentity: false },
      schema: stetConsentsPutResponse,
      accessToken,
      psuIpAddress: ctx.psuIpAddress,
      // PUT replaces the whole consent: repeating it is harmless.
      idempotent: true,
    });
  }

  const consents: ConsentAuthorisationPort = {
    async start(_ctx, request) {
      // STET has no consent resource: validity and frequency are the bank's, set at its pages.
      const client = await oauth();
      const started = await client.startAuthorization({ scope: oauthScope, redirectUri: request.redirectUri, state: request.state });
      const secrets: StetSecrets = {
        oauthState: started.state,
        codeVerifier: started.codeVerifier,
        redirectUri: started.redirectUri,
        scopes: request.scopes.join(' '),
      };
      return { bankConsentId: null, approach: 'REDIRECT', authorizationUrl: started.url, secrets: { ...secrets } };
    },

    async complete(ctx, input): Promise<ConsentCompleted> {
      const secrets = input.secrets as Partial<StetSecrets>;
      if (!secrets.oauthState || !secrets.codeVerifier || !secrets.redirectUri) {
        throw new OAuthError(OAuthErrorCode.INVALID_ARGUMENT, 'the STET consent secrets (state, PKCE verifier, redirect URI) are missing', {
          institutionId: institution.id,
          operation: 'callback',
        });
      }
      const client = await oauth();
      let tokens: BankTokens;
      try {
        tokens = toBankTokens(
          await client.completeAuthorization({
            callbackUrl: input.callbackUrl,
            expected: { state: secrets.oauthState, codeVerifier: secrets.codeVerifier, redirectUri: secrets.redirectUri },
          }),
        );
      } catch (err) {
        // The PSU said no: an outcome, not a failure. Forged or replayed callbacks (state, iss,
        // code) stay errors, so they cannot mark a genuine attempt as failed.
        if (err instanceof OAuthError && err.code === OAuthErrorCode.ACCESS_DENIED) {
          return { outcome: 'REJECTED', reason: err.bankDescription ?? err.oauthError ?? 'access_denied' };
        }
        if (err instanceof OAuthError && err.operation === 'callback' && (err.code === OAuthErrorCode.SERVER_ERROR || err.code === OAuthErrorCode.INVALID_REQUEST)) {
          return { outcome: 'FAILED', reason: err.oauthError ?? err.code };
        }
        throw err;
      }

      // Tell the bank which accounts' balances and transactions were consented to (STET PUT /consents).
      const scopes = new Set((secrets.scopes ?? '').split(' ').filter(Boolean) as AccessScope[]);
      try {
        const accounts = await fetchAccounts(ctx, tokens.accessToken, 'consent.accounts');
        const ids = accounts.filter((a) => a.accountId && (a.accountId.iban || a.accountId.other)).map((a) => a.accountId!);
        await putConsents(ctx, tokens.accessToken, {
          balances: scopes.has('BALANCES') ? ids : [],
          transactions: scopes.has('TRANSACTIONS') ? ids : [],
        });
      } catch (err) {
        if (!(err instanceof BankError)) throw err;
        log.warn({ err: err.toJSON() }, 'STET consent set-up failed after the code exchange; revoking the tokens');
        await revokeTokens(tokens).catch((revokeErr: unknown) =>
          log.warn({ err: revokeErr instanceof Error ? revokeErr.name : 'error' }, 'could not revoke the tokens of a failed STET consent'),
        );
        return { outcome: 'FAILED', reason: `${err.code}${err.bankCode ? ` (${err.bankCode})` : ''} during consent set-up` };
      }
      // STET does not tell the AISP how long the PSU's consent lasts.
      return { outcome: 'AUTHORISED', bankConsentId: null, tokens, validUntil: null };
    },

    async status(ctx, input): Promise<BankConsentStatus> {
      if (!input.tokens) return 'RECEIVED';
      // STET has no consent status endpoint: the account list answers for the consent. It counts
      // against the daily budget unless the PSU is present (ctx.psuIpAddress).
      try {
        await fetchAccounts(ctx, input.tokens.accessToken, 'consent.status');
        return 'VALID';
      } catch (err) {
        if (err instanceof BankConsentExpired) return 'EXPIRED';
        if (err instanceof BankConsentInvalid) return 'REVOKED';
        throw err;
      }
    },

    async revoke(ctx, input) {
      if (!input.tokens) return;
      if (await revokeTokens(input.tokens)) return;
      // No revocation endpoint: withdraw the balances and transactions grants at least. The token
      // still lists accounts until it expires; the caller shreds it.
      await putConsents(ctx, input.tokens.accessToken, { balances: [], transactions: [] });
    },

    async refresh(_ctx, tokens) {
      if (!tokens.refreshToken) {
        throw new OAuthError(OAuthErrorCode.REFRESH_TOKEN_INVALID, 'the consent has no refresh token: the PSU must authorise again', {
          institutionId: institution.id,
          operation: 'refresh_token',
        });
      }
      const client = await oauth();
      return toBankTokens(await client.refresh(tokens.refreshToken));
    },
  };

  const accounts: AccountInformationPort = {
    async listAccounts(ctx, access) {
      const list = await fetchAccounts(ctx, bearer(access, 'accounts.list'), 'accounts.list');
      return list.map(mapAccount) satisfies CanonicalAccount[];
    },

    async getBalances(ctx, access, bankAccountId) {
      const accessToken = bearer(access, 'balances.get');
      const known = accountLinks.get(bankAccountId)?.balances;
      const res = await http.request({
        operation: 'balances.get',
        method: 'GET',
        ...(known ? { url: known } : { path: `/accounts/${encodeURIComponent(bankAccountId)}/balances` }),
        schema: stetBalancesResponse,
        accessToken,
        psuIpAddress: ctx.psuIpAddress,
      });
      reportSkipped('balances.get', 'balance', res, res.data.balances);
      return res.data.balances.map(mapBalance);
    },

    /**
     * Every page from `dateFrom` (inclusive) to `dateTo` (inclusive, as in the canonical window;
     * STET's `dateTo` is exclusive, so the day after is sent). STET has no status filter: the
     * status is applied here. A bank that repeats an entry across pages (same `resourceId`) yields
     * it once.
     */
    async *listTransactions(ctx, access, bankAccountId, window): AsyncIterable<CanonicalTransaction[]> {
      const operation = 'transactions.list';
      const accessToken = bearer(access, operation);
      const known = accountLinks.get(bankAccountId)?.transactions;
      const query = { dateFrom: window.dateFrom, dateTo: window.dateTo ? nextDay(window.dateTo) : undefined };
      let target: { path?: string; url?: string; query?: typeof query } = known
        ? { url: known, query }
        : { path: `/accounts/${encodeURIComponent(bankAccountId)}/transactions`, query };
      const visited = new Set<string>();
      const seenIds = new Set<string>();
      for (;;) {
        visited.add(http.resolveUrl(target).href);
        const res = await http.request({ operation, method: 'GET', ...target, schema: stetTransactionsResponse, accessToken, psuIpAddress: ctx.psuIpAddress });
        const data = res.data;
        reportSkipped(operation, 'transaction', res, data.transactions);
        const page: CanonicalTransaction[] = [];
        for (const raw of data.transactions) {
          const t = mapTransaction(raw);
          if (window.status === 'BOOKED' && t.status !== 'BOOKED') continue;
          if (window.status === 'PENDING' && t.status !== 'PENDING') continue;
          if (t.bankTransactionId) {
            if (seenIds.has(t.bankTransactionId)) continue;
            seenIds.add(t.bankTransactionId);
          }
          page.push(t);
        }
        yield page;
        const next = link(data._links?.next);
        if (!next) return;
        // The next link carries the bank's own query (dates, page): follow it as given.
        target = { url: next };
        if (visited.has(http.resolveUrl(target).href)) {
          throw new BankResponseInvalid(`${operation} at ${institution.id}: the bank's next link loops`, { institutionId: institution.id, operation });
        }
      }
    },
  };

  return { consents, accounts, payments: createStetPayments({ deps, institution, sandbox, log, oauth }) };
}

/** `2026-01-31` → `2026-02-01`. */
function nextDay(day: string): string {
  const d = new Date(`${day.slice(0, 10)}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}
