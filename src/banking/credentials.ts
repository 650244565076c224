/**
 * The operator's credentials for one live bank: what the institutions file says about them
 * (references to files, never the secrets themselves), the rules each standard imposes, and the
 * loading of those files at start-up into the options the adapters pass to the bank HTTP client
 * (mTLS, QSeal) and to the OAuth client (client authentication).
 *
 * Nothing here puts a secret in an error message: a file that cannot be read or parsed is named
 * by its path and field, never quoted.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { inspect } from 'node:util';
import { z } from 'zod';
import type { BankClientCredentials } from './adapters';
import { createQSealSigner, type QSealAlgorithm } from './http/qseal';
import type { ClientAssertionKey } from './oauth/bank-oauth';
import type { Standard } from './model';
import { standards as defaultStandards, type StandardDefinition, type StandardsRegistry } from './standards';

const fileRef = z.string().min(1, { message: 'a file path' }).max(4096);

const signingKeyRef = z
  .object({
    /** PEM private key (PKCS#8, PKCS#1 or SEC1). */
    keyFile: fileRef,
    alg: z.enum(['PS256', 'ES256', 'RS256']),
    /** The key id the bank knows it by (the software statement's JWKS). */
    kid: z.string().min(1).max(200).optional(),
  })
  .strict();

const qsealAlgorithms = [
  'rsa-sha256',
  'rsa-sha512',
  'SHA256withRSA',
  'SHA512withRSA',
  'ecdsa-sha256',
  'SHA256withECDSA',
] as const satisfies readonly QSealAlgorithm[];

/**
 * `credentials` of one institutions file entry. Every secret is a file (a mounted secret, e.g.
 * `/run/secrets/…`); relative paths are resolved against the institutions file's directory.
 */
