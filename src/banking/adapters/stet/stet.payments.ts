/**
 * STET 1.4–1.6 payment initiation (PISP): a client-credentials token (scope `pisp`),
 * `POST /payment-requests` with a pain.001-like body whose `successfulReportUrl` /
 * `unsuccessfulReportUrl` bring the end user back, the end user's approval at
 * `_links.consentApproval`, then `POST /payment-requests/{id}/confirmation` to set the payment off.
 * The resource is followed from the `Location` the bank answers and its `_links`.
 *
 * Cancellation (STET 1.4.2+ payment request modification): the payment request is sent back with
 * `paymentInformationStatus: RJCT` and `statusReasonInformation: DS02`. STET has no CANC, so a
 * cancelled payment reads RJCT/DS02 afterwards, as an end user's refusal does: `cancel` answers
 * CANCELLED (the gateway asked for it), a later `status` can only say REJECTED (DS02). Banks that
 * want the end user to confirm a cancellation (`_links.consentApproval`) get a typed error: the
 * payment is then not cancelled. Quirk `stetCancellation: false` removes `cancel` (banks on 1.4.0/1.4.1).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { BankCancellationAuthorisationRequired, BankInvalidRequest, BankResponseInvalid, BankUnauthorized, isBankError } from '../../errors';
import { createBankHttpClient, type BankHttpClient } from '../../http';
import type { BankPaymentStatus, InstitutionDescriptor, PaymentScheme } from '../../model';
import { bankErrorFromOAuth, isOAuthError, type BankOAuth } from '../../oauth';
import { paymentInstructionId, paymentRequestId, withQuery } from '../../payment-ids';
import { isoPaymentStatus, normaliseReasonCode } from '../../payment-status';
import type { BankCallContext, PaymentCompleted, PaymentInitiationPort, PaymentRequest, PaymentStarted } from '../../ports';
import { httpTransportOptions, type BankAdapterDeps } from '../index';
import { linkHref } from './stet.mapper';
import { stetPaymentRequestCreated, stetPaymentRequestModified, stetPaymentRequestResponse, type StetPaymentRequestResponse } from './stet.payment-schemas';
import { stetProtocol } from './stet.protocol';

/** STET local instruments per scheme (`paymentTypeInformation.localInstrument`; SCT has none). */
const STET_PRODUCTS: Partial<Record<PaymentScheme, string>> = { SEPA_CREDIT_TRANSFER: 'SCT', SEPA_INSTANT: 'INST' };
/** A client-credentials token is renewed this long before the bank says it expires. */
const CC_MARGIN_MS = 30_000;
const NOK_MARKER = 'sca_not_completed';

type Secrets = Partial<Record<'selfHref' | 'callbackState' | 'authorised', string>>;

const sha256 = (s: string) => createHash('sha256').update(s).digest();
const sameSecret = (a: string, b: string) => timingSafeEqual(sha256(a), sha256(b));

export interface StetPaymentsEnv {
  deps: BankAdapterDeps;
  institution: InstitutionDescriptor;
  sandbox: boolean;
  log: Logger;
  oauth: () => Promise<BankOAuth>;
}

