import { describe, expect, it } from 'vitest';
import { consentValidUntil, isValidIban, mapAccount, mapBalances, mapConsentStatus, mapTransaction, permissionsFor, signedAmount } from './uk-obie.mapper';
import { ukAccountsResponseSchema, ukBalancesResponseSchema, ukConsentResponseSchema, ukTransactionsResponseSchema } from './uk-obie.schemas';

// Payloads in the shapes of uk-obie-3.1.11-account-info.yaml and uk-obie-4.0-account-info.yaml,
// with fields the sandbox never sends.

const links = { Self: 'https://api.bank.example/open-banking/v3.1/aisp/accounts' };

const accounts31 = {
  Data: {
    Account: [
      {
        AccountId: '22289',
        Status: 'Enabled',
        StatusUpdateDateTime: '2019-01-01T06:06:06+00:00',
        Currency: 'GBP',
        AccountType: 'Personal',
        AccountSubType: 'CurrentAccount',
        Description: 'Classic current account',
        Nickname: 'Bills',
        OpeningDate: '2015-03-01T00:00:00+00:00',
        SwitchStatus: 'UK.CASS.NotSwitched',
        Account: [
          { SchemeName: 'UK.OBIE.SortCodeAccountNumber', Identification: '80200110203345', Name: 'Mr Kevin', SecondaryIdentification: '00021' },
          { SchemeName: 'UK.OBIE.IBAN', Identification: 'GB29 NWBK 6016 1331 9268 19', Name: 'Mr Kevin' },
        ],
        Servicer: { SchemeName: 'UK.OBIE.BICFI', Identification: 'NWBKGB2L' },
      },
      {
        AccountId: '31820',
        Currency: 'GBP',
        AccountType: 'Personal',
        AccountSubType: 'CreditCard',
        Account: [{ SchemeName: 'UK.OBIE.PAN', Identification: '5409********1234', Name: 'Mr Kevin' }],
      },
      // Everything optional left out, including the currency.
      { AccountId: 'bare-1', SomethingNew: { x: 1 } },
    ],
  },
  Links: links,
  Meta: { TotalPages: 1 },
};

const accounts40 = {
  Data: {
    Account: [
      {
        AccountId: 'a-40',
        Currency: 'EUR',
        AccountCategory: 'Business',
        AccountTypeCode: 'SVGS',
        Nickname: 'Reserve',
        Account: [{ SchemeName: 'UK.OBIE.IBAN', Identification: 'DE89370400440532013000', Name: 'Keller Bau GmbH', LEI: '529900T8BM49AURSDO55' }],
        StatementFrequencyAndFormat: [{ Frequency: 'MNTH', CommunicationMethod: 'ONLI', Format: 'DPDF' }],
      },
      {
        AccountId: 'a-41',
        Currency: 'GBP',
        AccountTypeCode: 'MORT',
        Account: [{ SchemeName: 'UK.OBIE.SortCodeAccountNumber', Identification: '40127612345678' }],
      },
    ],
  },
  Links: links,
};

const balances31 = {
  Data: {
    Balance: [
      {
        AccountId: '22289',
        CreditDebitIndicator: 'Credit',
        Type: 'InterimAvailable',
        DateTime: '2017-04-05T10:43:07+00:00',
        Amount: { Amount: '1230.00', Currency: 'GBP' },
        CreditLine: [{ Included: true, Amount: { Amount: '1000.00', Currency: 'GBP' }, Type: 'Pre-Agreed' }],
      },
      {
        AccountId: '22289',
        CreditDebitIndicator: 'Debit',
        Type: 'ClosingBooked',
        DateTime: '2017-04-04T23:59:59+01:00',
        Amount: { Amount: '12.34567', Currency: 'GBP', SubType: 'BaseCurrency' },
        CreditLine: [
          { Included: false, Amount: { Amount: '1000.00', Currency: 'GBP' }, Type: 'Pre-Agreed' },
          { Included: false, Type: 'Emergency' },
        ],
        LocalAmount: { Amount: '14.50', Currency: 'EUR' },
      },
      { AccountId: '22289', CreditDebitIndicator: 'Credit', Type: 'Expected', DateTime: '2017-04-05T10:43:07Z', Amount: { Amount: '0', Currency: 'GBP' } },
      {
        AccountId: '22289',
        CreditDebitIndicator: 'Debit',
        Type: 'ClosingCleared',
        DateTime: '2017-04-05T10:43:07Z',
        Amount: { Amount: '0.00', Currency: 'GBP' },
      },
    ],
    TotalValue: { Amount: '1230.00', Currency: 'GBP' },
  },
  Links: links,
  Meta: { TotalPages: 1 },
};

