/** The bank HTTP discipline: one client per institution, redaction helpers, retry arithmetic. */
export {
  createBankHttpClient,
  type BankCallOutcome,
  type BankCallRecord,
  type BankHttpClient,
  type BankHttpClientOptions,
  type BankHttpMethod,
  type BankHttpResponse,
  type BankQuery,
  type BankRequestOptions,
} from './bank-http-client';
export type { BankProtocol, BankRequestSigner, SigningCredentials } from './protocol';
export { createMtlsTransport, type BankFetch, type MtlsOptions, type MtlsTransport } from './mtls';
export { createQSealSigner, digestHeader, signingString, type QSealAlgorithm, type QSealOptions, type QSealSigner } from './qseal';
export { describeUrl, isSensitiveKey, maskIban, pathTemplate, redact, redactedExcerpt, redactHeaders, redactText, REDACTED } from './redact';
export { computeBackoff, DEFAULT_BACKOFF, parseRetryAfter, sleep, type BackoffOptions } from './retry';
