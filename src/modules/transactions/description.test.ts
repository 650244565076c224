import { describe, expect, it } from 'vitest';
import { cleanDescription } from './description';

const d = (counterpartyName: string | null, remittanceInformation: string | null = null, bankTransactionCode: string | null = null) =>
  cleanDescription({ counterpartyName, remittanceInformation, bankTransactionCode });

describe('cleanDescription', () => {
  it('prefers the counterparty name over the remittance line', () => {
    expect(d('Stadtwerke München', 'EREF+123 SVWZ+Abschlag Strom')).toBe('Stadtwerke München');
  });

  it('keeps only the text after SVWZ+ in a German SEPA remittance line', () => {
    expect(d(null, 'EREF+ZV0123456789 MREF+M-4711-2023 CRED+DE98ZZZ09999999999 SVWZ+Miete Januar Whg 3 OG')).toBe('Miete Januar Whg 3 OG');
  });

  it('finds tags joined without spaces, as banks join 27-character lines', () => {
    expect(d(null, 'EREF+NOTPROVIDEDMREF+ABC123SVWZ+Beitrag Sportverein')).toBe('Beitrag Sportverein');
  });

  it('drops SEPA tags even when there is no SVWZ+ part', () => {
    expect(d(null, 'Lastschrift Telekom EREF+1234 MREF+XY')).toBe('Lastschrift Telekom');
  });

  it('turns a shouting card terminal label into Title Case without its store number', () => {
    expect(d('REWE SAGT DANKE 4711')).toBe('Rewe Sagt Danke');
    expect(d('EDEKA CENTER 54321//HAMBURG/DE')).toBe('Edeka Center');
    expect(d('ARAL STATION NR. 1234')).toBe('Aral Station');
  });

  it('keeps short all-caps tokens such as SAS, AG and UK', () => {
    expect(d('DEUTSCHE BAHN AG')).toBe('Deutsche Bahn AG');
    expect(d('ORANGE SAS')).toBe('Orange SAS');
    expect(d('AMAZON UK MARKETPLACE')).toBe('Amazon UK Marketplace');
    expect(d('VODAFONE GMBH')).toBe('Vodafone GmbH');
  });

  it('title-cases short words that are words, not acronyms', () => {
    expect(d('BOULANGERIE DE LA GARE')).toBe('Boulangerie De La Gare');
    expect(d('THE BOOK SHOP')).toBe('The Book Shop');
  });

  it('cleans French card and direct-debit labels', () => {
    expect(d(null, 'CB CARREFOUR MARKET 12/01')).toBe('Carrefour Market');
    expect(d(null, 'PRLV SEPA EDF CLIENTS PARTICULIERS')).toBe('EDF Clients Particuliers');
    // Four capitals are a word to the rule, acronym or not.
    expect(d(null, 'CARTE X1234 SNCF INTERNET 03/02/24')).toBe('Sncf Internet');
  });

  it('cleans English card payment labels', () => {
    expect(d(null, 'CARD PAYMENT TO TESCO STORES 2345')).toBe('Tesco Stores');
  });

  it('removes RF creditor references and long digit runs', () => {
    expect(d(null, 'Rechnung RF18539007547034 Kundennummer 1234567890')).toBe('Rechnung Kundennummer');
  });

  it('keeps numbers people typed and years', () => {
    expect(d(null, 'Rechnung 4711 vom 3. März')).toBe('Rechnung 4711 vom 3. März');
    expect(d(null, 'MIETE JANUAR 2024')).toBe('Miete Januar 2024');
  });

  it('collapses whitespace', () => {
    expect(d('  Café   de   Flore  ')).toBe('Café de Flore');
  });

  it('keeps hyphenated and umlauted names readable', () => {
    expect(d('MÜLLER-LÜDENSCHEIDT BÄCKEREI')).toBe('Müller-Lüdenscheidt Bäckerei');
  });

  it('falls back to the remittance when the name cleans to nothing', () => {
    expect(d('12345678901', 'Erstattung')).toBe('Erstattung');
  });

  it('falls back to a generic label from the bank transaction code', () => {
    expect(d(null, null, 'PMNT-CCRD-POSD')).toBe('Card payment');
    expect(d(null, 'EREF+123456789', 'PMNT-CCRD-CWDL')).toBe('Cash withdrawal');
  });

  it('never returns an empty string', () => {
    expect(d(null)).toBeNull();
    expect(d('', '   ')).toBeNull();
    expect(d(null, 'EREF+NOTPROVIDED')).toBeNull();
    expect(d(null, '// - /', 'XYZ')).toBeNull();
  });
});
