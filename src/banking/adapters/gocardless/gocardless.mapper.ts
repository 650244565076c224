/** GoCardless Bank Account Data payloads → the canonical model (its account data is Berlin Group shaped). */
import type { AccountKind, BalanceKind, BankConsentStatus, CanonicalAccount, CanonicalBalance, CanonicalTransaction } from '../../model';
import type { gcAccountDetails, gcAccountMetadata, gcBalances, GcRequisitionStatus, GcTransaction } from './gocardless.schemas';
import type { z } from 'zod';

/**
 * Requisition status → the PSD2 consent status our state machine reads:
 * CR created, GC giving consent, UA undergoing authentication, SA selecting accounts, GA granting
 * access, ID/ER (legacy "identification"/"error") → still RECEIVED or TERMINATED; LN linked → VALID;
 * RJ rejected; EX expired (the agreement lapsed); SU suspended (after repeated failures) → TERMINATED.
 */
export function mapRequisitionStatus(status: GcRequisitionStatus): BankConsentStatus {
  switch (status) {
    case 'LN':
      return 'VALID';
    case 'CR':
    case 'GC':
    case 'UA':
    case 'SA':
    case 'GA':
    case 'ID':
      return 'RECEIVED';
    case 'RJ':
      return 'REJECTED';
    case 'EX':
      return 'EXPIRED';
    case 'SU':
    case 'ER':
      return 'TERMINATED';
  }
}

const KIND_BY_CASH_ACCOUNT_TYPE: Record<string, AccountKind> = {
  CACC: 'CHECKING',
  CASH: 'CHECKING',
  TRAN: 'CHECKING',
  SVGS: 'SAVINGS',
  CARD: 'CARD',
  LOAN: 'LOAN',
  MORT: 'LOAN',
};

export function mapAccount(id: string, meta: z.infer<typeof gcAccountMetadata>, details: z.infer<typeof gcAccountDetails>): CanonicalAccount {
  const a = details.account;
  const kind: AccountKind = (a.cashAccountType ? KIND_BY_CASH_ACCOUNT_TYPE[a.cashAccountType] : undefined) ?? (a.maskedPan ? 'CARD' : 'OTHER');
  return {
    bankAccountId: id,
    kind,
    iban: a.iban ?? meta.iban ?? null,
    maskedPan: a.maskedPan ?? null,
    currency: a.currency,
    ownerName: a.ownerName ?? meta.owner_name ?? null,
    name: a.name ?? meta.name ?? null,
    product: a.product ?? null,
    raw: { metadata: meta, details: a },
  };
}

function balanceKind(type: string): BalanceKind {
  if (/^(closingBooked|interimBooked|openingBooked)$/.test(type)) return 'BOOKED';
  if (/^(interimAvailable|closingAvailable|forwardAvailable|openingAvailable)$/.test(type)) return 'AVAILABLE';
  if (type === 'expected') return 'EXPECTED';
  return 'OTHER';
}

export function mapBalance(b: z.infer<typeof gcBalances>['balances'][number]): CanonicalBalance {
  const changed = b.lastChangeDateTime ? new Date(b.lastChangeDateTime) : null;
  return {
    kind: balanceKind(b.balanceType),
    bankType: b.balanceType,
    amount: { amount: b.balanceAmount.amount, currency: b.balanceAmount.currency },
    referenceDate: b.referenceDate && /^\d{4}-\d{2}-\d{2}$/.test(b.referenceDate) ? b.referenceDate : null,
    lastChangeDateTime: changed && !Number.isNaN(changed.getTime()) ? changed : null,
    creditLimitIncluded: b.creditLimitIncluded ?? null,
  };
}

const day = (v: string | undefined): string | null => (v && /^\d{4}-\d{2}-\d{2}/.test(v) ? v.slice(0, 10) : null);

/**
 * One entry. The upstream's `transactionId` (else `internalTransactionId`) is kept as the bank id,
 * but the upstream reissues both between fetches: institutions reached through it carry the quirk
 * `transactionIdsUnstable`, so identity is decided by our fingerprint, never by these ids.
 */
export function mapTransaction(t: GcTransaction, status: 'BOOKED' | 'PENDING'): CanonicalTransaction {
  const debit = t.transactionAmount.amount.startsWith('-');
  const remittance =
    t.remittanceInformationUnstructured ?? (t.remittanceInformationUnstructuredArray?.length ? t.remittanceInformationUnstructuredArray.join(' ') : null);
  return {
    bankTransactionId: t.transactionId ?? t.internalTransactionId ?? null,
    status,
    amount: { amount: t.transactionAmount.amount, currency: t.transactionAmount.currency },
    bookingDate: day(t.bookingDate ?? t.bookingDateTime),
    valueDate: day(t.valueDate),
    transactionDate: null,
    counterpartyName: (debit ? t.creditorName : t.debtorName) ?? null,
    counterpartyIban: (debit ? t.creditorAccount?.iban : t.debtorAccount?.iban) ?? null,
    remittanceInformation: remittance,
    endToEndId: t.endToEndId ?? null,
    bankTransactionCode: t.bankTransactionCode ?? t.proprietaryBankTransactionCode ?? null,
    raw: t,
  };
}
