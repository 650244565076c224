import type { Request } from 'express';
import { BankError } from '../../core/errors';
import { isValidIban } from '../../core/iban';
import { parseAmount } from '../../core/ledger';
import { startScaSession } from '../../core/sca';
import type { Payment, PaymentStatus } from '../../core/state';
import type { StetContext } from './stet.context';

const STET_PAYMENT_STATUS: Record<PaymentStatus, string> = {
  RCVD: 'RCVD',
  PATC: 'PATC',
  ACTC: 'ACTC',
  ACSP: 'ACSP',
  ACSC: 'ACSC',
  RJCT: 'RJCT',
  CANC: 'RJCT',
};

/** STET payment requests (PISP): initiation, status, cancellation and confirmation. */
export function mountStetPayments(ctx: StetContext): void {
  const { bank, api, root, hal } = ctx;
  const pispToken = async (req: Request) => {
    const token = await bank.bearer(req);
    if (!token) throw new BankError('TOKEN_INVALID', 'An access token is required.', 401);
    if (!token.scope.split(' ').includes('pisp')) throw new BankError('TOKEN_INVALID', 'The token lacks the pisp scope.', 401);
    return token;
  };

  const paymentView = (p: Payment) => {
    const request = p.request as Record<string, unknown>;
    const status = STET_PAYMENT_STATUS[bank.paymentStatus(p)];
    const shown = status === 'ACTC' && p.executionStartedAtMs === undefined ? 'ACCP' : status;
    // STET has no CANC: a payment request the PISP cancelled reads RJCT with reason DS02.
    const reason = p.cancelledAtMs !== undefined ? 'DS02' : p.rejected && shown === 'RJCT' ? p.rejected.reason : undefined;
    const txs = (request.creditTransferTransaction as Record<string, unknown>[]).map((t) => ({ ...t, transactionStatus: shown }));
    return {
      paymentRequest: {
        ...request,
        resourceId: p.id,
        paymentInformationStatus: shown,
        ...(reason ? { statusReasonInformation: reason } : {}),
        creditTransferTransaction: txs,
      },
      _links: {
        self: { href: `${bank.info.pisBaseUrl}/payment-requests/${p.id}` },
        confirmation: { href: `${bank.info.pisBaseUrl}/payment-requests/${p.id}/confirmation` },
      },
    };
  };

  api.post(`${root}/payment-requests`, async (req, res) => {
    const token = await pispToken(req);
    const body = req.body as Record<string, unknown> | undefined;
    if (!body || typeof body !== 'object') throw new BankError('FORMAT_ERROR', 'A JSON body is required.');
    const beneficiary = body.beneficiary as { creditor?: { name?: unknown }; creditorAccount?: { iban?: unknown } } | undefined;
    const txs = body.creditTransferTransaction;
    if (!Array.isArray(txs) || txs.length !== 1)
      throw new BankError('PAYMENT_INVALID', 'Exactly one creditTransferTransaction is supported.', 400, { path: 'creditTransferTransaction' });
    const tx = txs[0] as {
      instructedAmount?: { amount?: unknown; currency?: unknown };
      remittanceInformation?: { unstructured?: unknown };
      paymentId?: { endToEndId?: unknown };
    };
    const cents = parseAmount(tx.instructedAmount?.amount);
    if (cents === undefined || cents <= 0)
      throw new BankError('FORMAT_ERROR', 'instructedAmount.amount must be a positive decimal.', 400, {
        path: 'creditTransferTransaction[0].instructedAmount.amount',
      });
    if (tx.instructedAmount?.currency !== 'EUR')
      throw new BankError('FORMAT_ERROR', 'Only EUR is supported.', 400, { path: 'creditTransferTransaction[0].instructedAmount.currency' });
    if (!isValidIban(beneficiary?.creditorAccount?.iban))
      throw new BankError('FORMAT_ERROR', 'beneficiary.creditorAccount.iban is not a valid IBAN.', 400, { path: 'beneficiary.creditorAccount.iban' });
    if (typeof beneficiary?.creditor?.name !== 'string' || !beneficiary.creditor.name.trim())
      throw new BankError('FORMAT_ERROR', 'beneficiary.creditor.name is required.', 400, { path: 'beneficiary.creditor.name' });
    const debtorIban = (body.debtorAccount as { iban?: unknown } | undefined)?.iban;
    if (debtorIban !== undefined && !isValidIban(debtorIban))
      throw new BankError('FORMAT_ERROR', 'debtorAccount.iban is not a valid IBAN.', 400, { path: 'debtorAccount.iban' });
    const supplementary = body.supplementaryData as { successfulReportUrl?: unknown; unsuccessfulReportUrl?: unknown } | undefined;
    if (typeof supplementary?.successfulReportUrl !== 'string')
      throw new BankError('FORMAT_ERROR', 'supplementaryData.successfulReportUrl is required for the REDIRECT approach.', 400, {
        path: 'supplementaryData.successfulReportUrl',
      });
    const creditorName = beneficiary.creditor.name;
    const successfulReportUrl = supplementary.successfulReportUrl;
    // The same X-Request-ID and body again (a PISP retrying after a timeout) answers the same payment request.
    const answer = bank.createPaymentOnce(`stet|${token.clientId}`, req.get('x-request-id')!, body, () => {
      const unstructured = tx.remittanceInformation?.unstructured;
      const p: Payment = {
        id: bank.newId(),
        product: String((body.paymentTypeInformation as { localInstrument?: unknown } | undefined)?.localInstrument ?? 'SCT'),
        clientId: token.clientId,
        amountCents: cents,
        currency: 'EUR',
        debtorIban: debtorIban as string | undefined,
        creditorName,
        creditorIban: beneficiary.creditorAccount!.iban as string,
        remittance: Array.isArray(unstructured) ? String(unstructured[0]) : undefined,
        endToEndId: typeof tx.paymentId?.endToEndId === 'string' ? tx.paymentId.endToEndId : undefined,
        requestedExecutionDate: typeof body.requestedExecutionDate === 'string' ? body.requestedExecutionDate.slice(0, 10) : undefined,
        createdAtMs: bank.clock.nowMs(),
        approach: 'REDIRECT',
        tppRedirectUri: successfulReportUrl,
        tppNokRedirectUri: typeof supplementary.unsuccessfulReportUrl === 'string' ? supplementary.unsuccessfulReportUrl : undefined,
        authorisations: [],
        request: body,
        extra: {},
      };
      bank.payments.set(p.id, p);
      const { session, url } = startScaSession(bank, {
        mode: 'redirect',
        target: { paymentId: p.id },
        clientId: token.clientId,
        okRedirect: p.tppRedirectUri,
        nokRedirect: p.tppNokRedirectUri,
      });
      p.authorisations.push({ id: bank.newId(), scaStatus: 'received', sessionId: session.id });
      return {
        status: 201,
        headers: { Location: `${bank.info.pisBaseUrl}/payment-requests/${p.id}` },
        body: { appliedAuthenticationApproach: 'REDIRECT', _links: { consentApproval: { href: url } } },
      };
    });
    hal(res.set(answer.headers), answer.status, answer.body);
  });

  const ownPayment = async (req: Request) => {
    const token = await pispToken(req);
    const p = bank.payments.get(String(req.params.paymentId));
    if (!p || p.clientId !== token.clientId) throw new BankError('RESOURCE_UNKNOWN', 'Unknown payment request.', 404);
    return p;
  };

  api.get(`${root}/payment-requests/:paymentId`, async (req, res) => {
    hal(res, 200, paymentView(await ownPayment(req)));
  });

  /**
   * Payment request modification (STET 1.4.2+), used for cancellation only: the PISP sends the
   * payment request back with `paymentInformationStatus: RJCT` and `statusReasonInformation: DS02`.
   * Possible until execution starts (or, future-dated, until its date); no PSU authentication asked.
   */
  api.put(`${root}/payment-requests/:paymentId`, async (req, res) => {
    const p = await ownPayment(req);
    const body = req.body as Record<string, unknown> | undefined;
    if (!body || typeof body !== 'object') throw new BankError('FORMAT_ERROR', 'A JSON body is required.');
    if (body.paymentInformationStatus !== 'RJCT' || body.statusReasonInformation !== 'DS02') {
      throw new BankError('FORMAT_ERROR', 'Only cancellation is supported: paymentInformationStatus RJCT with statusReasonInformation DS02.', 400, {
        path: 'paymentInformationStatus',
      });
    }
    const status = bank.paymentStatus(p);
    const futureDated = !!p.requestedExecutionDate && p.requestedExecutionDate > bank.clock.today();
    const cancellable = status === 'RCVD' || (status === 'ACTC' && (p.executionStartedAtMs === undefined || futureDated));
    if (p.cancelledAtMs === undefined) {
      if (!cancellable) throw new BankError('STATUS_INVALID', `A payment request in status ${status} can no longer be cancelled.`, 409);
      p.cancelledAtMs = bank.clock.nowMs();
      // An SCA page still open for it can no longer approve it.
      for (const s of bank.scaSessions.values()) {
        if (s.target.paymentId === p.id && s.stage !== 'done') Object.assign(s, { stage: 'done', outcome: 'rejected' });
      }
    }
    hal(res, 200, paymentView(p));
  });

  api.post(`${root}/payment-requests/:paymentId/confirmation`, async (req, res) => {
    const p = await ownPayment(req);
    if (p.authorisedAtMs === undefined || p.rejected || p.cancelledAtMs !== undefined) {
      throw new BankError('STATUS_INVALID', 'The payment request has not been approved by the PSU.', 409);
    }
    if (p.executionStartedAtMs === undefined) bank.startExecution(p);
    hal(res, 200, paymentView(p));
  });
}
