import { describe, expect, it } from 'vitest';
import { linkHref, mapAccount, mapBalance, mapTransaction, signedAmount } from './stet.mapper';
import { stetAccountsResponse, stetBalancesResponse, stetTransactionsResponse } from './stet.schemas';

// Payloads in the shape of the STET text (1.4 to 1.6), including what the sandbox never sends.

describe('STET accounts → canonical', () => {
  const payload = stetAccountsResponse.parse({
    accounts: [
      {
        resourceId: 'Alias1',
        bicFi: 'BNKAFRPPXXX',
        accountId: { iban: 'FR76 3000 6000 0112 3456 7890 189', currency: 'EUR' },
        name: 'Compte de Mr et Mme Dupont',
        usage: 'PRIV',
        cashAccountType: 'CACC',
        psuStatus: 'Co-account Holder',
        balances: [{ name: 'Solde comptable', balanceAmount: { currency: 'EUR', amount: '-123.45' }, balanceType: 'CLBD', referenceDate: '2026-11-24' }],
        _links: { balances: { href: 'v1/accounts/Alias1/balances-report' }, transactions: { href: 'v1/accounts/Alias1/transactions-report' } },
        someBankExtension: { kept: true },
      },
      {
        resourceId: 'Card-7',
        accountId: { other: { identification: '4970 10** **** 1234', schemeName: 'CPAN', issuer: 'BNKAFRPP' } },
        name: 'Carte Visa Premier',
        cashAccountType: 'CARD',
        linkedAccount: 'Alias1',
        _links: { transactions: { href: '/v1/accounts/Card-7/transactions{?dateFrom,dateTo}', templated: true } },
      },
      { resourceId: 'loan-1', accountId: { iban: 'FR7630006000011234567890189', currency: 'EUR' }, cashAccountType: 'LOAN', details: 'Prêt immobilier' },
      { resourceId: 'x-9', accountId: { iban: 'FR7630006000011234567890189', currency: 'CHF' }, cashAccountType: 'TRAD' },
    ],
    _links: { self: { href: '/v1/accounts' }, next: { href: '/v1/accounts?page=2' } },
  });

  it('maps a cash account with its IBAN (spaces removed), currency, name and the bank’s own fields kept in raw', () => {
    const a = mapAccount(payload.accounts[0]!);
    expect(a).toMatchObject({
      bankAccountId: 'Alias1',
      kind: 'CHECKING',
      iban: 'FR7630006000011234567890189',
      maskedPan: null,
      currency: 'EUR',
      name: 'Compte de Mr et Mme Dupont',
    });
    expect((a.raw as Record<string, unknown>).someBankExtension).toEqual({ kept: true });
  });

  it('maps a card account identified by its masked PAN, taking the currency from elsewhere when the bank names none', () => {
    const card = mapAccount(payload.accounts[1]!);
    expect(card).toMatchObject({ kind: 'CARD', iban: null, maskedPan: '4970 10** **** 1234', currency: 'EUR', name: 'Carte Visa Premier' });
    expect(linkHref(payload.accounts[1]!._links?.transactions)).toBe('/v1/accounts/Card-7/transactions');
  });

  it('resolves path-relative links, as STET’s examples write them, against the API root', () => {
    const root = 'https://api.bank.example/stet/psd2';
    expect(linkHref(payload.accounts[0]!._links?.balances, root)).toBe('https://api.bank.example/stet/psd2/v1/accounts/Alias1/balances-report');
    expect(linkHref({ href: '/v1/accounts?page=2' }, root)).toBe('/v1/accounts?page=2');
    expect(linkHref({ href: 'https://other.example/x' }, root)).toBe('https://other.example/x');
  });

  it('maps account types outside STET’s list, and unknown ones to OTHER', () => {
    expect(mapAccount(payload.accounts[2]!)).toMatchObject({ kind: 'LOAN', product: 'Prêt immobilier', name: null });
    expect(mapAccount(payload.accounts[3]!)).toMatchObject({ kind: 'OTHER', currency: 'CHF' });
  });

  it('refuses an account without a resourceId, the one field every later call needs', () => {
    expect(stetAccountsResponse.safeParse({ accounts: [{ name: 'x', cashAccountType: 'CACC' }] }).success).toBe(false);
  });
});

