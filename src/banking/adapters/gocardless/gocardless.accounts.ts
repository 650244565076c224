/**
 * GoCardless account information: the requisition's linked accounts (their details reused for a
 * while: each costs one of the bank's daily calls), balances, and transactions within the
 * upstream's budget.
 */
import { BankConsentExpired, BankConsentInvalid } from '../../errors';
import type { CanonicalAccount, CanonicalTransaction } from '../../model';
import type { AccountInformationPort } from '../../ports';
import { mapAccount, mapBalance, mapRequisitionStatus, mapTransaction } from './gocardless.mapper';
import { gcAccountDetails, gcAccountMetadata, gcBalances, gcTransactions } from './gocardless.schemas';
import type { GoCardlessSession } from './gocardless.session';

/** Account details rarely change and cost one of the bank's 4 daily calls: reuse them this long. */
const DETAILS_TTL_MS = 6 * 3_600_000;

/** GoCardless account information of one institution, over the adapter's shared session. */
export function createGoCardlessAccounts(session: GoCardlessSession): AccountInformationPort {
  const { institutionId, details, call, counted, readRequisition } = session;
  const accountCache = new Map<string, { account: CanonicalAccount; at: number }>();

  async function linkedAccounts(requisitionId: string | null, operation: string): Promise<string[]> {
    const requisition = await readRequisition(requisitionId, operation);
    const status = mapRequisitionStatus(requisition.status);
    if (status === 'EXPIRED')
      throw new BankConsentExpired(`${operation} at ${institutionId}: the end-user agreement has expired (EX)`, { ...details(operation), bankCode: 'EX' });
    if (status !== 'VALID')
      throw new BankConsentInvalid(`${operation} at ${institutionId}: the requisition is ${requisition.status}`, {
        ...details(operation),
        bankCode: requisition.status,
      });
    return requisition.accounts;
  }

  const accounts: AccountInformationPort = {
    async listAccounts(_ctx, access) {
      const ids = await linkedAccounts(access.bankConsentId, 'accounts.list');
      const out: CanonicalAccount[] = [];
      for (const id of ids) {
        const cached = accountCache.get(id);
        if (cached && Date.now() - cached.at < DETAILS_TTL_MS) {
          out.push(cached.account);
          continue;
        }
        const path = `/api/v2/accounts/${encodeURIComponent(id)}`;
        const meta = await call({ operation: 'accounts.get', method: 'GET', path: `${path}/`, schema: gcAccountMetadata });
        const detail = await counted(id, 'details', { operation: 'accounts.details', method: 'GET', path: `${path}/details/`, schema: gcAccountDetails });
        const account = mapAccount(id, meta.data, detail.data);
        accountCache.set(id, { account, at: Date.now() });
        out.push(account);
      }
      return out;
    },

    async getBalances(_ctx, _access, bankAccountId) {
      const res = await counted(bankAccountId, 'balances', {
        operation: 'accounts.balances',
        method: 'GET',
        path: `/api/v2/accounts/${encodeURIComponent(bankAccountId)}/balances/`,
        schema: gcBalances,
      });
      return res.data.balances.map(mapBalance);
    },

    listTransactions(_ctx, _access, bankAccountId, window) {
      return (async function* (): AsyncGenerator<CanonicalTransaction[]> {
        const res = await counted(bankAccountId, 'transactions', {
          operation: 'accounts.transactions',
          method: 'GET',
          path: `/api/v2/accounts/${encodeURIComponent(bankAccountId)}/transactions/`,
          query: { date_from: window.dateFrom, date_to: window.dateTo ?? undefined },
          schema: gcTransactions,
        });
        // One answer holds both lists: handed on as two pages, booked first.
        if (window.status !== 'PENDING') yield res.data.transactions.booked.map((t) => mapTransaction(t, 'BOOKED'));
        if (window.status !== 'BOOKED') yield (res.data.transactions.pending ?? []).map((t) => mapTransaction(t, 'PENDING'));
      })();
    },
  };

  return accounts;
}
