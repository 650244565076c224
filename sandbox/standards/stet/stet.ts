import type { Request, Response } from 'express';
import type { Bank } from '../../core/bank';
import { BankError, type BankErrorCode, type Dialect } from '../../core/errors';
import { isValidIban } from '../../core/iban';
import { balancesOf, formatCents, parseAmount, type LedgerAccount, type LedgerTransaction } from '../../core/ledger';
import { startScaSession } from '../../core/sca';
import type { AisConsent, Payment, PaymentStatus } from '../../core/state';
import { stetSpec } from './stet-openapi';
import { strictRequests } from '../strict';
import { dateParam, linkWith, pageParam, transactionPage, UUID_RE } from '../common';

const HAL = 'application/hal+json; charset=utf-8';

/** STET error `error` codes (STET 1.6 error model: timestamp, status, error, message, path). */
const STET_CODES: Record<BankErrorCode, string> = {
  FORMAT_ERROR: 'FORMAT_ERROR',
  HEADER_MISSING: 'FORMAT_ERROR',
  PARAMETER_NOT_SUPPORTED: 'PARAMETER_NOT_SUPPORTED',
  CONSENT_UNKNOWN: 'CONSENT_UNKNOWN',
  CONSENT_INVALID: 'CONSENT_INVALID',
  CONSENT_EXPIRED: 'CONSENT_EXPIRED',
  ACCESS_EXCEEDED: 'ACCESS_EXCEEDED',
  RATE_LIMITED: 'TOO_MANY_REQUESTS',
  TOKEN_INVALID: 'INVALID_TOKEN',
  TOKEN_EXPIRED: 'EXPIRED_TOKEN',
  RESOURCE_UNKNOWN: 'NOT_FOUND',
  PERIOD_INVALID: 'PERIOD_INVALID',
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
  CANCELLATION_INVALID: 'CANCELLATION_INVALID',
  STATUS_INVALID: 'STATUS_INVALID',
  DUPLICATE_REQUEST: 'DUPLICATE_REQUEST',
  PAYMENT_INVALID: 'PAYMENT_INVALID',
};

export const stetDialect: Dialect = {
  sendError(req, res, status, code, text, detail) {
    const requestId = req.get('x-request-id');
    if (requestId) res.set('X-Request-ID', requestId);
    if (detail?.retryAfterSeconds !== undefined) res.set('Retry-After', String(detail.retryAfterSeconds));
    if (status === 401) res.set('WWW-Authenticate', `Bearer error="invalid_token", error_description="${text.replace(/"/g, "'")}"`);
    res
      .status(status)
      .type(HAL)
      .json({ timestamp: new Date().toISOString(), status, error: STET_CODES[code], message: text.slice(0, 500), path: req.originalUrl.split('?')[0] });
  },
};

const STET_PAYMENT_STATUS: Record<PaymentStatus, string> = {
  RCVD: 'RCVD',
  PATC: 'PATC',
  ACTC: 'ACTC',
  ACSP: 'ACSP',
  ACSC: 'ACSC',
  RJCT: 'RJCT',
  CANC: 'RJCT',
};

