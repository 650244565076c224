/**
 * Schemas of every UK Open Banking Read/Write answer the adapter reads, written from the official
 * OpenAPI files (`uk-obie-3.1.11-account-info.yaml`, `uk-obie-4.0-account-info.yaml`). They accept
 * what either version allows: required fields are required, optional ones optional, unknown fields
 * kept (banks add fields; the files' `additionalProperties: false` is not enforced), and enums are
 * open strings (3.1 spells statuses `Authorised`, 4.0 `AUTH`; banks add codes). The mapper decides
 * what a code means.
 */
import { z } from 'zod';
import { skippableEntries } from '../../entries';

/** `OBActiveCurrencyAndAmount_SimpleType`: unsigned, up to 13 integer digits and 5 decimals. */
export const UK_AMOUNT = /^\d{1,13}$|^\d{1,13}\.\d{1,5}$/;
/** ISO 4217. */
const CURRENCY = /^[A-Z]{3}$/;
/** An ISO 8601 date-time; only the calendar part is checked (banks differ on seconds and offsets). */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}(T.*)?$/;

const dateTime = z.string().regex(DATE_TIME);
/** `OBCreditDebitCode`: the only closed enum here, because the sign of every amount depends on it. */
const creditDebit = z.string().regex(/^(Credit|Debit)$/i);

export const ukAmountSchema = z.looseObject({
  Amount: z.string().regex(UK_AMOUNT),
  Currency: z.string().regex(CURRENCY),
  /** 3.1 `BaseCurrency|LocalCurrency`, 4.0 `BCUR|LCUR`. */
  SubType: z.string().optional(),
});

/** `Links`: `Self` is required by the spec; every link is absolute. */
export const ukLinksSchema = z.looseObject({
  Self: z.string().min(1),
  First: z.string().min(1).optional(),
  Prev: z.string().min(1).optional(),
  Next: z.string().min(1).optional(),
  Last: z.string().min(1).optional(),
});

export const ukMetaSchema = z.looseObject({
  TotalPages: z.number().int().optional(),
  FirstAvailableDateTime: dateTime.optional(),
  LastAvailableDateTime: dateTime.optional(),
});

const envelope = { Links: ukLinksSchema.optional(), Meta: ukMetaSchema.optional() };

// ----- account-access-consents (OBReadConsentResponse1, 3.1.11 and 4.0) -------------------

export const ukConsentDataSchema = z.looseObject({
  ConsentId: z.string().min(1).max(128),
  CreationDateTime: dateTime,
  /** 3.1: Authorised, AwaitingAuthorisation, Rejected, Revoked. 4.0: AUTH, AWAU, RJCT, EXPD, CANC. */
  Status: z.string().min(1),
  /** 4.0 only. */
  StatusReason: z
    .array(
      z.looseObject({
        StatusReasonCode: z.string().optional(),
        StatusReasonDescription: z.string().optional(),
        Path: z.string().optional(),
      }),
    )
    .optional(),
  StatusUpdateDateTime: dateTime,
  Permissions: z.array(z.string()).min(1),
  ExpirationDateTime: dateTime.optional(),
  TransactionFromDateTime: dateTime.optional(),
  TransactionToDateTime: dateTime.optional(),
});

export const ukConsentResponseSchema = z.looseObject({
  Data: ukConsentDataSchema,
  Risk: z.looseObject({}),
  ...envelope,
});
export type UkConsentResponse = z.infer<typeof ukConsentResponseSchema>;
export type UkConsentData = z.infer<typeof ukConsentDataSchema>;

// ----- accounts (OBReadAccount6) -----------------------------------------------------------

export const ukCashAccountSchema = z.looseObject({
  /** `UK.OBIE.SortCodeAccountNumber`, `UK.OBIE.IBAN`, `UK.OBIE.PAN`, `UK.OBIE.Paym`, `UK.OBIE.BBAN`… (open). */
  SchemeName: z.string().min(1),
  Identification: z.string().min(1).max(256),
  Name: z.string().optional(),
  /** 4.0 only. */
  LEI: z.string().optional(),
  SecondaryIdentification: z.string().optional(),
});

export const ukAccountSchema = z.looseObject({
  AccountId: z.string().min(1).max(40),
  Status: z.string().optional(),
  StatusUpdateDateTime: dateTime.optional(),
  /** Optional in the spec. */
  Currency: z.string().regex(CURRENCY).optional(),
  /** 3.1 `Business|Personal`. */
  AccountType: z.string().optional(),
  /** 3.1 `CurrentAccount`, `Savings`, `CreditCard`… */
  AccountSubType: z.string().optional(),
  /** 4.0 `Business|Personal`. */
  AccountCategory: z.string().optional(),
  /** 4.0 ISO code: `CACC`, `SVGS`, `CARD`, `LOAN`… */
  AccountTypeCode: z.string().optional(),
  Description: z.string().optional(),
  Nickname: z.string().optional(),
  OpeningDate: dateTime.optional(),
  MaturityDate: dateTime.optional(),
  SwitchStatus: z.string().optional(),
  Account: z.array(ukCashAccountSchema).optional(),
  Servicer: z.looseObject({ SchemeName: z.string(), Identification: z.string() }).optional(),
});
export type UkAccount = z.infer<typeof ukAccountSchema>;

