/**
 * Berlin Group NextGenPSD2 1.3.x adapter: AIS consents (redirect, OAuth SCA and decoupled
 * approaches), accounts, card accounts, balances and paged transactions, and payment initiation
 * (berlin-group.payments.ts), behind the banking ports.
 * Every call goes through the bank HTTP client (schemas, retries, redaction); OAuth goes through
 * BankOAuth. Links the bank sends (`scaRedirect`, `scaOAuth`, `startAuthorisation`, `status`,
 * `next`) are followed rather than rebuilt.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ZodType } from 'zod';
import { httpTransportOptions, oauthClientOptions, recordOAuthCall, type BankAdapterDeps } from '../index';
import { BankConsentInvalid, BankError, BankInvalidRequest, BankResponseInvalid, BankUnauthorized } from '../../errors';
import { createBankHttpClient, type BankHttpClient } from '../../http';
import type { BankConsentStatus, BankTokens, CanonicalAccount, CanonicalBalance, CanonicalTransaction, ScaApproach } from '../../model';
import { BankOAuth, discoveryFormOf, type DiscoveryForm, issuerFromMetadataUrl, OAuthError, OAuthErrorCode, type OAuthTokens } from '../../oauth';
import type {
  AccountInformationPort,
  BankAdapter,
  BankCallContext,
  ConsentAccess,
  ConsentAuthorisationPort,
  ConsentCompleted,
  ConsentRequest,
  ConsentStarted,
} from '../../ports';
import { skippedEntriesOf } from '../../entries';
import { createBerlinGroupPayments } from './berlin-group.payments';
import { optionalPsuIp, requiredPsuIp } from './berlin-group.psu-ip';
import {
  accountPath,
  mapAccount,
  mapBalance,
  mapCardAccount,
  mapCardTransaction,
  mapConsentStatus,
  mapTransaction,
  validUntilDate,
} from './berlin-group.mapper';
import {
  bgAccountList,
  bgAuthorisationConfirmed,
  bgAuthorisationStarted,
  bgBalancesResponse,
  bgCardAccountList,
  bgCardBalancesResponse,
  bgCardTransactionsResponse,
  bgConsentCreated,
  bgConsentInformation,
  bgConsentStatusResponse,
  bgEmpty,
  bgTransactionsResponse,
  hrefOf,
  type BgScaLinks,
} from './berlin-group.schemas';
import { berlinGroupProtocol } from './berlin-group.protocol';

/** What the adapter needs: the institution, the gateway's client registration at the bank, and where to report. */
export type BerlinGroupAdapterDeps = BankAdapterDeps;

/**
 * Berlin Group extras a caller may add to a {@link ConsentRequest}. The decoupled approach needs
 * the PSU's login at the bank (`PSU-ID`); without one it is never chosen.
 */
export interface BerlinGroupConsentRequest extends ConsentRequest {
  /** Overrides the order of `institution.scaApproaches` for this consent. */
  preferredApproach?: ScaApproach;
}

/**
 * Keys of {@link ConsentStarted.secrets}. `callbackState` is the `state` the bank's redirect will
 * carry back: the consent request's state, whatever the approach.
 */
export type BerlinGroupSecretKey =
  | 'approach'
  | 'consentId'
  | 'callbackState'
  | 'statusHref'
  | 'scaStatusHref'
  | 'confirmationHref'
  | 'codeVerifier'
  | 'nonce'
  | 'issuer'
  | 'discoveryAlgorithm'
  | 'redirectUri';

type Secrets = Partial<Record<BerlinGroupSecretKey, string>>;

/** Bank codes that mean "this bank has no such service" (e.g. no card accounts). */
const NOT_OFFERED_CODES = new Set(['SERVICE_INVALID', 'PARAMETER_NOT_SUPPORTED', 'RESOURCE_UNKNOWN', 'SERVICE_BLOCKED']);

const sha256 = (s: string) => createHash('sha256').update(s).digest();
const sameSecret = (a: string, b: string) => timingSafeEqual(sha256(a), sha256(b));

function withQuery(uri: string, params: Record<string, string>): string {
  const url = new URL(uri);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.href;
}

/**
 * An absolute URL for a Berlin Group link. Banks send absolute URLs, or paths that are either
 * origin-relative including the API root (`/psd2/v1/accounts/1`) or relative to the API root
 * (`/v1/accounts/1`, as in the spec's examples); the API root is added when the path lacks it.
 */
