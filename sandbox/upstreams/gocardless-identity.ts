// What a gateway knows of the mocked GoCardless upstream before it is built: its institutions as
// registry entries and the operator's secret. Apart from the upstream itself (its OpenAPI file and
// validator, its ledgers) so that a gateway lists them at start without loading that code.
import { BANK_DEFINITIONS } from '../banks';
import type { SandboxBankInfo, SandboxClientCredentials } from '../core/bank';
import { Prng } from '../core/prng';

/** The banks' daily limit per account and access scope, as GoCardless documents it. */
export const UPSTREAM_DAILY_LIMIT = 4;
export const ACCESS_TTL_S = 86_400;
export const REFRESH_TTL_S = 2_592_000;

export const upstreamInstitutionId = (def: { id: string; bic: string }): string => `${def.id.toUpperCase()}_${def.bic.slice(0, 8)}`;

/** The upstream's institutions (standard `GOCARDLESS`), the operator's secret and the client entries carrying it, derived from the seed. */
export function describeGoCardlessUpstream(opts: { publicUrl: string; mountPath: string; seed: number }): {
  banks: SandboxBankInfo[];
  clients: Record<string, SandboxClientCredentials>;
  secret: { secretId: string; secretKey: string };
} {
  const baseUrl = `${opts.publicUrl}${opts.mountPath}/upstreams/gocardless`;
  const secretRng = Prng.from(opts.seed, 'upstream/gocardless/secret');
  const secret = { secretId: secretRng.uuid(), secretKey: secretRng.hex(64) };
  const client = (bankId: string): SandboxClientCredentials => ({
    bankId,
    clientId: secret.secretId,
    clientSecret: secret.secretKey,
    redirectUris: [],
    tokenEndpointAuthMethod: 'client_secret_basic',
  });
  const banks: SandboxBankInfo[] = BANK_DEFINITIONS.map((def) => ({
    id: `gc-${def.id}`,
    name: `${def.name} (via GoCardless)`,
    standard: 'GOCARDLESS',
    standardVersion: '2',
    country: def.country,
    bic: def.bic,
    currency: def.currency,
    apiBaseUrl: baseUrl,
    aisBaseUrl: baseUrl,
    pisBaseUrl: baseUrl,
    issuer: baseUrl,
    scaApproaches: ['REDIRECT'],
    frequencyPerDay: UPSTREAM_DAILY_LIMIT,
    maxConsentDays: def.maxConsentDays,
    accessTokenTtlSeconds: ACCESS_TTL_S,
    refreshTokenTtlSeconds: REFRESH_TTL_S,
    paymentProducts: [],
    pageSize: 0,
    upstreamInstitutionId: upstreamInstitutionId(def),
  }));
  return { banks, clients: Object.fromEntries(banks.map((b) => [b.id, client(b.id)])), secret };
}
