/**
 * Offline verification of a proof export (docs/proofs.md): what `npm run proof:verify FILE`
 * runs. Uses only the file (and, when given, the published JWKS): no database, no gateway.
 */
import { X509Certificate, createPublicKey, verify as verifySignature } from 'node:crypto';
import { calculateJwkThumbprint, compactVerify, decodeProtectedHeader, flattenedVerify, importJWK, importX509, type JWK } from 'jose';
import { z } from 'zod';
import { canonicalJson, linkText, sha256Hex, type ProofBody, type ProofExport } from './proof';

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const exportSchema = z.object({
  format: z.literal('passerelle-proof-export/1'),
  exportedAt: z.string().max(40),
  tenantId: z.string().max(64),
  recordId: z.string().max(64),
  path: z
    .array(
      z.object({
        id: z.string().max(64),
        seq: z.string().regex(/^\d{1,19}$/),
        body: z.string().max(1_000_000),
        bodySha256: hex64,
        prevSha256: hex64,
        recordSha256: hex64,
      }),
    )
    .min(1)
    .max(10_000),
  headSeq: z.string().regex(/^\d{1,19}$/),
  anchor: z.object({ jws: z.string().max(10_000), jwk: z.record(z.string(), z.unknown()), kid: z.string().max(100), jwksUrl: z.string().max(2048) }),
});

export type VerifyResult =
  | {
      ok: true;
      recordId: string;
      fromSeq: string;
      toSeq: string;
      links: number;
      kid: string;
      jwksUrl: string;
      keyChecked: boolean;
      signaturesChecked: number;
      signaturesUnchecked: number;
    }
  | { ok: false; seq: string | null; id: string | null; reason: string };

const broken = (link: { seq: string; id: string } | null, reason: string): VerifyResult => ({
  ok: false,
  seq: link?.seq ?? null,
  id: link?.id ?? null,
  reason,
});

/**
 * Checks, for each link from the record towards the head: the body is canonical JSON and hashes
 * to `bodySha256`; `recordSha256` hashes the link; each link names the previous one's hash and
 * the next sequence number; the document hashes to `documentSha256`; the actor's signature, when
 * it can be checked offline. Then the anchor: the tenant's ES256 signature over the last link.
 * `jwks`: the published key set (GET the export's `jwksUrl`); without it, the file's own key is used.
 */
export async function verifyProofExport(file: unknown, options: { jwks?: { keys: JWK[] } } = {}): Promise<VerifyResult> {
  const parsed = exportSchema.safeParse(file);
  if (!parsed.success)
    return broken(null, `not a proof export: ${parsed.error.issues[0]?.path.join('.') || '(root)'} ${parsed.error.issues[0]?.message ?? ''}`.trim());
  const exp = parsed.data as ProofExport;
  if (exp.path[0]!.id !== exp.recordId) return broken(exp.path[0]!, 'the path does not start at the exported record');
  let checked = 0;
  let unchecked = 0;
  for (let i = 0; i < exp.path.length; i++) {
    const link = exp.path[i]!;
    let body: ProofBody;
    try {
      body = JSON.parse(link.body) as ProofBody;
    } catch {
      return broken(link, 'its body is not JSON');
    }
    if (canonicalJson(body) !== link.body) return broken(link, 'its body is not canonical JSON (RFC 8785)');
    if (sha256Hex(link.body) !== link.bodySha256) return broken(link, 'its body does not hash to its bodySha256: the record was altered');
    if (sha256Hex(linkText(link.bodySha256, link.prevSha256, link.seq)) !== link.recordSha256)
      return broken(link, 'its recordSha256 is not the hash of its body hash, previous hash and sequence');
    if (i > 0) {
      const prev = exp.path[i - 1]!;
      if (BigInt(link.seq) !== BigInt(prev.seq) + 1n) return broken(link, `its sequence does not follow ${prev.seq}: a record is missing`);
      if (link.prevSha256 !== prev.recordSha256) return broken(link, `its prevSha256 is not the hash of record ${prev.seq}: the chain was altered`);
    }
    if (body.id !== link.id || body.tenantId !== exp.tenantId) return broken(link, 'its body names another record or tenant');
    if (typeof body.document !== 'object' || body.document === null || sha256Hex(canonicalJson(body.document)) !== body.documentSha256) {
      return broken(link, 'its document does not hash to its documentSha256');
    }
    if (body.signature) {
      const sig = await checkActorSignature(body);
      if (sig === 'UNCHECKED') unchecked++;
      else if (sig === 'OK') checked++;
      else return broken(link, `the actor's signature fails: ${sig}`);
    }
  }
  const last = exp.path.at(-1)!;
  const anchor = await checkAnchor(exp, last, options.jwks);
  if (anchor !== 'OK') return broken(last, `the anchor fails: ${anchor}`);
  return {
    ok: true,
    recordId: exp.recordId,
    fromSeq: exp.path[0]!.seq,
    toSeq: last.seq,
    links: exp.path.length,
    kid: exp.anchor.kid,
    jwksUrl: exp.anchor.jwksUrl,
    keyChecked: options.jwks !== undefined,
    signaturesChecked: checked,
    signaturesUnchecked: unchecked,
  };
}

