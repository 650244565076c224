/**
 * What the Berlin Group adapter's ports share for one institution: its bank HTTP client, one OAuth
 * client per authorisation server, the bank's links made absolute, and the headers of a data call.
 */
import { httpTransportOptions, oauthClientOptions, recordOAuthCall, reportSkippedEntries, type BankAdapterDeps } from '../index';
import { BankConsentInvalid } from '../../errors';
import { createBankHttpClient, type BankHttpClient } from '../../http';
import type { BankTokens, InstitutionDescriptor } from '../../model';
import { BankOAuth, type DiscoveryForm, type OAuthTokens } from '../../oauth';
import type { BankCallContext, ConsentAccess } from '../../ports';
import type { Logger } from '../../../platform/logger';
import { optionalPsuIp } from './berlin-group.psu-ip';
import { hrefOf } from './berlin-group.schemas';
import { berlinGroupProtocol } from './berlin-group.protocol';

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

/** The shared part of one institution's Berlin Group adapter. */
export interface BerlinGroupSession {
  deps: BankAdapterDeps;
  institution: InstitutionDescriptor;
  institutionId: string;
  /** Plain http and insecure OAuth allowed (sandbox banks only, as the registry says). */
  sandbox: boolean;
  log: Logger;
  http: BankHttpClient;
  /** One OAuth client per authorisation server; each authorisation names its own redirect URI. */
  oauthClient(issuer: string, discoveryAlgorithm: DiscoveryForm): Promise<BankOAuth>;
  details(operation: string): { institutionId: string; operation: string };
  /** Malformed entries set aside in an otherwise good answer: logged and counted, never their values. */
  reportSkipped(
    operation: string,
    kind: 'balance' | 'transaction',
    res: { requestId: string; headers: Headers },
    ...lists: (readonly unknown[] | null | undefined)[]
  ): void;
  /** A link of the bank's as an absolute URL. */
  linkOf(link: Parameters<typeof hrefOf>[0]): string | undefined;
  requireConsentId(access: { bankConsentId: string | null }, operation: string): string;
  /** Headers and credentials of a data call: the consent id always, the bearer token after OAuth SCA. */
  dataAccess(
    ctx: BankCallContext,
    access: ConsentAccess,
    operation: string,
  ): { headers: { 'Consent-ID': string }; accessToken: string | undefined; psuIpAddress: string | undefined };
  toBankTokens(tokens: OAuthTokens): BankTokens;
}

/** Builds the shared part of one Berlin Group institution's adapter. */
export function createBerlinGroupSession(deps: BankAdapterDeps): BerlinGroupSession {
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
  ) =>
    reportSkippedEntries(
      { log, institutionId, onSkippedEntries: deps.onSkippedEntries },
      { operation, kind, requestId: res.requestId, bankRequestId: res.headers.get('x-request-id') ?? undefined },
      ...lists,
    );

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

  function toBankTokens(tokens: OAuthTokens): BankTokens {
    return { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken ?? null, expiresAt: tokens.expiresAt ?? null };
  }

  return { deps, institution, institutionId, sandbox, log, http, oauthClient, details, reportSkipped, linkOf, requireConsentId, dataAccess, toBankTokens };
}
