/**
 * Schemas of every Berlin Group NextGenPSD2 1.3.x answer the adapter reads, after the official
 * OpenAPI file (../shared/specs/berlin-group-psd2-api-1.3.12.yaml). Fields the spec requires and
 * the adapter relies on are required; everything else is optional; unknown fields are kept
 * (`looseObject`) so that `raw` carries the bank's whole record; enums are open strings, because
 * banks add codes. Optional fields also accept `null`, which some banks send for "absent".
 */
import { z } from 'zod';
import { skippableEntries } from '../../entries';

const text = z.string();
const optText = text.nullish();

/** `hrefType` is `{ href }`; a few banks send the bare string. Both are accepted. */
export const bgLink = z.union([z.string(), z.looseObject({ href: z.string() })]);
export type BgLink = z.infer<typeof bgLink>;

/** The href of a link, or undefined when it is absent. */
export function hrefOf(link: BgLink | null | undefined): string | undefined {
  if (link === null || link === undefined) return undefined;
  return typeof link === 'string' ? link : link.href;
}

/** `_links` objects: known names typed, any other link kept. */
const links = <T extends z.ZodRawShape>(known: T) => z.looseObject(known).nullish();
const optLink = bgLink.nullish();

/** `amountValue`: the spec's pattern allows up to 3 decimals; more are accepted and kept exactly. */
export const bgAmountValue = z.string().regex(/^\s*[+-]?\d{1,18}(\.\d{1,10})?\s*$/, 'not a decimal amount');
export const bgAmount = z.looseObject({
  currency: z.string().regex(/^[A-Z]{3}$/, 'not an ISO 4217 currency code'),
  amount: bgAmountValue,
});
export type BgAmount = z.infer<typeof bgAmount>;

/** `accountReference`: IBAN, BBAN, PAN, masked PAN, MSISDN or a proprietary id. */
export const bgAccountReference = z.looseObject({
  iban: optText,
  bban: optText,
  pan: optText,
  maskedPan: optText,
  msisdn: optText,
  currency: optText,
  other: z.unknown().optional(),
});
export type BgAccountReference = z.infer<typeof bgAccountReference>;

export const bgBalance = z.looseObject({
  balanceAmount: bgAmount,
  /** closingBooked, expected, openingBooked, interimAvailable, interimBooked, forwardAvailable, nonInvoiced… */
  balanceType: z.string().min(1),
  creditLimitIncluded: z.boolean().nullish(),
  lastChangeDateTime: optText,
  referenceDate: optText,
  lastCommittedTransaction: optText,
});
export type BgBalance = z.infer<typeof bgBalance>;

const accountLinks = links({ balances: optLink, transactions: optLink, account: optLink });

export const bgAccountDetails = z.looseObject({
  /** Optional in the spec; without it the account cannot be addressed. */
  resourceId: optText,
  iban: optText,
  bban: optText,
  msisdn: optText,
  /** `XXX` for a multicurrency account. */
  currency: z.string().min(1),
  ownerName: optText,
  ownerNames: z.array(z.looseObject({ name: text, role: optText })).nullish(),
  psuName: optText,
  name: optText,
  displayName: optText,
  product: optText,
  cashAccountType: optText,
  status: optText,
  bic: optText,
  linkedAccounts: optText,
  usage: optText,
  details: optText,
  balances: z.array(bgBalance).nullish(),
  _links: accountLinks,
});
export type BgAccountDetails = z.infer<typeof bgAccountDetails>;

export const bgCardAccountDetails = z.looseObject({
  resourceId: optText,
  maskedPan: z.string().min(1),
  currency: z.string().min(1),
  ownerName: optText,
  name: optText,
  displayName: optText,
  product: optText,
  debitAccounting: z.boolean().nullish(),
  status: optText,
  usage: optText,
  details: optText,
  creditLimit: bgAmount.nullish(),
  balances: z.array(bgBalance).nullish(),
  _links: accountLinks,
});
export type BgCardAccountDetails = z.infer<typeof bgCardAccountDetails>;

