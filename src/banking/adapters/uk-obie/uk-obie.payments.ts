/**
 * UK Open Banking 3.1 domestic payments (Faster Payments):
 *
 * 1. a client-credentials token (scope `payments`) creates a domestic-payment consent
 *    (`POST /domestic-payment-consents`, `x-idempotency-key` = the gateway's key);
 * 2. the PSU authorises it exactly as an account-access consent (authorisation code + PKCE, the
 *    consent id as `openbanking_intent_id`), with scope `openid payments`;
 * 3. `complete` exchanges the code and submits `POST /domestic-payments` with the PSU's token and
 *    the same `x-idempotency-key`: the bank answers the same payment to a repeated submission;
 * 4. the status is read with a client token (`GET /domestic-payments/{id}`, or the consent before).
 *
 * There is no cancellation: 3.1 domestic payments have none. Statuses keep the bank's words
 * (`AcceptedSettlementCompleted`…) as `rawStatus`; a rejection's ISO reason is read from the
 * payment details (`StatusReasonDescription`) where the bank offers them.
 */
import type { Logger } from 'pino';
import { BankClientConfigError, BankInvalidRequest, BankResponseInvalid, isBankError } from '../../errors';
import { createBankHttpClient, type BankHttpClient } from '../../http';
import type { BankPaymentStatus, InstitutionDescriptor } from '../../model';
import { isOAuthError, OAuthErrorCode, type AuthorizationStart, type BankOAuth } from '../../oauth';
import { paymentInstructionId, ukIdempotencyKey } from '../../payment-ids';
import { reasonCodeInText, ukPaymentStatus } from '../../payment-status';
import type { BankCallContext, PaymentCompleted, PaymentInitiationPort, PaymentRequest, PaymentStarted } from '../../ports';
import { httpTransportOptions, type BankAdapterDeps } from '../index';
import { ukJwsSigner, ukJwsVerifier } from './uk-obie.jws';
import { ukDomesticPaymentResponse, ukPaymentConsentResponse, ukPaymentDetailsResponse } from './uk-obie.payment-schemas';
import { ukObieProtocol } from './uk-obie.protocol';

const CC_SCOPE = 'payments';
const PSU_SCOPE = 'openid payments';

/** Keys of a payment's secrets (sealed by the gateway between calls). */
type Secrets = Partial<
  Record<
    | 'consentId'
    | 'consentHref'
    | 'state'
    | 'codeVerifier'
    | 'nonce'
    | 'redirectUri'
    | 'domesticPaymentId'
    | 'paymentHref'
    /** The PSU's token from the code exchange: a repeated `complete` re-submits with it (same idempotency key) instead of re-using the spent code. */
    | 'psuAccessToken',
    string
  >
>;

export interface UkObiePaymentsEnv {
  deps: BankAdapterDeps;
  institution: InstitutionDescriptor;
  sandbox: boolean;
  log: Logger;
  asClient: <T>(call: (token: string) => Promise<T>, scope: string) => Promise<T>;
  authoriseIntent: (intentId: string, scope: string, redirectUri: string, state: string) => Promise<AuthorizationStart>;
  oauth: () => Promise<BankOAuth>;
}

/** Sort code and account number of a GB IBAN (`GBkk BANK SSSSSS AAAAAAAA`), the identification Faster Payments use. */
export function sortCodeAccountNumber(iban: string): string | null {
  const compact = iban.replace(/\s+/g, '').toUpperCase();
  return /^GB\d{2}[A-Z]{4}\d{14}$/.test(compact) ? compact.slice(8) : null;
}

const accountOf = (iban: string, name?: string) => {
  const scan = sortCodeAccountNumber(iban);
  return {
    SchemeName: scan ? 'UK.OBIE.SortCodeAccountNumber' : 'UK.OBIE.IBAN',
    Identification: scan ?? iban.replace(/\s+/g, '').toUpperCase(),
    ...(name ? { Name: name } : {}),
  };
};

