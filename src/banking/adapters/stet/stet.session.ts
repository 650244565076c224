/**
 * What the STET adapter's ports share for one institution: its bank HTTP client, its OAuth client,
 * the links the bank gave for each account, and the calls both the consent and the account ports
 * make (the account list, `PUT /consents`, token revocation).
 */
import { httpTransportOptions, oauthClientOptions, recordOAuthCall, reportSkippedEntries, type BankAdapterDeps } from '../index';
import { BankClientConfigError, BankConsentInvalid, BankResponseInvalid } from '../../errors';
import { createBankHttpClient, type BankHttpClient } from '../../http';
import type { BankTokens, InstitutionDescriptor } from '../../model';
import { BankOAuth, type OAuthTokens } from '../../oauth';
import type { BankCallContext, ConsentAccess } from '../../ports';
import type { Logger } from '../../../platform/logger';
import { linkHref } from './stet.mapper';
import { stetAccountsResponse, stetConsentsPutResponse, type StetAccount } from './stet.schemas';
import { stetProtocol } from './stet.protocol';

/** The shared part of one institution's STET adapter. */
export interface StetSession {
  institution: InstitutionDescriptor;
  sandbox: boolean;
  /** Scope of the AISP authorisation (quirk `stetOAuthScope`, default `aisp`). */
  oauthScope: string;
  /** A HAL link as an absolute or base-relative URL. */
  link(l: Parameters<typeof linkHref>[0]): string | undefined;
  log: Logger;
  /** Malformed entries set aside in an otherwise good answer: logged and counted, never their values. */
  reportSkipped(operation: string, kind: 'balance' | 'transaction', res: { requestId: string; headers: Headers }, list: readonly unknown[]): void;
  http: BankHttpClient;
  oauth(): Promise<BankOAuth>;
  /** Links the bank gave for each account (`_links.balances`, `_links.transactions`). */
  accountLinks: Map<string, { balances?: string; transactions?: string }>;
  bearer(access: ConsentAccess, operation: string): string;
  toBankTokens(tokens: OAuthTokens): BankTokens;
  fetchAccounts(ctx: BankCallContext, accessToken: string, operation: string): Promise<StetAccount[]>;
  revokeTokens(tokens: BankTokens): Promise<boolean>;
  putConsents(ctx: BankCallContext, accessToken: string, body: { balances: unknown[]; transactions: unknown[] }): Promise<void>;
}

const isSandbox = (institution: InstitutionDescriptor): boolean => institution.quirks.sandbox === true;

/** Builds the shared part of one institution's STET adapter. */
export function createStetSession(deps: BankAdapterDeps): StetSession {
  const { institution, logger } = deps;
  const sandbox = isSandbox(institution);
  const oauthScope = typeof institution.quirks.stetOAuthScope === 'string' ? institution.quirks.stetOAuthScope : 'aisp';
  // Path-relative links resolve against the API root unless the bank's own base is configured.
  const linkBase = typeof institution.quirks.stetRelativeLinkBase === 'string' ? institution.quirks.stetRelativeLinkBase : institution.aisBaseUrl;
  const link = (l: Parameters<typeof linkHref>[0]) => linkHref(l, linkBase);
  const log = logger.child({ component: 'stet-adapter', institutionId: institution.id });

  /** Malformed entries set aside in an otherwise good answer: logged with the request ids and counted, never their values. */
  const reportSkipped = (operation: string, kind: 'balance' | 'transaction', res: { requestId: string; headers: Headers }, list: readonly unknown[]) =>
    reportSkippedEntries(
      { log, institutionId: institution.id, onSkippedEntries: deps.onSkippedEntries },
      { operation, kind, requestId: res.requestId, bankRequestId: res.headers.get('x-request-id') ?? undefined },
      list,
    );

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
      if (seen.has(key))
        throw new BankResponseInvalid(`${operation} at ${institution.id}: the bank's next link loops`, { institutionId: institution.id, operation });
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

  return {
    institution,
    sandbox,
    oauthScope,
    link,
    log,
    reportSkipped,
    http,
    oauth,
    accountLinks,
    bearer,
    toBankTokens,
    fetchAccounts,
    revokeTokens,
    putConsents,
  };
}
