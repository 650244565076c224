import type { BankDefinition } from '../../core/bank';
import { BANK_DEFAULTS } from '../../core/bank-defaults';

/** The sandbox's Berlin Group banks. Names, BICs and bank codes are made up; IBANs pass the mod-97 check. */
export const BERLIN_GROUP_BANKS: readonly BankDefinition[] = Object.freeze([
  {
    ...BANK_DEFAULTS,
    id: 'nordlicht',
    name: 'Nordlicht Bank',
    standard: 'BERLIN_GROUP',
    standardVersion: '1.3.12',
    country: 'DE',
    currency: 'EUR',
    bic: 'NRDLDEFFXXX',
    bankCode: '50010517',
    locale: 'de',
    scaApproaches: ['REDIRECT', 'OAUTH'],
    maxConsentDays: 180,
    refreshTokenTtlSeconds: 180 * 86_400,
    paymentProducts: ['sepa-credit-transfers', 'instant-sepa-credit-transfers'],
    aisPath: '',
    pisPath: '',
  },
  {
    ...BANK_DEFAULTS,
    id: 'brabant',
    name: 'Banque Brabant',
    standard: 'BERLIN_GROUP',
    standardVersion: '1.3.12',
    country: 'BE',
    currency: 'EUR',
    bic: 'BRABBEBBXXX',
    bankCode: '735',
    locale: 'nl',
    scaApproaches: ['DECOUPLED', 'REDIRECT'],
    maxConsentDays: 180,
    refreshTokenTtlSeconds: 180 * 86_400,
    paymentProducts: ['sepa-credit-transfers', 'instant-sepa-credit-transfers'],
    aisPath: '',
    pisPath: '',
  },
]);
