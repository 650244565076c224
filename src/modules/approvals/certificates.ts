import { BasicConstraintsExtension, KeyUsageFlags, KeyUsagesExtension, X509Certificate } from '@peculiar/x509';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { compactVerify, errors as joseErrors } from 'jose';
import { sha256Hex } from './document';

/** Why a certificate or a signature is refused; each is a stable userError code. */
export type CertificateProblem =
  'CERTIFICATE_INVALID' | 'CERTIFICATE_EXPIRED' | 'CERTIFICATE_NOT_YET_VALID' | 'CERTIFICATE_KEY_USAGE' | 'CERTIFICATE_UNTRUSTED';

export type SignatureProblem = 'SIGNATURE_INVALID' | 'SIGNATURE_DOCUMENT_MISMATCH';

/** PEM or base64 DER, at most this long: a certificate is a few kilobytes. */
export const MAX_CERTIFICATE_CHARS = 16_384;
/** A compact JWS over an approval document (a few hundred bytes) with room for a large RSA signature. */
export const MAX_JWS_CHARS = 16_384;
/** Signature algorithms accepted for approvals (smart cards sign with RSA or ECDSA). */
export const JWS_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'];

export interface ParsedCertificate {
  cert: X509Certificate;
  der: string;
  fingerprint: string;
}

/** Parses one certificate (PEM or base64 DER); null when it is not one. */
export function parseCertificate(text: string): ParsedCertificate | null {
  if (text.length > MAX_CERTIFICATE_CHARS) return null;
  try {
    const cert = new X509Certificate(text.trim());
    const raw = new Uint8Array(cert.rawData);
    return { cert, der: Buffer.from(raw).toString('base64'), fingerprint: sha256Hex(raw) };
  } catch {
    // asn1 parse errors carry no stable type: any failure here means "not a certificate".
    return null;
  }
}

/** A certificate this gateway stored (base64 DER), parsed again. */
export function certificateFromDer(der: string): X509Certificate {
  return new X509Certificate(Buffer.from(der, 'base64'));
}

export function isCa(cert: X509Certificate): boolean {
  return cert.getExtension(BasicConstraintsExtension)?.ca === true;
}

/**
 * Checks an approver's certificate at `at`: in its validity period, usable for signatures
 * (keyUsage digitalSignature or nonRepudiation when the extension is there; not a CA), and
 * signed (verified) by one of the tenant's CA certificates, itself valid at `at`.
 */
export async function checkSigningCertificate(cert: X509Certificate, cas: readonly X509Certificate[], at: Date): Promise<CertificateProblem | null> {
  if (at < cert.notBefore) return 'CERTIFICATE_NOT_YET_VALID';
  if (at > cert.notAfter) return 'CERTIFICATE_EXPIRED';
  const usage = cert.getExtension(KeyUsagesExtension);
  if (usage && !(usage.usages & (KeyUsageFlags.digitalSignature | KeyUsageFlags.nonRepudiation))) return 'CERTIFICATE_KEY_USAGE';
  if (isCa(cert)) return 'CERTIFICATE_KEY_USAGE';
  // Every registered CA (root or intermediate) is a trust anchor: the certificate must be signed by one.
  const issuer = await findIssuer(cert, cas);
  if (!issuer || at < issuer.notBefore || at > issuer.notAfter) return 'CERTIFICATE_UNTRUSTED';
  return null;
}

async function findIssuer(cert: X509Certificate, cas: readonly X509Certificate[]): Promise<X509Certificate | null> {
  for (const ca of cas) {
    if (ca.subject !== cert.issuer || !isCa(ca)) continue;
    if ((await verifiedBy(cert, ca)) === 'OK') return ca;
  }
  return null;
}

async function verifiedBy(cert: X509Certificate, issuer: X509Certificate): Promise<'OK' | 'CERTIFICATE_UNTRUSTED'> {
  try {
    return (await cert.verify({ publicKey: issuer, signatureOnly: true })) ? 'OK' : 'CERTIFICATE_UNTRUSTED';
  } catch {
    // An unsupported or malformed signature algorithm is no trust either.
    return 'CERTIFICATE_UNTRUSTED';
  }
}

export function publicKeyOf(cert: X509Certificate): KeyObject {
  return createPublicKey({ key: Buffer.from(cert.publicKey.rawData), format: 'der', type: 'spki' });
}

/**
 * Verifies a compact JWS made with the certificate's key over exactly `document`. The payload may
 * be attached (base64url of the document) or detached (`header..signature`); either way the bytes
 * verified are the document the gateway computed, never what the client sent.
 */
export async function verifyDocumentSignature(jws: string, document: string, key: KeyObject): Promise<SignatureProblem | null> {
  if (jws.length > MAX_JWS_CHARS) return 'SIGNATURE_INVALID';
  const parts = jws.trim().split('.');
  if (parts.length !== 3) return 'SIGNATURE_INVALID';
  const expected = Buffer.from(document, 'utf8').toString('base64url');
  if (parts[1] !== '' && parts[1] !== expected) return 'SIGNATURE_DOCUMENT_MISMATCH';
  try {
    await compactVerify(`${parts[0]}.${expected}.${parts[2]}`, key, { algorithms: JWS_ALGORITHMS });
    return null;
  } catch (err) {
    if (err instanceof joseErrors.JOSEError) return 'SIGNATURE_INVALID';
    throw err;
  }
}
