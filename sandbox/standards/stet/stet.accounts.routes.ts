import type { Request } from 'express';
import { BankError } from '../../core/errors';
import { balancesOf, formatCents, type LedgerAccount, type LedgerTransaction } from '../../core/ledger';
import type { AisConsent } from '../../core/state';
import { dateParam, linkWith, pageParam, transactionPage } from '../common';
import type { StetContext } from './stet.context';

/** STET accounts (AISP): the list, balances and transactions. */
export function mountStetAccounts(ctx: StetContext): void {
  const { bank, api, root, ais, base, hal, psuPresent, aispConsent } = ctx;
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
}
