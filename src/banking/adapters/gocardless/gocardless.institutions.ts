/**
 * The upstream's institutions as registry entries, read once at start-up with the operator's
 * credentials: a refused secret stops start-up with a message naming the settings, never their
 * values; an answer that breaks the OpenAPI file is refused like any bank answer.
 */
import type { Logger } from '../../../platform/logger';
import { BankError, BankErrorCode } from '../../errors';
import { createBankHttpClient } from '../../http';
import type { InstitutionDescriptor } from '../../model';
import type { BankClientCredentials } from '../index';
import { UPSTREAM_MAX_HISTORY_DAYS } from './gocardless.adapter';
import { gcInstitutionList, gcTokenPair, type GcInstitution } from './gocardless.schemas';
import { goCardlessProtocol } from './gocardless.protocol';

/** The banks' documented minimum: 4 unattended reads per account and scope per day. */
const UPSTREAM_FREQUENCY_PER_DAY = 4;

/** Start-up cannot use the upstream: the message names the settings to fix. */
export class UpstreamConfigError extends Error {
  override readonly name = 'UpstreamConfigError';
}

export interface GoCardlessSettings {
  baseUrl: string;
  secretId: string;
  secretKey: string;
  /** ISO 3166-1 alpha-2 countries to list; empty: all. */
  countries: readonly string[];
}

/** A registry slug from the upstream's id (`SANDBOXFINANCE_SFIN0000` → `gc-sandboxfinance-sfin0000`). */
export function registryIdOf(upstreamId: string): string {
  return `gc-${upstreamId
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')}`.slice(0, 63);
}

const positive = (v: string | undefined, fallback: number, max: number): number => {
  const n = v === undefined ? NaN : Number(v);
  return Number.isInteger(n) && n > 0 ? Math.min(n, max) : fallback;
};

/** One upstream institution (in one of its countries) as a registry entry. */
export function institutionFromUpstream(i: GcInstitution, country: string, baseUrl: string, environment: 'sandbox' | 'live'): InstitutionDescriptor {
  return {
    id: registryIdOf(i.countries.length > 1 ? `${i.id}_${country}` : i.id),
    name: i.name,
    bic: i.bic ?? '',
    country,
    logoUrl: /^https:\/\//.test(i.logo) ? i.logo : null,
    standard: 'GOCARDLESS',
    standardVersion: '2',
    environment,
    aisBaseUrl: baseUrl,
    pisBaseUrl: baseUrl,
    issuer: null,
    scopes: ['ACCOUNTS', 'BALANCES', 'TRANSACTIONS'],
    // Account information only: payments stay with direct banks.
    paymentSchemes: [],
    paymentProducts: [],
    scaApproaches: ['REDIRECT'],
    maxConsentDays: positive(i.max_access_valid_for_days, 90, 180),
    maxHistoryDays: positive(i.transaction_total_days, 90, UPSTREAM_MAX_HISTORY_DAYS),
    frequencyPerDay: UPSTREAM_FREQUENCY_PER_DAY,
    // The upstream reissues transaction ids, and counts every read (end user present or not) against the bank's 4 a day.
    quirks: { upstreamInstitutionId: i.id, transactionIdsUnstable: true, userPresentReadsCounted: true },
  };
}

/**
 * Checks the credentials (`/token/new/`) and lists the upstream's institutions for the configured
 * countries. Returns the registry entries and the credentials each of them is reached with.
 */
export async function loadGoCardlessInstitutions(
  settings: GoCardlessSettings,
  deps: { logger: Logger; fetch?: typeof fetch; environment?: 'sandbox' | 'live' },
): Promise<{ institutions: InstitutionDescriptor[]; credentials: Map<string, BankClientCredentials> }> {
  const http = createBankHttpClient({
    institutionId: 'gocardless',
    protocol: goCardlessProtocol,
    baseUrl: settings.baseUrl,
    logger: deps.logger,
    ...(deps.fetch ? { fetch: (url: string, init: RequestInit) => deps.fetch!(url, init) } : {}),
    allowInsecureRequests: settings.baseUrl.startsWith('http://') && deps.environment === 'sandbox',
  });
  let access: string;
  try {
    const token = await http.request({
      operation: 'token.new',
      method: 'POST',
      path: '/api/v2/token/new/',
      body: { secret_id: settings.secretId, secret_key: settings.secretKey },
      schema: gcTokenPair,
    });
    access = token.data.access;
  } catch (err) {
    if (err instanceof BankError && (err.code === BankErrorCode.UNAUTHORIZED || err.httpStatus === 401 || err.httpStatus === 403)) {
      throw new UpstreamConfigError(
        'GOCARDLESS_SECRET_ID / GOCARDLESS_SECRET_KEY: GoCardless Bank Account Data refused these credentials (wrong or revoked); create a new secret in its portal',
      );
    }
    const why = err instanceof BankError ? err.code : 'error';
    throw new UpstreamConfigError(`GOCARDLESS_BASE_URL: GoCardless Bank Account Data could not be reached to check the credentials (${why})`);
  }
  const countries = settings.countries.length > 0 ? settings.countries : [undefined];
  const institutions: InstitutionDescriptor[] = [];
  const seen = new Set<string>();
  for (const country of countries) {
    const res = await http.request({
      operation: 'institutions.list',
      method: 'GET',
      path: '/api/v2/institutions/',
      query: { country },
      accessToken: access,
      schema: gcInstitutionList,
    });
    for (const i of res.data) {
      for (const c of i.countries.filter((x) => /^[A-Z]{2}$/.test(x) && (!country || x === country))) {
        const entry = institutionFromUpstream(i, c, settings.baseUrl, deps.environment ?? 'live');
        if (seen.has(entry.id)) continue;
        seen.add(entry.id);
        institutions.push(entry);
      }
    }
  }
  const credentials = new Map<string, BankClientCredentials>();
  const shared: BankClientCredentials = { clientId: settings.secretId, clientSecret: settings.secretKey };
  for (const i of institutions) credentials.set(i.id, shared);
  deps.logger.info({ institutions: institutions.length }, 'GoCardless Bank Account Data: institutions loaded');
  return { institutions, credentials };
}
