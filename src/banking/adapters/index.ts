import type { InstitutionDescriptor } from '../model';
import type { BankAdapter } from '../ports';

/** OAuth client credentials the operator holds for one bank. */
export interface BankClientCredentials {
  clientId: string;
  clientSecret: string;
}

/** Gives modules the adapter for an institution; modules never pick an adapter themselves. */
export interface AdapterRegistry {
  for(institution: InstitutionDescriptor): BankAdapter;
}
