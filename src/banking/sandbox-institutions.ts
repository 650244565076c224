import { z } from 'zod';
import type { SandboxBankInfo } from '../../sandbox/core/bank';
import type { BankClientCredentials } from './adapters';
import type { InstitutionDescriptor } from './model';
import { schemesFromProducts } from './registry';
import { standards } from './standards';

/** The sandbox serves two years of history for every seeded account. */
const SANDBOX_HISTORY_DAYS = 730;

/** Registry entries for the in-process sandbox banks: reached over HTTP like any bank. */
export function sandboxInstitutions(banks: SandboxBankInfo[]): InstitutionDescriptor[] {
  return banks.map((b) => ({
    ...sandboxInstitution(b),
    // Where the sandbox is mounted: the issuer is `${root}/banks/<id>/oauth` (see sandboxPartitionOf).
    quirks: {
      sandbox: true,
      ...sandboxRootOf(b),
      // Reached through an upstream aggregator: its own id of the institution, kept for every call.
      ...(b.upstreamInstitutionId ? { upstreamInstitutionId: b.upstreamInstitutionId, transactionIdsUnstable: true, userPresentReadsCounted: true } : {}),
      // The sandbox serves any number of listings at once: a first sync reads long histories as date ranges side by side.
      transactionReadLanes: 4,
      // UK: where the bank publishes the keys of its x-jws-signature, and what it signs as.
      ...(b.jws ? { jwsJwksUrl: b.jws.jwksUrl, jwsIssuer: b.jws.issuer, jwsTrustAnchor: b.jws.trustAnchor } : {}),
    },
  }));
}

/**
 * The same sandbox institution in one partition of the sandbox (`${root}/t/<partition>/banks/<id>`):
 * a full copy of the bank that only one tenant's calls reach, so its data, consents, faults, clock
 * and quotas are that tenant's alone. Anything else comes back unchanged.
 */
export function sandboxPartitionOf(i: InstitutionDescriptor, partition: string): InstitutionDescriptor {
  const root = i.quirks.sandboxRoot;
  if (i.quirks.sandbox !== true || typeof root !== 'string') return i;
  // Everything of the sandbox lives under its root: the bank, its OAuth server, its keys, and the upstream aggregator.
  const to = `${root}/t/${encodeURIComponent(partition)}`;
  const move = (url: string) => (url.startsWith(`${root}/`) ? `${to}${url.slice(root.length)}` : url);
  const jwks = i.quirks.jwsJwksUrl;
  return {
    ...i,
    aisBaseUrl: move(i.aisBaseUrl),
    pisBaseUrl: move(i.pisBaseUrl),
    issuer: i.issuer && move(i.issuer),
    quirks: jwks ? { ...i.quirks, jwsJwksUrl: move(jwks) } : i.quirks,
  };
}

/** Where the sandbox is mounted, read off a bank's issuer (`${root}/banks/<id>/oauth`) or the upstream's base (`${root}/upstreams/<name>`). */
function sandboxRootOf(b: SandboxBankInfo): { sandboxRoot?: string } {
  if (b.issuer.endsWith(`/banks/${b.id}/oauth`)) return { sandboxRoot: b.issuer.slice(0, -`/banks/${b.id}/oauth`.length) };
  const upstream = /^(.*)\/upstreams\/[a-z0-9-]+\/?$/.exec(b.aisBaseUrl);
  return upstream ? { sandboxRoot: upstream[1] } : {};
}

function sandboxInstitution(b: SandboxBankInfo): Omit<InstitutionDescriptor, 'quirks'> {
  return {
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
  };
}

const remoteBanks = z.object({
  banks: z.array(
    z
      .object({
        id: z.string().min(1),
        name: z.string(),
        bic: z.string(),
        country: z.string().length(2),
        // A bank of a standard we do not speak is refused at start, never read as another standard.
        standard: z.string().refine((id) => standards.has(id), { message: 'a standard of the registry of standards' }),
        standardVersion: z.string(),
        aisBaseUrl: z.string().url(),
        pisBaseUrl: z.string().url(),
        issuer: z.string().url(),
        paymentProducts: z.array(z.string()),
        scaApproaches: z.array(z.enum(['REDIRECT', 'OAUTH', 'DECOUPLED', 'EMBEDDED'])),
        maxConsentDays: z.number().int().positive(),
        frequencyPerDay: z.number().int().positive(),
      })
      .passthrough(),
  ),
});
const remoteClients = z.object({ clients: z.record(z.string(), z.object({ clientId: z.string(), clientSecret: z.string() }).passthrough()) });

/**
 * The banks and OAuth clients of a standalone sandbox (`SANDBOX_URL`), read once at start through
 * its control API, so the gateway talks to banks that outlive its own process.
 */
export async function loadRemoteSandbox(
  url: string,
  adminToken: string,
): Promise<{ banks: SandboxBankInfo[]; clients: Record<string, BankClientCredentials> }> {
  const get = async (path: string) => {
    const res = await fetch(`${url}/control${path}`, { headers: { authorization: `Bearer ${adminToken}` }, signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`SANDBOX_URL: GET ${url}/control${path} answered ${res.status}`);
    return res.json() as Promise<unknown>;
  };
  const banks = remoteBanks.parse(await get('/banks')).banks as unknown as SandboxBankInfo[];
  const clients = remoteClients.parse(await get('/clients')).clients;
  return { banks, clients };
}
