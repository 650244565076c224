import type { Logger } from '../../platform/logger';
import type { BankAdapter } from '../ports';
import { standards as defaultStandards, type StandardsRegistry } from '../standards';
import type { AdapterRegistry, BankAdapterDeps, BankClientCredentials } from './index';

/** Thrown when the operator holds no client credentials for a bank: a configuration fault, not a user error. */
export class MissingBankCredentialsError extends Error {
  readonly code = 'BANK_CREDENTIALS_MISSING';
  constructor(readonly institutionId: string) {
    super(`No OAuth client credentials are configured for institution ${institutionId}`);
    this.name = 'MissingBankCredentialsError';
  }
}

const MAX_CACHED_ADAPTERS = 1_000;

/**
 * One adapter per institution (and address), built on first use from the institution's standard and the
 * operator's credentials for it, then reused (adapters cache OAuth discovery and hold no
 * per-consent state).
 */
export function createAdapterRegistry(deps: {
  credentials: (institutionId: string) => BankClientCredentials | undefined;
  logger: Logger;
  callbackUrl: string;
  onCall?: BankAdapterDeps['onCall'];
  tppIpAddress?: string;
  onSkippedEntries?: BankAdapterDeps['onSkippedEntries'];
  /** The standards adapters are built from; default the registry of standards. */
  standards?: StandardsRegistry;
}): AdapterRegistry {
  const registry = deps.standards ?? defaultStandards;
  const cache = new Map<string, BankAdapter>();
  return {
    for(institution) {
      // The same institution may come at other addresses (each tenant's partition of a sandbox bank).
      const key = [institution.id, institution.issuer, institution.aisBaseUrl, institution.pisBaseUrl].join(' ');
      const cached = cache.get(key);
      if (cached) return cached;
      // An unknown standard throws here, before anything is called: never read as another standard.
      const standard = registry.get(institution.standard);
      const credentials = deps.credentials(institution.id);
      if (!credentials) throw new MissingBankCredentialsError(institution.id);
      const adapter = standard.createAdapter({
        institution,
        credentials,
        redirectUri: deps.callbackUrl,
        logger: deps.logger,
        onCall: deps.onCall,
        ...(deps.tppIpAddress ? { tppIpAddress: deps.tppIpAddress } : {}),
        ...(deps.onSkippedEntries ? { onSkippedEntries: deps.onSkippedEntries } : {}),
      });
      cache.set(key, adapter);
      // Bounded: the oldest adapter goes (and is built again if its bank comes back).
      if (cache.size > MAX_CACHED_ADAPTERS) cache.delete(cache.keys().next().value!);
      return adapter;
    },
  };
}
