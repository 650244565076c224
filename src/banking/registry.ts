import fs from 'node:fs';
import { z } from 'zod';
import type { InstitutionDescriptor, PaymentScheme } from './model';

const httpsUrl = z.string().url().refine((u) => u.startsWith('https://'), { message: 'live institutions must use https' });

/** Shape of one entry of the institutions file; every field checked at start-up. */
export const institutionFileEntry = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{1,62}$/, { message: 'lowercase slug' }),
    name: z.string().min(1).max(200),
    bic: z.string().regex(/^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$/, { message: 'BIC (ISO 9362)' }),
    country: z.string().regex(/^[A-Z]{2}$/),
    logoUrl: httpsUrl.nullable().default(null),
    standard: z.enum(['BERLIN_GROUP', 'STET', 'UK_OPEN_BANKING']),
    standardVersion: z.string().min(1),
    aisBaseUrl: httpsUrl,
    pisBaseUrl: httpsUrl,
    issuer: httpsUrl.nullable(),
    scopes: z.array(z.enum(['ACCOUNTS', 'BALANCES', 'TRANSACTIONS'])).min(1),
    paymentSchemes: z.array(z.enum(['SEPA_CREDIT_TRANSFER', 'SEPA_INSTANT', 'FASTER_PAYMENTS'])).default([]),
    paymentProducts: z.array(z.string()).default([]),
    scaApproaches: z.array(z.enum(['REDIRECT', 'OAUTH', 'DECOUPLED', 'EMBEDDED'])).min(1),
    maxConsentDays: z.number().int().min(1).max(180),
    maxHistoryDays: z.number().int().min(1).max(3650),
    frequencyPerDay: z.number().int().min(1).max(4),
    quirks: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

/** The institutions Passerelle can connect to: live ones from a file, sandbox ones from the sandbox. */
export class InstitutionRegistry {
  private readonly byId: Map<string, InstitutionDescriptor>;

  constructor(institutions: InstitutionDescriptor[]) {
    this.byId = new Map();
    for (const i of institutions) {
      if (this.byId.has(i.id)) throw new Error(`Institution id "${i.id}" is defined twice`);
      this.byId.set(i.id, Object.freeze({ ...i }));
    }
  }

  get(id: string): InstitutionDescriptor | undefined {
    return this.byId.get(id);
  }

  /** All institutions of one environment, ordered by name then id. */
  list(environment: 'sandbox' | 'live'): InstitutionDescriptor[] {
    return [...this.byId.values()]
      .filter((i) => i.environment === environment)
      .sort((a, b) => a.name.localeCompare(b.name, 'en') || a.id.localeCompare(b.id));
  }
}

/** Reads and validates the live institutions file; a bad entry stops start-up naming the entry and field. */
export function loadInstitutionsFile(file: string): InstitutionDescriptor[] {
  const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
  const parsed = z.object({ institutions: z.array(institutionFileEntry) }).safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`Invalid institutions file ${file}: ${problems}`);
  }
  return parsed.data.institutions.map((i) => ({ ...i, environment: 'live' as const }));
}

/** Payment schemes implied by a bank's product names. */
export function schemesFromProducts(products: string[]): PaymentScheme[] {
  const schemes = new Set<PaymentScheme>();
  for (const p of products) {
    if (/^(sepa-credit-transfers|SCT)$/i.test(p)) schemes.add('SEPA_CREDIT_TRANSFER');
    if (/^(instant-sepa-credit-transfers|INST|SCT_INST)$/i.test(p)) schemes.add('SEPA_INSTANT');
    if (/^(domestic-payments|faster-payments)$/i.test(p)) schemes.add('FASTER_PAYMENTS');
  }
  return [...schemes];
}
