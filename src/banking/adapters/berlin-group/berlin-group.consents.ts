/**
 * Berlin Group consents: `POST /v1/consents`, then SCA by redirect, OAuth (`scaOAuth`, scope
 * `AIS:<consentId>`) or the decoupled approach, the bank's word on the consent status, revocation
 * by `DELETE`, and the refresh of tokens issued after OAuth SCA.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { BankConsentInvalid, BankError, BankInvalidRequest, BankResponseInvalid, BankUnauthorized } from '../../errors';
import type { BankConsentStatus, BankTokens, ScaApproach } from '../../model';
import { discoveryFormOf, issuerFromMetadataUrl, OAuthError, OAuthErrorCode } from '../../oauth';
import type { BankCallContext, ConsentAuthorisationPort, ConsentCompleted, ConsentRequest, ConsentStarted } from '../../ports';
import { optionalPsuIp, requiredPsuIp } from './berlin-group.psu-ip';
import { mapConsentStatus, validUntilDate } from './berlin-group.mapper';
import {
  bgAuthorisationConfirmed,
  bgAuthorisationStarted,
  bgConsentCreated,
  bgConsentInformation,
  bgConsentStatusResponse,
  bgEmpty,
  hrefOf,
  type BgScaLinks,
} from './berlin-group.schemas';
import type { BerlinGroupSession } from './berlin-group.session';

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
const sha256 = (s: string) => createHash('sha256').update(s).digest();
const sameSecret = (a: string, b: string) => timingSafeEqual(sha256(a), sha256(b));

function withQuery(uri: string, params: Record<string, string>): string {
  const url = new URL(uri);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.href;
}

/** Berlin Group consents of one institution, over the adapter's shared session. */
export function createBerlinGroupConsents(session: BerlinGroupSession): ConsentAuthorisationPort {
  const { deps, institution, institutionId, sandbox, log, http, oauthClient, details, linkOf, requireConsentId, toBankTokens } = session;

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

  return consents;
}