export const ukAccountsResponseSchema = z.looseObject({
  Data: z.looseObject({ Account: z.array(ukAccountSchema).optional() }),
  ...envelope,
});
export type UkAccountsResponse = z.infer<typeof ukAccountsResponseSchema>;

// ----- balances (OBReadBalance1) -----------------------------------------------------------

export const ukCreditLineSchema = z.looseObject({
  Included: z.boolean(),
  /** `Available`, `Credit`, `Emergency`, `Pre-Agreed`, `Temporary` (open). */
  Type: z.string().optional(),
  Amount: ukAmountSchema.optional(),
});

export const ukBalanceSchema = z.looseObject({
  AccountId: z.string().min(1).max(40),
  CreditDebitIndicator: creditDebit,
  /** 3.1 `ClosingBooked`, `InterimAvailable`…; 4.0 `CLBD`, `ITAV`… (open). */
  Type: z.string().min(1),
  DateTime: dateTime,
  Amount: ukAmountSchema,
  CreditLine: z.array(ukCreditLineSchema).optional(),
  LocalAmount: ukAmountSchema.optional(),
});
export type UkBalance = z.infer<typeof ukBalanceSchema>;

export const ukBalancesResponseSchema = z.looseObject({
  Data: z.looseObject({
    Balance: skippableEntries(ukBalanceSchema).refine((l) => l.length >= 1, { message: 'at least one balance' }),
    TotalValue: ukAmountSchema.optional(),
  }),
  ...envelope,
});
export type UkBalancesResponse = z.infer<typeof ukBalancesResponseSchema>;

// ----- transactions (OBReadTransaction6) ---------------------------------------------------

const ukPartyAccountSchema = z.looseObject({
  SchemeName: z.string().optional(),
  Identification: z.string().optional(),
  Name: z.string().optional(),
  SecondaryIdentification: z.string().optional(),
});
const ukAgentSchema = z.looseObject({
  SchemeName: z.string().optional(),
  Identification: z.string().optional(),
  Name: z.string().optional(),
});
const ukUltimatePartySchema = z.looseObject({ Name: z.string().optional(), Identification: z.string().optional() });

export const ukTransactionSchema = z.looseObject({
  AccountId: z.string().min(1).max(40),
  TransactionId: z.string().max(210).optional(),
  TransactionReference: z.string().max(210).optional(),
  StatementReference: z.array(z.string()).optional(),
  CreditDebitIndicator: creditDebit,
  /** 3.1 `Booked|Pending|Rejected`; 4.0 `BOOK|PDNG|FUTR|INFO|RJCT` (open). */
  Status: z.string().min(1),
  TransactionMutability: z.string().optional(),
  BookingDateTime: dateTime,
  ValueDateTime: dateTime.optional(),
  TransactionInformation: z.string().optional(),
  AddressLine: z.string().optional(),
  Amount: ukAmountSchema,
  ChargeAmount: ukAmountSchema.optional(),
  CurrencyExchange: z
    .looseObject({
      SourceCurrency: z.string(),
      TargetCurrency: z.string().optional(),
      UnitCurrency: z.string().optional(),
      ExchangeRate: z.number(),
      ContractIdentification: z.string().optional(),
      QuotationDate: z.string().optional(),
      InstructedAmount: ukAmountSchema.optional(),
    })
    .optional(),
  BankTransactionCode: z.looseObject({ Code: z.string(), SubCode: z.string() }).optional(),
  ProprietaryBankTransactionCode: z.looseObject({ Code: z.string(), Issuer: z.string().optional() }).optional(),
  /** 4.0 only. */
  ExtendedProprietaryBankTransactionCodes: z.array(z.looseObject({ Code: z.string(), Issuer: z.string().optional() })).optional(),
  Balance: z
    .looseObject({
      CreditDebitIndicator: creditDebit,
      Type: z.string(),
      Amount: ukAmountSchema,
    })
    .optional(),
  MerchantDetails: z.looseObject({ MerchantName: z.string().optional(), MerchantCategoryCode: z.string().optional() }).optional(),
  CreditorAgent: ukAgentSchema.optional(),
  CreditorAccount: ukPartyAccountSchema.optional(),
  DebtorAgent: ukAgentSchema.optional(),
  DebtorAccount: ukPartyAccountSchema.optional(),
  CardInstrument: z
    .looseObject({
      CardSchemeName: z.string(),
      AuthorisationType: z.string().optional(),
      Name: z.string().optional(),
      Identification: z.string().optional(),
    })
    .optional(),
  SupplementaryData: z.looseObject({}).optional(),
  /** 4.0 only. */
  CategoryPurposeCode: z.string().optional(),
  PaymentPurposeCode: z.string().optional(),
  UltimateCreditor: ukUltimatePartySchema.optional(),
  UltimateDebtor: ukUltimatePartySchema.optional(),
});
export type UkTransaction = z.infer<typeof ukTransactionSchema>;

export const ukTransactionsResponseSchema = z.looseObject({
  Data: z.looseObject({ Transaction: skippableEntries(ukTransactionSchema).optional() }),
  ...envelope,
});
export type UkTransactionsResponse = z.infer<typeof ukTransactionsResponseSchema>;

/** DELETE answers 204 with no body (parsed as `undefined`); a body, if a bank sends one, is ignored. */
export const ukEmptySchema = z.unknown();
