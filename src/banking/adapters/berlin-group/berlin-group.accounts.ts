/**
 * Berlin Group account information: accounts and card accounts, balances, and paged transactions
 * (following `next` links, reading a JSON report offered as a download).
 */
import type { ZodType } from 'zod';
import { BankInvalidRequest, BankResponseInvalid } from '../../errors';
import type { CanonicalAccount, CanonicalBalance, CanonicalTransaction } from '../../model';
import type { AccountInformationPort, BankCallContext, ConsentAccess } from '../../ports';
import { accountPath, mapAccount, mapBalance, mapCardAccount, mapCardTransaction, mapTransaction } from './berlin-group.mapper';
import {
  bgAccountList,
  bgBalancesResponse,
  bgCardAccountList,
  bgCardBalancesResponse,
  bgCardTransactionsResponse,
  bgTransactionsResponse,
  hrefOf,
} from './berlin-group.schemas';
import type { BerlinGroupSession } from './berlin-group.session';

/** Bank codes that mean "this bank has no such service" (e.g. no card accounts). */
const NOT_OFFERED_CODES = new Set(['SERVICE_INVALID', 'PARAMETER_NOT_SUPPORTED', 'RESOURCE_UNKNOWN', 'SERVICE_BLOCKED']);
/** Berlin Group account information of one institution, over the adapter's shared session. */
export function createBerlinGroupAccounts(session: BerlinGroupSession): AccountInformationPort {
  const { institution, institutionId, log, http, details, reportSkipped, linkOf, dataAccess } = session;

  /** True when the bank says it has no such service (e.g. no card accounts at all). */
  const notOffered = (err: unknown): boolean =>
    err instanceof BankInvalidRequest &&
    (err.httpStatus === 404 || err.httpStatus === 405 || (err.bankCode !== undefined && NOT_OFFERED_CODES.has(err.bankCode)));

  async function listAccounts(ctx: BankCallContext, access: ConsentAccess): Promise<CanonicalAccount[]> {
    const accounts = await http.request({
      operation: 'accounts.list',
      method: 'GET',
      path: '/v1/accounts',
      ...dataAccess(ctx, access, 'accounts.list'),
      schema: bgAccountList,
    });
    const out: CanonicalAccount[] = [];
    for (const a of accounts.data.accounts) {
      const mapped = mapAccount(a);
      if (mapped) out.push(mapped);
      else log.warn({ requestId: accounts.requestId }, 'skipped an account without resourceId');
    }
    if (institution.quirks.cardAccounts === false) return out;
    try {
      const cards = await http.request({
        operation: 'card-accounts.list',
        method: 'GET',
        path: '/v1/card-accounts',
        ...dataAccess(ctx, access, 'card-accounts.list'),
        schema: bgCardAccountList,
      });
      for (const c of cards.data.cardAccounts) {
        const mapped = mapCardAccount(c);
        if (mapped) out.push(mapped);
      }
    } catch (err) {
      if (!notOffered(err)) throw err;
    }
    return out;
  }

  const accountInformation: AccountInformationPort = {
    listAccounts,

    async getBalances(ctx, access, bankAccountId) {
      const { collection, resourceId } = accountPath(bankAccountId);
      const card = collection === '/v1/card-accounts';
      const operation = card ? 'card-accounts.balances' : 'accounts.balances';
      const path = `${collection}/${encodeURIComponent(resourceId)}/balances`;
      const res = card
        ? await http.request({ operation, method: 'GET', path, ...dataAccess(ctx, access, operation), schema: bgCardBalancesResponse })
        : await http.request({ operation, method: 'GET', path, ...dataAccess(ctx, access, operation), schema: bgBalancesResponse });
      reportSkipped(operation, 'balance', res, res.data.balances);
      return res.data.balances.map(mapBalance);
    },

    listTransactions(ctx, access, bankAccountId, window) {
      return transactions(ctx, access, bankAccountId, window);
    },
  };

  /** One page: its transactions and the bank's link to the next page. */
  async function page(
    ctx: BankCallContext,
    access: ConsentAccess,
    card: boolean,
    target: { path: string; query: Record<string, string | undefined> } | { url: string },
  ): Promise<{ items: CanonicalTransaction[]; next: string | undefined; balances?: CanonicalBalance[] }> {
    const operation = card ? 'card-accounts.transactions' : 'accounts.transactions';
    const common = { operation, method: 'GET' as const, ...target, ...dataAccess(ctx, access, operation) };
    if (card) {
      const res = await http.request({ ...common, schema: bgCardTransactionsResponse });
      const report =
        res.data.cardTransactions ?? (await download(ctx, access, operation, res.data._links?.download, bgCardTransactionsResponse))?.cardTransactions;
      reportSkipped(operation, 'transaction', res, report?.booked, report?.pending);
      return {
        items: [...(report?.booked ?? []).map((t) => mapCardTransaction(t, 'BOOKED')), ...(report?.pending ?? []).map((t) => mapCardTransaction(t, 'PENDING'))],
        next: linkOf(report?._links?.next) ?? linkOf(res.data._links?.next),
      };
    }
    const res = await http.request({ ...common, schema: bgTransactionsResponse });
    const report = res.data.transactions ?? (await download(ctx, access, operation, res.data._links?.download, bgTransactionsResponse))?.transactions;
    reportSkipped(operation, 'transaction', res, report?.booked, report?.pending);
    const cap = institution.quirks.maxPageSize;
    const entries = (report?.booked?.length ?? 0) + (report?.pending?.length ?? 0);
    // The cap is per page of a list; a downloaded report is the whole period at once.
    if (cap !== undefined && res.data.transactions && entries > cap) {
      // More than the bank documents per page: not an answer its own rules allow.
      throw new BankResponseInvalid(`${operation} at ${institutionId}: a page of ${entries} entries exceeds the bank's documented cap of ${cap}`, {
        ...details(operation),
        requestId: res.requestId,
      });
    }
    return {
      items: [...(report?.booked ?? []).map((t) => mapTransaction(t, 'BOOKED')), ...(report?.pending ?? []).map((t) => mapTransaction(t, 'PENDING'))],
      next: linkOf(report?._links?.next) ?? linkOf(res.data._links?.next),
      ...(res.data.balances?.length ? { balances: res.data.balances.map(mapBalance) } : {}),
    };
  }

  /**
   * A report the bank offers only as a file (`_links.download`, for large reports): fetched from
   * the link (same bank, same consent) and read when it is the JSON report. A camt or MT940 file is
   * refused with a message naming that limit: the gateway reads JSON reports only.
   */
  async function download<T>(
    ctx: BankCallContext,
    access: ConsentAccess,
    operation: string,
    link: Parameters<typeof hrefOf>[0],
    schema: ZodType<T>,
  ): Promise<T | undefined> {
    const href = linkOf(link);
    if (!href) return undefined;
    try {
      const file = await http.request({ operation: `${operation}.download`, method: 'GET', url: href, ...dataAccess(ctx, access, operation), schema });
      return file.data;
    } catch (err) {
      if (err instanceof BankResponseInvalid && /is not JSON/.test(err.message)) {
        throw new BankResponseInvalid(
          `${operation} at ${institutionId}: the bank offers this transaction report only as a download in a format other than JSON (camt or MT940), which the gateway does not read`,
          {
            ...details(operation),
            ...(err.httpStatus !== undefined ? { httpStatus: err.httpStatus } : {}),
            ...(err.requestId ? { requestId: err.requestId } : {}),
          },
        );
      }
      throw err;
    }
  }

  const MAX_PAGES = 10_000;

  async function* transactions(
    ctx: BankCallContext,
    access: ConsentAccess,
    bankAccountId: string,
    window: { dateFrom: string; dateTo: string | null; status: 'BOOKED' | 'PENDING' | 'BOTH'; onBalances?: (balances: CanonicalBalance[]) => void },
  ): AsyncGenerator<CanonicalTransaction[]> {
    const { collection, resourceId } = accountPath(bankAccountId);
    const card = collection === '/v1/card-accounts';
    const path = `${collection}/${encodeURIComponent(resourceId)}/transactions`;
    // Balances ride along with the first listing when asked (one call instead of two); card accounts don't offer it.
    const withBalance = window.onBalances && !card ? 'true' : undefined;
    const query = (bookingStatus: string) => ({ bookingStatus, dateFrom: window.dateFrom, dateTo: window.dateTo ?? undefined, withBalance });

    // A bank known to refuse bookingStatus=both (registry quirk) is asked for booked and pending apart at once.
    const listings: string[] =
      window.status === 'BOTH' && institution.quirks.bookingStatusBothUnsupported === true ? ['booked', 'pending'] : [window.status.toLowerCase()];
    // Bank ids already yielded, by status (a set per status: no key string built per entry).
    const seen = { BOOKED: new Set<string>(), PENDING: new Set<string>() };
    for (let l = 0; l < listings.length; l++) {
      const visited = new Set<string>();
      let current: Awaited<ReturnType<typeof page>>;
      try {
        current = await page(ctx, access, card, { path, query: query(listings[l]) });
        if (current.balances && window.onBalances) window.onBalances(current.balances);
      } catch (err) {
        // Some banks serve booked and pending only separately.
        if (listings[l] === 'both' && err instanceof BankInvalidRequest && err.bankCode === 'PARAMETER_NOT_SUPPORTED') {
          listings.push('booked', 'pending');
          continue;
        }
        throw err;
      }
      for (let n = 1; ; n++) {
        const fresh = current.items.filter((t) => {
          if (!t.bankTransactionId) return true;
          const ids = seen[t.status];
          if (ids.has(t.bankTransactionId)) return false;
          ids.add(t.bankTransactionId);
          return true;
        });
        yield fresh;
        const next = current.next;
        if (!next) break;
        if (visited.has(next) || n >= MAX_PAGES) {
          throw new BankResponseInvalid(
            `${card ? 'card-accounts' : 'accounts'}.transactions at ${institutionId}: the next link loops`,
            details('accounts.transactions'),
          );
        }
        visited.add(next);
        current = await page(ctx, access, card, { url: next });
      }
    }
  }

  return accountInformation;
}