describe('STET balances → canonical', () => {
  const { balances } = stetBalancesResponse.parse({
    balances: [
      { name: 'Solde comptable', balanceAmount: { currency: 'EUR', amount: '-1250.30' }, balanceType: 'CLBD', referenceDate: '2026-11-24' },
      {
        name: 'Solde instantané',
        balanceAmount: { currency: 'EUR', amount: '980.00' },
        balanceType: 'XPCD',
        lastChangeDateTime: '2026-11-25T08:15:00.000+01:00',
      },
      { name: 'Solde en valeur', balanceAmount: { currency: 'EUR', amount: '975.10' }, balanceType: 'VALU', referenceDate: '2026-11-25' },
      { name: 'Encours carte', balanceAmount: { currency: 'EUR', amount: '-310.00' }, balanceType: 'OTHR', lastCommittedTransaction: 'tx-99' },
      { name: 'Disponible', balanceAmount: { currency: 'EUR', amount: '1500.00' }, balanceType: 'ITAV' },
      { balanceAmount: { currency: 'EUR', amount: '0.001' }, balanceType: 'NEW1' },
    ],
    _links: { self: { href: '/v1/accounts/Alias1/balances' } },
  });

  it('keeps signed amounts as strings and the bank’s type beside the canonical kind', () => {
    expect(balances.map(mapBalance).map((b) => [b.kind, b.bankType, b.amount.amount])).toEqual([
      ['BOOKED', 'CLBD', '-1250.30'],
      ['EXPECTED', 'XPCD', '980.00'],
      ['OTHER', 'VALU', '975.10'],
      ['OTHER', 'OTHR', '-310.00'],
      ['AVAILABLE', 'ITAV', '1500.00'],
      ['OTHER', 'NEW1', '0.001'],
    ]);
  });

  it('reads the reference date and the last change time, and says nothing about credit limits', () => {
    const [clbd, xpcd] = balances.map(mapBalance);
    expect(clbd).toMatchObject({ referenceDate: '2026-11-24', lastChangeDateTime: null, creditLimitIncluded: null });
    expect(xpcd!.lastChangeDateTime!.toISOString()).toBe('2026-11-25T07:15:00.000Z');
  });

  it('refuses a float amount: money stays a decimal string', () => {
    expect(stetBalancesResponse.safeParse({ balances: [{ balanceAmount: { currency: 'EUR', amount: 12.3 }, balanceType: 'CLBD' }] }).success).toBe(false);
  });
});

