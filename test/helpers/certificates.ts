import * as x509 from '@peculiar/x509';
import { CompactSign } from 'jose';
import { webcrypto } from 'node:crypto';

/** Test PKI: CAs and signing certificates made with @peculiar/x509 on Node's WebCrypto (ECDSA P-256). */
x509.cryptoProvider.set(webcrypto as unknown as Crypto);
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;
let serial = 0x1000;

export interface TestCa {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
  pem: string;
}

export interface TestSigner {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
  pem: string;
  /** A compact JWS (ES256) over `text`; `detached` leaves the payload out (`header..signature`). */
  sign(text: string, detached?: boolean): Promise<string>;
}

const keyPair = () => webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;

export async function makeCa(name = 'CN=Passerelle Test CA'): Promise<TestCa> {
  const keys = await keyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: (serial++).toString(16),
    name,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 365 * DAY),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  return { cert, keys, pem: cert.toString('pem') };
}

export async function makeSigner(
  ca: TestCa,
  subject: string,
  options: { notBefore?: Date; notAfter?: Date; usages?: x509.KeyUsageFlags } = {},
): Promise<TestSigner> {
  const keys = await keyPair();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: (serial++).toString(16),
    subject,
    issuer: ca.cert.subject,
    notBefore: options.notBefore ?? new Date(Date.now() - DAY),
    notAfter: options.notAfter ?? new Date(Date.now() + 90 * DAY),
    signingKey: ca.keys.privateKey,
    publicKey: keys.publicKey,
    signingAlgorithm: ALG,
    extensions: [new x509.KeyUsagesExtension(options.usages ?? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation, true)],
  });
  return {
    cert,
    keys,
    pem: cert.toString('pem'),
    async sign(text: string, detached = false) {
      const jws = await new CompactSign(new TextEncoder().encode(text)).setProtectedHeader({ alg: 'ES256' }).sign(keys.privateKey);
      if (!detached) return jws;
      const [h, , s] = jws.split('.');
      return `${h}..${s}`;
    },
  };
}

export const KeyUsage = x509.KeyUsageFlags;