export function createStetPayments(env: StetPaymentsEnv): PaymentInitiationPort {
  const { institution, deps, sandbox } = env;
  const institutionId = institution.id;
  const pisBase = institution.pisBaseUrl || institution.aisBaseUrl;
  const http: BankHttpClient = createBankHttpClient({
    institutionId,
    baseUrl: pisBase,
    logger: deps.logger,
    onCall: deps.onCall,
    ...httpTransportOptions(deps, stetProtocol),
    allowInsecureRequests: sandbox,
  });
  const details = (operation: string) => ({ institutionId, operation });
  const scope = typeof institution.quirks.stetPispScope === 'string' ? institution.quirks.stetPispScope : 'pisp';
  const initiatingParty = typeof institution.quirks.stetInitiatingPartyName === 'string' ? institution.quirks.stetInitiatingPartyName : 'Passerelle';

  let ccToken: { value: string; expiresAtMs: number } | undefined;
  async function clientToken(): Promise<string> {
    if (ccToken && ccToken.expiresAtMs - CC_MARGIN_MS > Date.now()) return ccToken.value;
    try {
      const tokens = await (await env.oauth()).clientCredentials(scope);
      ccToken = { value: tokens.accessToken, expiresAtMs: tokens.expiresAt?.getTime() ?? Date.now() + 5 * 60_000 };
      return ccToken.value;
    } catch (err) {
      throw isOAuthError(err) ? bankErrorFromOAuth(err, institutionId, 'oauth.client_credentials') : err;
    }
  }
  /** A PISP call; a refused token (expired early at the bank) is renewed once. */
  async function asPisp<T>(call: (token: string) => Promise<T>): Promise<T> {
    const token = await clientToken();
    try {
      return await call(token);
    } catch (err) {
      if (!(isBankError(err) && err instanceof BankUnauthorized)) throw err;
      ccToken = undefined;
      return call(await clientToken());
    }
  }

  function localInstrument(scheme: PaymentScheme): string | undefined {
    const product = STET_PRODUCTS[scheme];
    if (!product || (institution.paymentProducts.length > 0 && !institution.paymentProducts.includes(product))) {
      throw new BankInvalidRequest(`payment.create at ${institutionId}: the bank offers no payment product for ${scheme}`, details('payment.create'));
    }
    return product === 'INST' ? 'INST' : undefined;
  }

  const statusOf = (data: StetPaymentRequestResponse, secrets: Secrets): BankPaymentStatus => {
    const pr = data.paymentRequest;
    const reason =
      typeof pr.statusReasonInformation === 'string' ? pr.statusReasonInformation : (pr.statusReasonInformation?.reason ?? pr.statusReasonInformation?.code);
    return isoPaymentStatus(pr.paymentInformationStatus, { authorised: secrets.authorised === '1', reasonCode: normaliseReasonCode(reason) });
  };

  const selfOf = (secrets: Secrets): string => {
    if (!secrets.selfHref) throw new BankInvalidRequest(`payment at ${institutionId}: the payment request's link was not kept`, details('payment'));
    return secrets.selfHref;
  };

  async function read(ctx: BankCallContext, secrets: Secrets) {
    const res = await asPisp((accessToken) =>
      http.request({
        operation: 'payment.get',
        method: 'GET',
        url: selfOf(secrets),
        accessToken,
        psuIpAddress: ctx.psuIpAddress,
        schema: stetPaymentRequestResponse,
      }),
    );
    return res.data;
  }

  async function initiate(ctx: BankCallContext, request: PaymentRequest): Promise<PaymentStarted> {
    const operation = 'payment.create';
    const instrument = localInstrument(request.scheme);
    const created = request.createdAt ?? new Date();
    const instructionId = paymentInstructionId(request.idempotencyKey);
    const res = await asPisp((accessToken) =>
      http.request({
        operation,
        method: 'POST',
        path: '/payment-requests',
        requestId: paymentRequestId(request.idempotencyKey),
        accessToken,
        psuIpAddress: ctx.psuIpAddress,
        body: {
          paymentInformationId: instructionId,
          creationDateTime: created.toISOString(),
          numberOfTransactions: 1,
          initiatingParty: { name: initiatingParty },
          paymentTypeInformation: { serviceLevel: 'SEPA', ...(instrument ? { localInstrument: instrument } : {}), categoryPurpose: 'DVPM' },
          ...(request.debtorAccount ? { debtorAccount: { iban: request.debtorAccount.iban } } : {}),
          beneficiary: {
            ...(request.creditor.bic ? { creditorAgent: { bicFi: request.creditor.bic } } : {}),
            creditor: { name: request.creditor.name },
            creditorAccount: { iban: request.creditor.iban },
          },
          chargeBearer: 'SLEV',
          // STET dates execution as a date-time; "immediate" is the instruction's creation.
          requestedExecutionDate: request.requestedExecutionDate ? `${request.requestedExecutionDate}T00:00:00.000Z` : created.toISOString(),
          creditTransferTransaction: [
            {
              paymentId: { instructionId, endToEndId: request.endToEndId ?? 'NOTPROVIDED' },
              instructedAmount: { currency: request.amount.currency, amount: request.amount.amount },
              ...(request.remittanceInformation ? { remittanceInformation: { unstructured: [request.remittanceInformation] } } : {}),
            },
          ],
          supplementaryData: {
            acceptedAuthenticationApproach: ['REDIRECT'],
            successfulReportUrl: withQuery(request.redirectUri, { state: request.state }),
            unsuccessfulReportUrl: withQuery(request.redirectUri, { state: request.state, error: NOK_MARKER }),
          },
        },
        schema: stetPaymentRequestCreated,
      }),
    );
    const location = res.headers.get('location') ?? linkHref(res.data._links?.self, pisBase);
    const approval = linkHref(res.data._links?.consentApproval, pisBase);
    if (!location || !approval) {
      throw new BankResponseInvalid(
        `${operation} at ${institutionId}: the answer names no ${location ? 'consentApproval link' : 'payment request (Location)'}`,
        {
          ...details(operation),
          httpStatus: res.status,
          requestId: res.requestId,
        },
      );
    }
    const selfHref = http.resolveUrl({ url: location }).href;
    const bankPaymentId = decodeURIComponent(new URL(selfHref).pathname.split('/').filter(Boolean).pop() ?? '');
    const url = new URL(approval);
    if (url.protocol !== 'https:' && !(sandbox && url.protocol === 'http:')) {
      throw new BankResponseInvalid(`${operation} at ${institutionId}: consentApproval is not an https URL`, details(operation));
    }
    const secrets: Secrets = { selfHref, callbackState: request.state };
    return {
      bankPaymentId,
      authorizationUrl: url.href,
      status: isoPaymentStatus('RCVD', { authorised: false }),
      secrets: secrets as Record<string, string>,
    };
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
    const nok = callback.searchParams.has('error');

    // The bank's word decides, not the URL: a redirect can be replayed or edited.
    let data = await read(ctx, secrets);
    let status = statusOf(data, secrets);
    if (status.status === 'REJECTED' || status.status === 'CANCELLED') {
      return {
        outcome: 'REJECTED',
        reason: `the bank reports the payment as ${status.rawStatus}${status.reasonCode ? ` (${status.reasonCode})` : ''}`,
        status,
      };
    }
    if (status.status === 'AUTHORIZATION_REQUIRED') {
      return nok
        ? { outcome: 'REJECTED', reason: 'the end user did not complete the approval at the bank', status }
        : { outcome: 'FAILED', reason: 'the bank has not recorded the end user’s approval yet', status };
    }
    // Approved (ACCP) but not confirmed: the confirmation sets it off. Once confirmed (ACTC and
    // later) a repeated complete only reads the status.
    if (data.paymentRequest.paymentInformationStatus.toUpperCase() === 'ACCP') {
      const confirmation = linkHref(data._links?.confirmation, pisBase) ?? `${selfOf(secrets)}/confirmation`;
      const res = await asPisp((accessToken) =>
        http.request({
          operation: 'payment.confirm',
          method: 'POST',
          url: confirmation,
          accessToken,
          psuIpAddress: ctx.psuIpAddress,
          body: {},
          schema: stetPaymentRequestResponse,
        }),
      );
      data = res.data;
    }
    const after: Secrets = { ...secrets, authorised: '1' };
    status = statusOf(data, after);
    if (status.status === 'REJECTED' || status.status === 'CANCELLED') {
      return {
        outcome: 'REJECTED',
        reason: `the bank reports the payment as ${status.rawStatus}${status.reasonCode ? ` (${status.reasonCode})` : ''}`,
        status,
      };
    }
    return { outcome: 'AUTHORISED', bankPaymentId: input.bankPaymentId, status, secrets: after as Record<string, string> };
  }

  async function cancel(ctx: BankCallContext, input: { bankPaymentId: string; secrets: Record<string, string> }): Promise<BankPaymentStatus> {
    const operation = 'payment.cancel';
    const secrets = input.secrets as Secrets;
    const current = await read(ctx, secrets);
    const txs = (current.paymentRequest.creditTransferTransaction ?? []).map((t) => ({ ...t, transactionStatus: 'RJCT' }));
    const res = await asPisp((accessToken) =>
      http.request({
        operation,
        method: 'PUT',
        url: selfOf(secrets),
        accessToken,
        psuIpAddress: ctx.psuIpAddress,
        // The bank's own representation back, with the cancellation asked for.
        body: {
          ...current.paymentRequest,
          paymentInformationStatus: 'RJCT',
          statusReasonInformation: 'DS02',
          ...(txs.length ? { creditTransferTransaction: txs } : {}),
        },
        // Asking twice leaves the same state.
        idempotent: true,
        schema: stetPaymentRequestModified,
      }),
    );
    const data = res.data;
    if (data && !('paymentRequest' in data) && linkHref(data._links?.consentApproval, pisBase)) {
      throw new BankCancellationAuthorisationRequired(
        `${operation} at ${institutionId}: the bank cancels this payment only after the end user approves the cancellation; it is not cancelled`,
        { ...details(operation), httpStatus: res.status, requestId: res.requestId },
      );
    }
    const after = data && 'paymentRequest' in data ? statusOf(data as StetPaymentRequestResponse, secrets) : statusOf(await read(ctx, secrets), secrets);
    // RJCT/DS02 right after our cancellation is the cancellation (STET has no CANC).
    if (after.status === 'REJECTED' && after.reasonCode === 'DS02') return { ...after, status: 'CANCELLED' };
    throw new BankResponseInvalid(`${operation} at ${institutionId}: the bank accepted the cancellation but reports the payment as ${after.rawStatus}`, {
      ...details(operation),
      httpStatus: res.status,
      requestId: res.requestId,
    });
  }

  return {
    initiate,
    complete,
    async status(ctx, input) {
      const secrets = input.secrets as Secrets;
      return statusOf(await read(ctx, secrets), secrets);
    },
    ...(institution.quirks.stetCancellation === false ? {} : { cancel }),
  };
}