export function createUkObiePayments(env: UkObiePaymentsEnv): PaymentInitiationPort {
  const { institution, deps, sandbox } = env;
  const institutionId = institution.id;
  const financialId = typeof institution.quirks.fapiFinancialId === 'string' ? institution.quirks.fapiFinancialId : undefined;
  const http: BankHttpClient = createBankHttpClient({
    institutionId,
    baseUrl: institution.pisBaseUrl,
    logger: deps.logger,
    ...(deps.onCall ? { onCall: deps.onCall } : {}),
    ...httpTransportOptions(deps, ukObieProtocol),
    allowInsecureRequests: sandbox,
    ...(financialId ? { defaultHeaders: { 'x-fapi-financial-id': financialId } } : {}),
  });
  const details = (operation: string) => ({ institutionId, operation });

  // Message signing (x-jws-signature): ours on the two POSTs, the bank's on every domestic
  // payment answer, checked against the JWKS the registry names (quirk `jwsJwksUrl`).
  const signer = deps.credentials.jwsSigningKey ? ukJwsSigner(institutionId, deps.credentials.jwsSigningKey) : undefined;
  const quirk = (name: 'jwsJwksUrl' | 'jwsIssuer' | 'jwsTrustAnchor') => institution.quirks[name];
  const jwksUrl = quirk('jwsJwksUrl');
  if (jwksUrl && !/^https:\/\//.test(jwksUrl) && !(sandbox && /^http:\/\//.test(jwksUrl)))
    throw new BankClientConfigError(institutionId, 'quirks.jwsJwksUrl must be an https URL');
  const custom = deps.fetch;
  const verifier = jwksUrl
    ? ukJwsVerifier({
        institutionId,
        jwksUrl,
        ...(quirk('jwsIssuer') ? { iss: quirk('jwsIssuer') } : {}),
        ...(quirk('jwsTrustAnchor') ? { tan: quirk('jwsTrustAnchor') } : {}),
        ...(custom ? { fetch: (url: RequestInfo | URL, init?: RequestInit) => custom(url, init) } : {}),
      })
    : undefined;
  /** Our signature on a request body; a payment is never sent unsigned (the spec requires the header). */
  const signed = (operation: string) => {
    if (!signer) {
      throw new BankInvalidRequest(
        `${operation} at ${institutionId}: UK payments need the operator's message-signing key (credentials.jws) for x-jws-signature`,
        details(operation),
      );
    }
    return { signBody: async (body: string) => ({ 'x-jws-signature': await signer(body) }) };
  };
  /** The check of the bank's signature on an answer; without the bank's keys no payment answer is trusted. */
  const verified = (operation: string) => {
    if (!verifier) {
      throw new BankInvalidRequest(
        `${operation} at ${institutionId}: the registry names no JWKS (quirks.jwsJwksUrl) to check the bank's x-jws-signature`,
        details(operation),
      );
    }
    return { verifyResponse: (body: string, headers: Headers) => verifier(operation, body, headers) };
  };

  /** The `Initiation` of both the consent and the payment: the bank checks they are the same. */
  function initiationOf(request: PaymentRequest): Record<string, unknown> {
    if (request.scheme !== 'FASTER_PAYMENTS') {
      throw new BankInvalidRequest(
        `payment.create at ${institutionId}: UK domestic payments carry Faster Payments, not ${request.scheme}`,
        details('payment.create'),
      );
    }
    if (request.requestedExecutionDate) {
      // Future-dated UK payments are domestic *scheduled* payments, another resource this adapter does not offer.
      throw new BankInvalidRequest(
        `payment.create at ${institutionId}: future-dated UK payments (domestic scheduled payments) are not supported`,
        details('payment.create'),
      );
    }
    const instructionId = paymentInstructionId(request.idempotencyKey);
    const text = request.remittanceInformation;
    return {
      InstructionIdentification: instructionId,
      EndToEndIdentification: request.endToEndId ?? instructionId,
      LocalInstrument: 'UK.OBIE.FPS',
      InstructedAmount: { Amount: request.amount.amount, Currency: request.amount.currency },
      ...(request.debtorAccount ? { DebtorAccount: accountOf(request.debtorAccount.iban) } : {}),
      CreditorAccount: accountOf(request.creditor.iban, request.creditor.name),
      ...(text ? { RemittanceInformation: { Unstructured: text, ...(text.length <= 35 ? { Reference: text } : {}) } } : {}),
    };
  }

  async function readConsent(ctx: BankCallContext, secrets: Secrets, consentId: string) {
    const res = await env.asClient(
      (accessToken) =>
        http.request({
          operation: 'payment-consent.get',
          method: 'GET',
          ...verified('payment-consent.get'),
          ...(secrets.consentHref ? { url: secrets.consentHref } : { path: `/domestic-payment-consents/${encodeURIComponent(consentId)}` }),
          accessToken,
          psuIpAddress: ctx.psuIpAddress,
          schema: ukPaymentConsentResponse,
        }),
      CC_SCOPE,
    );
    return res.data.Data;
  }

  /** The ISO reason of a rejected payment, from its payment details; null where the bank offers none. */
  async function rejectionReason(ctx: BankCallContext, paymentId: string): Promise<string | null> {
    try {
      const res = await env.asClient(
        (accessToken) =>
          http.request({
            operation: 'payment.details',
            method: 'GET',
            ...verified('payment.details'),
            path: `/domestic-payments/${encodeURIComponent(paymentId)}/payment-details`,
            accessToken,
            psuIpAddress: ctx.psuIpAddress,
            schema: ukPaymentDetailsResponse,
          }),
        CC_SCOPE,
      );
      for (const s of res.data.Data.PaymentStatus ?? []) {
        const code = reasonCodeInText(s.StatusDetail?.StatusReasonDescription);
        if (code) return code;
      }
      return null;
    } catch (err) {
      // An optional resource (3.1.4+): a bank without it is no error.
      if (isBankError(err) && err instanceof BankInvalidRequest) return null;
      throw err;
    }
  }

  async function paymentStatus(ctx: BankCallContext, raw: string, paymentId: string): Promise<BankPaymentStatus> {
    const status = ukPaymentStatus(raw, { authorised: true });
    if (status.status !== 'REJECTED') return status;
    return { ...status, reasonCode: await rejectionReason(ctx, paymentId) };
  }

  async function readPayment(ctx: BankCallContext, paymentId: string, href: string | undefined): Promise<BankPaymentStatus> {
    const res = await env.asClient(
      (accessToken) =>
        http.request({
          operation: 'payment.get',
          method: 'GET',
          ...verified('payment.get'),
          ...(href ? { url: href } : { path: `/domestic-payments/${encodeURIComponent(paymentId)}` }),
          accessToken,
          psuIpAddress: ctx.psuIpAddress,
          schema: ukDomesticPaymentResponse,
        }),
      CC_SCOPE,
    );
    return paymentStatus(ctx, res.data.Data.Status, res.data.Data.DomesticPaymentId);
  }

  async function initiate(ctx: BankCallContext, request: PaymentRequest): Promise<PaymentStarted> {
    const redirectUri = deps.redirectUri ?? request.redirectUri;
    // Discovery first: a bank whose authorisation server is down gets no orphan consent.
    await env.oauth();
    const created = await env.asClient(
      (accessToken) =>
        http.request({
          operation: 'payment-consent.create',
          method: 'POST',
          ...signed('payment-consent.create'),
          ...verified('payment-consent.create'),
          path: '/domestic-payment-consents',
          accessToken,
          headers: { 'x-idempotency-key': ukIdempotencyKey(request.idempotencyKey) },
          // The bank answers the same consent to a repeated key and body: safe to retry.
          idempotent: true,
          psuIpAddress: ctx.psuIpAddress,
          body: { Data: { Initiation: initiationOf(request) }, Risk: {} },
          schema: ukPaymentConsentResponse,
        }),
      CC_SCOPE,
    );
    const consentId = created.data.Data.ConsentId;
    const auth = await env.authoriseIntent(consentId, PSU_SCOPE, redirectUri, request.state);
    const secrets: Secrets = {
      consentId,
      ...(created.data.Links?.Self ? { consentHref: http.resolveUrl({ url: created.data.Links.Self }).href } : {}),
      state: auth.state,
      codeVerifier: auth.codeVerifier,
      ...(auth.nonce ? { nonce: auth.nonce } : {}),
      redirectUri: auth.redirectUri,
    };
    return {
      bankPaymentId: consentId,
      authorizationUrl: auth.url,
      status: ukPaymentStatus(created.data.Data.Status, { authorised: false }),
      secrets: secrets as Record<string, string>,
    };
  }

  async function complete(
    ctx: BankCallContext,
    input: { callbackUrl: string; bankPaymentId: string; secrets: Record<string, string>; idempotencyKey: string; request: PaymentRequest },
  ): Promise<PaymentCompleted> {
    const secrets = input.secrets as Secrets;
    const consentId = secrets.consentId;
    if (!consentId) return { outcome: 'FAILED', reason: 'the payment consent id was not kept', status: null };
    let psuToken = secrets.psuAccessToken;
    if (!psuToken) {
      if (!secrets.state || !secrets.codeVerifier || !secrets.redirectUri) {
        return { outcome: 'FAILED', reason: 'the secrets kept at initiation (state, PKCE verifier, redirect URI) are missing', status: null };
      }
      try {
        const tokens = await (
          await env.oauth()
        ).completeAuthorization({
          callbackUrl: input.callbackUrl,
          expected: {
            state: secrets.state,
            codeVerifier: secrets.codeVerifier,
            redirectUri: secrets.redirectUri,
            ...(secrets.nonce ? { nonce: secrets.nonce } : {}),
          },
        });
        const intent = tokens.idTokenClaims?.openbanking_intent_id;
        if (intent !== undefined && intent !== consentId) {
          return { outcome: 'FAILED', reason: 'the ID token names another payment consent than the one this authorisation started with', status: null };
        }
        psuToken = tokens.accessToken;
      } catch (err) {
        if (!isOAuthError(err)) throw err;
        const consent = ukPaymentStatus((await readConsent(ctx, secrets, consentId)).Status, { authorised: false });
        if (err.code === OAuthErrorCode.ACCESS_DENIED) return { outcome: 'REJECTED', reason: err.message, status: consent };
        if (err.code === OAuthErrorCode.CODE_INVALID && consent.status === 'ACCEPTED') {
          // The code was spent by an earlier complete that submitted the payment; 3.1 offers no way to find its id from the consent.
          return {
            outcome: 'FAILED',
            reason: 'the authorisation code was already used: complete again with the secrets the first complete returned',
            status: consent,
          };
        }
        return { outcome: 'FAILED', reason: `${err.code}: ${err.message}`, status: consent.status === 'REJECTED' ? consent : null };
      }
      // The PSU may have approved, yet the bank can still refuse the consent.
      const consent = ukPaymentStatus((await readConsent(ctx, secrets, consentId)).Status, { authorised: true });
      if (consent.status === 'REJECTED') return { outcome: 'REJECTED', reason: 'the bank reports the payment consent as rejected', status: consent };
      if (consent.status !== 'PENDING' && consent.status !== 'ACCEPTED') {
        return { outcome: 'FAILED', reason: `the bank reports the payment consent as ${consent.rawStatus} after authorisation`, status: consent };
      }
    }

    // The same x-idempotency-key and body as any earlier submission: the bank answers the same payment.
    const submitted = await http.request({
      operation: 'payment.submit',
      method: 'POST',
      ...signed('payment.submit'),
      ...verified('payment.submit'),
      path: '/domestic-payments',
      accessToken: psuToken,
      headers: { 'x-idempotency-key': ukIdempotencyKey(input.idempotencyKey) },
      idempotent: true,
      psuIpAddress: ctx.psuIpAddress,
      body: { Data: { ConsentId: consentId, Initiation: initiationOf(input.request) }, Risk: {} },
      schema: ukDomesticPaymentResponse,
    });
    const data = submitted.data.Data;
    if (data.ConsentId !== consentId) {
      throw new BankResponseInvalid(`payment.submit at ${institutionId}: the bank answered a payment of another consent`, details('payment.submit'));
    }
    const status = await paymentStatus(ctx, data.Status, data.DomesticPaymentId);
    const after: Secrets = {
      ...secrets,
      domesticPaymentId: data.DomesticPaymentId,
      psuAccessToken: psuToken,
      ...(submitted.data.Links?.Self ? { paymentHref: http.resolveUrl({ url: submitted.data.Links.Self }).href } : {}),
    };
    if (status.status === 'REJECTED') {
      return { outcome: 'REJECTED', reason: `the bank rejected the payment${status.reasonCode ? ` (${status.reasonCode})` : ''}`, status };
    }
    return { outcome: 'AUTHORISED', bankPaymentId: data.DomesticPaymentId, status, secrets: after as Record<string, string> };
  }

  return {
    initiate,
    complete,
    async status(ctx, input) {
      const secrets = input.secrets as Secrets;
      // Until `complete` the payment is its consent; afterwards the domestic payment.
      if (secrets.consentId && input.bankPaymentId === secrets.consentId && !secrets.domesticPaymentId) {
        return ukPaymentStatus((await readConsent(ctx, secrets, secrets.consentId)).Status, { authorised: false });
      }
      const paymentId = input.bankPaymentId === secrets.consentId ? secrets.domesticPaymentId! : input.bankPaymentId;
      return readPayment(ctx, paymentId, paymentId === secrets.domesticPaymentId ? secrets.paymentHref : undefined);
    },
  };
}