/** GET /v1/accounts */
export const bgAccountList = z.looseObject({ accounts: z.array(bgAccountDetails) });
/** GET /v1/card-accounts */
export const bgCardAccountList = z.looseObject({ cardAccounts: z.array(bgCardAccountDetails) });

/** GET /v1/accounts/{id}/balances */
export const bgBalancesResponse = z.looseObject({ account: bgAccountReference.nullish(), balances: skippableEntries(bgBalance) });
/** GET /v1/card-accounts/{id}/balances */
export const bgCardBalancesResponse = z.looseObject({ cardAccount: bgAccountReference.nullish(), balances: skippableEntries(bgBalance) });

/** 1.3.12 has an object with `reference`; 1.3.8 and earlier a Max140Text string. */
const structuredRemittance = z.union([z.string(), z.looseObject({ reference: z.string(), referenceType: optText, referenceIssuer: optText })]);
export type BgStructuredRemittance = z.infer<typeof structuredRemittance>;

export const bgTransaction = z.looseObject({
  transactionId: optText,
  entryReference: optText,
  endToEndId: optText,
  batchIndicator: z.boolean().nullish(),
  batchNumberOfTransactions: z.number().nullish(),
  mandateId: optText,
  checkId: optText,
  creditorId: optText,
  bookingDate: optText,
  valueDate: optText,
  transactionAmount: bgAmount,
  currencyExchange: z.array(z.looseObject({})).nullish(),
  creditorName: optText,
  creditorAccount: bgAccountReference.nullish(),
  creditorAgent: optText,
  ultimateCreditor: optText,
  debtorName: optText,
  debtorAccount: bgAccountReference.nullish(),
  debtorAgent: optText,
  ultimateDebtor: optText,
  remittanceInformationUnstructured: optText,
  remittanceInformationUnstructuredArray: z.array(z.string()).nullish(),
  remittanceInformationStructured: structuredRemittance.nullish(),
  remittanceInformationStructuredArray: z.array(structuredRemittance).nullish(),
  entryDetails: z.array(z.looseObject({})).nullish(),
  additionalInformation: optText,
  additionalInformationStructured: z.looseObject({}).nullish(),
  purposeCode: optText,
  bankTransactionCode: optText,
  proprietaryBankTransactionCode: optText,
  balanceAfterTransaction: bgBalance.nullish(),
  _links: links({ transactionDetails: optLink }),
});
export type BgTransaction = z.infer<typeof bgTransaction>;

export const bgCardTransaction = z.looseObject({
  cardTransactionId: optText,
  terminalId: optText,
  transactionDate: optText,
  acceptorTransactionDateTime: optText,
  bookingDate: optText,
  valueDate: optText,
  transactionAmount: bgAmount,
  grandTotalAmount: bgAmount.nullish(),
  currencyExchange: z.array(z.looseObject({})).nullish(),
  originalAmount: bgAmount.nullish(),
  markupFee: bgAmount.nullish(),
  markupFeePercentage: optText,
  cardAcceptorId: optText,
  cardAcceptorAddress: z.looseObject({}).nullish(),
  cardAcceptorPhone: optText,
  merchantCategoryCode: optText,
  maskedPAN: optText,
  transactionDetails: optText,
  invoiced: z.boolean().nullish(),
  proprietaryBankTransactionCode: optText,
});
export type BgCardTransaction = z.infer<typeof bgCardTransaction>;

const reportLinks = links({ account: optLink, cardAccount: optLink, first: optLink, next: optLink, previous: optLink, last: optLink });

/**
 * `accountReport`. The spec requires `_links` (with `account`); it is optional here because a
 * bank that omits it on the last page still sent every transaction we asked for.
 */
export const bgAccountReport = z.looseObject({
  booked: skippableEntries(bgTransaction).nullish(),
  pending: skippableEntries(bgTransaction).nullish(),
  information: z.array(z.looseObject({})).nullish(),
  _links: reportLinks,
});

