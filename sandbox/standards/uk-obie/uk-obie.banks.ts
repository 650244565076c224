import type { BankDefinition } from '../../core/bank';
import { BANK_DEFAULTS } from '../../core/bank-defaults';

/** The sandbox's UK Open Banking banks. Names, BICs and bank codes are made up; IBANs pass the mod-97 check. */
export const UK_OBIE_BANKS: readonly BankDefinition[] = Object.freeze([
  {
    ...BANK_DEFAULTS,
    id: 'thames',
    name: 'Thames & Harbour Bank',
    standard: 'UK_OPEN_BANKING',
    standardVersion: '3.1.11',
    country: 'GB',
    currency: 'GBP',
    bic: 'THAHGB2LXXX',
    bankCode: 'THAH401276',
    locale: 'en',
    scaApproaches: ['REDIRECT'],
    maxConsentDays: 90,
    refreshTokenTtlSeconds: 90 * 86_400,
    paymentProducts: ['domestic-payments'],
    aisPath: '/open-banking/v3.1/aisp',
    pisPath: '/open-banking/v3.1/pisp',
  },
]);
