import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import { BankError } from '../../core/errors';
import { parseAmount } from '../../core/ledger';
import type { Payment, PaymentStatus } from '../../core/state';
import { dt, type UkObieContext } from './uk-obie.context';

/** UK payment status words for ISO codes (3.1.11 uses the long names). */
const UK_PAYMENT_STATUS: Record<PaymentStatus, string> = {
  RCVD: 'Pending',
  PATC: 'Pending',
  // Accepted for execution: what UK banks answer once the payment passed their checks.
  ACTC: 'AcceptedSettlementInProcess',
  ACSP: 'AcceptedSettlementInProcess',
  ACSC: 'AcceptedSettlementCompleted',
  RJCT: 'Rejected',
  CANC: 'Rejected',
};

/** UK OBIE domestic payments (PISP): payment consents, payments and their details. */
export function mountUkObiePayments(ctx: UkObieContext): void {
  const { bank, api, pisPath, pis, requireSignature, clientToken, userToken, wrap } = ctx;
  /** x-idempotency-key → body hash and the resource it created, per client. */
  const idempotency = new Map<string, { hash: string; id: string }>();
  const idempotent = (req: Request, clientId: string, create: () => string): { id: string; replay: boolean } => {
    const key = req.get('x-idempotency-key');
    if (!key || key.length > 40)
      throw new BankError('FORMAT_ERROR', 'x-idempotency-key is required (at most 40 characters).', 400, { path: 'x-idempotency-key' });
    const hash = createHash('sha256')
      .update(JSON.stringify(req.body ?? {}))
      .digest('hex');
    const seen = idempotency.get(`${clientId}|${req.path}|${key}`);
    if (seen) {
      if (seen.hash !== hash)
        throw new BankError('DUPLICATE_REQUEST', 'This x-idempotency-key was used with a different body.', 400, { path: 'x-idempotency-key' });
      return { id: seen.id, replay: true };
    }
    const id = create();
    idempotency.set(`${clientId}|${req.path}|${key}`, { hash, id });
    return { id, replay: false };
  };

  const readInitiation = (initiation: unknown) => {
    const i = initiation as Record<string, unknown> | undefined;
    if (!i || typeof i !== 'object') throw new BankError('FORMAT_ERROR', 'Data.Initiation is required.', 400, { path: 'Data.Initiation' });
    const amount = i.InstructedAmount as { Amount?: unknown; Currency?: unknown } | undefined;
    const cents = parseAmount(amount?.Amount);
    if (cents === undefined || cents <= 0)
      throw new BankError('FORMAT_ERROR', 'InstructedAmount.Amount must be a positive amount.', 400, { path: 'Data.Initiation.InstructedAmount.Amount' });
    if (amount?.Currency !== 'GBP')
      throw new BankError('FORMAT_ERROR', 'Domestic payments are in GBP.', 400, { path: 'Data.Initiation.InstructedAmount.Currency' });
    const creditor = i.CreditorAccount as { SchemeName?: unknown; Identification?: unknown; Name?: unknown } | undefined;
    if (creditor?.SchemeName !== 'UK.OBIE.SortCodeAccountNumber' || typeof creditor.Identification !== 'string' || !/^\d{14}$/.test(creditor.Identification)) {
      throw new BankError('FORMAT_ERROR', 'CreditorAccount must be UK.OBIE.SortCodeAccountNumber with 14 digits.', 400, {
        path: 'Data.Initiation.CreditorAccount',
      });
    }
    if (typeof creditor.Name !== 'string' || !creditor.Name.trim())
      throw new BankError('FORMAT_ERROR', 'CreditorAccount.Name is required.', 400, { path: 'Data.Initiation.CreditorAccount.Name' });
    if (typeof i.InstructionIdentification !== 'string' || typeof i.EndToEndIdentification !== 'string') {
      throw new BankError('FORMAT_ERROR', 'InstructionIdentification and EndToEndIdentification are required.', 400, { path: 'Data.Initiation' });
    }
    const remittance = i.RemittanceInformation as { Unstructured?: unknown; Reference?: unknown } | undefined;
    return { i, cents, creditor: creditor as { SchemeName: string; Identification: string; Name: string }, remittance };
  };

  const paymentConsentData = (p: Payment) => ({
    ConsentId: p.id,
    CreationDateTime: dt(p.createdAtMs),
    // A consent the PSU approved stays Authorised even when the payment will fail its funds check
    // (AM04): the rejection shows on the domestic payment, as at a UK bank.
    Status: p.extra.domesticPaymentId ? 'Consumed' : p.authorisedAtMs !== undefined ? 'Authorised' : p.rejected ? 'Rejected' : 'AwaitingAuthorisation',
    StatusUpdateDateTime: dt(p.authorisedAtMs ?? p.createdAtMs),
    Initiation: (p.request as { Data: { Initiation: unknown } }).Data.Initiation,
  });

  api.post(`${pisPath}/domestic-payment-consents`, async (req, res) => {
    const token = await clientToken(req, 'payments');
    if (!(await requireSignature(req, res))) return;
    const { id } = idempotent(req, token.clientId, () => {
      const data = (req.body as { Data?: Record<string, unknown> } | undefined)?.Data;
      const { cents, creditor, remittance, i } = readInitiation(data?.Initiation);
      const p: Payment = {
        id: `pdc-${bank.newId()}`,
        product: 'domestic-payments',
        clientId: token.clientId,
        amountCents: cents,
        currency: 'GBP',
        creditorName: creditor.Name,
        creditorAccount: creditor,
        remittance:
          typeof remittance?.Unstructured === 'string' ? remittance.Unstructured : typeof remittance?.Reference === 'string' ? remittance.Reference : undefined,
        endToEndId: String(i.EndToEndIdentification),
        createdAtMs: bank.clock.nowMs(),
        approach: 'REDIRECT',
        authorisations: [],
        request: req.body,
        extra: {},
      };
      bank.payments.set(p.id, p);
      return p.id;
    });
    const p = bank.payments.get(id)!;
    res.status(201).json({ ...wrap(paymentConsentData(p), `${pis}/domestic-payment-consents/${p.id}`), Risk: (req.body as { Risk?: unknown }).Risk ?? {} });
  });

  api.get(`${pisPath}/domestic-payment-consents/:consentId`, async (req, res) => {
    const token = await clientToken(req, 'payments');
    const p = bank.payments.get(String(req.params.consentId));
    if (!p || p.clientId !== token.clientId) throw new BankError('RESOURCE_UNKNOWN', 'Unknown consent.', 400, { path: 'ConsentId' });
    res.json({ ...wrap(paymentConsentData(p), `${pis}/domestic-payment-consents/${p.id}`), Risk: (p.request as { Risk?: unknown }).Risk ?? {} });
  });

  const domesticData = (p: Payment) => {
    const status = bank.paymentStatus(p);
    return {
      DomesticPaymentId: String(p.extra.domesticPaymentId),
      ConsentId: p.id,
      CreationDateTime: dt(p.executionStartedAtMs ?? p.createdAtMs),
      Status: UK_PAYMENT_STATUS[status],
      StatusUpdateDateTime: dt(p.rejected?.atMs ?? bank.clock.nowMs()),
      Initiation: (p.request as { Data: { Initiation: unknown } }).Data.Initiation,
    };
  };

  api.post(`${pisPath}/domestic-payments`, async (req, res) => {
    const token = await userToken(req);
    if (!(await requireSignature(req, res))) return;
    const data = (req.body as { Data?: Record<string, unknown> } | undefined)?.Data;
    const consentId = data?.ConsentId;
    if (typeof consentId !== 'string') throw new BankError('FORMAT_ERROR', 'Data.ConsentId is required.', 400, { path: 'Data.ConsentId' });
    if (token.link?.paymentId !== consentId)
      throw new BankError('CONSENT_INVALID', 'The token was not issued for this payment consent.', 403, { path: 'Data.ConsentId' });
    const p = bank.payments.get(consentId);
    if (!p) throw new BankError('CONSENT_UNKNOWN', 'Unknown consent.', 400, { path: 'Data.ConsentId' });
    const { id } = idempotent(req, token.clientId, () => {
      if (JSON.stringify(data?.Initiation) !== JSON.stringify((p.request as { Data: { Initiation: unknown } }).Data.Initiation)) {
        throw new BankError('FORMAT_ERROR', 'Data.Initiation does not match the consent.', 400, { path: 'Data.Initiation' });
      }
      if (p.authorisedAtMs === undefined || p.extra.domesticPaymentId) throw new BankError('CONSENT_INVALID', 'The consent is not in status Authorised.', 403);
      p.extra.domesticPaymentId = `dp-${bank.newId()}`;
      if (!p.rejected) p.executionStartedAtMs = bank.clock.nowMs();
      return p.id;
    });
    const payment = bank.payments.get(id)!;
    res.status(201).json(wrap(domesticData(payment), `${pis}/domestic-payments/${String(payment.extra.domesticPaymentId)}`));
  });

  /**
   * Payment details (3.1.4+): the status as the payment rail reports it. A rejection's ISO 20022
   * reason (`AM04`, `AC04`…) leads `StatusReasonDescription`, the only free field the standard has.
   */
  api.get(`${pisPath}/domestic-payments/:paymentId/payment-details`, async (req: Request, res: Response) => {
    const token = await bank.bearer(req);
    if (!token) throw new BankError('TOKEN_INVALID', 'An access token is required.', 401);
    const p = [...bank.payments.values()].find((x) => x.extra.domesticPaymentId === req.params.paymentId);
    if (!p || p.clientId !== token.clientId) throw new BankError('RESOURCE_UNKNOWN', 'Unknown payment.', 400, { path: 'DomesticPaymentId' });
    const status = bank.paymentStatus(p);
    const rejected = status === 'RJCT' && p.rejected;
    res.json({
      Data: {
        PaymentStatus: [
          {
            PaymentTransactionId: String(p.extra.domesticPaymentId),
            Status: UK_PAYMENT_STATUS[status],
            StatusUpdateDateTime: dt(p.rejected?.atMs ?? bank.clock.nowMs()),
            StatusDetail: {
              LocalInstrument: 'UK.OBIE.FPS',
              Status: status,
              ...(rejected ? { StatusReason: 'ProprietaryRejection', StatusReasonDescription: `${p.rejected!.reason}: rejected by the bank` } : {}),
            },
          },
        ],
      },
      Links: { Self: `${pis}/domestic-payments/${String(p.extra.domesticPaymentId)}/payment-details` },
      Meta: {},
    });
  });

  api.get(`${pisPath}/domestic-payments/:paymentId`, async (req: Request, res: Response) => {
    const token = await bank.bearer(req);
    if (!token) throw new BankError('TOKEN_INVALID', 'An access token is required.', 401);
    const p = [...bank.payments.values()].find((x) => x.extra.domesticPaymentId === req.params.paymentId);
    if (!p || p.clientId !== token.clientId) throw new BankError('RESOURCE_UNKNOWN', 'Unknown payment.', 400, { path: 'DomesticPaymentId' });
    res.json(wrap(domesticData(p), `${pis}/domestic-payments/${String(p.extra.domesticPaymentId)}`));
  });
}