/** GET /v1/accounts/{id}/transactions (JSON variant). */
export const bgTransactionsResponse = z.looseObject({
  account: bgAccountReference.nullish(),
  transactions: bgAccountReport.nullish(),
  balances: z.array(bgBalance).nullish(),
  /** `_linksDownload`: a bank may offer a large report as a download instead. */
  _links: links({ download: optLink, next: optLink }),
});
export type BgTransactionsResponse = z.infer<typeof bgTransactionsResponse>;

/** GET /v1/card-accounts/{id}/transactions */
export const bgCardTransactionsResponse = z.looseObject({
  cardAccount: bgAccountReference.nullish(),
  debitAccounting: z.boolean().nullish(),
  cardTransactions: z
    .looseObject({
      booked: skippableEntries(bgCardTransaction).nullish(),
      pending: skippableEntries(bgCardTransaction).nullish(),
      _links: reportLinks,
    })
    .nullish(),
  balances: z.array(bgBalance).nullish(),
  _links: links({ download: optLink, next: optLink }),
});
export type BgCardTransactionsResponse = z.infer<typeof bgCardTransactionsResponse>;

export const scaLinks = links({
  scaRedirect: optLink,
  scaOAuth: optLink,
  confirmation: optLink,
  startAuthorisation: optLink,
  startAuthorisationWithPsuIdentification: optLink,
  startAuthorisationWithPsuAuthentication: optLink,
  startAuthorisationWithEncryptedPsuAuthentication: optLink,
  startAuthorisationWithAuthenticationMethodSelection: optLink,
  startAuthorisationWithTransactionAuthorisation: optLink,
  self: optLink,
  status: optLink,
  scaStatus: optLink,
});
export type BgScaLinks = z.infer<typeof scaLinks>;

/** POST /v1/consents → 201. */
export const bgConsentCreated = z.looseObject({
  consentStatus: z.string().min(1),
  consentId: z.string().min(1),
  scaMethods: z.array(z.looseObject({})).nullish(),
  chosenScaMethod: z.looseObject({}).nullish(),
  challengeData: z.looseObject({}).nullish(),
  /** Required by the spec; a decoupled answer without links is still usable. */
  _links: scaLinks,
  psuMessage: optText,
  scaStatus: optText,
});
export type BgConsentCreated = z.infer<typeof bgConsentCreated>;

/** POST {startAuthorisation} → 201 (`startScaprocessResponse`). */
export const bgAuthorisationStarted = z.looseObject({
  scaStatus: z.string().min(1),
  authorisationId: optText,
  _links: scaLinks,
  psuMessage: optText,
});
export type BgAuthorisationStarted = z.infer<typeof bgAuthorisationStarted>;

/** PUT {confirmation} → 200 (`authorisationConfirmationResponse`). */
export const bgAuthorisationConfirmed = z.looseObject({
  scaStatus: z.string().min(1),
  _links: links({ scaStatus: optLink, status: optLink }),
  psuMessage: optText,
});

/** GET /v1/consents/{id}/status */
export const bgConsentStatusResponse = z.looseObject({ consentStatus: z.string().min(1), psuMessage: optText });

/** GET /v1/consents/{id} */
export const bgConsentInformation = z.looseObject({
  access: z.looseObject({}),
  // The file's own example sends "true" (a string); the adapter does not read it, so either passes.
  recurringIndicator: z.union([z.boolean(), z.enum(['true', 'false'])]),
  validUntil: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'not an ISO date'),
  frequencyPerDay: z.number().int(),
  lastActionDate: optText,
  consentStatus: z.string().min(1),
  _links: links({ status: optLink, account: optLink }),
});
export type BgConsentInformation = z.infer<typeof bgConsentInformation>;

/** DELETE answers 204 with no body (parsed as undefined); some banks send a small JSON body. */
export const bgEmpty = z.unknown();
