import { BankResponseInvalid } from '../../errors';
import type { CanonicalAccount, CanonicalTransaction } from '../../model';
import type { AccountInformationPort } from '../../ports';
import { mapAccount, mapBalance, mapTransaction } from './stet.mapper';
import { stetBalancesResponse, stetTransactionsResponse } from './stet.schemas';
import type { StetSession } from './stet.session';

/** STET account information: the account list, balances and transactions, following the bank's HAL links. */
export function createStetAccounts(session: StetSession): AccountInformationPort {
  const { institution, link, reportSkipped, http, accountLinks, bearer, fetchAccounts } = session;
  return {
    async listAccounts(ctx, access) {
      const list = await fetchAccounts(ctx, bearer(access, 'accounts.list'), 'accounts.list');
      return list.map(mapAccount) satisfies CanonicalAccount[];
    },

    async getBalances(ctx, access, bankAccountId) {
      const accessToken = bearer(access, 'balances.get');
      const known = accountLinks.get(bankAccountId)?.balances;
      const res = await http.request({
        operation: 'balances.get',
        method: 'GET',
        ...(known ? { url: known } : { path: `/accounts/${encodeURIComponent(bankAccountId)}/balances` }),
        schema: stetBalancesResponse,
        accessToken,
        psuIpAddress: ctx.psuIpAddress,
      });
      reportSkipped('balances.get', 'balance', res, res.data.balances);
      return res.data.balances.map(mapBalance);
    },

    /**
     * Every page from `dateFrom` (inclusive) to `dateTo` (inclusive, as in the canonical window;
     * STET's `dateTo` is exclusive, so the day after is sent). STET has no status filter: the
     * status is applied here. A bank that repeats an entry across pages (same `resourceId`) yields
     * it once.
     */
    async *listTransactions(ctx, access, bankAccountId, window): AsyncIterable<CanonicalTransaction[]> {
      const operation = 'transactions.list';
      const accessToken = bearer(access, operation);
      const known = accountLinks.get(bankAccountId)?.transactions;
      const query = { dateFrom: window.dateFrom, dateTo: window.dateTo ? nextDay(window.dateTo) : undefined };
      let target: { path?: string; url?: string; query?: typeof query } = known
        ? { url: known, query }
        : { path: `/accounts/${encodeURIComponent(bankAccountId)}/transactions`, query };
      const visited = new Set<string>();
      const seenIds = new Set<string>();
      for (;;) {
        visited.add(http.resolveUrl(target).href);
        const res = await http.request({ operation, method: 'GET', ...target, schema: stetTransactionsResponse, accessToken, psuIpAddress: ctx.psuIpAddress });
        const data = res.data;
        reportSkipped(operation, 'transaction', res, data.transactions);
        const page: CanonicalTransaction[] = [];
        for (const raw of data.transactions) {
          const t = mapTransaction(raw);
          if (window.status === 'BOOKED' && t.status !== 'BOOKED') continue;
          if (window.status === 'PENDING' && t.status !== 'PENDING') continue;
          if (t.bankTransactionId) {
            if (seenIds.has(t.bankTransactionId)) continue;
            seenIds.add(t.bankTransactionId);
          }
          page.push(t);
        }
        yield page;
        const next = link(data._links?.next);
        if (!next) return;
        // The next link carries the bank's own query (dates, page): follow it as given.
        target = { url: next };
        if (visited.has(http.resolveUrl(target).href)) {
          throw new BankResponseInvalid(`${operation} at ${institution.id}: the bank's next link loops`, { institutionId: institution.id, operation });
        }
      }
    },
  };
}

/** `2026-01-31` → `2026-02-01`. */
function nextDay(day: string): string {
  const d = new Date(`${day.slice(0, 10)}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}
