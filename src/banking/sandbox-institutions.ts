import type { SandboxBankInfo } from '../../sandbox';
import type { InstitutionDescriptor } from './model';
import { schemesFromProducts } from './registry';

/** The sandbox serves two years of history for every seeded account. */
const SANDBOX_HISTORY_DAYS = 730;

/** Registry entries for the in-process sandbox banks: reached over HTTP like any bank. */
export function sandboxInstitutions(banks: SandboxBankInfo[]): InstitutionDescriptor[] {
  return banks.map((b) => ({
    id: b.id,
    name: b.name,
    bic: b.bic,
    country: b.country,
    logoUrl: null,
    standard: b.standard,
    standardVersion: b.standardVersion,
    environment: 'sandbox',
    aisBaseUrl: b.aisBaseUrl,
    pisBaseUrl: b.pisBaseUrl,
    issuer: b.issuer,
    scopes: ['ACCOUNTS', 'BALANCES', 'TRANSACTIONS'],
    paymentSchemes: schemesFromProducts(b.paymentProducts),
    paymentProducts: b.paymentProducts,
    scaApproaches: b.scaApproaches,
    maxConsentDays: b.maxConsentDays,
    maxHistoryDays: SANDBOX_HISTORY_DAYS,
    frequencyPerDay: b.frequencyPerDay,
    quirks: { sandbox: true },
  }));
}