export function resolveBankLink(apiBaseUrl: string, href: string | undefined): string | undefined {
  if (href === undefined || href.trim() === '') return undefined;
  const value = href.trim();
  if (/^[a-z][a-z0-9+.-]*:/i.test(value) || value.startsWith('//')) return value;
  const base = new URL(apiBaseUrl);
  const root = base.pathname.replace(/\/+$/, '');
  const path = value.startsWith('/') ? value : `/${value}`;
  const rooted = root && path !== root && !path.startsWith(`${root}/`) && !path.startsWith(`${root}?`) ? `${root}${path}` : path;
  return new URL(rooted, base.origin).href;
}

/**
 * Builds the adapter of one Berlin Group institution.
 *
 * SCA approach: the caller's `preferredApproach`, else the first of `institution.scaApproaches`
 * that can be used (DECOUPLED only with a `psuId`; EMBEDDED is not supported); the bank's answer
 * (`scaRedirect`, `scaOAuth`, `startAuthorisation` links, `ASPSP-SCA-Approach`) decides in the end.
 *
 * Quirks read from `institution.quirks`:
 * - `sandbox: true` — allows plain http for the API and the OAuth server (sandbox banks only);
 * - `consentAccess: 'allPsd2' | 'bankOffered'` — how `access` is asked for (default: `allPsd2`
 *   when all three scopes are wanted, else a bank-offered consent with empty account lists);
 * - `cardAccounts: false` — the bank has no `/v1/card-accounts`: `listAccounts` does not ask;
 * - `consentPerAccount`, `bookingStatusBothUnsupported`, `maxPageSize`, `debtorAccountOptional`,
 *   `psuIpAddressOptional` — see src/banking/quirks.ts.
 *
 * Card accounts get the `bankAccountId` `card:<resourceId>` so later calls reach `/v1/card-accounts`.
 */
