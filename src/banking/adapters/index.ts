import type { Logger } from '../../platform/logger';
import type { BankCallRecord } from '../http';
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

/** What every adapter factory needs; a standard may add its own options on top. */
export interface BankAdapterDeps {
  institution: InstitutionDescriptor;
  /** The operator's OAuth client registration at this bank. */
  credentials: BankClientCredentials;
  /** The gateway's callback as registered at the bank; default each consent request's `redirectUri`. */
  redirectUri?: string;
  logger: Logger;
  /** One record per bank call attempt (resource API and OAuth server), for the audit journal; never tokens or bodies. */
  onCall?: (record: BankCallRecord) => void;
  /** Transport for every call (tests); default the global fetch. */
  fetch?: typeof fetch;
}