const balances40 = {
  Data: {
    Balance: [
      {
        AccountId: 'a-40',
        CreditDebitIndicator: 'Debit',
        Type: 'CLBD',
        DateTime: '2024-01-31T00:00:00+00:00',
        Amount: { Amount: '50', Currency: 'EUR', SubType: 'BCUR' },
      },
      { AccountId: 'a-40', CreditDebitIndicator: 'Credit', Type: 'ITAV', DateTime: '2024-01-31T00:00:00+00:00', Amount: { Amount: '950.5', Currency: 'EUR' } },
      { AccountId: 'a-40', CreditDebitIndicator: 'Credit', Type: 'XPCD', DateTime: '2024-01-31T00:00:00+00:00', Amount: { Amount: '940.5', Currency: 'EUR' } },
      { AccountId: 'a-40', CreditDebitIndicator: 'Credit', Type: 'INFO', DateTime: '2024-01-31T00:00:00+00:00', Amount: { Amount: '1.00', Currency: 'EUR' } },
    ],
  },
};

const debit31 = {
  AccountId: '22289',
  TransactionId: '123',
  TransactionReference: 'Ref 1',
  StatementReference: ['Stmt 2017-04'],
  CreditDebitIndicator: 'Debit',
  Status: 'Booked',
  TransactionMutability: 'Immutable',
  BookingDateTime: '2017-04-05T10:43:07+00:00',
  ValueDateTime: '2017-04-06T10:45:22+00:00',
  TransactionInformation: 'Cash from Aubrey',
  AddressLine: 'Coventry',
  Amount: { Amount: '10.00', Currency: 'GBP' },
  ChargeAmount: { Amount: '0.50', Currency: 'GBP' },
  CurrencyExchange: { SourceCurrency: 'EUR', TargetCurrency: 'GBP', ExchangeRate: 0.8612, InstructedAmount: { Amount: '11.61', Currency: 'EUR' } },
  BankTransactionCode: { Code: 'ReceivedCreditTransfer', SubCode: 'DomesticCreditTransfer' },
  ProprietaryBankTransactionCode: { Code: 'Transfer', Issuer: 'AlphaBank' },
  Balance: { Amount: { Amount: '230.00', Currency: 'GBP' }, CreditDebitIndicator: 'Credit', Type: 'InterimBooked' },
  MerchantDetails: { MerchantName: 'Corner Shop', MerchantCategoryCode: '5411' },
  CreditorAgent: { SchemeName: 'UK.OBIE.BICFI', Identification: 'NWBKGB2L', Name: 'NatWest' },
  CreditorAccount: { SchemeName: 'UK.OBIE.IBAN', Identification: 'GB29NWBK60161331926819', Name: 'Aubrey Smith' },
  CardInstrument: { CardSchemeName: 'VISA', AuthorisationType: 'Contactless', Name: 'Mr Kevin', Identification: '****1234' },
  SupplementaryData: { anything: true },
};

const transactions31 = {
  Data: {
    Transaction: [
      debit31,
      {
        AccountId: '22289',
        CreditDebitIndicator: 'Credit',
        Status: 'Pending',
        BookingDateTime: '2017-04-07T00:00:00+01:00',
        Amount: { Amount: '2500.12345', Currency: 'GBP' },
        DebtorAccount: { SchemeName: 'UK.OBIE.SortCodeAccountNumber', Identification: '40127612345678', Name: 'Acme Payroll' },
        ProprietaryBankTransactionCode: { Code: 'SALARY' },
      },
      {
        AccountId: '22289',
        TransactionId: 'rj-1',
        CreditDebitIndicator: 'Debit',
        Status: 'Rejected',
        BookingDateTime: '2017-04-07T00:00:00Z',
        Amount: { Amount: '5.00', Currency: 'GBP' },
      },
    ],
  },
  Links: { ...links, Next: 'https://api.bank.example/open-banking/v3.1/aisp/accounts/22289/transactions?pg=2' },
  Meta: { TotalPages: 2, FirstAvailableDateTime: '2016-01-01T00:00:00+00:00', LastAvailableDateTime: '2017-04-07T00:00:00+00:00' },
};

