/**
 * Zod schemas of every STET (1.4–1.6) answer the adapter reads. STET publishes no machine-readable
 * file, so these follow ../shared/specs/README.md and the STET text: HAL `_links`, unsigned
 * transaction amounts with `creditDebitIndicator`, open code lists.
 *
 * Rules: unknown fields are kept (`looseObject`), enums are open strings (banks add codes), and a
 * field is required only when the adapter cannot work without it (an account's `resourceId`, an
 * amount and its sign). Cosmetic fields the text calls mandatory (`name`) are optional here: a bank
 * that forgets one should not hide a whole account list.
 */
import { z } from 'zod';
import { skippableEntries } from '../../entries';

/** A HAL link. `templated` links carry an RFC 6570 template the adapter strips before use. */
export const stetLink = z.looseObject({ href: z.string().min(1), templated: z.boolean().optional() });
export type StetLink = z.infer<typeof stetLink>;

/** `_links` of any resource: every relation optional, unknown relations kept. */
export const stetLinks = z.looseObject({
  self: stetLink.optional(),
  first: stetLink.optional(),
  last: stetLink.optional(),
  next: stetLink.optional(),
  prev: stetLink.optional(),
  'parent-list': stetLink.optional(),
  balances: stetLink.optional(),
  transactions: stetLink.optional(),
  overdrafts: stetLink.optional(),
});

/** STET amounts are decimal strings; up to 5 decimals is what the canonical model carries. */
const SIGNED_DECIMAL = /^-?\d{1,18}(\.\d{1,5})?$/;
const UNSIGNED_DECIMAL = /^\d{1,18}(\.\d{1,5})?$/;
const CURRENCY = /^[A-Z]{3}$/;

/** A balance amount: may be negative (an overdrawn account). */
export const stetAmount = z.looseObject({
  currency: z.string().regex(CURRENCY),
  amount: z.string().regex(SIGNED_DECIMAL),
});

/** A transaction amount: unsigned, its direction is `creditDebitIndicator`. */
export const stetUnsignedAmount = z.looseObject({
  currency: z.string().regex(CURRENCY),
  amount: z.string().regex(UNSIGNED_DECIMAL),
});

/** STET GenericIdentification (`other`): card PANs use scheme CPAN (masked) or TPAN (token). */
export const stetGenericIdentification = z.looseObject({
  identification: z.string(),
  schemeName: z.string().optional(),
  issuer: z.string().optional(),
});

/** STET AccountIdentification: an IBAN, or another identification (cards), and a currency. */
export const stetAccountIdentification = z.looseObject({
  iban: z.string().optional(),
  other: stetGenericIdentification.optional(),
  currency: z.string().regex(CURRENCY).optional(),
});

export const stetBalance = z.looseObject({
  name: z.string().optional(),
  balanceAmount: stetAmount,
  /** CLBD, XPCD, OTHR, VALU, ITAV… (open list). */
  balanceType: z.string().min(1),
  lastChangeDateTime: z.string().optional(),
  referenceDate: z.string().optional(),
  lastCommittedTransaction: z.string().optional(),
});
export type StetBalance = z.infer<typeof stetBalance>;

export const stetAccount = z.looseObject({
  resourceId: z.string().min(1),
  bicFi: z.string().optional(),
  accountId: stetAccountIdentification.optional(),
  name: z.string().optional(),
  details: z.string().optional(),
  /** For a card account: the resourceId of the cash account it is debited from. */
  linkedAccount: z.string().optional(),
  /** PRIV, ORGA (open list). */
  usage: z.string().optional(),
  /** CACC, CARD (open list). */
  cashAccountType: z.string().optional(),
  product: z.string().optional(),
  psuStatus: z.string().optional(),
  balances: z.array(stetBalance).optional(),
  _links: stetLinks.optional(),
});
export type StetAccount = z.infer<typeof stetAccount>;

/** `GET /accounts`. */
export const stetAccountsResponse = z.looseObject({
  accounts: z.array(stetAccount),
  _links: stetLinks.optional(),
});
export type StetAccountsResponse = z.infer<typeof stetAccountsResponse>;

/** `GET /accounts/{id}/balances`. */
export const stetBalancesResponse = z.looseObject({
  balances: skippableEntries(stetBalance),
  _links: stetLinks.optional(),
});
export type StetBalancesResponse = z.infer<typeof stetBalancesResponse>;

/** A party (debtor, creditor, ultimate…): only the name matters to us. */
const stetParty = z.looseObject({ name: z.string().optional() });

/** STET 1.5+ `relatedParties`. */
export const stetRelatedParties = z.looseObject({
  debtor: stetParty.optional(),
  debtorAccount: stetAccountIdentification.optional(),
  creditor: stetParty.optional(),
  creditorAccount: stetAccountIdentification.optional(),
  ultimateDebtor: stetParty.optional(),
  ultimateCreditor: stetParty.optional(),
});

/** STET 1.5+ structured remittance: an object with `unstructured` lines and `structured` references. */
export const stetRemittanceObject = z.looseObject({
  unstructured: z.array(z.string()).optional(),
  structured: z
    .array(
      z.looseObject({
        creditorReferenceInformation: z
          .looseObject({
            reference: z.string().optional(),
          })
          .optional(),
      }),
    )
    .optional(),
});

/** STET 1.4 sends `remittanceInformation` as an array of lines; 1.5 and 1.6 as an object. */
export const stetRemittance = z.union([z.array(z.string()), stetRemittanceObject]);
export type StetRemittance = z.infer<typeof stetRemittance>;

export const stetBankTransactionCode = z.looseObject({
  domain: z.string().optional(),
  family: z.string().optional(),
  subFamily: z.string().optional(),
  code: z.string().optional(),
  issuer: z.string().optional(),
});

export const stetTransaction = z.looseObject({
  resourceId: z.string().optional(),
  entryReference: z.string().optional(),
  transactionAmount: stetUnsignedAmount,
  /** Closed on purpose: an unknown direction would give an amount of unknown sign. */
  creditDebitIndicator: z.enum(['CRDT', 'DBIT']),
  /** BOOK, PDNG, OTHR (open list). */
  status: z.string().min(1),
  bookingDate: z.string().optional(),
  valueDate: z.string().optional(),
  transactionDate: z.string().optional(),
  remittanceInformation: stetRemittance.optional(),
  relatedParties: stetRelatedParties.optional(),
  // Some banks put the parties at the top level; read them when there is no relatedParties.
  debtor: stetParty.optional(),
  debtorAccount: stetAccountIdentification.optional(),
  creditor: stetParty.optional(),
  creditorAccount: stetAccountIdentification.optional(),
  bankTransactionCode: stetBankTransactionCode.optional(),
  endToEndId: z.string().optional(),
  additionalTransactionInformation: z.string().optional(),
});
export type StetTransaction = z.infer<typeof stetTransaction>;

/** `GET /accounts/{id}/transactions` (one page; `_links.next` leads to the following one). */
export const stetTransactionsResponse = z.looseObject({
  transactions: skippableEntries(stetTransaction),
  _links: stetLinks.optional(),
});
export type StetTransactionsResponse = z.infer<typeof stetTransactionsResponse>;

/** `PUT /consents`: 201 with no body in STET; whatever a bank adds is ignored. */
export const stetConsentsPutResponse = z.unknown();
