/**
 * QSeal request signing, the Berlin Group way (NextGenPSD2 implementation guidelines, "signing
 * messages", built on draft-cavage-http-signatures-10): a `Digest` of the body, a `Signature` over
 * selected headers with the QSealC private key, and the certificate in `TPP-Signature-Certificate`.
 */
import { createHash, createPrivateKey, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { BankClientConfigError } from '../errors';

/** Signature algorithm labels banks accept. The `…with…` spellings are the Java names some ASPSPs expect. */
export type QSealAlgorithm = 'rsa-sha256' | 'rsa-sha512' | 'SHA256withRSA' | 'SHA512withRSA' | 'ecdsa-sha256' | 'SHA256withECDSA';

/** How one institution wants requests signed. */
export interface QSealOptions {
  /** The `keyId` parameter, verbatim; Berlin Group wants `SN=<serial hex>,CA=<issuer DN>`. */
  keyId: string;
  /** PEM of the QSealC private key (RSA or EC, matching `algorithm`). */
  privateKeyPem: string;
  /** Default `rsa-sha256`. */
  algorithm?: QSealAlgorithm;
  /** PEM of the QSealC; when given it is sent, base64 DER, in `TPP-Signature-Certificate`. */
  certificatePem?: string;
  /** Sign `(request-target)` too. Default true; some banks reject it, hence the switch. */
  includeRequestTarget?: boolean;
}

const ALGORITHMS: Record<QSealAlgorithm, { hash: 'sha256' | 'sha512'; keyType: 'rsa' | 'ec' }> = {
  'rsa-sha256': { hash: 'sha256', keyType: 'rsa' },
  SHA256withRSA: { hash: 'sha256', keyType: 'rsa' },
  'rsa-sha512': { hash: 'sha512', keyType: 'rsa' },
  SHA512withRSA: { hash: 'sha512', keyType: 'rsa' },
  'ecdsa-sha256': { hash: 'sha256', keyType: 'ec' },
  SHA256withECDSA: { hash: 'sha256', keyType: 'ec' },
};

/** Headers signed when present, in this order; `digest`, `x-request-id` and `date` always are. */
const OPTIONAL_SIGNED = ['psu-id', 'psu-corporate-id', 'tpp-redirect-uri'] as const;

/** `SHA-256=<base64>` of the exact body bytes (an empty body when there is none). */
export function digestHeader(body: string | Uint8Array | undefined): string {
  return `SHA-256=${createHash('sha256')
    .update(body ?? '')
    .digest('base64')}`;
}

/**
 * The string that is signed: one `name: value` line per signed header, lower-case names, joined by
 * `\n`; `(request-target)` is `<method lower-case> <path>?<query>`.
 */
export function signingString(names: readonly string[], method: string, url: URL, headers: Headers): string {
  return names
    .map((name) =>
      name === '(request-target)' ? `(request-target): ${method.toLowerCase()} ${url.pathname}${url.search}` : `${name}: ${headers.get(name) ?? ''}`,
    )
    .join('\n');
}

/** A signer bound to one institution's key. */
export interface QSealSigner {
  /**
   * Adds `Digest`, `Date` (when absent), `Signature` and, when configured,
   * `TPP-Signature-Certificate` to `headers`. Call it for every attempt: `Date` is fresh each time.
   */
  sign(request: { method: string; url: URL; headers: Headers; body: string | undefined }): void;
}

/** Validates the key (and certificate) once; throws {@link BankClientConfigError} when unusable. */
export function createQSealSigner(institutionId: string, options: QSealOptions): QSealSigner {
  const algorithm = options.algorithm ?? 'rsa-sha256';
  const spec = ALGORITHMS[algorithm];
  if (!spec) throw new BankClientConfigError(institutionId, `unsupported QSeal algorithm "${String(algorithm)}"`);
  if (!options.keyId || /["\\\r\n]/.test(options.keyId)) {
    throw new BankClientConfigError(institutionId, 'the QSeal keyId is empty or contains a quote, backslash or line break');
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(options.privateKeyPem);
  } catch {
    // No cause: parser errors may quote parts of the key.
    throw new BankClientConfigError(institutionId, 'the QSeal private key is not a readable PEM key');
  }
  if (key.asymmetricKeyType !== spec.keyType) {
    throw new BankClientConfigError(institutionId, `the QSeal key is ${key.asymmetricKeyType ?? 'unknown'}, algorithm ${algorithm} needs ${spec.keyType}`);
  }
  let certificateB64: string | undefined;
  if (options.certificatePem) {
    try {
      certificateB64 = new X509Certificate(options.certificatePem).raw.toString('base64');
    } catch {
      throw new BankClientConfigError(institutionId, 'the QSeal certificate is not a readable PEM certificate');
    }
  }
  const includeRequestTarget = options.includeRequestTarget ?? true;

  return {
    sign({ method, url, headers, body }) {
      headers.set('Digest', digestHeader(body));
      if (!headers.has('Date')) headers.set('Date', new Date().toUTCString());
      const names = [
        'digest',
        'x-request-id',
        ...OPTIONAL_SIGNED.filter((name) => headers.has(name)),
        'date',
        ...(includeRequestTarget ? ['(request-target)'] : []),
      ];
      const signature = sign(spec.hash, Buffer.from(signingString(names, method, url, headers), 'utf8'), key).toString('base64');
      headers.set('Signature', `keyId="${options.keyId}",algorithm="${algorithm}",headers="${names.join(' ')}",signature="${signature}"`);
      if (certificateB64) headers.set('TPP-Signature-Certificate', certificateB64);
    },
  };
}
