/**
 * Berlin Group NextGenPSD2 1.3.x payment initiation: `POST /v1/payments/{product}` for SEPA credit
 * transfers and SEPA Instant, SCA by redirect (`_links.scaRedirect`) or OAuth (`_links.scaOAuth`,
 * scope `PIS:<paymentId>`), the status from `_links.status`, cancellation by `DELETE` on
 * `_links.self`. Links the bank sends are followed; paths are only the fallback when a bank omits
 * one. The payment's `X-Request-ID` is derived from the gateway's idempotency key, so every try of
 * the same payment carries the same one.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { BankCancellationAuthorisationRequired, BankInvalidRequest, BankResponseInvalid } from '../../errors';
import { optionalPsuIp, requiredPsuIp } from './berlin-group.psu-ip';
import { createBankHttpClient, type BankHttpClient } from '../../http';
import type { BankPaymentStatus, InstitutionDescriptor, PaymentScheme } from '../../model';
import { BankOAuth, discoveryFormOf, type DiscoveryForm, issuerFromMetadataUrl, OAuthError, OAuthErrorCode } from '../../oauth';
import { paymentRequestId, withQuery } from '../../payment-ids';
import { isoPaymentStatus, normaliseReasonCode } from '../../payment-status';
import type {
  BankCallContext,
  CancellationAuthorisationFinished,
  CancellationAuthorisationStarted,
  PaymentCompleted,
  PaymentInitiationPort,
  PaymentRequest,
  PaymentStarted,
} from '../../ports';
import { httpTransportOptions, type BankAdapterDeps } from '../index';
import { bgPaymentCancelResponse, bgPaymentCreated, bgPaymentStatusResponse, type BgPaymentStatusResponse } from './berlin-group.payment-schemas';
import { bgAuthorisationStarted, hrefOf, type BgLink } from './berlin-group.schemas';
import { z } from 'zod';
import { berlinGroupProtocol } from './berlin-group.protocol';

/** GET {scaStatus} → 200 (`scaStatusResponse`). */
const bgScaStatusResponse = z.looseObject({ scaStatus: z.string().min(1) });

/** Berlin Group payment products per scheme (the path segment of `/v1/payments/{product}`). */
export const BG_PAYMENT_PRODUCTS: Partial<Record<PaymentScheme, string>> = {
  SEPA_CREDIT_TRANSFER: 'sepa-credit-transfers',
  SEPA_INSTANT: 'instant-sepa-credit-transfers',
};

/** Keys of the payment's secrets (kept sealed by the gateway between calls). */
type PaymentSecretKey =
  | 'product'
  | 'paymentId'
  | 'selfHref'
  | 'statusHref'
  | 'approach'
  | 'callbackState'
  | 'codeVerifier'
  | 'nonce'
  | 'issuer'
  | 'discoveryAlgorithm'
  | 'redirectUri'
  /** `'1'` once the end user passed SCA: a RCVD/PDNG after it is PENDING, not AUTHORIZATION_REQUIRED. */
  | 'authorised'
  /** Decoupled: the authorisation's `scaStatus` link, followed until the end user has decided. */
  | 'scaStatusHref';
type Secrets = Partial<Record<PaymentSecretKey, string>>;

/** Marks the not-OK redirect, for banks that send the end user back without saying what happened. */
const NOK_MARKER = 'sca_not_completed';

const sha256 = (s: string) => createHash('sha256').update(s).digest();
const sameSecret = (a: string, b: string) => timingSafeEqual(sha256(a), sha256(b));

/** What the payment part needs from the adapter it belongs to. */
export interface BerlinGroupPaymentsEnv {
  deps: BankAdapterDeps;
  institution: InstitutionDescriptor;
  sandbox: boolean;
  log: Logger;
  resolveLink: (apiBaseUrl: string, href: string | undefined) => string | undefined;
  oauthClient: (issuer: string, discoveryAlgorithm: DiscoveryForm) => Promise<BankOAuth>;
}