/** Mounts a STET 1.6 bank (AISP with OAuth2 authorisation code, PISP with consentApproval). */
export function mountStet(bank: Bank): void {
  bank.dialect = stetDialect;
  bank.hooks = {
    ...bank.hooks,
    executeOnAuthorisation: false,
    resolveOidcTarget(params) {
      const scopes = String(params.scope ?? '').split(' ');
      if (!scopes.includes('aisp')) throw new BankError('FORMAT_ERROR', 'The authorisation request must ask for the aisp scope.');
      return { implicitAis: true };
    },
    implicitConsent(userId, clientId) {
      const now = bank.clock.nowMs();
      const consent: AisConsent = {
        id: bank.newId(),
        clientId,
        userId,
        status: 'valid',
        access: {},
        recurringIndicator: true,
        frequencyPerDay: bank.def.frequencyPerDay,
        validUntil: bank.clampValidUntil(),
        createdAtMs: now,
        statusUpdatedAtMs: now,
        approach: 'REDIRECT',
        authorisations: [],
        extra: {},
      };
      bank.consents.set(consent.id, consent);
      return consent.id;
    },
  };
  const api = bank.api;
  const root = bank.def.aisPath;
  const ais = bank.info.aisBaseUrl;
  const base = bank.info.apiBaseUrl;
  // Through res.json (which keeps the HAL content type) so transport faults such as malformed-json apply.
  const hal = (res: Response, status: number, body: unknown) => res.status(status).type(HAL).json(body);

  api.use((req, res, next) => {
    const id = req.get('x-request-id');
    if (!id || !UUID_RE.test(id)) throw new BankError('FORMAT_ERROR', 'The X-Request-ID header is missing or not a UUID.', 400, { path: 'X-Request-ID' });
    res.set('X-Request-ID', id);
    next();
  });
  // Strict: anything else the STET 1.6 shapes forbid is refused before any route sees it.
  api.use(strictRequests(bank, [stetSpec(root)]));

  const psuPresent = (req: Request) => !!req.get('psu-ip-address');

  const aispConsent = async (req: Request): Promise<AisConsent> => {
    const token = await bank.bearer(req);
    if (!token) throw new BankError('TOKEN_INVALID', 'An access token is required.', 401);
    if (token.kind !== 'user' || !token.link?.consentId) throw new BankError('TOKEN_INVALID', 'An AISP token obtained by the PSU is required.', 401);
    return bank.requireUsableConsent(bank.consents.get(token.link.consentId));
  };

  const accountOf = (c: AisConsent, req: Request, service: 'balances' | 'transactions'): LedgerAccount => {
    const id = String(req.params.accountId);
    if (!bank.consentAccounts(c, 'accounts').some((a) => a.id === id)) throw new BankError('RESOURCE_UNKNOWN', 'Unknown account.', 404);
    const a = bank.consentAccounts(c, service).find((x) => x.id === id);
    if (!a) throw new BankError('CONSENT_INVALID', `The PSU did not grant access to the ${service} of this account.`, 403);
    return a;
  };

  const balanceList = (a: LedgerAccount) => {
    const { bookedCents, expectedCents } = balancesOf(a);
    return [
      {
        name: 'Solde comptable',
        balanceAmount: { currency: a.currency, amount: formatCents(bookedCents) },
        balanceType: 'CLBD',
        referenceDate: bank.clock.today(),
      },
      {
        name: 'Solde prévisionnel',
        balanceAmount: { currency: a.currency, amount: formatCents(expectedCents) },
        balanceType: 'XPCD',
        lastChangeDateTime: bank.clock.now().toISOString(),
      },
    ];
  };

  api.get(`${root}/accounts`, async (req, res) => {
    const c = await aispConsent(req);
    bank.countAccess(c, 'accounts', psuPresent(req));
    const withBalances = new Set(bank.consentAccounts(c, 'balances').map((a) => a.id));
    hal(res, 200, {
      accounts: bank.consentAccounts(c, 'accounts').map((a) => ({
        resourceId: a.id,
        bicFi: bank.info.bic,
        accountId: { iban: a.iban, currency: a.currency },
        name: a.name,
        details: a.product,
        usage: a.kind === 'business' ? 'ORGA' : 'PRIV',
        cashAccountType: a.kind === 'card' ? 'CARD' : 'CACC',
        product: a.product,
        psuStatus: 'Account Holder',
        ...(withBalances.has(a.id) ? { balances: balanceList(a) } : {}),
        _links: {
          balances: { href: `${ais}/accounts/${a.id}/balances` },
          transactions: { href: `${ais}/accounts/${a.id}/transactions` },
        },
      })),
      _links: { self: { href: `${ais}/accounts` } },
    });
  });

  api.get(`${root}/accounts/:accountId/balances`, async (req, res) => {
    const c = await aispConsent(req);
    const a = accountOf(c, req, 'balances');
    bank.countAccess(c, `balances:${a.id}`, psuPresent(req));
    hal(res, 200, {
      balances: balanceList(a),
      _links: {
        self: { href: `${ais}/accounts/${a.id}/balances` },
        'parent-list': { href: `${ais}/accounts` },
        transactions: { href: `${ais}/accounts/${a.id}/transactions` },
      },
    });
  });

  const transactionBody = (t: LedgerTransaction) => ({
    ...(t.id ? { resourceId: t.id, entryReference: t.id.slice(0, 35) } : {}),
    transactionAmount: { currency: t.currency, amount: formatCents(Math.abs(t.amountCents)) },
    creditDebitIndicator: t.amountCents < 0 ? 'DBIT' : 'CRDT',
    status: t.status === 'booked' ? 'BOOK' : 'PDNG',
    ...(t.status === 'booked' ? { bookingDate: t.bookingDate } : {}),
    valueDate: t.valueDate,
    transactionDate: t.valueDate,
    remittanceInformation: {
      unstructured: [t.remittance ?? t.counterpartyName ?? 'PAIEMENT'],
      ...(t.structuredReference
        ? { structured: [{ creditorReferenceInformation: { reference: t.structuredReference, type: { codeOrProprietary: { code: 'SCOR' } } } }] }
        : {}),
    },
    ...(t.counterpartyName
      ? {
          relatedParties:
            t.amountCents < 0
              ? { creditor: { name: t.counterpartyName }, ...(t.counterpartyIban ? { creditorAccount: { iban: t.counterpartyIban } } : {}) }
              : { debtor: { name: t.counterpartyName }, ...(t.counterpartyIban ? { debtorAccount: { iban: t.counterpartyIban } } : {}) },
        }
      : {}),
    bankTransactionCode: (() => {
      const [domain, family, subFamily] = t.bankTransactionCode.split('-');
      return { domain, family, subFamily };
    })(),
    ...(t.merchantCategoryCode ? { merchantCategoryCode: t.merchantCategoryCode } : {}),
  });

  api.get(`${root}/accounts/:accountId/transactions`, async (req, res) => {
    const c = await aispConsent(req);
    const a = accountOf(c, req, 'transactions');
    const dateFrom = dateParam(req, 'dateFrom');
    const dateTo = dateParam(req, 'dateTo');
    if (dateFrom && dateTo && dateTo <= dateFrom) throw new BankError('PERIOD_INVALID', 'dateTo (exclusive) must be after dateFrom.', 400, { path: 'dateTo' });
    const page = pageParam(req);
    if (page === 0) bank.countAccess(c, `transactions:${a.id}`, psuPresent(req));
    const result = transactionPage(bank, req, a, { dateFrom, dateTo, dateToExclusive: true, status: 'both' }, page);
    const links: Record<string, { href: string }> = {
      self: { href: linkWith(base, req, {}) },
      'parent-list': { href: `${ais}/accounts` },
      balances: { href: `${ais}/accounts/${a.id}/balances` },
      first: { href: linkWith(base, req, { page: undefined }) },
      last: { href: linkWith(base, req, { page: result.lastPage || undefined }) },
    };
    if (page < result.lastPage) links.next = { href: linkWith(base, req, { page: page + 1 }) };
    if (page > 0) links.prev = { href: linkWith(base, req, { page: page - 1 || undefined }) };
    hal(res, 200, { transactions: result.items.map(transactionBody), _links: links });
  });

  api.put(`${root}/consents`, async (req, res) => {
    const c = await aispConsent(req);
    const body = req.body as Record<string, unknown> | undefined;
    if (!body || typeof body !== 'object') throw new BankError('FORMAT_ERROR', 'A JSON body is required.');
    const owned = bank.accountsOf(c.userId!);
    const list = (key: 'balances' | 'transactions'): string[] => {
      const v = body[key];
      if (v === undefined) return [];
      if (!Array.isArray(v)) throw new BankError('FORMAT_ERROR', `${key} must be an array of account identifiers.`, 400, { path: key });
      return v.map((ref, i) => {
        const iban = (ref as { iban?: unknown })?.iban;
        if (!isValidIban(iban)) throw new BankError('FORMAT_ERROR', `${key}[${i}].iban is not a valid IBAN.`, 400, { path: `${key}[${i}].iban` });
        if (!owned.some((a) => a.iban === iban))
          throw new BankError('CONSENT_INVALID', `${key}[${i}] is not an account of this PSU.`, 403, { path: `${key}[${i}]` });
        return iban;
      });
    };
    c.access = { accounts: owned.map((a) => a.iban), balances: list('balances'), transactions: list('transactions') };
    c.extra.psuIdentity = body.psuIdentity === true;
    c.extra.trustedBeneficiaries = body.trustedBeneficiaries === true;
    c.statusUpdatedAtMs = bank.clock.nowMs();
    res.status(201).end();
  });

  // ----- payment requests -----------------------------------------------------------------

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
