import { describe, expect, it } from 'vitest';
import {
  accountKind,
  accountPath,
  mapAccount,
  mapBalance,
  mapCardAccount,
  mapCardTransaction,
  mapConsentStatus,
  mapTransaction,
  normaliseAmount,
  validUntilDate,
} from './berlin-group.mapper';
import {
  bgAccountList,
  bgBalancesResponse,
  bgCardAccountList,
  bgCardTransactionsResponse,
  bgConsentCreated,
  bgConsentInformation,
  bgTransactionsResponse,
} from './berlin-group.schemas';

/** Payloads in the shape of the spec's own examples (1.3.12), with fields our sandbox never sends. */
const accountList = {
  accounts: [
    {
      resourceId: '3dc3d5b3-7023-4848-9853-f5400a64e80f',
      iban: 'DE89 3704 0044 0532 0130 00',
      currency: 'EUR',
      ownerNames: [
        { name: 'Heike Mustermann', role: 'owner' },
        { name: 'Horst Mustermann', role: 'authorisedUser' },
      ],
      psuName: 'Heike Mustermann',
      displayName: 'Main account',
      name: 'Girokonto',
      product: 'Girokonto',
      cashAccountType: 'CACC',
      status: 'enabled',
      bic: 'COBADEFFXXX',
      linkedAccounts: 'none',
      usage: 'PRIV',
      details: 'Free text',
      bankSpecificField: { anything: true },
      _links: { balances: { href: '/v1/accounts/3dc3d5b3-7023-4848-9853-f5400a64e80f/balances' } },
    },
    { resourceId: '3dc3d5b3-7023-4848-9853-f5400a64e81g', iban: 'FR7612345987650123456789014', currency: 'XXX', cashAccountType: 'SVGS', status: null },
    // Listed, but without the id that would let anyone read it.
    { iban: 'DE02100100109307118603', currency: 'EUR' },
  ],
};

