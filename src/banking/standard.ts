/**
 * What one standard is to the generic code: the contract every entry of the standards registry
 * (src/banking/standards.ts) fulfils. A standard lives in its adapter folder
 * (src/banking/adapters/<standard>/, exporting one `StandardDefinition` from `<standard>.standard.ts`);
 * generic code asks the registry for it and never names a standard itself.
 */
import type { BankAdapterDeps } from './adapters';
import type { BankProtocol } from './http';
import type { BankAdapter } from './ports';

/** What the rules of a standard look at in a live institution's `credentials` entry (src/banking/credentials.ts). */
export interface LiveCredentialsFacts {
  tokenEndpointAuthMethod: string;
  clientSecretFile?: string;
  qseal?: { certFile?: string };
}

/** One standard, as generic code needs it. */
export interface StandardDefinition {
  /**
   * The id institutions name (`standard` in the institutions file, the sandbox's banks and the
   * canonical model) and the value of the GraphQL `Standard` enum: upper case letters, digits, `_`.
   */
  id: string;
  /** Human name, for messages and documentation, e.g. `Berlin Group`. */
  displayName: string;
  /**
   * Set for an upstream aggregator reaching banks for us: its value of the GraphQL `Reach` enum.
   * Its institutions come from the aggregator's own list, never from the institutions file.
   */
  reach?: string;
  /**
   * Its adapter reads a transaction window's date range (`dateTo`) and one booking status at a
   * time (BOOKED, PENDING) as the standard defines them, so a window can be read as several
   * listings side by side (quirk `transactionReadLanes`).
   */
  readsDateRanges?: boolean;
  /**
   * The id the bank itself gives an account (its resource id, the one its sandbox's control API
   * names), from the adapter's `bankAccountId`, for a standard whose adapter adds to it; the
   * `bankAccountId` is the bank's id otherwise.
   */
  bankResourceId?(bankAccountId: string): string;
  /** Builds the adapter of one institution that speaks the standard. */
  createAdapter(deps: BankAdapterDeps): BankAdapter;
  /** Headers, request signing and error reading on the wire, applied by the bank HTTP client. */
  protocol: BankProtocol;
  /** What the standard asks of the operator's credentials for a live bank. */
  liveCredentials: {
    /** Reports what the standard refuses or misses in an entry (the generic rules are checked beside it). */
    check(entry: LiveCredentialsFacts, problem: (path: (string | number)[], message: string) => void): void;
    /** The QSealC goes with every signature (`TPP-Signature-Certificate`) rather than being fetched by the bank from the keyId. */
    sendsQSealCertificate: boolean;
    /** The standard takes signed authorisation request objects (`requestObject`). */
    takesRequestObjects: boolean;
    /** The header of the standard's payload signatures (`jws` credentials), when it has one. */
    payloadSignatureHeader?: string;
  };
}
