import type { Request } from 'express';
import type { Bank } from '../core/bank';
import { BankError } from '../core/errors';
import { TransactionView, type LedgerAccount, type LedgerTransaction, type TransactionQuery } from '../core/ledger';

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

export const queryString = (req: Request, name: string): string | undefined => {
  const v = req.query[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
};

/** Validates an ISO date query parameter (YYYY-MM-DD, a real calendar day). */
export function dateParam(req: Request, name: string): string | undefined {
  const v = queryString(req, name);
  if (v === undefined) return undefined;
  if (!DATE_RE.test(v) || Number.isNaN(Date.parse(`${v}T00:00:00Z`)) || new Date(`${v}T00:00:00Z`).toISOString().slice(0, 10) !== v) {
    throw new BankError('FORMAT_ERROR', `${name} must be a date (YYYY-MM-DD).`, 400, { path: name });
  }
  return v;
}

export interface TransactionPage {
  items: LedgerTransaction[];
  page: number;
  lastPage: number;
  total: number;
}

/**
 * One page of an account's transactions, applying the `missing-ids` and `duplicates` faults that
 * a control-API user injected for this route.
 */
export function transactionPage(bank: Bank, req: Request, account: LedgerAccount, q: TransactionQuery, page: number): TransactionPage {
  const size = bank.def.pageSize;
  const view = new TransactionView(account, q);
  const total = view.total;
  const lastPage = Math.max(0, Math.ceil(total / size) - 1);
  if (page < 0 || (page > lastPage && total > 0)) throw new BankError('FORMAT_ERROR', `page ${page} is out of range (0..${lastPage}).`, 400, { path: 'page' });
  let items = view.slice(page * size, size).map((t) => ({ ...t }));
  const duplicates = bank.takeFault(req, ['duplicates']);
  if (duplicates && page > 0) {
    // The previous page's last entry shows up again at the top of this one, as some banks do.
    const [prev] = view.slice(page * size - 1, 1);
    if (prev) items = [{ ...prev }, ...items];
  }
  const missing = bank.takeFault(req, ['missing-ids']);
  if (missing) items = items.map((t) => ({ ...t, id: '' }));
  const churn = bank.takeFault(req, ['churn-ids']);
  if (churn) {
    // Some banks hand out new ids for the same entries on every call.
    const salt = bank.newId().slice(0, 8);
    items = items.map((t) => (t.id ? { ...t, id: `${t.id.slice(0, 24)}-${salt}` } : t));
  }
  return { items, page, lastPage, total };
}

export function pageParam(req: Request, name = 'page'): number {
  const v = queryString(req, name);
  if (v === undefined) return 0;
  if (!/^\d{1,7}$/.test(v)) throw new BankError('FORMAT_ERROR', `${name} must be a non-negative integer.`, 400, { path: name });
  return Number(v);
}

/** Rebuilds the current URL with some query parameters replaced (for paging links). */
export function linkWith(base: string, req: Request, params: Record<string, string | number | undefined>): string {
  const url = new URL(`${base}${req.path}`);
  for (const [k, v] of Object.entries(req.query)) if (typeof v === 'string') url.searchParams.set(k, v);
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) url.searchParams.delete(k);
    else url.searchParams.set(k, String(v));
  }
  return url.toString();
}
