/**
 * GoCardless Bank Account Data v2 payloads, as its published OpenAPI file describes them
 * (sandbox/specs/gocardless-bank-account-data-v2.json). Every answer is parsed here before use:
 * an answer that breaks the file is refused as BANK_RESPONSE_INVALID by the HTTP client.
 */
import { z } from 'zod';

const amount = z.object({ amount: z.string().regex(/^-?\d{1,14}(\.\d{1,5})?$/), currency: z.string().regex(/^[A-Z]{3}$/) });

export const gcTokenPair = z.object({
  access: z.string().min(1),
  access_expires: z.number().int().positive(),
  refresh: z.string().min(1),
  refresh_expires: z.number().int().positive(),
});

export const gcTokenRefreshed = z.object({ access: z.string().min(1), access_expires: z.number().int().positive() });

export const gcInstitution = z.object({
  id: z.string().min(1).max(200),
  name: z.string(),
  bic: z.string().optional(),
  transaction_total_days: z.string().regex(/^\d+$/).optional(),
  max_access_valid_for_days: z.string().regex(/^\d+$/).optional(),
  countries: z.array(z.string()),
  logo: z.string(),
});
export const gcInstitutionList = z.array(gcInstitution);
export type GcInstitution = z.infer<typeof gcInstitution>;

export const gcAgreement = z.object({
  id: z.string().uuid(),
  created: z.string().optional(),
  institution_id: z.string(),
  max_historical_days: z.number().int(),
  access_valid_for_days: z.number().int(),
  access_scope: z.array(z.unknown()),
  accepted: z.string().datetime({ offset: true }).nullable(),
});
export type GcAgreement = z.infer<typeof gcAgreement>;

/** Requisition status codes (StatusEnum). */
export const gcRequisitionStatus = z.enum(['CR', 'ID', 'LN', 'RJ', 'ER', 'SU', 'EX', 'GC', 'UA', 'GA', 'SA']);
export type GcRequisitionStatus = z.infer<typeof gcRequisitionStatus>;

export const gcRequisition = z.object({
  id: z.string().uuid(),
  status: gcRequisitionStatus,
  institution_id: z.string(),
  agreement: z.string().uuid(),
  reference: z.string().optional(),
  accounts: z.array(z.string().uuid()),
  link: z.string().url(),
});

export const gcDeleted = z.object({ summary: z.string(), detail: z.string() });

export const gcAccountMetadata = z.object({
  id: z.string().uuid(),
  iban: z.string().optional(),
  bban: z.string().optional(),
  status: z.string().optional(),
  institution_id: z.string().optional(),
  owner_name: z.string().optional(),
  name: z.string().optional(),
});

const accountRef = z
  .object({ iban: z.string().optional(), bban: z.string().optional(), maskedPan: z.string().optional(), currency: z.string().optional() })
  .passthrough();

export const gcAccountDetails = z.object({
  account: z
    .object({
      resourceId: z.string().optional(),
      iban: z.string().optional(),
      bban: z.string().optional(),
      maskedPan: z.string().optional(),
      currency: z.string().regex(/^[A-Z]{3}$/),
      ownerName: z.string().optional(),
      name: z.string().optional(),
      product: z.string().optional(),
      cashAccountType: z.string().optional(),
    })
    .passthrough(),
});

export const gcBalances = z.object({
  balances: z.array(
    z.object({
      balanceAmount: amount,
      balanceType: z.string().min(1),
      creditLimitIncluded: z.boolean().optional(),
      lastChangeDateTime: z.string().optional(),
      referenceDate: z.string().optional(),
    }),
  ),
});

export const gcTransaction = z
  .object({
    transactionId: z.string().optional(),
    internalTransactionId: z.string().optional(),
    entryReference: z.string().optional(),
    endToEndId: z.string().optional(),
    bookingDate: z.string().optional(),
    valueDate: z.string().optional(),
    bookingDateTime: z.string().optional(),
    transactionAmount: amount,
    creditorName: z.string().optional(),
    creditorAccount: accountRef.optional(),
    debtorName: z.string().optional(),
    debtorAccount: accountRef.optional(),
    remittanceInformationUnstructured: z.string().optional(),
    remittanceInformationUnstructuredArray: z.array(z.string()).optional(),
    bankTransactionCode: z.string().optional(),
    proprietaryBankTransactionCode: z.string().optional(),
  })
  .passthrough();
export type GcTransaction = z.infer<typeof gcTransaction>;

export const gcTransactions = z.object({
  transactions: z.object({ booked: z.array(gcTransaction), pending: z.array(gcTransaction).optional() }),
  last_updated: z.string().optional(),
});
