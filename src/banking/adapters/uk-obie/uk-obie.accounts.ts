import { mapAccount, mapBalances, mapTransaction } from './uk-obie.mapper';
import { ukAccountsResponseSchema, ukBalancesResponseSchema, ukTransactionsResponseSchema } from './uk-obie.schemas';

import { type UkObieSession } from './uk-obie.session';
import type { AccountInformationPort } from '../../ports';

/** UK account information: accounts, balances and transactions with the PSU's token, following `Links.Next`. */
export function createUkObieAccounts(session: UkObieSession): AccountInformationPort {
  const { pages } = session;
  return {
    async listAccounts(ctx, access) {
      const out = [];
      for await (const page of pages(ctx, access, 'accounts.list', { path: '/accounts' }, ukAccountsResponseSchema)) {
        for (const account of page.Data.Account ?? []) out.push(mapAccount(account));
      }
      return out;
    },

    async getBalances(ctx, access, bankAccountId) {
      const balances = [];
      const path = `/accounts/${encodeURIComponent(bankAccountId)}/balances`;
      for await (const page of pages(ctx, access, 'balances.list', { path }, ukBalancesResponseSchema, { kind: 'balance', of: (d) => d.Data.Balance }))
        balances.push(...page.Data.Balance);
      return mapBalances(balances);
    },

    async *listTransactions(ctx, access, bankAccountId, window) {
      const path = `/accounts/${encodeURIComponent(bankAccountId)}/transactions`;
      const query = {
        // The spec's filters are UTC date-times without zone; the window's days are whole days.
        // With an offset: the 3.1.11 file types these `format: date-time` (RFC 3339), which needs one.
        fromBookingDateTime: `${window.dateFrom}T00:00:00+00:00`,
        toBookingDateTime: window.dateTo ? `${window.dateTo}T23:59:59+00:00` : undefined,
      };
      // Some banks repeat a page's last entry at the top of the next one.
      const seen = new Set<string>();
      for await (const page of pages(ctx, access, 'transactions.list', { path, query }, ukTransactionsResponseSchema, {
        kind: 'transaction',
        of: (d) => d.Data.Transaction,
      })) {
        const out = [];
        for (const raw of page.Data.Transaction ?? []) {
          const t = mapTransaction(raw);
          if (!t) continue;
          if (window.status !== 'BOTH' && t.status !== window.status) continue;
          if (t.bankTransactionId) {
            if (seen.has(t.bankTransactionId)) continue;
            seen.add(t.bankTransactionId);
          }
          out.push(t);
        }
        yield out;
      }
    },
  };
}
