import { BankError } from '../../core/errors';
import { formatCents, type LedgerAccount, type LedgerTransaction } from '../../core/ledger';
import { dateParam, linkWith, pageParam, queryString, transactionPage } from '../common';
import type { BerlinGroupContext } from './berlin-group.context';

/** Berlin Group card accounts: details, balances and card transactions. */
export function mountBerlinGroupCardAccounts(ctx: BerlinGroupContext): void {
  const { bank, api, base, ais, dataConsent, psuPresent, accountOf, balanceList } = ctx;
  const cardDetails = (a: LedgerAccount, withBalance: boolean) => ({
    resourceId: a.id,
    maskedPan: a.maskedPan!,
    currency: a.currency,
    ownerName: a.ownerName,
    name: a.name,
    product: a.product,
    status: 'enabled',
    usage: 'PRIV',
    creditLimit: { currency: a.currency, amount: '3000.00' },
    ...(withBalance ? { balances: balanceList(a) } : {}),
    _links: {
      balances: { href: `${ais}/v1/card-accounts/${a.id}/balances` },
      transactions: { href: `${ais}/v1/card-accounts/${a.id}/transactions` },
    },
  });

  api.get('/v1/card-accounts', async (req, res) => {
    const consent = await dataConsent(req);
    bank.countAccess(consent, 'card-accounts', psuPresent(req));
    const cards = bank.consentAccounts(consent, 'accounts').filter((a) => a.kind === 'card');
    res.json({ cardAccounts: cards.map((a) => cardDetails(a, false)) });
  });
  api.get('/v1/card-accounts/:accountId', async (req, res) => {
    const consent = await dataConsent(req);
    const a = accountOf(consent, req, 'accounts', true);
    bank.countAccess(consent, `card-account:${a.id}`, psuPresent(req));
    res.json({ cardAccount: cardDetails(a, queryString(req, 'withBalance') === 'true') });
  });
  api.get('/v1/card-accounts/:accountId/balances', async (req, res) => {
    const consent = await dataConsent(req);
    const a = accountOf(consent, req, 'balances', true);
    bank.countAccess(consent, `balances:${a.id}`, psuPresent(req));
    res.json({ cardAccount: { maskedPan: a.maskedPan }, balances: balanceList(a) });
  });
  api.get('/v1/card-accounts/:accountId/transactions', async (req, res) => {
    const consent = await dataConsent(req);
    const a = accountOf(consent, req, 'transactions', true);
    const bookingStatus = queryString(req, 'bookingStatus');
    if (!bookingStatus || !['booked', 'pending', 'both'].includes(bookingStatus)) {
      throw new BankError('FORMAT_ERROR', 'bookingStatus is required (booked, pending or both).', 400, { path: 'bookingStatus' });
    }
    const dateFrom = dateParam(req, 'dateFrom');
    const dateTo = dateParam(req, 'dateTo');
    if (!dateFrom) throw new BankError('FORMAT_ERROR', 'dateFrom is required.', 400, { path: 'dateFrom' });
    const page = pageParam(req);
    if (page === 0) bank.countAccess(consent, `transactions:${a.id}`, psuPresent(req));
    const result = transactionPage(bank, req, a, { dateFrom, dateTo, status: bookingStatus as 'booked' | 'pending' | 'both' }, page);
    const card = (t: LedgerTransaction) => ({
      ...(t.id ? { cardTransactionId: t.id } : {}),
      transactionDate: t.valueDate,
      ...(t.status === 'booked' ? { bookingDate: t.bookingDate } : {}),
      transactionAmount: { currency: t.currency, amount: formatCents(t.amountCents) },
      ...(t.merchantCategoryCode ? { merchantCategoryCode: t.merchantCategoryCode } : {}),
      maskedPAN: a.maskedPan,
      transactionDetails: (t.remittance ?? t.counterpartyName ?? '').slice(0, 140),
      invoiced: t.status === 'booked',
    });
    const links: Record<string, { href: string }> = {
      cardAccount: { href: `${ais}/v1/card-accounts/${a.id}` },
      first: { href: linkWith(base, req, { page: undefined }) },
      last: { href: linkWith(base, req, { page: result.lastPage || undefined }) },
    };
    if (page < result.lastPage) links.next = { href: linkWith(base, req, { page: page + 1 }) };
    if (page > 0) links.previous = { href: linkWith(base, req, { page: page - 1 || undefined }) };
    res.json({
      cardAccount: { maskedPan: a.maskedPan },
      cardTransactions: {
        ...(bookingStatus !== 'pending' ? { booked: result.items.filter((t) => t.status === 'booked').map(card) } : {}),
        ...(bookingStatus !== 'booked' ? { pending: result.items.filter((t) => t.status === 'pending').map(card) } : {}),
        _links: links,
      },
    });
  });
}