export function createBerlinGroupAdapter(deps: BerlinGroupAdapterDeps): BankAdapter {
  const { institution, logger } = deps;
  const institutionId = institution.id;
  // Plain http and insecure OAuth only for sandbox banks, and only because the registry says so.
  const sandbox = institution.quirks.sandbox === true;
  const log = logger.child({ component: 'berlin-group', institutionId });
  const originOf = (u: string): string | undefined => {
    try {
      return new URL(u).origin;
    } catch {
      return undefined;
    }
  };
  // Links may lead to the payments host; the HTTP client refuses any other origin.
  const additionalOrigins = [institution.pisBaseUrl]
    .filter(Boolean)
    .map(originOf)
    .filter((o): o is string => !!o && o !== originOf(institution.aisBaseUrl));

  const http: BankHttpClient = createBankHttpClient({
    institutionId,
    baseUrl: institution.aisBaseUrl,
    logger,
    onCall: deps.onCall,
    ...httpTransportOptions(deps, berlinGroupProtocol),
    allowInsecureRequests: sandbox,
    additionalOrigins,
  });

  const oauthClients = new Map<string, Promise<BankOAuth>>();
  /** One OAuth client per authorisation server; each authorisation names its own redirect URI. */
  const oauthClient = (issuer: string, discoveryAlgorithm: DiscoveryForm): Promise<BankOAuth> => {
    const key = `${discoveryAlgorithm} ${issuer}`;
    let client = oauthClients.get(key);
    if (!client) {
      client = BankOAuth.discover({
        institutionId,
        issuer,
        discoveryAlgorithm,
        ...oauthClientOptions(deps),
        ...(deps.redirectUri ? { redirectUri: deps.redirectUri } : {}),
        sandbox,
        onCall: recordOAuthCall(deps),
      });
      // A failed discovery is not cached: the next consent tries again.
      client.catch(() => oauthClients.delete(key));
      oauthClients.set(key, client);
    }
    return client;
  };

  const details = (operation: string) => ({ institutionId, operation });

  /**
   * Malformed entries set aside in an otherwise good answer: logged with our request id and the
   * bank's, and counted; never their values.
   */
  const reportSkipped = (
    operation: string,
    kind: 'balance' | 'transaction',
    res: { requestId: string; headers: Headers },
    ...lists: (readonly unknown[] | null | undefined)[]
  ) => {
    const skipped = lists.flatMap((l) => skippedEntriesOf(l));
    if (skipped.length === 0) return;
    log.warn(
      {
        operation,
        kind,
        requestId: res.requestId,
        bankRequestId: res.headers.get('x-request-id') ?? undefined,
        skipped: skipped.length,
        issues: skipped.slice(0, 5),
      },
      'bank answer: malformed entries skipped',
    );
    deps.onSkippedEntries?.({ institutionId, operation, kind, count: skipped.length });
  };
  const linkOf = (link: Parameters<typeof hrefOf>[0]): string | undefined => resolveBankLink(institution.aisBaseUrl, hrefOf(link));

  const requireConsentId = (access: { bankConsentId: string | null }, operation: string): string => {
    if (!access.bankConsentId) throw new BankConsentInvalid(`${operation} at ${institutionId}: no Berlin Group consent id`, details(operation));
    return access.bankConsentId;
  };

  /** Headers and credentials of a data call: the consent id always, the bearer token after OAuth SCA. */
  const dataAccess = (ctx: BankCallContext, access: ConsentAccess, operation: string) => ({
    headers: { 'Consent-ID': requireConsentId(access, operation) },
    accessToken: access.tokens?.accessToken,
    psuIpAddress: optionalPsuIp(ctx),
  });

  // ---------------------------------------------------------------------------------------------
  // Consents
  // ---------------------------------------------------------------------------------------------

  /** The approach to ask for: the caller's preference, else the registry's order; decoupled needs a PSU-ID. */
  function chooseApproach(request: BerlinGroupConsentRequest): ScaApproach {
    const possible = (a: ScaApproach) => institution.scaApproaches.includes(a) && (a === 'REDIRECT' || a === 'OAUTH' || (a === 'DECOUPLED' && !!request.psuId));
    if (request.preferredApproach && possible(request.preferredApproach)) return request.preferredApproach;
    const first = institution.scaApproaches.find(possible);
    if (!first) {
      throw new BankInvalidRequest(
        `consent.create at ${institutionId}: none of the bank's SCA approaches (${institution.scaApproaches.join(', ') || 'none'}) can be used${
          institution.scaApproaches.includes('DECOUPLED') ? ' (decoupled needs a PSU-ID)' : ''
        }`,
        details('consent.create'),
      );
    }
    return first;
  }

  /** `access` of the consent body: all PSD2 data, or a bank-offered consent for the services asked. */
  function accessFor(request: ConsentRequest): Record<string, unknown> {
    const wants = new Set(request.scopes);
    // A bank granting one account per consent has no allPsd2: the end user picks that account at the bank.
    const style = institution.quirks.consentPerAccount === true ? 'bankOffered' : institution.quirks.consentAccess;
    if (style !== 'bankOffered' && wants.has('ACCOUNTS') && wants.has('BALANCES') && wants.has('TRANSACTIONS')) return { allPsd2: 'allAccounts' };
    if (style === 'allPsd2') return { allPsd2: 'allAccounts' };
    // Empty lists: the PSU picks the accounts at the bank.
    return {
      accounts: [],
      ...(wants.has('BALANCES') ? { balances: [] } : {}),
      ...(wants.has('TRANSACTIONS') ? { transactions: [] } : {}),
    };
  }

  async function start(ctx: BankCallContext, input: ConsentRequest): Promise<ConsentStarted> {
    const request = input as BerlinGroupConsentRequest;
    const operation = 'consent.create';
    const wanted = chooseApproach(request);
    const redirect = withQuery(request.redirectUri, { state: request.state });
    const frequencyPerDay = Math.max(1, Math.min(request.frequencyPerDay, institution.frequencyPerDay || request.frequencyPerDay));
    const headers: Record<string, string | undefined> = {
      'TPP-Redirect-URI': wanted === 'DECOUPLED' ? undefined : redirect,
      'TPP-Nok-Redirect-URI': wanted === 'DECOUPLED' ? undefined : redirect,
      'TPP-Redirect-Preferred': wanted === 'REDIRECT' ? 'true' : 'false',
      'TPP-Decoupled-Preferred': wanted === 'DECOUPLED' ? 'true' : undefined,
      'TPP-Explicit-Authorisation-Preferred': 'false',
      'PSU-ID': request.psuId,
    };
    const created = await http.request({
      operation,
      method: 'POST',
      path: '/v1/consents',
      headers,
      psuIpAddress: requiredPsuIp(institution, ctx, deps.tppIpAddress, operation),
      body: {
        access: accessFor(request),
        recurringIndicator: true,
        validUntil: request.validUntil.toISOString().slice(0, 10),
        frequencyPerDay,
        combinedServiceIndicator: false,
      },
      schema: bgConsentCreated,
    });
    const consentId = created.data.consentId;
    let links = created.data._links ?? {};
    let header = created.headers.get('ASPSP-SCA-Approach')?.toUpperCase();

    // An explicit start of the authorisation, when the bank asks for it and needs nothing more from us.
    if (!hrefOf(links.scaRedirect) && !hrefOf(links.scaOAuth) && hrefOf(links.startAuthorisation)) {
      const started = await http.request({
        operation: 'consent.authorisation.start',
        method: 'POST',
        url: linkOf(links.startAuthorisation)!,
        headers,
        psuIpAddress: optionalPsuIp(ctx),
        body: {},
        schema: bgAuthorisationStarted,
      });
      links = { ...links, ...(started.data._links ?? {}) };
      header = started.headers.get('ASPSP-SCA-Approach')?.toUpperCase() ?? header;
    }

    const secrets: Secrets = { consentId };
    const statusHref = linkOf(links.status);
    const scaStatusHref = linkOf(links.scaStatus);
    if (statusHref) secrets.statusHref = statusHref;
    if (scaStatusHref) secrets.scaStatusHref = scaStatusHref;
    // Authorisation confirmation (1.3.9+): the bank wants the code from the redirect back before it activates the consent.
    const confirmationHref = linkOf(links.confirmation);
    if (confirmationHref) secrets.confirmationHref = confirmationHref;

    const scaRedirect = linkOf(links.scaRedirect);
    const scaOAuth = linkOf(links.scaOAuth);
    // A bank offering both links: the one we asked for.
    if (scaOAuth && !(scaRedirect && wanted === 'REDIRECT')) {
      const target = issuerFromMetadataUrl(scaOAuth);
      if (!target) throw new BankResponseInvalid(`${operation} at ${institutionId}: scaOAuth is not an authorisation server metadata URL`, details(operation));
      const redirectUri = deps.redirectUri ?? request.redirectUri;
      const oauth = await oauthClient(target.issuer, target.discoveryAlgorithm);
      // The callback carries the caller's state back: the gateway finds its attempt by it.
      const auth = await oauth.startAuthorization({ scope: `AIS:${consentId}`, redirectUri, state: request.state });
      Object.assign(secrets, {
        approach: 'OAUTH',
        callbackState: auth.state,
        codeVerifier: auth.codeVerifier,
        issuer: target.issuer,
        discoveryAlgorithm: target.discoveryAlgorithm,
        redirectUri: auth.redirectUri,
        ...(auth.nonce ? { nonce: auth.nonce } : {}),
      } satisfies Secrets);
      return { bankConsentId: consentId, approach: 'OAUTH', authorizationUrl: auth.url, secrets: secrets as Record<string, string> };
    }

    if (scaRedirect) {
      const url = new URL(scaRedirect);
      if (url.protocol !== 'https:' && !(sandbox && url.protocol === 'http:')) {
        throw new BankResponseInvalid(`${operation} at ${institutionId}: scaRedirect is not an https URL`, details(operation));
      }
      Object.assign(secrets, { approach: 'REDIRECT', callbackState: request.state } satisfies Secrets);
      return { bankConsentId: consentId, approach: 'REDIRECT', authorizationUrl: url.href, secrets: secrets as Record<string, string> };
    }

    if (header === 'DECOUPLED' || (wanted === 'DECOUPLED' && !header)) {
      secrets.approach = 'DECOUPLED';
      return { bankConsentId: consentId, approach: 'DECOUPLED', authorizationUrl: null, secrets: secrets as Record<string, string> };
    }

    const offered = Object.keys(links as BgScaLinks & object).join(', ') || 'no links';
    throw new BankInvalidRequest(
      `${operation} at ${institutionId}: the bank asks for an SCA approach this adapter does not support (${header ?? 'unnamed'}; ${offered})`,
      details(operation),
    );
  }

  /** GET the consent status, following the bank's `status` link when we kept one. */
  async function readStatus(ctx: BankCallContext, consentId: string, accessToken: string | undefined, statusHref?: string): Promise<BankConsentStatus> {
    const operation = 'consent.status';
    const res = await http.request({
      operation,
      method: 'GET',
      ...(statusHref ? { url: statusHref } : { path: `/v1/consents/${encodeURIComponent(consentId)}/status` }),
      accessToken,
      psuIpAddress: optionalPsuIp(ctx),
      schema: bgConsentStatusResponse,
    });
    const status = mapConsentStatus(res.data.consentStatus);
    if (!status) {
      throw new BankResponseInvalid(`${operation} at ${institutionId}: unknown consentStatus "${res.data.consentStatus.slice(0, 40)}"`, {
        ...details(operation),
        httpStatus: res.status,
        requestId: res.requestId,
      });
    }
    return status;
  }

  /** The bank-adjusted validity, read back from the consent resource. */
  async function readValidUntil(ctx: BankCallContext, consentId: string, accessToken: string | undefined): Promise<Date> {
    const res = await http.request({
      operation: 'consent.get',
      method: 'GET',
      path: `/v1/consents/${encodeURIComponent(consentId)}`,
      accessToken,
      psuIpAddress: optionalPsuIp(ctx),
      schema: bgConsentInformation,
    });
    return validUntilDate(res.data.validUntil);
  }

  /** The outcome once the bank has a final word on the consent. */
  async function outcomeOf(
    ctx: BankCallContext,
    consentId: string,
    tokens: BankTokens | null,
    statusHref: string | undefined,
  ): Promise<ConsentCompleted | { outcome: 'PENDING' }> {
    const status = await readStatus(ctx, consentId, tokens?.accessToken, statusHref);
    switch (status) {
      case 'VALID':
        return { outcome: 'AUTHORISED', bankConsentId: consentId, tokens, validUntil: await readValidUntil(ctx, consentId, tokens?.accessToken) };
      case 'REJECTED':
        return { outcome: 'REJECTED', reason: 'the end user did not approve the consent at the bank' };
      case 'RECEIVED':
        return { outcome: 'PENDING' };
      default:
        return { outcome: 'FAILED', reason: `the bank reports the consent as ${status.toLowerCase()}` };
    }
  }

  function toBankTokens(tokens: OAuthTokens): BankTokens {
    return { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken ?? null, expiresAt: tokens.expiresAt ?? null };
  }

  /** OAuth failures that end this attempt (as opposed to an outage worth retrying). */
  const FINAL_OAUTH_CODES = new Set<OAuthErrorCode>([
    OAuthErrorCode.STATE_MISMATCH,
    OAuthErrorCode.ISSUER_MISMATCH,
    OAuthErrorCode.CODE_INVALID,
    OAuthErrorCode.INVALID_CALLBACK,
    OAuthErrorCode.INVALID_REQUEST,
    OAuthErrorCode.RESPONSE_INVALID,
  ]);

  async function complete(
    ctx: BankCallContext,
    input: { callbackUrl: string; bankConsentId: string | null; secrets: Record<string, string> },
  ): Promise<ConsentCompleted> {
    const secrets = input.secrets as Secrets;
    const consentId = input.bankConsentId ?? secrets.consentId;
    if (!consentId) return { outcome: 'FAILED', reason: 'no Berlin Group consent id was kept for this attempt' };

    if (secrets.approach === 'OAUTH') {
      if (!secrets.issuer || !secrets.callbackState || !secrets.codeVerifier || !secrets.redirectUri) {
        return { outcome: 'FAILED', reason: 'the OAuth secrets of this attempt are incomplete' };
      }
      const oauth = await oauthClient(secrets.issuer, discoveryFormOf(secrets.discoveryAlgorithm));
      let tokens: BankTokens;
      try {
        const granted = await oauth.completeAuthorization({
          callbackUrl: input.callbackUrl,
          expected: {
            state: secrets.callbackState,
            codeVerifier: secrets.codeVerifier,
            redirectUri: secrets.redirectUri,
            ...(secrets.nonce ? { nonce: secrets.nonce } : {}),
          },
        });
        tokens = toBankTokens(granted);
      } catch (err) {
        if (err instanceof OAuthError && err.code === OAuthErrorCode.ACCESS_DENIED) {
          return { outcome: 'REJECTED', reason: 'the end user did not approve the consent at the bank' };
        }
        if (err instanceof OAuthError && FINAL_OAUTH_CODES.has(err.code)) return { outcome: 'FAILED', reason: err.code };
        throw err;
      }
      const outcome = await outcomeOf(ctx, consentId, tokens, secrets.statusHref);
      return outcome.outcome === 'PENDING' ? { outcome: 'FAILED', reason: 'the bank issued a token but the consent is not valid yet' } : outcome;
    }

    if (secrets.approach === 'REDIRECT') {
      let callback: URL;
      try {
        callback = new URL(input.callbackUrl);
      } catch {
        return { outcome: 'FAILED', reason: 'INVALID_CALLBACK' };
      }
      const state = callback.searchParams.get('state');
      if (!secrets.callbackState || state === null || !sameSecret(state, secrets.callbackState)) return { outcome: 'FAILED', reason: 'STATE_MISMATCH' };
      const confirmationCode = callback.searchParams.get('confirmationCode') ?? callback.searchParams.get('code');
      if (secrets.confirmationHref && confirmationCode && !callback.searchParams.get('error')) {
        try {
          await http.request({
            operation: 'consent.authorisation.confirm',
            method: 'PUT',
            url: secrets.confirmationHref,
            body: { confirmationCode },
            psuIpAddress: optionalPsuIp(ctx),
            schema: bgAuthorisationConfirmed,
          });
        } catch (err) {
          if (err instanceof BankInvalidRequest || err instanceof BankConsentInvalid) return { outcome: 'FAILED', reason: 'CONFIRMATION_REFUSED' };
          throw err;
        }
      }
      // The bank's word decides, not the URL: a redirect can be replayed or edited.
      const outcome = await outcomeOf(ctx, consentId, null, secrets.statusHref);
      if (outcome.outcome !== 'PENDING') return outcome;
      if (callback.searchParams.get('error')) return { outcome: 'REJECTED', reason: 'the end user did not complete the authorisation at the bank' };
      return { outcome: 'FAILED', reason: 'the bank has not confirmed the consent yet' };
    }

    if (secrets.approach === 'DECOUPLED') {
      const outcome = await outcomeOf(ctx, consentId, null, secrets.statusHref);
      return outcome.outcome === 'PENDING' ? { outcome: 'FAILED', reason: 'the end user has not decided yet' } : outcome;
    }
    return { outcome: 'FAILED', reason: 'unknown SCA approach in the kept secrets' };
  }

  const consents: ConsentAuthorisationPort = {
    start,
    complete,

    async poll(ctx, input) {
      const secrets = input.secrets as Secrets;
      return outcomeOf(ctx, input.bankConsentId, null, secrets.statusHref);
    },

    async status(ctx, input) {
      return readStatus(ctx, requireConsentId(input, 'consent.status'), input.tokens?.accessToken);
    },

    async revoke(ctx, input) {
      const operation = 'consent.delete';
      const consentId = requireConsentId(input, operation);
      try {
        await http.request({
          operation,
          method: 'DELETE',
          path: `/v1/consents/${encodeURIComponent(consentId)}`,
          accessToken: input.tokens?.accessToken,
          psuIpAddress: optionalPsuIp(ctx),
          schema: bgEmpty,
        });
      } catch (err) {
        // Already unknown, revoked or expired at the bank: nothing is left to revoke.
        const gone = err instanceof BankError && (err.code === 'BANK_CONSENT_INVALID' || err.code === 'BANK_CONSENT_EXPIRED');
        if (!gone) throw err;
        log.info({ bankCode: (err as BankError).bankCode }, 'consent already gone at the bank');
      }
      // After OAuth SCA the bank's authorisation server also holds a refresh token: revoke it too.
      // The consent is already gone, so a failure here is logged, not thrown.
      if (input.tokens?.refreshToken && institution.issuer) {
        try {
          const oauth = await oauthClient(institution.issuer, 'oidc');
          await oauth.revoke(input.tokens.refreshToken, 'refresh_token');
        } catch (err) {
          log.warn({ err: err instanceof OAuthError ? err.code : 'error' }, 'refresh token revocation at the bank failed');
        }
      }
    },

    async refresh(_ctx, tokens) {
      if (!tokens.refreshToken) {
        throw new BankUnauthorized(
          `token.refresh at ${institutionId}: the bank issued no refresh token; the end user must authorise again`,
          details('token.refresh'),
        );
      }
      if (!institution.issuer) {
        throw new BankUnauthorized(`token.refresh at ${institutionId}: the registry names no authorisation server`, details('token.refresh'));
      }
      const oauth = await oauthClient(institution.issuer, 'oidc');
      return toBankTokens(await oauth.refresh(tokens.refreshToken));
    },
  };

  // ---------------------------------------------------------------------------------------------
  // Account information
  // ---------------------------------------------------------------------------------------------

  /** True when the bank says it has no such service (e.g. no card accounts at all). */
  const notOffered = (err: unknown): boolean =>
    err instanceof BankInvalidRequest &&
    (err.httpStatus === 404 || err.httpStatus === 405 || (err.bankCode !== undefined && NOT_OFFERED_CODES.has(err.bankCode)));

  async function listAccounts(ctx: BankCallContext, access: ConsentAccess): Promise<CanonicalAccount[]> {
    const accounts = await http.request({
      operation: 'accounts.list',
      method: 'GET',
      path: '/v1/accounts',
      ...dataAccess(ctx, access, 'accounts.list'),
      schema: bgAccountList,
    });
    const out: CanonicalAccount[] = [];
    for (const a of accounts.data.accounts) {
      const mapped = mapAccount(a);
      if (mapped) out.push(mapped);
      else log.warn({ requestId: accounts.requestId }, 'skipped an account without resourceId');
    }
    if (institution.quirks.cardAccounts === false) return out;
    try {
      const cards = await http.request({
        operation: 'card-accounts.list',
        method: 'GET',
        path: '/v1/card-accounts',
        ...dataAccess(ctx, access, 'card-accounts.list'),
        schema: bgCardAccountList,
      });
      for (const c of cards.data.cardAccounts) {
        const mapped = mapCardAccount(c);
        if (mapped) out.push(mapped);
      }
    } catch (err) {
      if (!notOffered(err)) throw err;
    }
    return out;
  }

  const accountInformation: AccountInformationPort = {
    listAccounts,

    async getBalances(ctx, access, bankAccountId) {
      const { collection, resourceId } = accountPath(bankAccountId);
      const card = collection === '/v1/card-accounts';
      const operation = card ? 'card-accounts.balances' : 'accounts.balances';
      const path = `${collection}/${encodeURIComponent(resourceId)}/balances`;
      const res = card
        ? await http.request({ operation, method: 'GET', path, ...dataAccess(ctx, access, operation), schema: bgCardBalancesResponse })
        : await http.request({ operation, method: 'GET', path, ...dataAccess(ctx, access, operation), schema: bgBalancesResponse });
      reportSkipped(operation, 'balance', res, res.data.balances);
      return res.data.balances.map(mapBalance);
    },

    listTransactions(ctx, access, bankAccountId, window) {
      return transactions(ctx, access, bankAccountId, window);
    },
  };

  /** One page: its transactions and the bank's link to the next page. */
  async function page(
    ctx: BankCallContext,
    access: ConsentAccess,
    card: boolean,
    target: { path: string; query: Record<string, string | undefined> } | { url: string },
  ): Promise<{ items: CanonicalTransaction[]; next: string | undefined; balances?: CanonicalBalance[] }> {
    const operation = card ? 'card-accounts.transactions' : 'accounts.transactions';
    const common = { operation, method: 'GET' as const, ...target, ...dataAccess(ctx, access, operation) };
    if (card) {
      const res = await http.request({ ...common, schema: bgCardTransactionsResponse });
      const report =
        res.data.cardTransactions ?? (await download(ctx, access, operation, res.data._links?.download, bgCardTransactionsResponse))?.cardTransactions;
      reportSkipped(operation, 'transaction', res, report?.booked, report?.pending);
      return {
        items: [...(report?.booked ?? []).map((t) => mapCardTransaction(t, 'BOOKED')), ...(report?.pending ?? []).map((t) => mapCardTransaction(t, 'PENDING'))],
        next: linkOf(report?._links?.next) ?? linkOf(res.data._links?.next),
      };
    }
    const res = await http.request({ ...common, schema: bgTransactionsResponse });
    const report = res.data.transactions ?? (await download(ctx, access, operation, res.data._links?.download, bgTransactionsResponse))?.transactions;
    reportSkipped(operation, 'transaction', res, report?.booked, report?.pending);
    const cap = institution.quirks.maxPageSize;
    const entries = (report?.booked?.length ?? 0) + (report?.pending?.length ?? 0);
    // The cap is per page of a list; a downloaded report is the whole period at once.
    if (cap !== undefined && res.data.transactions && entries > cap) {
      // More than the bank documents per page: not an answer its own rules allow.
      throw new BankResponseInvalid(`${operation} at ${institutionId}: a page of ${entries} entries exceeds the bank's documented cap of ${cap}`, {
        ...details(operation),
        requestId: res.requestId,
      });
    }
    return {
      items: [...(report?.booked ?? []).map((t) => mapTransaction(t, 'BOOKED')), ...(report?.pending ?? []).map((t) => mapTransaction(t, 'PENDING'))],
      next: linkOf(report?._links?.next) ?? linkOf(res.data._links?.next),
      ...(res.data.balances?.length ? { balances: res.data.balances.map(mapBalance) } : {}),
    };
  }

  /**
   * A report the bank offers only as a file (`_links.download`, for large reports): fetched from
   * the link (same bank, same consent) and read when it is the JSON report. A camt or MT940 file is
   * refused with a message naming that limit: the gateway reads JSON reports only.
   */
  async function download<T>(
    ctx: BankCallContext,
    access: ConsentAccess,
    operation: string,
    link: Parameters<typeof hrefOf>[0],
    schema: ZodType<T>,
  ): Promise<T | undefined> {
    const href = linkOf(link);
    if (!href) return undefined;
    try {
      const file = await http.request({ operation: `${operation}.download`, method: 'GET', url: href, ...dataAccess(ctx, access, operation), schema });
      return file.data;
    } catch (err) {
      if (err instanceof BankResponseInvalid && /is not JSON/.test(err.message)) {
        throw new BankResponseInvalid(
          `${operation} at ${institutionId}: the bank offers this transaction report only as a download in a format other than JSON (camt or MT940), which the gateway does not read`,
          {
            ...details(operation),
            ...(err.httpStatus !== undefined ? { httpStatus: err.httpStatus } : {}),
            ...(err.requestId ? { requestId: err.requestId } : {}),
          },
        );
      }
      throw err;
    }
  }

  const MAX_PAGES = 10_000;

  async function* transactions(
    ctx: BankCallContext,
    access: ConsentAccess,
    bankAccountId: string,
    window: { dateFrom: string; dateTo: string | null; status: 'BOOKED' | 'PENDING' | 'BOTH'; onBalances?: (balances: CanonicalBalance[]) => void },
  ): AsyncGenerator<CanonicalTransaction[]> {
    const { collection, resourceId } = accountPath(bankAccountId);
    const card = collection === '/v1/card-accounts';
    const path = `${collection}/${encodeURIComponent(resourceId)}/transactions`;
    // Balances ride along with the first listing when asked (one call instead of two); card accounts don't offer it.
    const withBalance = window.onBalances && !card ? 'true' : undefined;
    const query = (bookingStatus: string) => ({ bookingStatus, dateFrom: window.dateFrom, dateTo: window.dateTo ?? undefined, withBalance });

    // A bank known to refuse bookingStatus=both (registry quirk) is asked for booked and pending apart at once.
    const listings: string[] =
      window.status === 'BOTH' && institution.quirks.bookingStatusBothUnsupported === true ? ['booked', 'pending'] : [window.status.toLowerCase()];
    const seen = new Set<string>();
    for (let l = 0; l < listings.length; l++) {
      const visited = new Set<string>();
      let current: Awaited<ReturnType<typeof page>>;
      try {
        current = await page(ctx, access, card, { path, query: query(listings[l]) });
        if (current.balances && window.onBalances) window.onBalances(current.balances);
      } catch (err) {
        // Some banks serve booked and pending only separately.
        if (listings[l] === 'both' && err instanceof BankInvalidRequest && err.bankCode === 'PARAMETER_NOT_SUPPORTED') {
          listings.push('booked', 'pending');
          continue;
        }
        throw err;
      }
      for (let n = 1; ; n++) {
        const fresh = current.items.filter((t) => {
          if (!t.bankTransactionId) return true;
          const key = `${t.status} ${t.bankTransactionId}`;
          if (seen.has(key)) return false;
          seen.add(key);
          return true;
        });
        yield fresh;
        const next = current.next;
        if (!next) break;
        if (visited.has(next) || n >= MAX_PAGES) {
          throw new BankResponseInvalid(
            `${card ? 'card-accounts' : 'accounts'}.transactions at ${institutionId}: the next link loops`,
            details('accounts.transactions'),
          );
        }
        visited.add(next);
        current = await page(ctx, access, card, { url: next });
      }
    }
  }

  const payments = createBerlinGroupPayments({ deps, institution, sandbox, log, resolveLink: resolveBankLink, oauthClient });
  return { consents, accounts: accountInformation, payments };
}