describe('Berlin Group mapper', () => {
  it('maps consent statuses, including partiallyAuthorised, and refuses to guess codes it does not know', () => {
    expect(mapConsentStatus('received')).toBe('RECEIVED');
    expect(mapConsentStatus('partiallyAuthorised')).toBe('RECEIVED');
    expect(mapConsentStatus('valid')).toBe('VALID');
    expect(mapConsentStatus('rejected')).toBe('REJECTED');
    expect(mapConsentStatus('expired')).toBe('EXPIRED');
    expect(mapConsentStatus('revokedByPsu')).toBe('REVOKED');
    expect(mapConsentStatus('terminatedByTpp')).toBe('TERMINATED');
    expect(mapConsentStatus('suspendedByBank')).toBeNull();
  });

  it('normalises amounts as decimal strings without ever making a float', () => {
    expect(normaliseAmount('1056')).toBe('1056');
    expect(normaliseAmount('5768.2')).toBe('5768.2');
    expect(normaliseAmount('-1.50')).toBe('-1.50');
    expect(normaliseAmount('+007.10')).toBe('7.10');
    expect(normaliseAmount('-0.00')).toBe('0.00');
    expect(normaliseAmount('12345678901234.123')).toBe('12345678901234.123');
    expect(normaliseAmount('90071992547409919.99')).toBe('90071992547409919.99');
    expect(() => normaliseAmount('1,50')).toThrow(RangeError);
  });

  it('maps spec-shaped accounts: compact IBAN, owner names joined, display name first, multicurrency kept, unreadable ones skipped', () => {
    const parsed = bgAccountList.parse(accountList);
    const [main, multi, noId] = parsed.accounts.map(mapAccount);
    expect(main).toMatchObject({
      bankAccountId: '3dc3d5b3-7023-4848-9853-f5400a64e80f',
      kind: 'CHECKING',
      iban: 'DE89370400440532013000',
      maskedPan: null,
      currency: 'EUR',
      ownerName: 'Heike Mustermann, Horst Mustermann',
      name: 'Main account',
      product: 'Girokonto',
    });
    // Unknown fields are kept for support.
    expect((main!.raw as Record<string, unknown>).bankSpecificField).toEqual({ anything: true });
    expect(multi).toMatchObject({ kind: 'SAVINGS', currency: 'XXX', ownerName: null, name: null });
    expect(noId).toBeNull();
  });

  it('maps card accounts with a prefixed id that routes to /v1/card-accounts', () => {
    const parsed = bgCardAccountList.parse({
      cardAccounts: [
        {
          resourceId: '3d9a81b3-a47d-4130-8765-a9c0ff861b99',
          maskedPan: '525412******3241',
          currency: 'EUR',
          name: 'Main',
          displayName: 'My card',
          product: 'Basic Credit',
          debitAccounting: false,
          status: 'enabled',
          creditLimit: { currency: 'EUR', amount: '15000' },
          balances: [{ balanceType: 'interimBooked', balanceAmount: { currency: 'EUR', amount: '14355.78' } }],
          _links: { transactions: { href: '/v1/card-accounts/3d9a81b3-a47d-4130-8765-a9c0ff861b99/transactions' } },
        },
      ],
    });
    const card = mapCardAccount(parsed.cardAccounts[0])!;
    expect(card).toMatchObject({ kind: 'CARD', maskedPan: '525412******3241', iban: null, name: 'My card' });
    expect(accountPath(card.bankAccountId)).toEqual({ collection: '/v1/card-accounts', resourceId: '3d9a81b3-a47d-4130-8765-a9c0ff861b99' });
    expect(accountPath('3dc3d5b3')).toEqual({ collection: '/v1/accounts', resourceId: '3dc3d5b3' });
  });

  it('maps every balance type of the spec and keeps unknown ones as OTHER with the bank’s name', () => {
    const parsed = bgBalancesResponse.parse({
      account: { iban: 'FR7612345987650123456789014' },
      balances: [
        { balanceType: 'closingBooked', balanceAmount: { currency: 'EUR', amount: '500.00' }, referenceDate: '2017-10-25' },
        { balanceType: 'expected', balanceAmount: { currency: 'EUR', amount: '900.00' }, lastChangeDateTime: '2017-10-25T15:30:35.035Z' },
        { balanceType: 'openingBooked', balanceAmount: { currency: 'EUR', amount: '1' } },
        { balanceType: 'interimAvailable', balanceAmount: { currency: 'EUR', amount: '-10.5' }, creditLimitIncluded: true },
        { balanceType: 'interimBooked', balanceAmount: { currency: 'EUR', amount: '2' } },
        { balanceType: 'forwardAvailable', balanceAmount: { currency: 'EUR', amount: '3' } },
        { balanceType: 'nonInvoiced', balanceAmount: { currency: 'EUR', amount: '4' }, lastCommittedTransaction: 'ref-1' },
        { balanceType: 'someBankSpecialBalance', balanceAmount: { currency: 'EUR', amount: '5' } },
      ],
    });
    const balances = parsed.balances.map(mapBalance);
    expect(balances.map((b) => [b.bankType, b.kind])).toEqual([
      ['closingBooked', 'BOOKED'],
      ['expected', 'EXPECTED'],
      ['openingBooked', 'BOOKED'],
      ['interimAvailable', 'AVAILABLE'],
      ['interimBooked', 'BOOKED'],
      ['forwardAvailable', 'AVAILABLE'],
      ['nonInvoiced', 'OTHER'],
      ['someBankSpecialBalance', 'OTHER'],
    ]);
    expect(balances[0]).toMatchObject({ amount: { amount: '500.00', currency: 'EUR' }, referenceDate: '2017-10-25', lastChangeDateTime: null });
    expect(balances[1].lastChangeDateTime?.toISOString()).toBe('2017-10-25T15:30:35.035Z');
    expect(balances[3]).toMatchObject({ amount: { amount: '-10.5' }, creditLimitIncluded: true });
  });

  it('maps booked and pending transactions: signed as the bank sent them, counterparty by direction, remittance from any of its forms', () => {
    const parsed = bgTransactionsResponse.parse({
      account: { iban: 'DE2310010010123456788' },
      transactions: {
        booked: [
          {
            transactionId: '1234567',
            entryReference: 'E-1',
            endToEndId: 'E2E-77',
            mandateId: 'M-1',
            creditorId: 'DE98ZZZ09999999999',
            bookingDate: '2017-10-25',
            valueDate: '2017-10-26',
            transactionAmount: { currency: 'EUR', amount: '-256.67' },
            creditorName: 'John Miles',
            creditorAccount: { iban: 'DE67 1001 0010 1000 0000 01' },
            creditorAgent: 'PBNKDEFFXXX',
            ultimateCreditor: 'Miles Ltd',
            debtorName: 'Me',
            debtorAccount: { iban: 'DE2310010010123456788' },
            remittanceInformationUnstructured: 'Example 1',
            purposeCode: 'GDDS',
            bankTransactionCode: 'PMNT-ICDT-STDO',
            proprietaryBankTransactionCode: 'X-1',
            balanceAfterTransaction: { balanceType: 'interimBooked', balanceAmount: { currency: 'EUR', amount: '100.00' } },
            entryDetails: [{ transactionAmount: { currency: 'EUR', amount: '-256.67' } }],
            _links: { transactionDetails: { href: '/v1/accounts/x/transactions/1234567' } },
          },
          {
            transactionId: '1234568',
            bookingDate: '2017-10-25',
            valueDate: '2017-10-25',
            transactionAmount: { currency: 'EUR', amount: '343.01' },
            debtorName: 'Paul Simpson',
            debtorAccount: { iban: 'NL76RABO0359400371' },
            remittanceInformationUnstructuredArray: ['Invoice 42', 'thanks'],
            endToEndId: 'NOTPROVIDED',
          },
          {
            entryReference: 'E-3',
            bookingDate: '2017-10-24',
            transactionAmount: { currency: 'EUR', amount: '-5' },
            remittanceInformationStructured: { reference: 'RF18539007547034', referenceType: 'SCOR' },
          },
          // 1.3.8 and earlier: structured remittance as a plain string; only the ultimate party named.
          { transactionAmount: { currency: 'EUR', amount: '-1.00' }, remittanceInformationStructured: 'RF712348231', ultimateCreditor: 'Shop' },
          {
            transactionAmount: { currency: 'EUR', amount: '2.00' },
            remittanceInformationStructuredArray: [{ reference: 'A' }, { reference: 'B' }],
            additionalInformation: 'ignored',
          },
          // A debit where the bank fills only the debtor side.
          { transactionAmount: { currency: 'EUR', amount: '-3.00' }, debtorName: 'Someone', additionalInformation: 'Card fee' },
        ],
        pending: [{ transactionAmount: { currency: 'EUR', amount: '-100.03' }, valueDate: '2017-10-26', creditorName: 'Claude Renault' }],
        information: [{ transactionId: 'standing-1', transactionAmount: { currency: 'EUR', amount: '-10' } }],
        _links: { account: { href: '/v1/accounts/x' }, next: { href: '/v1/accounts/x/transactions?page=2' } },
      },
      _links: { download: null },
    });
    const booked = parsed.transactions!.booked!.map((t) => mapTransaction(t, 'BOOKED'));
    const pending = parsed.transactions!.pending!.map((t) => mapTransaction(t, 'PENDING'));
    expect(booked[0]).toMatchObject({
      bankTransactionId: '1234567',
      status: 'BOOKED',
      amount: { amount: '-256.67', currency: 'EUR' },
      bookingDate: '2017-10-25',
      valueDate: '2017-10-26',
      transactionDate: null,
      counterpartyName: 'John Miles',
      counterpartyIban: 'DE67100100101000000001',
      remittanceInformation: 'Example 1',
      endToEndId: 'E2E-77',
      bankTransactionCode: 'PMNT-ICDT-STDO',
    });
    expect(booked[1]).toMatchObject({
      amount: { amount: '343.01' },
      counterpartyName: 'Paul Simpson',
      counterpartyIban: 'NL76RABO0359400371',
      remittanceInformation: 'Invoice 42 thanks',
      endToEndId: null,
    });
    expect(booked[2]).toMatchObject({ bankTransactionId: 'E-3', amount: { amount: '-5' }, remittanceInformation: 'RF18539007547034', valueDate: null });
    expect(booked[3]).toMatchObject({ bankTransactionId: null, remittanceInformation: 'RF712348231', counterpartyName: 'Shop' });
    expect(booked[4]).toMatchObject({ remittanceInformation: 'A B' });
    expect(booked[5]).toMatchObject({ counterpartyName: 'Someone', remittanceInformation: 'Card fee' });
    expect(pending[0]).toMatchObject({ status: 'PENDING', amount: { amount: '-100.03' }, bookingDate: null, counterpartyName: 'Claude Renault' });
  });

  it('maps card transactions with their transaction date and the bank’s free text', () => {
    const parsed = bgCardTransactionsResponse.parse({
      cardAccount: { maskedPan: '525412******3241' },
      debitAccounting: false,
      cardTransactions: {
        booked: [
          {
            cardTransactionId: '201710020036959',
            terminalId: '12345678',
            transactionDate: '2017-10-25',
            acceptorTransactionDateTime: '2017-10-25T11:42:00Z',
            bookingDate: '2017-10-26',
            transactionAmount: { currency: 'EUR', amount: '-15.00' },
            originalAmount: { currency: 'SEK', amount: '-150.00' },
            currencyExchange: [{ sourceCurrency: 'SEK', exchangeRate: '0.1', unitCurrency: 'SEK', targetCurrency: 'EUR', quotationDate: '2017-10-25' }],
            markupFee: { currency: 'EUR', amount: '0.30' },
            markupFeePercentage: '2',
            cardAcceptorId: '987654321',
            cardAcceptorAddress: { townName: 'STOCKHOLM', country: 'SE' },
            merchantCategoryCode: '6536',
            maskedPAN: '525412******3241',
            transactionDetails: 'WIFI ARLANDA',
            invoiced: true,
          },
        ],
        pending: [{ acceptorTransactionDateTime: '2017-10-27T08:00:00Z', transactionAmount: { currency: 'EUR', amount: '-4.20' } }],
        _links: { cardAccount: { href: '/v1/card-accounts/3d9a81b3' } },
      },
    });
    const [booked] = parsed.cardTransactions!.booked!.map((t) => mapCardTransaction(t, 'BOOKED'));
    const [pending] = parsed.cardTransactions!.pending!.map((t) => mapCardTransaction(t, 'PENDING'));
    expect(booked).toMatchObject({
      bankTransactionId: '201710020036959',
      amount: { amount: '-15.00', currency: 'EUR' },
      transactionDate: '2017-10-25',
      bookingDate: '2017-10-26',
      remittanceInformation: 'WIFI ARLANDA',
    });
    expect(pending).toMatchObject({ status: 'PENDING', transactionDate: '2017-10-27', bankTransactionId: null });
  });

  it('reads ISO 20022 cash account types, whatever their case', () => {
    expect(accountKind('CACC')).toBe('CHECKING');
    expect(accountKind('svgs')).toBe('SAVINGS');
    expect(accountKind('LOAN')).toBe('LOAN');
    expect(accountKind('CARD')).toBe('CARD');
    expect(accountKind('ZZZZ')).toBe('OTHER');
    expect(accountKind(undefined)).toBe('OTHER');
  });

  it('treats validUntil as valid through the whole day', () => {
    expect(validUntilDate('2027-05-20').toISOString()).toBe('2027-05-20T23:59:59.999Z');
  });
});

