import type { Logger } from '../../platform/logger';
import { skippedEntriesOf } from '../entries';
import { describeUrl, type BankCallRecord, type BankHttpClientOptions, type BankProtocol } from '../http';
import type { MtlsOptions } from '../http/mtls';
import type { QSealOptions } from '../http/qseal';
import type { InstitutionDescriptor } from '../model';
import type { BankOAuthOptions, ClientAssertionKey, OAuthCallEvent, TokenEndpointAuthMethod } from '../oauth/bank-oauth';
import type { BankAdapter } from '../ports';

/** The operator's UK message-signing key (`x-jws-signature`). Never logged. */
export interface UkJwsSigningKey {
  /** PEM RSA private key (PKCS#8 or PKCS#1); signs with PS256. */
  pem: string;
  /** The key's id in the trust anchor's JWKS (the directory's signing key id). */
  kid: string;
  /** `http://openbanking.org.uk/iss`: `{org-id}/{software-statement-id}`. */
  iss: string;
  /** `http://openbanking.org.uk/tan`; default `openbanking.org.uk`. */
  tan?: string;
}

/**
 * What the operator holds for one bank: the OAuth client registration and, for live banks, the
 * eIDAS certificates. Sandbox banks give a client id and secret only (`client_secret_basic`, no
 * mTLS); live ones are loaded from the institutions file (src/banking/credentials.ts). Secrets:
 * never log, print or return any of it.
 */
export interface BankClientCredentials {
  clientId: string;
  /** For `client_secret_basic` / `client_secret_post`. */
  clientSecret?: string;
  /** Default: `client_secret_basic` with a secret (the sandbox), else as BankOAuth decides. */
  tokenEndpointAuthMethod?: TokenEndpointAuthMethod;
  /** Signs `private_key_jwt` client assertions. */
  clientAssertionKey?: ClientAssertionKey;
  /** Signs authorisation request objects (UK Open Banking). */
  requestObjectKey?: ClientAssertionKey;
  /** Signs UK payment requests (`x-jws-signature`, detached JWS). */
  jwsSigningKey?: UkJwsSigningKey;
  /** The QWAC, presented on every call to the bank: resource API and authorisation server. */
  mtls?: MtlsOptions;
  /** QSeal signatures on resource API calls. */
  qseal?: QSealOptions;
}

/** Gives modules the adapter for an institution; modules never pick an adapter themselves. */
export interface AdapterRegistry {
  for(institution: InstitutionDescriptor): BankAdapter;
}

/** What every adapter factory needs; a standard may add its own options on top. */
export interface BankAdapterDeps {
  institution: InstitutionDescriptor;
  /** The operator's client registration at this bank, and its certificates where the bank asks for them. */
  credentials: BankClientCredentials;
  /** The gateway's callback as registered at the bank; default each consent request's `redirectUri`. */
  redirectUri?: string;
  logger: Logger;
  /** One record per bank call attempt (resource API and OAuth server), for the audit journal; never tokens or bodies. */
  onCall?: (record: BankCallRecord) => void;
  /** Transport for every call (tests); default the global fetch, or mTLS with the credentials' QWAC. */
  fetch?: typeof fetch;
  /**
   * The gateway's own IPv4 address as banks see it (`TPP_IP_ADDRESS`): sent as `PSU-IP-Address`
   * where a standard requires one and the end user's is unknown.
   */
  tppIpAddress?: string;
  /**
   * Entries of an otherwise good answer that broke the standard's schema and were skipped (a
   * malformed balance or transaction), once per answer; for the metrics. Never values.
   */
  onSkippedEntries?: (report: SkippedEntriesReport) => void;
}

/** Malformed entries skipped in one bank answer. */
export interface SkippedEntriesReport {
  institutionId: string;
  /** Our name of the call, e.g. `accounts.balances`. */
  operation: string;
  kind: 'balance' | 'transaction';
  count: number;
}

/**
 * Reports the malformed entries set aside in an otherwise good answer (the lists parsed by
 * `skippableEntries`): logged with our request id and the bank's, and counted for the metrics;
 * never their values. Nothing when none was set aside.
 */
export function reportSkippedEntries(
  deps: Pick<BankAdapterDeps, 'onSkippedEntries'> & { log: Logger; institutionId: string },
  call: { operation: string; kind: 'balance' | 'transaction'; requestId: string; bankRequestId: string | undefined },
  ...lists: (readonly unknown[] | null | undefined)[]
): void {
  const skipped = lists.flatMap((l) => skippedEntriesOf(l));
  if (skipped.length === 0) return;
  const { operation, kind, requestId, bankRequestId } = call;
  deps.log.warn({ operation, kind, requestId, bankRequestId, skipped: skipped.length, issues: skipped.slice(0, 5) }, 'bank answer: malformed entries skipped');
  deps.onSkippedEntries?.({ institutionId: deps.institutionId, operation, kind, count: skipped.length });
}

/**
 * The transport part of a bank HTTP client's options: the standard's protocol, the test transport
 * or the credentials' QWAC, and the signer the protocol makes of the credentials (QSeal).
 */
export function httpTransportOptions(deps: BankAdapterDeps, protocol: BankProtocol): Pick<BankHttpClientOptions, 'protocol' | 'fetch' | 'mtls' | 'signer'> {
  const { mtls } = deps.credentials;
  const custom = deps.fetch;
  const signer = protocol.signer(deps.institution.id, deps.credentials);
  return {
    protocol,
    ...(custom ? { fetch: (url: string, init: RequestInit) => custom(url, init) } : {}),
    ...(mtls ? { mtls } : {}),
    ...(signer ? { signer } : {}),
  };
}

/** How an adapter's OAuth client authenticates and reaches the bank's authorisation server. */
export function oauthClientOptions(
  deps: BankAdapterDeps,
): Pick<BankOAuthOptions, 'clientId' | 'clientSecret' | 'tokenEndpointAuthMethod' | 'clientAssertionKey' | 'mtls' | 'fetch'> {
  const c = deps.credentials;
  const custom = deps.fetch;
  return {
    clientId: c.clientId,
    ...(c.clientSecret ? { clientSecret: c.clientSecret } : {}),
    ...(c.tokenEndpointAuthMethod ? { tokenEndpointAuthMethod: c.tokenEndpointAuthMethod } : {}),
    ...(c.clientAssertionKey ? { clientAssertionKey: c.clientAssertionKey } : {}),
    ...(c.mtls ? { mtls: c.mtls } : {}),
    ...(custom ? { fetch: (url, init) => custom(url, init as RequestInit) } : {}),
  };
}

/**
 * The audit record of one exchange with the bank's authorisation server, in the shape of the
 * resource API's records: a path template (no code, token or personal value), no request id (OAuth
 * calls carry none).
 */
export function recordOAuthCall(deps: BankAdapterDeps): ((event: OAuthCallEvent) => void) | undefined {
  const onCall = deps.onCall;
  if (!onCall) return undefined;
  return (event) => {
    let path = event.url;
    try {
      path = describeUrl(new URL(event.url));
    } catch {
      /* keep the endpoint as given (it has no query) */
    }
    onCall({
      institutionId: deps.institution.id,
      operation: `oauth.${event.operation}`,
      method: (['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'].includes(event.method.toUpperCase())
        ? event.method.toUpperCase()
        : 'POST') as BankCallRecord['method'],
      path,
      ...(event.status ? { status: event.status } : {}),
      latencyMs: event.latencyMs,
      requestId: '',
      attempt: 1,
      outcome: event.status >= 200 && event.status < 400 ? 'success' : 'failed',
    });
  };
}
