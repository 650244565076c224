import type { Request } from 'express';
import { MAGIC } from '../../core/bank';
import { BankError } from '../../core/errors';
import { isValidIban } from '../../core/iban';
import { formatCents, parseAmount } from '../../core/ledger';
import { startScaSession } from '../../core/sca';
import type { Payment } from '../../core/state';
import type { BerlinGroupContext } from './berlin-group.context';

const PAYMENT_PRODUCTS = ['sepa-credit-transfers', 'instant-sepa-credit-transfers'];

/** Berlin Group payments (PIS): initiation, status, cancellation and authorisations. */
export function mountBerlinGroupPayments(ctx: BerlinGroupContext): void {
  const { bank, api, approachFor, startSca, startAuthorisation } = ctx;
  const product = (req: Request): string => {
    const p = String(req.params.product);
    if (!PAYMENT_PRODUCTS.includes(p)) throw new BankError('PARAMETER_NOT_SUPPORTED', `Payment product ${p} is not offered.`, 404, { path: 'payment-product' });
    return p;
  };
  const getPayment = async (req: Request): Promise<Payment> => {
    const p = bank.payments.get(String(req.params.paymentId));
    if (!p || p.product !== product(req)) throw new BankError('RESOURCE_UNKNOWN', 'Unknown payment.', 403);
    const token = await bank.bearer(req);
    if (token?.kind === 'user' && token.link?.paymentId !== p.id && token.link?.consentId === undefined)
      throw new BankError('TOKEN_INVALID', 'The token was not issued for this payment.');
    return p;
  };

  /**
   * The ISO 20022 reason of a rejection. NextGenPSD2 has no field for it, so it travels as a
   * `tppMessages` WARNING whose code is the reason (`AM04`, `AC04`, `DS02`, `AB05`).
   */
  const rejection = (p: Payment, status: string) =>
    status === 'RJCT' && p.rejected
      ? { tppMessages: [{ category: 'WARNING', code: p.rejected.reason, text: `The payment was rejected (${p.rejected.reason}).` }] }
      : {};

  api.post('/v1/payments/:product', (req, res) => {
    const prod = product(req);
    const body = req.body as Record<string, unknown> | undefined;
    if (!body || typeof body !== 'object') throw new BankError('FORMAT_ERROR', 'A JSON body is required.');
    const debtor = (body.debtorAccount as { iban?: unknown } | undefined)?.iban;
    const creditor = (body.creditorAccount as { iban?: unknown } | undefined)?.iban;
    const amount = body.instructedAmount as { amount?: unknown; currency?: unknown } | undefined;
    if (debtor !== undefined && !isValidIban(debtor))
      throw new BankError('FORMAT_ERROR', 'debtorAccount.iban is not a valid IBAN.', 400, { path: 'debtorAccount.iban' });
    if (!isValidIban(creditor)) throw new BankError('FORMAT_ERROR', 'creditorAccount.iban is not a valid IBAN.', 400, { path: 'creditorAccount.iban' });
    const cents = parseAmount(amount?.amount);
    if (cents === undefined || cents <= 0)
      throw new BankError('FORMAT_ERROR', 'instructedAmount.amount must be a positive decimal with at most 2 decimals.', 400, {
        path: 'instructedAmount.amount',
      });
    if (amount?.currency !== 'EUR')
      throw new BankError('FORMAT_ERROR', 'instructedAmount.currency must be EUR for SEPA.', 400, { path: 'instructedAmount.currency' });
    if (typeof body.creditorName !== 'string' || !body.creditorName.trim() || body.creditorName.length > 70) {
      throw new BankError('FORMAT_ERROR', 'creditorName is required (at most 70 characters).', 400, { path: 'creditorName' });
    }
    const remittance = body.remittanceInformationUnstructured;
    if (remittance !== undefined && (typeof remittance !== 'string' || remittance.length > 140)) {
      throw new BankError('FORMAT_ERROR', 'remittanceInformationUnstructured is at most 140 characters.', 400, { path: 'remittanceInformationUnstructured' });
    }
    const requestedExecutionDate = typeof body.requestedExecutionDate === 'string' ? body.requestedExecutionDate : undefined;
    const creditorName = body.creditorName;
    // The same X-Request-ID and body again (a TPP retrying after a timeout) answers the same payment.
    const answer = bank.createPaymentOnce(`bg|${prod}`, req.get('x-request-id')!, body, () => {
      const now = bank.clock.nowMs();
      const payment: Payment = {
        id: bank.newId(),
        product: prod,
        psuId: req.get('psu-id')?.toLowerCase(),
        amountCents: cents,
        currency: 'EUR',
        debtorIban: typeof debtor === 'string' ? debtor : undefined,
        creditorName,
        creditorIban: creditor,
        remittance: remittance as string | undefined,
        endToEndId: typeof body.endToEndIdentification === 'string' ? body.endToEndIdentification : undefined,
        requestedExecutionDate,
        createdAtMs: now,
        approach: approachFor(req),
        tppRedirectUri: req.get('tpp-redirect-uri'),
        tppNokRedirectUri: req.get('tpp-nok-redirect-uri'),
        authorisations: [],
        request: body,
        extra: {},
      };
      bank.payments.set(payment.id, payment);
      const self = `${bank.info.pisBaseUrl}/v1/payments/${prod}/${payment.id}`;
      const { links, psuMessage } = startSca(req, payment, { paymentId: payment.id }, self);
      return {
        status: 201,
        headers: { Location: self, 'ASPSP-SCA-Approach': payment.approach },
        body: { transactionStatus: 'RCVD', paymentId: payment.id, _links: links, ...(psuMessage ? { psuMessage } : {}) },
      };
    });
    res.status(answer.status).set(answer.headers).json(answer.body);
  });

  api.get('/v1/payments/:product/:paymentId', async (req, res) => {
    const p = await getPayment(req);
    res.json({
      ...(p.endToEndId ? { endToEndIdentification: p.endToEndId } : {}),
      ...(p.debtorIban ? { debtorAccount: { iban: p.debtorIban } } : {}),
      instructedAmount: { currency: p.currency, amount: formatCents(p.amountCents) },
      creditorAccount: { iban: p.creditorIban },
      creditorName: p.creditorName,
      ...(p.remittance ? { remittanceInformationUnstructured: p.remittance } : {}),
      ...(p.requestedExecutionDate ? { requestedExecutionDate: p.requestedExecutionDate } : {}),
      transactionStatus: bank.paymentStatus(p),
      ...rejection(p, bank.paymentStatus(p)),
    });
  });
  api.get('/v1/payments/:product/:paymentId/status', async (req, res) => {
    const p = await getPayment(req);
    const status = bank.paymentStatus(p);
    res.json({ transactionStatus: status, ...(status === 'ACSC' ? { fundsAvailable: true } : {}), ...rejection(p, status) });
  });
  api.delete('/v1/payments/:product/:paymentId', async (req, res) => {
    const p = await getPayment(req);
    const status = bank.paymentStatus(p);
    const futureDated = !!p.requestedExecutionDate && p.requestedExecutionDate > bank.clock.today();
    if (status === 'RCVD' || (futureDated && status !== 'RJCT' && status !== 'CANC')) {
      if (p.creditorName.toLowerCase().includes(MAGIC.cancelScaCreditorWord)) {
        // The PSU must authorise the cancellation: nothing changes until they do (BG 1.3.12 §5.3).
        return res.status(202).json({
          transactionStatus: status,
          _links: { startAuthorisation: { href: `${bank.info.pisBaseUrl}/v1/payments/${p.product}/${p.id}/cancellation-authorisations` } },
        });
      }
      p.cancelledAtMs = bank.clock.nowMs();
      return res.status(204).end();
    }
    throw new BankError('CANCELLATION_INVALID', `A payment in status ${status} can no longer be cancelled.`, 405);
  });
  // Cancellation authorisations: the PSU approves the cancellation on the bank's SCA page (redirect).
  api.post('/v1/payments/:product/:paymentId/cancellation-authorisations', async (req, res) => {
    const p = await getPayment(req);
    const status = bank.paymentStatus(p);
    if (!p.creditorName.toLowerCase().includes(MAGIC.cancelScaCreditorWord) || status === 'RJCT' || status === 'CANC' || status === 'ACSC') {
      throw new BankError('CANCELLATION_INVALID', `A payment in status ${status} has no cancellation to authorise.`, 405);
    }
    const okRedirect = req.get('tpp-redirect-uri');
    if (!okRedirect) throw new BankError('FORMAT_ERROR', 'TPP-Redirect-URI is required by this bank.', 400, { path: 'TPP-Redirect-URI' });
    const { session, url } = startScaSession(bank, {
      mode: 'redirect',
      target: { cancellationOf: p.id },
      expectedUser: p.userId,
      okRedirect,
      nokRedirect: req.get('tpp-nok-redirect-uri'),
    });
    const authorisation = { id: bank.newId(), scaStatus: 'received' as const, sessionId: session.id };
    (p.cancellationAuthorisations ??= []).push(authorisation);
    const self = `${bank.info.pisBaseUrl}/v1/payments/${p.product}/${p.id}/cancellation-authorisations/${authorisation.id}`;
    res
      .status(201)
      .set('ASPSP-SCA-Approach', 'REDIRECT')
      .json({ scaStatus: 'received', authorisationId: authorisation.id, _links: { scaRedirect: { href: url }, scaStatus: { href: self } } });
  });
  api.get('/v1/payments/:product/:paymentId/cancellation-authorisations', async (req, res) => {
    res.json({ authorisationIds: ((await getPayment(req)).cancellationAuthorisations ?? []).map((a) => a.id) });
  });
  api.get('/v1/payments/:product/:paymentId/cancellation-authorisations/:authorisationId', async (req, res) => {
    const a = ((await getPayment(req)).cancellationAuthorisations ?? []).find((x) => x.id === req.params.authorisationId);
    if (!a) throw new BankError('RESOURCE_UNKNOWN', 'Unknown cancellation authorisation.', 403);
    res.json({ scaStatus: a.scaStatus });
  });
  api.post('/v1/payments/:product/:paymentId/authorisations', async (req, res) => {
    const p = await getPayment(req);
    startAuthorisation(req, res, p, { paymentId: p.id }, `${bank.info.pisBaseUrl}/v1/payments/${p.product}/${p.id}`);
  });
  api.get('/v1/payments/:product/:paymentId/authorisations', async (req, res) => {
    res.json({ authorisationIds: (await getPayment(req)).authorisations.map((a) => a.id) });
  });
  api.get('/v1/payments/:product/:paymentId/authorisations/:authorisationId', async (req, res) => {
    const a = (await getPayment(req)).authorisations.find((x) => x.id === req.params.authorisationId);
    if (!a) throw new BankError('RESOURCE_UNKNOWN', 'Unknown authorisation.', 403);
    res.json({ scaStatus: a.scaStatus });
  });
}