describe('Berlin Group schemas', () => {
  it('accept the consent answers of every SCA approach, with fields the sandbox never sends', () => {
    expect(
      bgConsentCreated.safeParse({
        consentStatus: 'received',
        consentId: '1234-wertiq-983',
        scaMethods: [{ authenticationType: 'SMS_OTP', authenticationMethodId: 'myAuthenticationID' }],
        _links: { startAuthorisationWithPsuAuthentication: { href: '/v1/consents/1234-wertiq-983/authorisations' }, customLink: { href: '/x' } },
        tppMessages: [{ category: 'WARNING', code: 'FORMAT_ERROR' }],
      }).success,
    ).toBe(true);
    expect(
      bgConsentCreated.safeParse({ consentStatus: 'received', consentId: 'c', _links: { scaOAuth: 'https://bank/.well-known/oauth-authorization-server' } })
        .success,
    ).toBe(true);
    expect(
      bgConsentInformation.safeParse({
        access: { balances: [{ iban: 'DE2310010010123456789' }], transactions: [{ maskedPan: '123456xxxxxx1234' }] },
        recurringIndicator: true,
        validUntil: '2017-11-01',
        frequencyPerDay: 4,
        lastActionDate: '2017-10-09',
        consentStatus: 'valid',
      }).success,
    ).toBe(true);
  });

  it('refuse what the spec does not allow: float amounts, missing currencies, accounts without a list', () => {
    const bad = (amount: unknown) =>
      bgBalancesResponse.safeParse({ balances: [{ balanceType: 'expected', balanceAmount: { currency: 'EUR', amount } }] }).success;
    expect(bad(12.5)).toBe(false);
    expect(bad('12,50')).toBe(false);
    expect(bad('12.50')).toBe(true);
    expect(bgAccountList.safeParse({ accounts: [{ resourceId: 'x', iban: 'DE89370400440532013000' }] }).success).toBe(false);
    expect(bgAccountList.safeParse({}).success).toBe(false);
    expect(bgTransactionsResponse.safeParse({ transactions: { booked: [{ bookingDate: '2017-10-25' }] } }).success).toBe(false);
  });
});