const transactions40 = {
  Data: {
    Transaction: [
      {
        AccountId: 'a-40',
        TransactionId: 't-book',
        CreditDebitIndicator: 'Credit',
        Status: 'BOOK',
        BookingDateTime: '2024-01-30T09:00:00+00:00',
        Amount: { Amount: '100', Currency: 'EUR' },
        UltimateDebtor: { Name: 'Client SARL' },
        CategoryPurposeCode: 'SUPP',
        PaymentPurposeCode: 'GDDS',
        ExtendedProprietaryBankTransactionCodes: [{ Code: 'X1', Description: 'extended' }],
        DebtorAccount: { Proxy: { Identification: '+447700900123', Code: 'TELE' } },
      },
      {
        AccountId: 'a-40',
        TransactionId: 't-pend',
        CreditDebitIndicator: 'Debit',
        Status: 'PDNG',
        BookingDateTime: '2024-01-31T09:00:00Z',
        Amount: { Amount: '7.5', Currency: 'EUR' },
      },
      {
        AccountId: 'a-40',
        TransactionId: 't-futr',
        CreditDebitIndicator: 'Debit',
        Status: 'FUTR',
        BookingDateTime: '2024-02-02T09:00:00Z',
        Amount: { Amount: '9', Currency: 'EUR' },
      },
      {
        AccountId: 'a-40',
        TransactionId: 't-info',
        CreditDebitIndicator: 'Debit',
        Status: 'INFO',
        BookingDateTime: '2024-02-02T09:00:00Z',
        Amount: { Amount: '1', Currency: 'EUR' },
      },
      {
        AccountId: 'a-40',
        TransactionId: 't-rjct',
        CreditDebitIndicator: 'Debit',
        Status: 'RJCT',
        BookingDateTime: '2024-02-02T09:00:00Z',
        Amount: { Amount: '1', Currency: 'EUR' },
      },
    ],
  },
};

const consent = (status: string, extra: Record<string, unknown> = {}) => ({
  Data: {
    ConsentId: 'urn-alphabank-intent-88379',
    CreationDateTime: '2017-05-02T00:00:00+00:00',
    Status: status,
    StatusUpdateDateTime: '2017-05-02T00:00:00+00:00',
    Permissions: ['ReadAccountsDetail', 'ReadBalances'],
    ExpirationDateTime: '2017-08-02T00:00:00+00:00',
    TransactionFromDateTime: '2017-05-03T00:00:00+00:00',
    TransactionToDateTime: '2017-12-03T00:00:00+00:00',
    ...extra,
  },
  Risk: {},
  Links: { Self: 'https://api.bank.example/open-banking/v3.1/aisp/account-access-consents/urn-alphabank-intent-88379' },
  Meta: { TotalPages: 1 },
});

describe('UK schemas', () => {
  it('accept 3.1.11 and 4.0 answers with every optional field, unknown fields kept', () => {
    const parsed = ukAccountsResponseSchema.parse(accounts31);
    expect((parsed.Data.Account?.[2] as Record<string, unknown>).SomethingNew).toEqual({ x: 1 });
    expect(ukAccountsResponseSchema.safeParse(accounts40).success).toBe(true);
    expect(ukBalancesResponseSchema.safeParse(balances31).success).toBe(true);
    expect(ukBalancesResponseSchema.safeParse(balances40).success).toBe(true);
    expect(ukTransactionsResponseSchema.safeParse(transactions31).success).toBe(true);
    expect(ukTransactionsResponseSchema.safeParse(transactions40).success).toBe(true);
    expect(ukConsentResponseSchema.safeParse(consent('AWAU', { StatusReason: [{ StatusReasonCode: 'U001', StatusReasonDescription: 'x' }] })).success).toBe(
      true,
    );
  });

  it('accept answers without Links, Meta or any account at all, as the spec allows', () => {
    expect(ukAccountsResponseSchema.safeParse({ Data: {} }).success).toBe(true);
    expect(ukTransactionsResponseSchema.safeParse({ Data: {} }).success).toBe(true);
  });

  it('refuse what the spec requires and is missing, and signed or float amounts', () => {
    expect(ukAccountsResponseSchema.safeParse({ Data: { Account: [{ Currency: 'GBP' }] } }).success).toBe(false);
    expect(ukBalancesResponseSchema.safeParse({ Data: { Balance: [] } }).success).toBe(false);
    const tx = transactions31.Data.Transaction[0];
    const bad = (over: Record<string, unknown>) => ukTransactionsResponseSchema.safeParse({ Data: { Transaction: [{ ...tx, ...over }] } }).success;
    expect(bad({ Amount: { Amount: '-10.00', Currency: 'GBP' } })).toBe(false);
    expect(bad({ Amount: { Amount: 10, Currency: 'GBP' } })).toBe(false);
    expect(bad({ Amount: { Amount: '10.123456', Currency: 'GBP' } })).toBe(false);
    expect(bad({ CreditDebitIndicator: 'Sideways' })).toBe(false);
    expect(bad({ BookingDateTime: 'yesterday' })).toBe(false);
    expect(bad({ Status: undefined })).toBe(false);
    expect(ukConsentResponseSchema.safeParse({ Data: { ConsentId: 'x' }, Risk: {} }).success).toBe(false);
  });
});

