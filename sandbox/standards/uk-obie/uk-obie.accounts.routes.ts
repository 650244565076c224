import type { Request } from 'express';
import { addDays } from '../../core/clock';
import { BankError } from '../../core/errors';
import { balancesOf, formatCents, type LedgerAccount, type LedgerTransaction } from '../../core/ledger';
import type { AisConsent } from '../../core/state';
import { linkWith, pageParam, queryString, transactionPage } from '../common';
import { dt, ISO_DT, type UkObieContext } from './uk-obie.context';

/** UK OBIE accounts (AISP): accounts, balances and transactions. */
export function mountUkObieAccounts(ctx: UkObieContext): void {
  const { bank, api, aisPath, ais, base, userToken, wrap } = ctx;
  const has = (c: AisConsent, ...perms: string[]) => perms.some((p) => c.permissions?.includes(p));

  const dataConsent = async (req: Request): Promise<AisConsent> => {
    const token = await userToken(req);
    const consentId = token.link?.consentId;
    if (!consentId) throw new BankError('TOKEN_INVALID', 'This token was not issued for account access.', 401);
    const c = bank.consents.get(consentId);
    if (c?.status === 'expired' || (c && bank.refreshConsent(c).status === 'expired')) {
      throw new BankError('CONSENT_EXPIRED', `The consent expired at ${String(c.extra.expirationDateTime)}: the PSU must re-authenticate.`);
    }
    return bank.requireUsableConsent(c);
  };
  const psuPresent = (req: Request) => !!req.get('x-fapi-customer-ip-address');
  const accountOf = (c: AisConsent, req: Request): LedgerAccount => {
    const a = bank.consentAccounts(c, 'accounts').find((x) => x.id === req.params.accountId);
    if (!a) throw new BankError('CONSENT_INVALID', 'The consent does not cover this account.', 403, { path: 'AccountId' });
    return a;
  };

  const accountBody = (c: AisConsent, a: LedgerAccount) => ({
    AccountId: a.id,
    Status: 'Enabled',
    StatusUpdateDateTime: dt(bank.ctx.startMs - 400 * 86_400_000),
    Currency: a.currency,
    AccountType: a.kind === 'business' ? 'Business' : 'Personal',
    AccountSubType: a.kind === 'savings' ? 'Savings' : a.kind === 'card' ? 'CreditCard' : 'CurrentAccount',
    Nickname: a.name,
    ...(has(c, 'ReadAccountsDetail')
      ? {
          Account: [
            a.kind === 'card'
              ? { SchemeName: 'UK.OBIE.PAN', Identification: a.maskedPan!, Name: a.ownerName }
              : {
                  SchemeName: 'UK.OBIE.SortCodeAccountNumber',
                  Identification: `${a.sortCode}${a.accountNumber}`,
                  Name: a.ownerName,
                  SecondaryIdentification: a.iban.slice(0, 34),
                },
          ],
        }
      : {}),
  });

  const ukBalances = (a: LedgerAccount) => {
    const { bookedCents, expectedCents } = balancesOf(a);
    const now = dt(bank.clock.nowMs());
    return [
      {
        AccountId: a.id,
        CreditDebitIndicator: bookedCents < 0 ? 'Debit' : 'Credit',
        Type: 'InterimBooked',
        DateTime: now,
        Amount: { Amount: formatCents(Math.abs(bookedCents)), Currency: a.currency },
      },
      {
        AccountId: a.id,
        CreditDebitIndicator: expectedCents < 0 ? 'Debit' : 'Credit',
        Type: 'InterimAvailable',
        DateTime: now,
        Amount: { Amount: formatCents(Math.abs(expectedCents)), Currency: a.currency },
      },
    ];
  };

  api.get(`${aisPath}/accounts`, async (req, res) => {
    const c = await dataConsent(req);
    bank.countAccess(c, 'accounts', psuPresent(req));
    res.json(wrap({ Account: bank.consentAccounts(c, 'accounts').map((a) => accountBody(c, a)) }, `${ais}/accounts`, { TotalPages: 1 }));
  });
  api.get(`${aisPath}/accounts/:accountId`, async (req, res) => {
    const c = await dataConsent(req);
    const a = accountOf(c, req);
    bank.countAccess(c, `account:${a.id}`, psuPresent(req));
    res.json(wrap({ Account: [accountBody(c, a)] }, `${ais}/accounts/${a.id}`, { TotalPages: 1 }));
  });
  api.get(`${aisPath}/accounts/:accountId/balances`, async (req, res) => {
    const c = await dataConsent(req);
    if (!has(c, 'ReadBalances')) throw new BankError('CONSENT_INVALID', 'The consent lacks ReadBalances.', 403);
    const a = accountOf(c, req);
    bank.countAccess(c, `balances:${a.id}`, psuPresent(req));
    res.json(wrap({ Balance: ukBalances(a) }, `${ais}/accounts/${a.id}/balances`, { TotalPages: 1 }));
  });

  api.get(`${aisPath}/balances`, async (req, res) => {
    const c = await dataConsent(req);
    if (!has(c, 'ReadBalances')) throw new BankError('CONSENT_INVALID', 'The consent lacks ReadBalances.', 403);
    bank.countAccess(c, 'balances:*', psuPresent(req));
    res.json(wrap({ Balance: bank.consentAccounts(c, 'accounts').flatMap(ukBalances) }, `${ais}/balances`, { TotalPages: 1 }));
  });

  const dateTimeParam = (req: Request, name: string): string | undefined => {
    const v = queryString(req, name);
    if (v === undefined) return undefined;
    if (!ISO_DT.test(v) && !/^\d{4}-\d{2}-\d{2}$/.test(v)) throw new BankError('PERIOD_INVALID', `${name} must be an ISO date-time.`, 400, { path: name });
    return v.slice(0, 10);
  };

  const transactionBody = (c: AisConsent, t: LedgerTransaction) => {
    const detail = has(c, 'ReadTransactionsDetail');
    const [, family, sub] = t.bankTransactionCode.split('-');
    const other = t.counterpartyIban
      ? { SchemeName: 'UK.OBIE.IBAN', Identification: t.counterpartyIban, ...(t.counterpartyName ? { Name: t.counterpartyName } : {}) }
      : undefined;
    return {
      AccountId: t.accountId,
      ...(t.id ? { TransactionId: t.id } : {}),
      ...(t.structuredReference || t.endToEndId ? { TransactionReference: t.structuredReference ?? t.endToEndId } : {}),
      CreditDebitIndicator: t.amountCents < 0 ? 'Debit' : 'Credit',
      Status: t.status === 'booked' ? 'Booked' : 'Pending',
      BookingDateTime: `${t.bookingDate}T00:00:00+00:00`,
      ValueDateTime: `${t.valueDate}T00:00:00+00:00`,
      Amount: { Amount: formatCents(Math.abs(t.amountCents)), Currency: t.currency },
      BankTransactionCode: { Code: family, SubCode: sub },
      ...(detail && t.remittance ? { TransactionInformation: t.remittance.slice(0, 500) } : {}),
      ...(detail && t.merchantCategoryCode && t.counterpartyName
        ? { MerchantDetails: { MerchantName: t.counterpartyName.slice(0, 350), MerchantCategoryCode: t.merchantCategoryCode } }
        : {}),
      ...(detail && other ? (t.amountCents < 0 ? { CreditorAccount: other } : { DebtorAccount: other }) : {}),
    };
  };

  api.get(`${aisPath}/accounts/:accountId/transactions`, async (req, res) => {
    const c = await dataConsent(req);
    if (!has(c, 'ReadTransactionsBasic', 'ReadTransactionsDetail'))
      throw new BankError('CONSENT_INVALID', 'The consent lacks ReadTransactions permissions.', 403);
    const a = accountOf(c, req);
    let from = dateTimeParam(req, 'fromBookingDateTime');
    let to = dateTimeParam(req, 'toBookingDateTime');
    const windowFrom = typeof c.extra.transactionFrom === 'string' ? c.extra.transactionFrom.slice(0, 10) : undefined;
    const windowTo = typeof c.extra.transactionTo === 'string' ? c.extra.transactionTo.slice(0, 10) : undefined;
    if (windowFrom && (!from || from < windowFrom)) from = windowFrom;
    if (windowTo && (!to || to > windowTo)) to = windowTo;
    const page = pageParam(req);
    if (page === 0) bank.countAccess(c, `transactions:${a.id}`, psuPresent(req));
    const result = transactionPage(bank, req, a, { dateFrom: from, dateTo: to, status: 'both' }, page);
    const credits = has(c, 'ReadTransactionsCredits');
    const debits = has(c, 'ReadTransactionsDebits');
    const items = result.items.filter((t) => (!credits && !debits) || (credits && t.amountCents > 0) || (debits && t.amountCents < 0));
    const links: Record<string, string> = {
      Self: linkWith(base, req, {}),
      First: linkWith(base, req, { page: undefined }),
      Last: linkWith(base, req, { page: result.lastPage || undefined }),
    };
    if (page < result.lastPage) links.Next = linkWith(base, req, { page: page + 1 });
    if (page > 0) links.Prev = linkWith(base, req, { page: page - 1 || undefined });
    res.json({
      Data: { Transaction: items.map((t) => transactionBody(c, t)) },
      Links: links,
      Meta: {
        TotalPages: result.lastPage + 1,
        FirstAvailableDateTime: `${addDays(new Date(bank.ctx.startMs).toISOString().slice(0, 10), -730)}T00:00:00+00:00`,
        LastAvailableDateTime: dt(bank.clock.nowMs()),
      },
    });
  });
}
