import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { BankClientCredentials } from './adapters';
import { credentialProblems, credentialsEntry, CredentialsLoadError, loadCredentials } from './credentials';
import type { InstitutionDescriptor, PaymentScheme } from './model';
import { institutionQuirks } from './quirks';
import { standards as defaultStandards, type StandardsRegistry } from './standards';

const httpsUrl = z
  .string()
  .url()
  .refine((u) => u.startsWith('https://'), { message: 'live institutions must use https' });

/**
 * Shape of one entry of the institutions file; every field checked at start-up. `standard` is a
 * direct standard of the registry (an upstream aggregator's institutions come from its own API).
 */
export function institutionFileEntryOf(registry: StandardsRegistry) {
  const direct = registry
    .all()
    .filter((s) => s.reach === undefined)
    .map((s) => s.id);
  return z
    .object({
      id: z.string().regex(/^[a-z0-9][a-z0-9-]{1,62}$/, { message: 'lowercase slug' }),
      name: z.string().min(1).max(200),
      bic: z.string().regex(/^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$/, { message: 'BIC (ISO 9362)' }),
      country: z.string().regex(/^[A-Z]{2}$/),
      logoUrl: httpsUrl.nullable().default(null),
      standard: z.string().refine((id) => direct.includes(id), { message: `one of the standards of the registry: ${direct.join(', ')}` }),
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
      // `sandbox: true` would let the adapters accept plain http and insecure OAuth: never for a live bank.
      /** What this bank does differently from its standard, as typed data (src/banking/quirks.ts). */
      quirks: institutionQuirks
        .refine((q) => !('sandbox' in q), { message: 'the sandbox quirk (plain http, insecure OAuth) is not allowed for live institutions' })
        .default({}),
      /** The operator's registration and certificates at this bank, as file references (src/banking/credentials.ts). */
      credentials: credentialsEntry.optional(),
    })
    .strict()
    .superRefine((entry, ctx) => {
      if (!entry.credentials) return;
      for (const p of credentialProblems(entry.standard, entry.credentials, registry)) {
        ctx.addIssue({ code: 'custom', path: ['credentials', ...p.path], message: p.message });
      }
    });
}

/** An entry of the institutions file, for the registry of standards. */
export const institutionFileEntry = institutionFileEntryOf(defaultStandards);

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
    return [...this.byId.values()].filter((i) => i.environment === environment).sort((a, b) => a.name.localeCompare(b.name, 'en') || a.id.localeCompare(b.id));
  }
}

/** A live institutions file that cannot be used: start-up stops with this message (no secret in it). */
export class InstitutionsFileError extends Error {
  override readonly name = 'InstitutionsFileError';
}

/** The live institutions and the operator's credentials for those that have them. */
export interface LiveInstitutions {
  institutions: InstitutionDescriptor[];
  credentials: ReadonlyMap<string, BankClientCredentials>;
}

/**
 * Reads and validates the live institutions file and loads the credential files each entry
 * references (relative paths from the file's directory). A bad entry stops start-up naming the
 * entry and field; a file that cannot be read is named by path, its contents never shown.
 */
export function loadLiveInstitutions(file: string, registry: StandardsRegistry = defaultStandards): LiveInstitutions {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
  } catch (err) {
    const why = err instanceof SyntaxError ? 'not valid JSON' : `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
    throw new InstitutionsFileError(`Invalid institutions file ${file}: ${why}`);
  }
  const parsed = z.object({ institutions: z.array(registry === defaultStandards ? institutionFileEntry : institutionFileEntryOf(registry)) }).safeParse(raw);
  if (!parsed.success) {
    const idOf = (index: unknown): string | undefined => {
      const entry = typeof index === 'number' ? (raw as { institutions?: { id?: unknown }[] }).institutions?.[index] : undefined;
      return typeof entry?.id === 'string' ? entry.id : undefined;
    };
    const problems = parsed.error.issues.map((i) => {
      const id = i.path[0] === 'institutions' ? idOf(i.path[1]) : undefined;
      return `${i.path.join('.')}: ${i.message}${id ? ` (institution ${JSON.stringify(id)})` : ''}`;
    });
    throw new InstitutionsFileError(`Invalid institutions file ${file}: ${problems.join('; ')}`);
  }
  const baseDir = path.dirname(path.resolve(file));
  const credentials = new Map<string, BankClientCredentials>();
  const problems: string[] = [];
  for (const entry of parsed.data.institutions) {
    if (!entry.credentials) continue;
    try {
      credentials.set(entry.id, loadCredentials(entry.id, entry.standard, entry.credentials, baseDir, registry));
    } catch (err) {
      if (!(err instanceof CredentialsLoadError)) throw err;
      problems.push(...err.problems);
    }
  }
  if (problems.length > 0) throw new InstitutionsFileError(`Invalid institutions file ${file}: ${problems.join('; ')}`);
  const institutions = parsed.data.institutions.map(({ credentials: _credentials, ...i }) => ({ ...i, environment: 'live' as const }));
  return { institutions, credentials };
}

/** The live institutions of a file, without their credentials. */
export function loadInstitutionsFile(file: string, registry: StandardsRegistry = defaultStandards): InstitutionDescriptor[] {
  return loadLiveInstitutions(file, registry).institutions;
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
