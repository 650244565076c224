import type { Request, Response } from 'express';
import { BankError } from '../../core/errors';
import { formatCents, type LedgerAccount, type LedgerTransaction } from '../../core/ledger';
import { dateParam, linkWith, pageParam, queryString, transactionPage } from '../common';
import type { BerlinGroupContext } from './berlin-group.context';

/** Berlin Group accounts: details, balances, transactions and their report files. */
export function mountBerlinGroupAccounts(ctx: BerlinGroupContext): void {
  const { bank, api, base, ais, dataConsent, psuPresent, accountOf, balanceList } = ctx;
  const accountDetails = (a: LedgerAccount, withBalance: boolean) => ({
    resourceId: a.id,
    iban: a.iban,
    currency: a.currency,
    name: a.name,
    product: a.product,
    ownerName: a.ownerName,
    cashAccountType: a.kind === 'savings' ? 'SVGS' : 'CACC',
    status: 'enabled',
    bic: bank.info.bic,
    usage: a.kind === 'business' ? 'ORGA' : 'PRIV',
    ...(withBalance ? { balances: balanceList(a) } : {}),
    _links: {
      balances: { href: `${ais}/v1/accounts/${a.id}/balances` },
      transactions: { href: `${ais}/v1/accounts/${a.id}/transactions` },
    },
  });

  api.get('/v1/accounts', async (req, res) => {
    const consent = await dataConsent(req);
    bank.countAccess(consent, 'accounts', psuPresent(req));
    const withBalance = queryString(req, 'withBalance') === 'true';
    const list = bank.consentAccounts(consent, 'accounts').filter((a) => a.kind !== 'card');
    res.json({ accounts: list.map((a) => accountDetails(a, withBalance && bank.consentAccounts(consent, 'balances').includes(a))) });
  });

  api.get('/v1/accounts/:accountId', async (req, res) => {
    const consent = await dataConsent(req);
    const a = accountOf(consent, req, 'accounts');
    bank.countAccess(consent, `account:${a.id}`, psuPresent(req));
    res.json({ account: accountDetails(a, queryString(req, 'withBalance') === 'true') });
  });

  api.get('/v1/accounts/:accountId/balances', async (req, res) => {
    const consent = await dataConsent(req);
    const a = accountOf(consent, req, 'balances');
    bank.countAccess(consent, `balances:${a.id}`, psuPresent(req));
    res.json({ account: { iban: a.iban, currency: a.currency }, balances: balanceList(a) });
  });

  const transactionBody = (t: LedgerTransaction) => {
    const amount = { currency: t.currency, amount: formatCents(t.amountCents) };
    const party =
      t.amountCents < 0
        ? {
            ...(t.counterpartyName ? { creditorName: t.counterpartyName } : {}),
            ...(t.counterpartyIban ? { creditorAccount: { iban: t.counterpartyIban } } : {}),
          }
        : { ...(t.counterpartyName ? { debtorName: t.counterpartyName } : {}), ...(t.counterpartyIban ? { debtorAccount: { iban: t.counterpartyIban } } : {}) };
    return {
      ...(t.id ? { transactionId: t.id, entryReference: t.id.slice(0, 35) } : {}),
      ...(t.endToEndId ? { endToEndId: t.endToEndId } : {}),
      ...(t.mandateId ? { mandateId: t.mandateId } : {}),
      ...(t.status === 'booked' ? { bookingDate: t.bookingDate } : {}),
      valueDate: t.valueDate,
      transactionAmount: amount,
      ...party,
      ...(t.remittance ? { remittanceInformationUnstructured: t.remittance.slice(0, 140) } : {}),
      ...(t.structuredReference ? { remittanceInformationStructured: { reference: t.structuredReference, referenceType: 'SCOR' } } : {}),
      bankTransactionCode: t.bankTransactionCode,
    };
  };

  api.get('/v1/accounts/:accountId/transactions', async (req, res) => {
    const consent = await dataConsent(req);
    const a = accountOf(consent, req, 'transactions');
    const bookingStatus = queryString(req, 'bookingStatus');
    if (!bookingStatus) throw new BankError('FORMAT_ERROR', 'bookingStatus is required (booked, pending or both).', 400, { path: 'bookingStatus' });
    if (!['booked', 'pending', 'both'].includes(bookingStatus)) {
      throw new BankError('PARAMETER_NOT_SUPPORTED', `bookingStatus ${bookingStatus} is not supported.`, 400, { path: 'bookingStatus' });
    }
    const dateFrom = dateParam(req, 'dateFrom');
    const dateTo = dateParam(req, 'dateTo');
    if (!dateFrom) throw new BankError('FORMAT_ERROR', 'dateFrom is required.', 400, { path: 'dateFrom' });
    if (dateTo && dateTo < dateFrom) throw new BankError('PERIOD_INVALID', 'dateTo is before dateFrom.', 400, { path: 'dateTo' });
    const page = pageParam(req);
    // Only the first page of a listing counts against the daily budget.
    if (page === 0) bank.countAccess(consent, `transactions:${a.id}`, psuPresent(req));
    if (bank.transactionReports !== 'list') {
      // A bank that offers the report only as a file: a link to it, and no list (1.3.12 `_linksDownload`).
      const id = bank.newId();
      downloads.set(id, {
        consentId: consent.id,
        accountId: a.id,
        query: { dateFrom, dateTo, status: bookingStatus as 'booked' | 'pending' | 'both' },
        format: bank.transactionReports,
      });
      res.json({ account: { iban: a.iban, currency: a.currency }, _links: { download: { href: `${bank.baseUrl}/report-files/${a.id}/${id}` } } });
      return;
    }
    const result = transactionPage(bank, req, a, { dateFrom, dateTo, status: bookingStatus as 'booked' | 'pending' | 'both' }, page);
    const booked = result.items.filter((t) => t.status === 'booked').map(transactionBody);
    const pending = result.items.filter((t) => t.status === 'pending').map(transactionBody);
    const links: Record<string, { href: string }> = {
      account: { href: `${ais}/v1/accounts/${a.id}` },
      first: { href: linkWith(base, req, { page: undefined }) },
      last: { href: linkWith(base, req, { page: result.lastPage || undefined }) },
    };
    if (page < result.lastPage) links.next = { href: linkWith(base, req, { page: page + 1 }) };
    if (page > 0) links.previous = { href: linkWith(base, req, { page: page - 1 || undefined }) };
    // withBalance=true: the balances come with the list (when the consent grants them), in the same call.
    const withBalance = queryString(req, 'withBalance') === 'true' && bank.consentAccounts(consent, 'balances').includes(a);
    res.json({
      account: { iban: a.iban, currency: a.currency },
      transactions: {
        ...(bookingStatus !== 'pending' ? { booked } : {}),
        ...(bookingStatus !== 'booked' ? { pending } : {}),
        _links: links,
      },
      ...(withBalance ? { balances: balanceList(a) } : {}),
    });
  });

  /** Report files a download link names: the listing asked for, whole, in the format of the moment. */
  const downloads = new Map<
    string,
    {
      consentId: string;
      accountId: string;
      query: { dateFrom: string; dateTo: string | undefined; status: 'booked' | 'pending' | 'both' };
      format: 'download' | 'camt';
    }
  >();

  // Beside the API (the file declares no operation for it), like a bank's file server; the same consent and token apply.
  bank.published.get(
    '/report-files/:accountId/:downloadId',
    (req, res) =>
      void serveDownload(req, res).catch((err: unknown) => {
        if (err instanceof BankError) return bank.dialect.sendError(req, res, err.status, err.code, err.message, err.detail);
        bank.log.error({ err }, 'sandbox bank error');
        bank.dialect.sendError(req, res, 500, 'INTERNAL_SERVER_ERROR', 'Unexpected error in the sandbox bank.');
      }),
  );
  const serveDownload = async (req: Request, res: Response) => {
    const consent = await dataConsent(req);
    const a = accountOf(consent, req, 'transactions');
    const file = downloads.get(String(req.params.downloadId));
    if (!file || file.consentId !== consent.id || file.accountId !== a.id) throw new BankError('RESOURCE_UNKNOWN', 'Unknown download.', 404);
    const all = transactionPage(bank, req, a, file.query, 0);
    const items =
      all.total > all.items.length ? [...Array(all.lastPage + 1).keys()].flatMap((p) => transactionPage(bank, req, a, file.query, p).items) : all.items;
    if (file.format === 'camt') {
      // What most banks put behind the link: an ISO 20022 camt.052 account report.
      res
        .type('application/xml')
        .send(
          `<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.052.001.08"><BkToCstmrAcctRpt><GrpHdr><MsgId>${req.params.downloadId}</MsgId></GrpHdr><Rpt><Acct><Id><IBAN>${a.iban}</IBAN></Id></Acct>${items
            .map(
              (t) =>
                `<Ntry><Amt Ccy="${a.currency}">${formatCents(Math.abs(t.amountCents))}</Amt><CdtDbtInd>${t.amountCents < 0 ? 'DBIT' : 'CRDT'}</CdtDbtInd></Ntry>`,
            )
            .join('')}</Rpt></BkToCstmrAcctRpt></Document>`,
        );
      return;
    }
    res.json({
      account: { iban: a.iban, currency: a.currency },
      transactions: {
        ...(file.query.status !== 'pending' ? { booked: items.filter((t) => t.status === 'booked').map(transactionBody) } : {}),
        ...(file.query.status !== 'booked' ? { pending: items.filter((t) => t.status === 'pending').map(transactionBody) } : {}),
      },
    });
  };

  api.get('/v1/accounts/:accountId/transactions/:transactionId', async (req, res) => {
    const consent = await dataConsent(req);
    const a = accountOf(consent, req, 'transactions');
    const t = a.transactions.find((x) => x.id === req.params.transactionId);
    if (!t) throw new BankError('RESOURCE_UNKNOWN', 'Unknown transaction.', 404);
    bank.countAccess(consent, `transactions:${a.id}`, psuPresent(req));
    res.json({ transactionsDetails: transactionBody(t) });
  });
}