export const credentialsEntry = z
  .object({
    /** The client id the bank issued at registration. */
    clientId: z.string().min(1).max(500),
    /** How the gateway authenticates at the bank's token endpoint. */
    tokenEndpointAuthMethod: z.enum(['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'tls_client_auth']),
    /** File holding the client secret (`client_secret_*` only); trailing whitespace is dropped. */
    clientSecretFile: fileRef.optional(),
    /** Key that signs `private_key_jwt` client assertions. */
    clientAssertion: signingKeyRef.optional(),
    /** Key that signs authorisation requests as request objects (UK Open Banking, FAPI). */
    requestObject: signingKeyRef.optional(),
    /** The QWAC: presented as the TLS client certificate on every call to the bank. */
    qwac: z
      .object({
        /** PEM certificate, optionally followed by its chain. */
        certFile: fileRef,
        keyFile: fileRef,
        /** PEM CA(s) the bank's server certificate must chain to, for banks with a private CA; the system roots otherwise. */
        caFile: fileRef.optional(),
      })
      .strict()
      .optional(),
    /**
     * UK Open Banking message signing (`x-jws-signature` on payment requests): the RSA key
     * registered at the trust anchor (the Open Banking Directory), signing with PS256.
     */
    jws: z
      .object({
        keyFile: fileRef,
        /** The signing key's id in the directory's JWKS. */
        kid: z.string().min(1).max(200),
        /** `http://openbanking.org.uk/iss`: `{org-id}/{software-statement-id}`. */
        issuer: z.string().min(1).max(200),
        /** `http://openbanking.org.uk/tan`: the trust anchor's domain. */
        trustAnchor: z.string().min(1).max(253).default('openbanking.org.uk'),
      })
      .strict()
      .optional(),
    /** QSeal HTTP signatures on resource API calls; present = every request is signed. */
    qseal: z
      .object({
        keyFile: fileRef,
        /** PEM QSealC; Berlin Group sends it in `TPP-Signature-Certificate` (required there). */
        certFile: fileRef.optional(),
        /** `keyId` of the signature, verbatim: Berlin Group `SN=<serial hex>,CA=<issuer DN>`, STET the URL of the certificate. */
        keyId: z
          .string()
          .min(1)
          .max(2000)
          .regex(/^[^"\\\r\n]+$/, { message: 'no quotes, backslashes or line breaks' }),
        algorithm: z.enum(qsealAlgorithms).default('rsa-sha256'),
        /** Sign `(request-target)`; some banks reject it. */
        includeRequestTarget: z.boolean().default(true),
      })
      .strict()
      .optional(),
  })
  .strict();

export type CredentialsEntry = z.infer<typeof credentialsEntry>;

/** A problem with an entry's credentials: the path below `credentials` and what is wrong. */
export interface CredentialProblem {
  path: (string | number)[];
  message: string;
}

const SECRET_METHODS = new Set(['client_secret_basic', 'client_secret_post']);

/**
 * What the standard asks of a live TPP (its entry in the registry of standards), and what the
 * chosen client authentication needs. Every standard identifies the TPP by its QWAC; what else it
 * wants or refuses (QSeal, client secrets, request objects, payload signatures) is the standard's
 * own rule. An unknown standard throws {@link UnknownStandardError}.
 */
export function credentialProblems(standard: Standard, c: CredentialsEntry, registry: StandardsRegistry = defaultStandards): CredentialProblem[] {
  const problems: CredentialProblem[] = [];
  const add = (p: (string | number)[], message: string) => problems.push({ path: p, message });
  const rules = registry.get(standard).liveCredentials;
  const method = c.tokenEndpointAuthMethod;
  if (SECRET_METHODS.has(method) && !c.clientSecretFile) add(['clientSecretFile'], `${method} needs clientSecretFile`);
  if (!SECRET_METHODS.has(method) && c.clientSecretFile) add(['clientSecretFile'], `only used with client_secret_basic or client_secret_post, not ${method}`);
  if (method === 'private_key_jwt' && !c.clientAssertion) add(['clientAssertion'], 'private_key_jwt needs clientAssertion (keyFile, alg)');
  if (method !== 'private_key_jwt' && c.clientAssertion) add(['clientAssertion'], `only used with private_key_jwt, not ${method}`);
  if (method === 'tls_client_auth' && !c.qwac) add(['qwac'], 'tls_client_auth needs a QWAC (qwac.certFile, qwac.keyFile)');
  else if (!c.qwac) add(['qwac'], `live ${standard} banks identify the TPP by its QWAC: qwac.certFile and qwac.keyFile are required`);
  rules.check(c, add);
  const namesOf = (which: (r: StandardDefinition['liveCredentials']) => unknown) =>
    registry
      .all()
      .filter((s) => which(s.liveCredentials))
      .map((s) => s.displayName)
      .join(' and ');
  if (!rules.takesRequestObjects && c.requestObject)
    add(['requestObject'], `signed request objects are sent to ${namesOf((r) => r.takesRequestObjects)} banks only`);
  if (!rules.payloadSignatureHeader && c.jws) {
    const headers = [
      ...new Set(
        registry
          .all()
          .map((s) => s.liveCredentials.payloadSignatureHeader)
          .filter((h) => h !== undefined),
      ),
    ].join(', ');
    add(['jws'], `${headers} is sent to ${namesOf((r) => r.payloadSignatureHeader)} banks only`);
  }
  return problems;
}

/** Thrown at start-up: names the institution and the fields, never a file's contents. */
export class CredentialsLoadError extends Error {
  override readonly name = 'CredentialsLoadError';
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
  }
}

/** Secrets of the loaded credentials, for `toJSON`/`inspect`: anything that prints them prints this instead. */
const REDACTED = '[redacted]';

function hideFromPrinting<T extends object>(value: T, visible: Record<string, unknown>): T {
  const shown = { ...visible, secrets: REDACTED };
  Object.defineProperty(value, 'toJSON', { value: () => shown, enumerable: false });
  Object.defineProperty(value, inspect.custom, { value: () => `BankClientCredentials ${inspect(shown)}`, enumerable: false });
  return value;
}

const ALG_KEY_TYPES: Record<ClientAssertionKey['alg'], string[]> = { PS256: ['rsa', 'rsa-pss'], RS256: ['rsa'], ES256: ['ec'] };

/**
 * Reads the files an entry references and checks they are usable (keys parse, each certificate
 * belongs to its key, the QSeal signer accepts the key). Throws {@link CredentialsLoadError}
 * listing every problem as `<institution>: credentials.<field>: …`.
 */
export function loadCredentials(
  institutionId: string,
  standard: Standard,
  entry: CredentialsEntry,
  baseDir: string,
  registry: StandardsRegistry = defaultStandards,
): BankClientCredentials {
  const problems: string[] = [];
  const fail = (field: string, message: string) => problems.push(`${institutionId}: credentials.${field}: ${message}`);

  const read = (field: string, file: string): string | undefined => {
    const resolved = path.resolve(baseDir, file);
    try {
      return fs.readFileSync(resolved, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      fail(field, `cannot read ${resolved} (${code})`);
      return undefined;
    }
  };
  const key = (field: string, file: string): { pem: string; key: KeyObject } | undefined => {
    const pem = read(field, file);
    if (pem === undefined) return undefined;
    try {
      return { pem, key: createPrivateKey(pem) };
    } catch {
      // No cause: the parser's message may quote the file.
      fail(field, 'is not a readable PEM private key (encrypted keys are not supported)');
      return undefined;
    }
  };
  const certificate = (field: string, file: string): { pem: string; cert: X509Certificate } | undefined => {
    const pem = read(field, file);
    if (pem === undefined) return undefined;
    try {
      return { pem, cert: new X509Certificate(pem) };
    } catch {
      fail(field, 'is not a readable PEM certificate');
      return undefined;
    }
  };
  const signingKey = (field: string, ref: z.infer<typeof signingKeyRef>): ClientAssertionKey | undefined => {
    const loaded = key(`${field}.keyFile`, ref.keyFile);
    if (!loaded) return undefined;
    const type = loaded.key.asymmetricKeyType ?? 'unknown';
    if (!ALG_KEY_TYPES[ref.alg].includes(type)) {
      fail(`${field}.alg`, `${ref.alg} needs a ${ALG_KEY_TYPES[ref.alg].join(' or ')} key, the key file holds ${type}`);
      return undefined;
    }
    return { pem: loaded.pem, alg: ref.alg, ...(ref.kid ? { kid: ref.kid } : {}) };
  };

  let clientSecret: string | undefined;
  if (entry.clientSecretFile) {
    const raw = read('clientSecretFile', entry.clientSecretFile);
    if (raw !== undefined) {
      clientSecret = raw.replace(/\s+$/, '');
      if (!clientSecret) fail('clientSecretFile', 'the file is empty');
      else if (/[\r\n]/.test(clientSecret)) fail('clientSecretFile', 'the secret spans several lines');
    }
  }
  const clientAssertionKey = entry.clientAssertion ? signingKey('clientAssertion', entry.clientAssertion) : undefined;
  const requestObjectKey = entry.requestObject ? signingKey('requestObject', entry.requestObject) : undefined;

  let jwsSigningKey: BankClientCredentials['jwsSigningKey'];
  if (entry.jws) {
    const k = key('jws.keyFile', entry.jws.keyFile);
    const type = k?.key.asymmetricKeyType;
    if (k && type !== 'rsa' && type !== 'rsa-pss') fail('jws.keyFile', `PS256 needs an RSA key, the key file holds ${type ?? 'unknown'}`);
    else if (k) jwsSigningKey = { pem: k.pem, kid: entry.jws.kid, iss: entry.jws.issuer, tan: entry.jws.trustAnchor };
  }

  let mtls: BankClientCredentials['mtls'];
  if (entry.qwac) {
    const cert = certificate('qwac.certFile', entry.qwac.certFile);
    const k = key('qwac.keyFile', entry.qwac.keyFile);
    if (cert && k && !cert.cert.checkPrivateKey(k.key)) fail('qwac.keyFile', 'the key does not belong to the QWAC in qwac.certFile');
    const ca = entry.qwac.caFile ? certificate('qwac.caFile', entry.qwac.caFile) : undefined;
    if (cert && k) mtls = { certPem: cert.pem, keyPem: k.pem, ...(ca ? { caPem: ca.pem } : {}) };
  }

  let qseal: BankClientCredentials['qseal'];
  if (entry.qseal) {
    const k = key('qseal.keyFile', entry.qseal.keyFile);
    const cert = entry.qseal.certFile ? certificate('qseal.certFile', entry.qseal.certFile) : undefined;
    if (cert && k && !cert.cert.checkPrivateKey(k.key)) fail('qseal.keyFile', 'the key does not belong to the QSealC in qseal.certFile');
    if (k) {
      qseal = {
        keyId: entry.qseal.keyId,
        privateKeyPem: k.pem,
        algorithm: entry.qseal.algorithm,
        includeRequestTarget: entry.qseal.includeRequestTarget,
        // Some standards send the certificate along; others' banks fetch it from the keyId URL.
        ...(cert && registry.get(standard).liveCredentials.sendsQSealCertificate ? { certificatePem: cert.pem } : {}),
      };
      try {
        createQSealSigner(institutionId, qseal);
      } catch (err) {
        fail('qseal', err instanceof Error ? err.message.replace(`${institutionId}: `, '') : 'unusable');
        qseal = undefined;
      }
    }
  }

  if (problems.length > 0) throw new CredentialsLoadError(problems);
  return hideFromPrinting(
    {
      clientId: entry.clientId,
      tokenEndpointAuthMethod: entry.tokenEndpointAuthMethod,
      ...(clientSecret ? { clientSecret } : {}),
      ...(clientAssertionKey ? { clientAssertionKey } : {}),
      ...(requestObjectKey ? { requestObjectKey } : {}),
      ...(jwsSigningKey ? { jwsSigningKey } : {}),
      ...(mtls ? { mtls } : {}),
      ...(qseal ? { qseal } : {}),
    },
    { clientId: entry.clientId, tokenEndpointAuthMethod: entry.tokenEndpointAuthMethod, mtls: !!mtls, qseal: !!qseal, jws: !!jwsSigningKey },
  );
}