export function createBerlinGroupPayments(env: BerlinGroupPaymentsEnv): PaymentInitiationPort {
  const { institution, sandbox, deps } = env;
  const institutionId = institution.id;
  const pisBase = institution.pisBaseUrl || institution.aisBaseUrl;
  const originOf = (u: string) => new URL(u).origin;
  const http: BankHttpClient = createBankHttpClient({
    institutionId,
    baseUrl: pisBase,
    logger: deps.logger,
    onCall: deps.onCall,
    ...httpTransportOptions(deps, berlinGroupProtocol),
    allowInsecureRequests: sandbox,
    additionalOrigins: originOf(institution.aisBaseUrl) === originOf(pisBase) ? [] : [institution.aisBaseUrl],
  });
  const linkOf = (link: BgLink | null | undefined) => env.resolveLink(pisBase, hrefOf(link));
  const details = (operation: string) => ({ institutionId, operation });

  function productFor(scheme: PaymentScheme): string {
    const product = BG_PAYMENT_PRODUCTS[scheme];
    if (!product || (institution.paymentProducts.length > 0 && !institution.paymentProducts.includes(product))) {
      throw new BankInvalidRequest(`payment.create at ${institutionId}: the bank offers no payment product for ${scheme}`, details('payment.create'));
    }
    return product;
  }

  /** The payment's resource path, for banks that give no link. */
  const paymentPath = (secrets: Secrets, bankPaymentId: string) => {
    if (!secrets.product) throw new BankInvalidRequest(`payment at ${institutionId}: the payment product was not kept`, details('payment'));
    return `/v1/payments/${encodeURIComponent(secrets.product)}/${encodeURIComponent(bankPaymentId)}`;
  };

  /** The ISO reason of a rejection: NextGenPSD2 has no field for it; banks put it in `tppMessages`. */
  const reasonOf = (body: Pick<BgPaymentStatusResponse, 'tppMessages'>): string | null => {
    for (const m of body.tppMessages ?? []) {
      const code = normaliseReasonCode(m.code);
      if (code) return code;
    }
    return null;
  };

  async function readStatus(ctx: BankCallContext, bankPaymentId: string, secrets: Secrets): Promise<BankPaymentStatus> {
    const res = await http.request({
      operation: 'payment.status',
      method: 'GET',
      ...(secrets.statusHref ? { url: secrets.statusHref } : { path: `${paymentPath(secrets, bankPaymentId)}/status` }),
      psuIpAddress: optionalPsuIp(ctx),
      schema: bgPaymentStatusResponse,
    });
    return isoPaymentStatus(res.data.transactionStatus, { authorised: secrets.authorised === '1', reasonCode: reasonOf(res.data) });
  }

  /**
   * The approach to ask for, in the registry's order: decoupled only with the end user's PSU-ID
   * (the bank then asks them in its app), else redirect or OAuth.
   */
  function chooseApproach(psuId: string | undefined): 'REDIRECT' | 'OAUTH' | 'DECOUPLED' {
    const first = institution.scaApproaches.find(
      (a): a is 'REDIRECT' | 'OAUTH' | 'DECOUPLED' => a === 'REDIRECT' || a === 'OAUTH' || (a === 'DECOUPLED' && !!psuId),
    );
    if (!first) {
      throw new BankInvalidRequest(
        `payment.create at ${institutionId}: none of the bank's SCA approaches (${institution.scaApproaches.join(', ') || 'none'}) can be used for payments${
          institution.scaApproaches.includes('DECOUPLED') ? ' (decoupled needs a PSU-ID)' : ''
        }`,
        details('payment.create'),
      );
    }
    return first;
  }

  async function initiate(ctx: BankCallContext, request: PaymentRequest): Promise<PaymentStarted> {
    const operation = 'payment.create';
    const product = productFor(request.scheme);
    // The 1.3.12 file requires debtorAccount; leaving it out ("the end user picks the account at
    // the bank") is only for banks whose registry entry says they allow it.
    if (!request.debtorAccount && institution.quirks.debtorAccountOptional !== true) {
      throw new BankInvalidRequest(
        `${operation} at ${institutionId}: debtorAccount is required by the Berlin Group file (this bank's registry entry does not set quirks.debtorAccountOptional)`,
        { ...details(operation), bankCode: 'debtorAccount' },
      );
    }
    const wanted = chooseApproach(request.psuId);
    const decoupled = wanted === 'DECOUPLED';
    const headers = {
      'TPP-Redirect-URI': decoupled ? undefined : withQuery(request.redirectUri, { state: request.state }),
      'TPP-Nok-Redirect-URI': decoupled ? undefined : withQuery(request.redirectUri, { state: request.state, error: NOK_MARKER }),
      'TPP-Redirect-Preferred': wanted === 'REDIRECT' ? 'true' : 'false',
      'TPP-Decoupled-Preferred': decoupled ? 'true' : undefined,
      'TPP-Explicit-Authorisation-Preferred': 'false',
      'PSU-ID': decoupled ? request.psuId : undefined,
    };
    const created = await http.request({
      operation,
      method: 'POST',
      path: `/v1/payments/${product}`,
      requestId: paymentRequestId(request.idempotencyKey),
      headers,
      psuIpAddress: requiredPsuIp(institution, ctx, deps.tppIpAddress, operation),
      body: {
        ...(request.endToEndId ? { endToEndIdentification: request.endToEndId } : {}),
        ...(request.debtorAccount ? { debtorAccount: { iban: request.debtorAccount.iban } } : {}),
        instructedAmount: { currency: request.amount.currency, amount: request.amount.amount },
        creditorAccount: { iban: request.creditor.iban },
        ...(request.creditor.bic ? { creditorAgent: request.creditor.bic } : {}),
        creditorName: request.creditor.name,
        ...(request.remittanceInformation ? { remittanceInformationUnstructured: request.remittanceInformation } : {}),
        ...(request.requestedExecutionDate ? { requestedExecutionDate: request.requestedExecutionDate } : {}),
      },
      schema: bgPaymentCreated,
    });
    const paymentId = created.data.paymentId;
    let links = created.data._links ?? {};
    // An explicit start of the authorisation, when the bank asks for it and needs nothing more from us
    // (decoupled: the PSU-ID we send in the header identifies the end user).
    const explicitStart = hrefOf(links.startAuthorisation) ? links.startAuthorisation : decoupled ? links.startAuthorisationWithPsuIdentification : undefined;
    let header = created.headers.get('ASPSP-SCA-Approach')?.toUpperCase();
    if (!hrefOf(links.scaRedirect) && !hrefOf(links.scaOAuth) && hrefOf(explicitStart)) {
      const started = await http.request({
        operation: 'payment.authorisation.start',
        method: 'POST',
        url: linkOf(explicitStart)!,
        headers,
        psuIpAddress: optionalPsuIp(ctx),
        body: {},
        schema: bgAuthorisationStarted,
      });
      links = { ...links, ...(started.data._links ?? {}) };
      header = started.headers.get('ASPSP-SCA-Approach')?.toUpperCase() ?? header;
    }

    const secrets: Secrets = { product, paymentId, callbackState: request.state };
    const selfHref = linkOf(links.self);
    const statusHref = linkOf(links.status);
    if (selfHref) secrets.selfHref = selfHref;
    if (statusHref) secrets.statusHref = statusHref;
    const status = isoPaymentStatus(created.data.transactionStatus, { authorised: false, reasonCode: reasonOf(created.data) });

    const scaRedirect = linkOf(links.scaRedirect);
    const scaOAuth = linkOf(links.scaOAuth);
    if (scaOAuth && !(scaRedirect && wanted === 'REDIRECT')) {
      const target = issuerFromMetadataUrl(scaOAuth);
      if (!target) throw new BankResponseInvalid(`${operation} at ${institutionId}: scaOAuth is not an authorisation server metadata URL`, details(operation));
      const oauth = await env.oauthClient(target.issuer, target.discoveryAlgorithm);
      const auth = await oauth.startAuthorization({ scope: `PIS:${paymentId}`, redirectUri: deps.redirectUri ?? request.redirectUri, state: request.state });
      Object.assign(secrets, {
        approach: 'OAUTH',
        callbackState: auth.state,
        codeVerifier: auth.codeVerifier,
        issuer: target.issuer,
        discoveryAlgorithm: target.discoveryAlgorithm,
        redirectUri: auth.redirectUri,
        ...(auth.nonce ? { nonce: auth.nonce } : {}),
      } satisfies Secrets);
      return { bankPaymentId: paymentId, authorizationUrl: auth.url, status, secrets: secrets as Record<string, string> };
    }
    if (scaRedirect) {
      const url = new URL(scaRedirect);
      if (url.protocol !== 'https:' && !(sandbox && url.protocol === 'http:')) {
        throw new BankResponseInvalid(`${operation} at ${institutionId}: scaRedirect is not an https URL`, details(operation));
      }
      secrets.approach = 'REDIRECT';
      return { bankPaymentId: paymentId, authorizationUrl: url.href, status, secrets: secrets as Record<string, string> };
    }
    if (header === 'DECOUPLED' || (decoupled && !header)) {
      const scaStatusHref = linkOf(links.scaStatus);
      if (scaStatusHref) secrets.scaStatusHref = scaStatusHref;
      secrets.approach = 'DECOUPLED';
      return { bankPaymentId: paymentId, authorizationUrl: null, status, secrets: secrets as Record<string, string> };
    }
    throw new BankInvalidRequest(
      `${operation} at ${institutionId}: the bank offers no redirect or OAuth SCA for this payment (${Object.keys(links).join(', ') || 'no links'})`,
      details(operation),
    );
  }

  /** The outcome once the bank's status is read: its word decides, not the callback URL. */
  function outcomeOf(status: BankPaymentStatus, secrets: Secrets, bankPaymentId: string, callbackSaysNok: boolean): PaymentCompleted {
    switch (status.status) {
      case 'REJECTED':
      case 'CANCELLED':
        return {
          outcome: 'REJECTED',
          reason: `the bank reports the payment as ${status.rawStatus}${status.reasonCode ? ` (${status.reasonCode})` : ''}`,
          status,
        };
      case 'FAILED':
        return { outcome: 'FAILED', reason: `the bank reports the payment as ${status.rawStatus}`, status };
      case 'AUTHORIZATION_REQUIRED':
        return callbackSaysNok
          ? { outcome: 'REJECTED', reason: 'the end user did not complete the authorisation at the bank', status }
          : { outcome: 'FAILED', reason: 'the bank has not confirmed the authorisation yet', status };
      default: {
        const after = { ...secrets, authorised: '1' };
        // RCVD/PDNG read before we knew SCA had passed: the same word, now PENDING.
        const settled = isoPaymentStatus(status.rawStatus, { authorised: true, reasonCode: status.reasonCode });
        return { outcome: 'AUTHORISED', bankPaymentId, status: settled, secrets: after as Record<string, string> };
      }
    }
  }

  async function complete(
    ctx: BankCallContext,
    input: { callbackUrl: string; bankPaymentId: string; secrets: Record<string, string> },
  ): Promise<PaymentCompleted> {
    const secrets = input.secrets as Secrets;
    let callback: URL;
    try {
      callback = new URL(input.callbackUrl);
    } catch {
      return { outcome: 'FAILED', reason: 'INVALID_CALLBACK', status: null };
    }
    const state = callback.searchParams.get('state');
    if (!secrets.callbackState || state === null || !sameSecret(state, secrets.callbackState))
      return { outcome: 'FAILED', reason: 'STATE_MISMATCH', status: null };
    let nok = callback.searchParams.has('error');

    if (secrets.approach === 'OAUTH') {
      if (!secrets.issuer || !secrets.codeVerifier || !secrets.redirectUri)
        return { outcome: 'FAILED', reason: 'the OAuth secrets of this payment are incomplete', status: null };
      const oauth = await env.oauthClient(secrets.issuer, discoveryFormOf(secrets.discoveryAlgorithm));
      try {
        // The code exchange finishes the authorisation; the payment's status then tells the outcome.
        await oauth.completeAuthorization({
          callbackUrl: input.callbackUrl,
          expected: {
            state: secrets.callbackState,
            codeVerifier: secrets.codeVerifier,
            redirectUri: secrets.redirectUri,
            ...(secrets.nonce ? { nonce: secrets.nonce } : {}),
          },
        });
      } catch (err) {
        if (!(err instanceof OAuthError)) throw err;
        if (err.code === OAuthErrorCode.ACCESS_DENIED) nok = true;
        // A spent code (a repeated complete) is no failure: the status below tells what happened.
        else if (err.code !== OAuthErrorCode.CODE_INVALID) return { outcome: 'FAILED', reason: err.code, status: null };
      }
    } else if (secrets.approach !== 'REDIRECT') {
      return { outcome: 'FAILED', reason: 'unknown SCA approach in the kept secrets', status: null };
    }
    const status = await readStatus(ctx, input.bankPaymentId, secrets);
    return outcomeOf(status, secrets, input.bankPaymentId, nok);
  }

  async function cancel(ctx: BankCallContext, input: { bankPaymentId: string; secrets: Record<string, string> }): Promise<BankPaymentStatus> {
    const operation = 'payment.cancel';
    const secrets = input.secrets as Secrets;
    const res = await http.request({
      operation,
      method: 'DELETE',
      ...(secrets.selfHref ? { url: secrets.selfHref } : { path: paymentPath(secrets, input.bankPaymentId) }),
      psuIpAddress: optionalPsuIp(ctx),
      schema: bgPaymentCancelResponse,
    });
    const body = res.data;
    if (body) {
      const l = body._links ?? {};
      const authorisation = [
        l.startAuthorisation,
        l.startAuthorisationWithPsuIdentification,
        l.startAuthorisationWithPsuAuthentication,
        l.startAuthorisationWithEncryptedPsuAuthentication,
        l.startAuthorisationWithAuthenticationMethodSelection,
      ].some((link) => hrefOf(link));
      if (authorisation) {
        throw new BankCancellationAuthorisationRequired(
          `${operation} at ${institutionId}: the bank cancels this payment only after the end user authorises the cancellation; it is not cancelled`,
          { ...details(operation), httpStatus: res.status, requestId: res.requestId, startHref: linkOf(l.startAuthorisation) ?? null },
        );
      }
      return isoPaymentStatus(body.transactionStatus, { authorised: secrets.authorised === '1', reasonCode: reasonOf(body) });
    }
    // 204: cancelled without more ado; the status resource says what it is now.
    return readStatus(ctx, input.bankPaymentId, secrets);
  }

  /**
   * Decoupled SCA: the end user decides in the bank's app. The authorisation's scaStatus tells
   * when (`finalised`, `failed`); the payment's status then decides, as after a redirect.
   */
  async function poll(
    ctx: BankCallContext,
    input: { bankPaymentId: string; secrets: Record<string, string> },
  ): Promise<PaymentCompleted | { outcome: 'PENDING' }> {
    const secrets = input.secrets as Secrets;
    if (secrets.approach !== 'DECOUPLED') return { outcome: 'FAILED', reason: 'this payment is not authorised in the decoupled way', status: null };
    if (secrets.scaStatusHref) {
      const sca = await http.request({
        operation: 'payment.authorisation.status',
        method: 'GET',
        url: secrets.scaStatusHref,
        psuIpAddress: ctx.psuIpAddress,
        schema: bgScaStatusResponse,
      });
      const word = sca.data.scaStatus.toLowerCase();
      if (word === 'failed') {
        const status = await readStatus(ctx, input.bankPaymentId, secrets);
        return {
          outcome: 'REJECTED',
          reason: 'the end user did not approve the payment in the bank’s app',
          status: status.status === 'AUTHORIZATION_REQUIRED' ? { ...status, status: 'REJECTED' } : status,
        };
      }
      if (word !== 'finalised' && word !== 'exempted') return { outcome: 'PENDING' };
      // SCA passed: a RCVD/PDNG now is PENDING, not AUTHORIZATION_REQUIRED.
      const status = await readStatus(ctx, input.bankPaymentId, { ...secrets, authorised: '1' });
      return outcomeOf(status, secrets, input.bankPaymentId, false);
    }
    const status = await readStatus(ctx, input.bankPaymentId, secrets);
    if (status.status === 'AUTHORIZATION_REQUIRED' && !secrets.scaStatusHref) return { outcome: 'PENDING' };
    return outcomeOf(status, secrets, input.bankPaymentId, false);
  }

  /**
   * `POST …/cancellation-authorisations` (the bank's `startAuthorisation` link, else the path
   * under the payment) with the gateway's callback as TPP-Redirect-URI; the answer's `scaRedirect`
   * is where the end user approves, its `scaStatus` link what finishing reads.
   */
  async function startCancellationAuthorisation(
    ctx: BankCallContext,
    input: { bankPaymentId: string; secrets: Record<string, string>; startHref: string | null; redirectUri: string; state: string },
  ): Promise<CancellationAuthorisationStarted> {
    const operation = 'payment.cancellation.authorisation.start';
    const secrets = input.secrets as Secrets;
    const started = await http.request({
      operation,
      method: 'POST',
      ...(input.startHref ? { url: input.startHref } : { path: `${paymentPath(secrets, input.bankPaymentId)}/cancellation-authorisations` }),
      headers: {
        'TPP-Redirect-URI': withQuery(input.redirectUri, { state: input.state }),
        'TPP-Nok-Redirect-URI': withQuery(input.redirectUri, { state: input.state, error: NOK_MARKER }),
        'TPP-Redirect-Preferred': 'true',
      },
      psuIpAddress: ctx.psuIpAddress,
      body: {},
      schema: bgAuthorisationStarted,
    });
    const links = started.data._links ?? {};
    const scaRedirect = linkOf(links.scaRedirect);
    if (!scaRedirect)
      throw new BankResponseInvalid(
        `${operation} at ${institutionId}: the bank gave no scaRedirect link (only redirect SCA is supported for cancellations)`,
        details(operation),
      );
    const scaStatus = linkOf(links.scaStatus);
    const authorisationId = started.data.authorisationId;
    const out: Record<string, string> = { state: input.state };
    if (scaStatus) out.scaStatusHref = scaStatus;
    else if (authorisationId)
      out.scaStatusHref = `${pisBase.replace(/\/+$/, '')}${paymentPath(secrets, input.bankPaymentId)}/cancellation-authorisations/${encodeURIComponent(authorisationId)}`;
    return { authorizationUrl: scaRedirect, secrets: out };
  }

  /** The end user is back: their verdict from the authorisation's scaStatus, the payment's from its status. */
  async function finishCancellationAuthorisation(
    ctx: BankCallContext,
    input: { bankPaymentId: string; secrets: Record<string, string>; cancellationSecrets: Record<string, string>; callbackUrl: string },
  ): Promise<CancellationAuthorisationFinished> {
    const secrets = input.secrets as Secrets;
    let callback: URL;
    try {
      callback = new URL(input.callbackUrl);
    } catch {
      return { outcome: 'STATE_MISMATCH', status: null };
    }
    const state = callback.searchParams.get('state');
    const kept = input.cancellationSecrets.state;
    if (!kept || state === null || !sameSecret(state, kept)) return { outcome: 'STATE_MISMATCH', status: null };
    let word = callback.searchParams.has('error') ? 'failed' : 'finalised';
    if (input.cancellationSecrets.scaStatusHref) {
      const sca = await http.request({
        operation: 'payment.cancellation.authorisation.status',
        method: 'GET',
        url: input.cancellationSecrets.scaStatusHref,
        psuIpAddress: ctx.psuIpAddress,
        schema: bgScaStatusResponse,
      });
      word = sca.data.scaStatus.toLowerCase();
    }
    const status = await readStatus(ctx, input.bankPaymentId, secrets);
    if (word === 'failed') return { outcome: 'DECLINED', status };
    if (word === 'finalised' || word === 'exempted') return { outcome: 'APPROVED', status };
    return { outcome: 'UNDECIDED', status };
  }

  return {
    initiate,
    complete,
    poll,
    startCancellationAuthorisation,
    finishCancellationAuthorisation,
    status: (ctx, input) => readStatus(ctx, input.bankPaymentId, input.secrets as Secrets),
    cancel,
  };
}