describe('STET transactions → canonical', () => {
  const page = stetTransactionsResponse.parse({
    transactions: [
      {
        // STET 1.6: structured remittance object, relatedParties, bank transaction code.
        resourceId: 'TX-1',
        entryReference: 'E1',
        transactionAmount: { currency: 'EUR', amount: '12.30' },
        creditDebitIndicator: 'DBIT',
        status: 'BOOK',
        bookingDate: '2026-11-02',
        valueDate: '2026-11-02',
        transactionDate: '2026-10-31',
        remittanceInformation: { unstructured: ['CARTE 31/10', 'BOULANGERIE'], structured: [] },
        relatedParties: {
          creditor: { name: 'Boulangerie Martin' },
          creditorAccount: { iban: 'FR7630006000011234567890189' },
          ultimateCreditor: { name: 'Martin SARL' },
        },
        bankTransactionCode: { domain: 'PMNT', family: 'CCRD', subFamily: 'POSD' },
        endToEndId: 'E2E-1',
        additionalTransactionInformation: 'Paiement par carte',
      },
      {
        // STET 1.4: remittance as an array of lines, no parties, only an entry reference.
        entryReference: 'E2',
        transactionAmount: { currency: 'EUR', amount: '2500' },
        creditDebitIndicator: 'CRDT',
        status: 'PDNG',
        valueDate: '2026-11-25',
        remittanceInformation: ['VIR SALAIRE NOVEMBRE'],
      },
      {
        // A deferred card entry (OTHR), with the parties at the top level and a structured reference only.
        transactionAmount: { currency: 'EUR', amount: '0.00' },
        creditDebitIndicator: 'DBIT',
        status: 'OTHR',
        debtor: { name: 'Should not be read for a debit' },
        creditor: { name: 'Loyer SCI' },
        remittanceInformation: { structured: [{ creditorReferenceInformation: { reference: 'RF18539007547034' } }] },
        bankTransactionCode: { code: 'XYZ', issuer: 'BANK' },
      },
      {
        transactionAmount: { currency: 'EUR', amount: '40.00' },
        creditDebitIndicator: 'CRDT',
        status: 'INFO',
        relatedParties: { debtor: { name: 'Jean Dupont' }, debtorAccount: { iban: 'de89 3704 0044 0532 0130 00' } },
      },
    ],
    _links: { self: { href: '/v1/accounts/Alias1/transactions' }, next: { href: '/v1/accounts/Alias1/transactions?page=2' } },
  });
  const [card, salary, deferred, info] = page.transactions.map(mapTransaction);

  it('signs a debit negative and keeps a credit positive, as decimal strings', () => {
    expect(card!.amount).toEqual({ amount: '-12.30', currency: 'EUR' });
    expect(salary!.amount).toEqual({ amount: '2500', currency: 'EUR' });
    expect(deferred!.amount.amount).toBe('0.00');
    expect(signedAmount('0.5', 'DBIT')).toBe('-0.5');
  });

  it('maps BOOK to BOOKED and PDNG, OTHR and unknown statuses to PENDING', () => {
    expect([card, salary, deferred, info].map((t) => t!.status)).toEqual(['BOOKED', 'PENDING', 'PENDING', 'PENDING']);
  });

  it('takes the counterparty from the other side of the entry: the creditor of a debit, the debtor of a credit', () => {
    expect(card).toMatchObject({ counterpartyName: 'Boulangerie Martin', counterpartyIban: 'FR7630006000011234567890189' });
    expect(deferred).toMatchObject({ counterpartyName: 'Loyer SCI', counterpartyIban: null });
    expect(info).toMatchObject({ counterpartyName: 'Jean Dupont', counterpartyIban: 'DE89370400440532013000' });
  });

  it('reads remittance in the 1.4 (lines) and 1.6 (object) shapes, falling back to a structured reference', () => {
    expect(card!.remittanceInformation).toBe('CARTE 31/10 BOULANGERIE');
    expect(salary!.remittanceInformation).toBe('VIR SALAIRE NOVEMBRE');
    expect(deferred!.remittanceInformation).toBe('RF18539007547034');
    expect(info!.remittanceInformation).toBeNull();
  });

  it('uses the resourceId as bank id, else the entry reference, else none', () => {
    expect([card, salary, deferred].map((t) => t!.bankTransactionId)).toEqual(['TX-1', 'E2', null]);
  });

  it('keeps dates, end-to-end id, the bank transaction code and the raw entry', () => {
    expect(card).toMatchObject({
      bookingDate: '2026-11-02',
      valueDate: '2026-11-02',
      transactionDate: '2026-10-31',
      endToEndId: 'E2E-1',
      bankTransactionCode: 'PMNT-CCRD-POSD',
    });
    expect(deferred!.bankTransactionCode).toBe('XYZ');
    expect((card!.raw as Record<string, unknown>).additionalTransactionInformation).toBe('Paiement par carte');
  });

  it('refuses an entry whose direction is missing or unknown, or whose amount already carries a sign', () => {
    const entry = { transactionAmount: { currency: 'EUR', amount: '1.00' }, creditDebitIndicator: 'DBIT', status: 'BOOK' };
    expect(stetTransactionsResponse.safeParse({ transactions: [entry] }).success).toBe(true);
    expect(stetTransactionsResponse.safeParse({ transactions: [{ ...entry, creditDebitIndicator: 'DEBIT' }] }).success).toBe(false);
    expect(stetTransactionsResponse.safeParse({ transactions: [{ ...entry, creditDebitIndicator: undefined }] }).success).toBe(false);
    expect(stetTransactionsResponse.safeParse({ transactions: [{ ...entry, transactionAmount: { currency: 'EUR', amount: '-1.00' } }] }).success).toBe(false);
  });
});