describe('UK mapper', () => {
  it('asks for the detail permissions of each scope, always with account access', () => {
    expect(permissionsFor(['ACCOUNTS'])).toEqual(['ReadAccountsDetail']);
    expect(permissionsFor(['ACCOUNTS', 'BALANCES', 'TRANSACTIONS'])).toEqual([
      'ReadAccountsDetail',
      'ReadBalances',
      'ReadTransactionsDetail',
      'ReadTransactionsCredits',
      'ReadTransactionsDebits',
    ]);
  });

  it('reads 3.1 and 4.0 consent statuses alike, and an Authorised consent past its expiry as EXPIRED', () => {
    const before = Date.parse('2017-06-01T00:00:00Z');
    const after = Date.parse('2017-09-01T00:00:00Z');
    const status = (s: string, now = before) => mapConsentStatus(ukConsentResponseSchema.parse(consent(s)).Data, now);
    expect([status('AwaitingAuthorisation'), status('AWAU')]).toEqual(['RECEIVED', 'RECEIVED']);
    expect([status('Authorised'), status('AUTH')]).toEqual(['VALID', 'VALID']);
    expect([status('Rejected'), status('RJCT')]).toEqual(['REJECTED', 'REJECTED']);
    expect([status('Revoked'), status('CANC')]).toEqual(['REVOKED', 'REVOKED']);
    expect(status('EXPD')).toBe('EXPIRED');
    expect([status('Authorised', after), status('AUTH', after)]).toEqual(['EXPIRED', 'EXPIRED']);
    expect(status('Consumed')).toBeUndefined();
    expect(mapConsentStatus({ Status: 'Authorised' }, after)).toBe('VALID');
    expect(consentValidUntil({ ExpirationDateTime: '2017-08-02T00:00:00+01:00' })?.toISOString()).toBe('2017-08-01T23:00:00.000Z');
    expect(consentValidUntil({})).toBeNull();
  });

  it('signs unsigned amounts by CreditDebitIndicator, keeping every decimal and never writing -0', () => {
    expect(signedAmount('10.00', 'Debit')).toBe('-10.00');
    expect(signedAmount('10.00', 'Credit')).toBe('10.00');
    expect(signedAmount('2500.12345', 'Debit')).toBe('-2500.12345');
    expect(signedAmount('0.00', 'Debit')).toBe('0.00');
    expect(signedAmount('0', 'Debit')).toBe('0');
  });

  it('maps 3.1 accounts: IBAN scheme, masked PAN for cards, nickname, description, XXX for a missing currency', () => {
    const [current, card, bare] = ukAccountsResponseSchema.parse(accounts31).Data.Account!.map(mapAccount);
    expect(current).toMatchObject({
      bankAccountId: '22289',
      kind: 'CHECKING',
      iban: 'GB29NWBK60161331926819',
      maskedPan: null,
      currency: 'GBP',
      ownerName: 'Mr Kevin',
      name: 'Bills',
      product: 'Classic current account',
    });
    expect(card).toMatchObject({ kind: 'CARD', iban: null, maskedPan: '5409********1234', product: 'CreditCard' });
    expect(bare).toMatchObject({
      bankAccountId: 'bare-1',
      kind: 'OTHER',
      iban: null,
      maskedPan: null,
      currency: 'XXX',
      ownerName: null,
      name: null,
      product: null,
    });
    expect((bare.raw as Record<string, unknown>).SomethingNew).toEqual({ x: 1 });
  });

  it('maps 4.0 accounts by AccountTypeCode, and takes an IBAN from SecondaryIdentification only when it is a valid IBAN', () => {
    const [savings, mortgage] = ukAccountsResponseSchema.parse(accounts40).Data.Account!.map(mapAccount);
    expect(savings).toMatchObject({ kind: 'SAVINGS', iban: 'DE89370400440532013000', currency: 'EUR', ownerName: 'Keller Bau GmbH' });
    expect(mortgage).toMatchObject({ kind: 'LOAN', iban: null });
    const withSecondary = (secondary: string) =>
      mapAccount({
        AccountId: 'x',
        Account: [{ SchemeName: 'UK.OBIE.SortCodeAccountNumber', Identification: '40127612345678', SecondaryIdentification: secondary }],
      }).iban;
    expect(withSecondary('GB29NWBK60161331926819')).toBe('GB29NWBK60161331926819');
    expect(withSecondary('GB29NWBK60161331926818')).toBeNull();
    expect(withSecondary('ROLL-00021')).toBeNull();
    expect(isValidIban('GB82 WEST 1234 5698 7654 32')).toBe(true);
  });

  it('maps 3.1 balances with signs, kinds and bank types, and each distinct credit line once as CREDIT_LIMIT', () => {
    const balances = mapBalances(ukBalancesResponseSchema.parse(balances31).Data.Balance);
    expect(balances.map((b) => [b.kind, b.bankType, b.amount.amount, b.creditLimitIncluded])).toEqual([
      ['AVAILABLE', 'InterimAvailable', '1230.00', true],
      ['BOOKED', 'ClosingBooked', '-12.34567', false],
      ['EXPECTED', 'Expected', '0', null],
      ['OTHER', 'ClosingCleared', '0.00', null],
      ['CREDIT_LIMIT', 'CreditLine:Pre-Agreed', '1000.00', true],
    ]);
    expect(balances[1]).toMatchObject({ referenceDate: '2017-04-04', amount: { currency: 'GBP' } });
    expect(balances[1].lastChangeDateTime?.toISOString()).toBe('2017-04-04T22:59:59.000Z');
  });

  it('maps 4.0 balance codes to the same kinds', () => {
    const balances = mapBalances(ukBalancesResponseSchema.parse(balances40).Data.Balance);
    expect(balances.map((b) => [b.kind, b.bankType, b.amount.amount])).toEqual([
      ['BOOKED', 'CLBD', '-50'],
      ['AVAILABLE', 'ITAV', '950.5'],
      ['EXPECTED', 'XPCD', '940.5'],
      ['OTHER', 'INFO', '1.00'],
    ]);
  });

  it('maps 3.1 transactions: signed amount, the other party by direction, codes, dates as the bank wrote them; rejected ones left out', () => {
    const [debit, credit, rejected] = ukTransactionsResponseSchema.parse(transactions31).Data.Transaction!.map(mapTransaction);
    expect(debit).toMatchObject({
      bankTransactionId: '123',
      status: 'BOOKED',
      amount: { amount: '-10.00', currency: 'GBP' },
      bookingDate: '2017-04-05',
      valueDate: '2017-04-06',
      transactionDate: null,
      counterpartyName: 'Aubrey Smith',
      counterpartyIban: 'GB29NWBK60161331926819',
      remittanceInformation: 'Cash from Aubrey',
      endToEndId: null,
      bankTransactionCode: 'ReceivedCreditTransfer-DomesticCreditTransfer',
    });
    expect((debit!.raw as { CardInstrument: unknown }).CardInstrument).toBeTruthy();
    expect(credit).toMatchObject({
      bankTransactionId: null,
      status: 'PENDING',
      amount: { amount: '2500.12345', currency: 'GBP' },
      bookingDate: '2017-04-07',
      valueDate: null,
      counterpartyName: 'Acme Payroll',
      counterpartyIban: null,
      remittanceInformation: null,
      bankTransactionCode: 'SALARY',
    });
    expect(rejected).toBeNull();
  });

  it('maps 4.0 transaction statuses: BOOK booked, PDNG and FUTR pending, INFO and RJCT left out; ultimate parties name the counterparty', () => {
    const mapped = ukTransactionsResponseSchema.parse(transactions40).Data.Transaction!.map(mapTransaction);
    expect(mapped.map((t) => t && [t.bankTransactionId, t.status, t.amount.amount])).toEqual([
      ['t-book', 'BOOKED', '100'],
      ['t-pend', 'PENDING', '-7.5'],
      ['t-futr', 'PENDING', '-9'],
      null,
      null,
    ]);
    expect(mapped[0]?.counterpartyName).toBe('Client SARL');
  });

  it('leaves out a transaction whose status neither version defines rather than guessing', () => {
    expect(mapTransaction({ ...debit31, Status: 'Whatever' })).toBeNull();
  });

  it('takes the merchant as the counterparty of a card payment without creditor account', () => {
    const { CreditorAccount: _dropped, ...card } = debit31;
    expect(mapTransaction(card)?.counterpartyName).toBe('Corner Shop');
  });
});