async function checkAnchor(exp: ProofExport, last: ProofExport['path'][number], jwks?: { keys: JWK[] }): Promise<string> {
  const jwk = exp.anchor.jwk as JWK;
  let thumbprint: string;
  try {
    thumbprint = await calculateJwkThumbprint(jwk);
  } catch {
    return 'its key is not a JWK';
  }
  if (thumbprint !== exp.anchor.kid) return 'its key does not match its kid';
  if (jwks && !(await Promise.all(jwks.keys.map((k) => calculateJwkThumbprint(k).catch(() => '')))).includes(thumbprint)) {
    return `its key ${thumbprint} is not in the published key set`;
  }
  let payload: Record<string, unknown>;
  try {
    const key = await importJWK(jwk, 'ES256');
    const verified = await compactVerify(exp.anchor.jws, key, { algorithms: ['ES256'] });
    if (verified.protectedHeader.kid !== exp.anchor.kid) return 'its signature names another key';
    payload = JSON.parse(new TextDecoder().decode(verified.payload)) as Record<string, unknown>;
  } catch {
    return 'its signature does not verify with the key';
  }
  if (
    payload.typ !== 'passerelle-proof-anchor' ||
    payload.tenantId !== exp.tenantId ||
    payload.seq !== last.seq ||
    payload.recordSha256 !== last.recordSha256
  ) {
    return `it signs another record than the last of the path (${last.seq})`;
  }
  return 'OK';
}

/** 'OK', 'UNCHECKED' (no key in the record to check it with), or why it fails. */
async function checkActorSignature(body: ProofBody): Promise<string> {
  const sig = body.signature!;
  try {
    if (sig.format === 'JWS') return await checkJws(body, sig.value, sig.certificate ?? null);
    if (sig.format === 'WEBAUTHN') return checkWebAuthn(body, sig);
  } catch (err) {
    return `it cannot be read (${(err as Error).message.slice(0, 120)})`;
  }
  return 'UNCHECKED';
}

async function checkJws(body: ProofBody, jws: string, certificate: string | null): Promise<string> {
  const header = decodeProtectedHeader(jws);
  const pem = header.x5c?.[0] ? `-----BEGIN CERTIFICATE-----\n${header.x5c[0]}\n-----END CERTIFICATE-----` : certificate;
  if (!pem || !header.alg) return 'UNCHECKED';
  const key = await importX509(pem, header.alg);
  const [protectedPart, payloadPart, signaturePart] = jws.split('.');
  const canonical = canonicalJson(body.document);
  let payload: string;
  if (payloadPart === '') {
    // Detached: the signed payload is the canonical document.
    await flattenedVerify({ protected: protectedPart!, payload: Buffer.from(canonical, 'utf8').toString('base64url'), signature: signaturePart! }, key);
    payload = canonical;
  } else {
    payload = new TextDecoder().decode((await compactVerify(jws, key)).payload);
  }
  if (!jwsCovers(payload, canonical, body.documentSha256)) return 'its payload is not this document nor its hash';
  if (body.authMethod.kind === 'CERTIFICATE') {
    const cert = new X509Certificate(pem);
    const norm = (s: string) =>
      s
        .replace(/[^0-9a-f]/gi, '')
        .replace(/^0+/, '')
        .toLowerCase();
    if (norm(cert.serialNumber) !== norm(body.authMethod.serial)) return 'it is by another certificate than the one recorded (serial)';
  }
  return 'OK';
}

function jwsCovers(payload: string, canonicalDocument: string, documentSha256: string): boolean {
  if (payload === canonicalDocument || payload === documentSha256) return true;
  try {
    return (JSON.parse(payload) as { documentSha256?: unknown }).documentSha256 === documentSha256;
  } catch {
    return false;
  }
}

function checkWebAuthn(body: ProofBody, sig: Extract<ProofBody['signature'], { format: 'WEBAUTHN' }>): string {
  const clientDataJSON = Buffer.from(sig.clientDataJSON, 'base64url');
  const clientData = JSON.parse(clientDataJSON.toString('utf8')) as { type?: string; challenge?: string };
  if (clientData.type !== 'webauthn.get') return 'its client data is not an assertion';
  if (clientData.challenge !== Buffer.from(body.documentSha256, 'hex').toString('base64url')) return 'its challenge is not the document hash';
  const key = createPublicKey({ key: Buffer.from(sig.publicKey, 'base64url'), format: 'der', type: 'spki' });
  const signed = Buffer.concat([Buffer.from(sig.authenticatorData, 'base64url'), Buffer.from(sha256Hex(clientDataJSON), 'hex')]);
  const ok = verifySignature(key.asymmetricKeyType === 'ed25519' ? null : 'sha256', signed, key, Buffer.from(sig.value, 'base64url'));
  return ok ? 'OK' : 'it does not verify with the credential’s public key';
}
