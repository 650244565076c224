/**
 * What the generic bank HTTP client asks of a standard: how to dress each attempt, how to sign it
 * and how to read the bank's errors. Each standard's adapter folder defines its protocol; the
 * client never names a standard.
 */
import type { BankErrorDialect } from '../errors';
import type { QSealOptions } from './qseal';

/** Signs one attempt of a request (called again for each retry). */
export interface BankRequestSigner {
  sign(request: { method: string; url: URL; headers: Headers; body: string | undefined }): void;
}

/** The operator's signing material a protocol may sign requests with. */
export interface SigningCredentials {
  /** QSeal key (and certificate) for HTTP signatures. */
  qseal?: QSealOptions;
}

/** A standard's wire conventions, as the generic HTTP client applies them. */
export interface BankProtocol {
  /** The `Accept` header of every call. */
  accept: string;
  /**
   * Headers the standard adds to every attempt beside `X-Request-ID`: the interaction id, the
   * end user's IP address under the standard's own name (when the call has one).
   */
  headers(call: { requestId: string; psuIpAddress?: string }): Record<string, string>;
  /**
   * The signer of the institution's requests from the operator's credentials, or undefined when
   * the standard (or this bank) signs nothing at the HTTP layer. May throw a BankClientConfigError.
   */
  signer(institutionId: string, credentials: SigningCredentials): BankRequestSigner | undefined;
  /** How the standard's banks say what went wrong. */
  errors: BankErrorDialect;
}
