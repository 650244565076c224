// The plain shapes of a sandbox bank (what it is, what it is built with, what a gateway is told),
// apart from the Bank class so code that only describes banks loads none of a bank's code.
import type { Logger } from 'pino';
import type { BankProfile } from './ledger';
import type { ScaApproach } from './state';

/**
 * A real bank's known leniency, reproduced on purpose: the named fields (header, query parameter
 * or dotted body path, as the official file spells them) are let through when they break the
 * file. Only for modelling a bank that is documented or observed to accept them; a sandbox bank
 * is strict unless one is given.
 */
export interface Lenience {
  /** Fields the bank accepts in breach of the file, e.g. `PSU-IP-Address`, `debtorAccount`. */
  accept: string[];
  /** Which real bank behaves this way and where that is documented or seen. */
  why: string;
}

/** Id of a standard of the sandbox's registry (sandbox/standards/index.ts), the only list of them. */
export type BankStandard = string;

/** What the sandbox knows about one of its banks; enough for a gateway's institution registry. */
export interface SandboxBankInfo {
  id: string;
  name: string;
  /** The id of a sandbox standard (sandbox/standards/index.ts), or of the sandbox upstream aggregator (sandbox/upstreams/) for its institutions. */
  standard: BankStandard;
  /** Version of the standard spoken, e.g. "1.3.12", "1.6", "3.1.11". */
  standardVersion: string;
  country: string;
  bic: string;
  currency: string;
  /** Root of the bank's API; each standard's paths are appended to `aisBaseUrl` / `pisBaseUrl`. */
  apiBaseUrl: string;
  aisBaseUrl: string;
  pisBaseUrl: string;
  /** OIDC issuer of the bank's authorisation server (discovery at `${issuer}/.well-known/openid-configuration`). */
  issuer: string;
  scaApproaches: ScaApproach[];
  /** Maximum unattended reads per consent, account and service per day (PSD2: 4). */
  frequencyPerDay: number;
  /** Longest consent validity the bank grants, in days. */
  maxConsentDays: number;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  paymentProducts: string[];
  /** Page size of transaction lists. */
  pageSize: number;
  /** The upstream aggregator's own id of the institution, for institutions reached through one. */
  upstreamInstitutionId?: string;
  /** UK banks: where the bank publishes the keys of its `x-jws-signature`, and the claims it signs with. */
  jws?: { jwksUrl: string; issuer: string; trustAnchor: string };
}

/** OAuth client credentials the gateway registers with for one bank. */
export interface SandboxClientCredentials {
  bankId: string;
  clientId: string;
  clientSecret: string;
  /** Registered redirect URIs; any http://127.0.0.1 or http://localhost URI is accepted too. */
  redirectUris: string[];
  tokenEndpointAuthMethod: 'client_secret_basic';
  /** UK banks: the TPP's message-signing key the bank knows (as if registered at the directory). */
  jwsSigningKey?: { pem: string; kid: string; iss: string; tan: string };
}

export interface BankDefinition extends BankProfile {
  name: string;
  standard: BankStandard;
  standardVersion: string;
  bic: string;
  scaApproaches: ScaApproach[];
  frequencyPerDay: number;
  maxConsentDays: number;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  paymentProducts: string[];
  pageSize: number;
  /** Seconds on the bank clock from execution start to ACTC and to ACSC. */
  paymentSchedule: { acceptAfterSeconds: number; settleAfterSeconds: number };
  /** Path of the account-information API below the bank's API root. */
  aisPath: string;
  pisPath: string;
  /**
   * A real bank's known leniency to reproduce (fields it accepts in breach of the official file).
   * Absent: the bank is strict, as every sandbox bank is by default.
   */
  lenient?: Lenience;
}

export interface BankContext {
  publicUrl: string;
  mountPath: string;
  seed: number;
  adminToken: string;
  logger: Logger;
  /** Bank clocks start here (ms since epoch). */
  startMs: number;
  /** The real instant (ms) at which bank clocks showed `startMs`, so a bank built later (a partition) runs on the same timeline; default: when built. */
  clockOrigin?: number;
  /** Public keys of the gateway, for signed request objects (JAR), e.g. UK OBIE style. */
  clientJwks?: { keys: Record<string, unknown>[] };
}
