import { z } from 'zod';
import type { SandboxBankInfo } from '../../sandbox';
import type { BankClientCredentials } from './adapters';
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
    quirks: {
      sandbox: true,
      // Reached through an upstream aggregator: its own id of the institution, kept for every call.
      ...(b.upstreamInstitutionId ? { upstreamInstitutionId: b.upstreamInstitutionId, transactionIdsUnstable: true, userPresentReadsCounted: true } : {}),
      // UK: where the bank publishes the keys of its x-jws-signature, and what it signs as.
      ...(b.jws ? { jwsJwksUrl: b.jws.jwksUrl, jwsIssuer: b.jws.issuer, jwsTrustAnchor: b.jws.trustAnchor } : {}),
    },
  }));
}

const remoteBanks = z.object({
  banks: z.array(
    z.object({
      id: z.string().min(1),
      name: z.string(),
      bic: z.string(),
      country: z.string().length(2),
      standard: z.enum(['BERLIN_GROUP', 'STET', 'UK_OPEN_BANKING', 'GOCARDLESS']),
      standardVersion: z.string(),
      aisBaseUrl: z.string().url(),
      pisBaseUrl: z.string().url(),
      issuer: z.string().url(),
      paymentProducts: z.array(z.string()),
      scaApproaches: z.array(z.enum(['REDIRECT', 'OAUTH', 'DECOUPLED', 'EMBEDDED'])),
      maxConsentDays: z.number().int().positive(),
      frequencyPerDay: z.number().int().positive(),
    }).passthrough(),
  ),
});
const remoteClients = z.object({ clients: z.record(z.string(), z.object({ clientId: z.string(), clientSecret: z.string() }).passthrough()) });

/**
 * The banks and OAuth clients of a standalone sandbox (`SANDBOX_URL`), read once at start through
 * its control API, so the gateway talks to banks that outlive its own process.
 */
export async function loadRemoteSandbox(url: string, adminToken: string): Promise<{ banks: SandboxBankInfo[]; clients: Record<string, BankClientCredentials> }> {
  const get = async (path: string) => {
    const res = await fetch(`${url}/control${path}`, { headers: { authorization: `Bearer ${adminToken}` }, signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`SANDBOX_URL: GET ${url}/control${path} answered ${res.status}`);
    return res.json() as Promise<unknown>;
  };
  const banks = remoteBanks.parse(await get('/banks')).banks as unknown as SandboxBankInfo[];
  const clients = remoteClients.parse(await get('/clients')).clients;
  return { banks, clients };
}
