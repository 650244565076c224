import type { BankDefinition } from '../../core/bank';
import { BANK_DEFAULTS } from '../../core/bank-defaults';

/** The sandbox's STET banks. Names, BICs and bank codes are made up; IBANs pass the mod-97 check. */
export const STET_BANKS: readonly BankDefinition[] = Object.freeze([
  {
    ...BANK_DEFAULTS,
    id: 'rivage',
    name: 'Banque du Rivage',
    standard: 'STET',
    standardVersion: '1.6',
    country: 'FR',
    currency: 'EUR',
    bic: 'RIVAFRPPXXX',
    bankCode: '30788',
    locale: 'fr',
    scaApproaches: ['REDIRECT'],
    maxConsentDays: 180,
    refreshTokenTtlSeconds: 180 * 86_400,
    paymentProducts: ['SCT', 'INST'],
    aisPath: '/stet/psd2/v1.6',
    pisPath: '/stet/psd2/v1.6',
  },
]);
