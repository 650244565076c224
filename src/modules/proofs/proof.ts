/**
 * The proof record's contract, shared by the gateway (which writes and exports records) and by
 * `npm run proof:verify` (which checks an export offline, without the gateway's code paths).
 * Nothing here touches the database or the network.
 */
import canonicalize from 'canonicalize';
import { createHash } from 'node:crypto';

/** What a proof is about. */
export type ProofSubjectKind = 'CONSENT' | 'PAYMENT';

/** What happened. Approval events are written by the approvals module through `ProofsService`. */
export type ProofEvent = 'CONSENT_AUTHORISED' | 'PAYMENT_APPROVED' | 'PAYMENT_APPROVAL_REJECTED' | 'PAYMENT_STATUS_CHANGED';
export const PROOF_EVENTS: readonly ProofEvent[] = ['CONSENT_AUTHORISED', 'PAYMENT_APPROVED', 'PAYMENT_APPROVAL_REJECTED', 'PAYMENT_STATUS_CHANGED'];

/** Who acted: the end user at their bank, a member of the tenant, an API key, or the gateway itself (a status poll). */
export interface ProofActor {
  kind: 'END_USER' | 'MEMBER' | 'API_KEY' | 'GATEWAY';
  id: string;
  name?: string | null;
}

/** How the actor was authenticated. Never a secret: identifiers only. */
export type ProofAuthMethod =
  /** Strong customer authentication at the bank (redirect or decoupled). */
  | { kind: 'BANK_SCA'; institutionId: string; institutionName?: string | null; scaApproach: string | null }
  /** The bank reported a status to the gateway's poll (no person acted). */
  | { kind: 'BANK_REPORT'; institutionId: string }
  /** A client certificate (e.g. a qualified certificate) signed the document. */
  | { kind: 'CERTIFICATE'; subject: string; serial: string; issuer: string; fingerprintSha256?: string | null }
  /** A WebAuthn passkey signed the document. */
  | { kind: 'PASSKEY'; credentialId: string }
  /** A call authenticated by one of the tenant's API keys. */
  | { kind: 'API_KEY'; apiKeyId: string };

/**
 * The actor's own signature over the document, kept as given.
 * - JWS: compact JWS whose key is in its `x5c` header (or `certificate`, PEM); its payload (or, when
 *   detached, the canonical document) is the canonical document, its SHA-256 in hex, or a JSON object
 *   with `documentSha256`.
 * - WEBAUTHN: an assertion; `clientDataJSON`'s challenge is the base64url of the document's SHA-256
 *   (32 bytes); `publicKey` is the credential's SPKI (DER, base64url). All values base64url.
 */
export type ProofSignature =
  | { format: 'JWS'; value: string; certificate?: string | null }
  | { format: 'WEBAUTHN'; value: string; authenticatorData: string; clientDataJSON: string; publicKey: string };

/** What a caller appends: the gateway fills in id, times and hashes. */
export interface ProofInput {
  tenantId: string;
  /** The API key (the developer's application) through which the subject was acted on, when known. */
  applicationId?: string | null;
  endUserId?: string | null;
  subject: { kind: ProofSubjectKind; id: string };
  event: ProofEvent;
  actor: ProofActor;
  authMethod: ProofAuthMethod;
  /** The canonical document: what was authorised, approved or changed. Hashed as RFC 8785 JSON. */
  document: Record<string, unknown>;
  signature?: ProofSignature | null;
  /** When the act happened, if earlier than the append (e.g. the bank's authorisation time). */
  occurredAt?: Date | null;
}

/** The hashed body of a record (version 1), stored and exported as RFC 8785 canonical JSON. */
export interface ProofBody {
  v: 1;
  id: string;
  tenantId: string;
  applicationId: string | null;
  endUserId: string | null;
  subject: { kind: ProofSubjectKind; id: string };
  event: ProofEvent;
  actor: ProofActor;
  authMethod: ProofAuthMethod;
  document: Record<string, unknown>;
  documentSha256: string;
  signature: ProofSignature | null;
  occurredAt: string;
  createdAt: string;
  retainUntil: string;
}

/** One link of a tenant's chain as stored and exported. */
export interface ProofLink {
  id: string;
  seq: string;
  /** The body, RFC 8785 canonical JSON, exactly as hashed. */
  body: string;
  bodySha256: string;
  prevSha256: string;
  recordSha256: string;
}

/** The signed statement closing an export: "record `seq` of tenant `tenantId`'s chain has hash `recordSha256`". */
export interface ProofAnchorPayload {
  typ: 'passerelle-proof-anchor';
  tenantId: string;
  seq: string;
  recordSha256: string;
  /** The chain's head when exported (the path may stop earlier: exports are bounded). */
  headSeq: string;
  exportedAt: string;
}

/** The downloaded file `npm run proof:verify` checks. */
export interface ProofExport {
  format: 'passerelle-proof-export/1';
  exportedAt: string;
  tenantId: string;
  /** The record asked for: `path[0]`. */
  recordId: string;
  /** From the record to the head (or the export bound), in chain order. */
  path: ProofLink[];
  headSeq: string;
  anchor: {
    /** Compact JWS (ES256) over a {@link ProofAnchorPayload} for the last link of `path`. */
    jws: string;
    /** The tenant's proof-signing public key, also published at `jwksUrl`. */
    jwk: Record<string, unknown>;
    kid: string;
    jwksUrl: string;
  };
}

export const GENESIS_SHA256 = '0'.repeat(64);

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** RFC 8785 (JSON Canonicalization Scheme). */
export function canonicalJson(value: unknown): string {
  const out = canonicalize(value);
  if (out === undefined) throw new TypeError('value has no JSON form');
  return out;
}

/** What the database hashes into `record_sha256` (see the migration's trigger): itself canonical JSON. */
export function linkText(bodySha256: string, prevSha256: string, seq: string): string {
  return canonicalJson({ bodySha256, prevSha256, seq: Number(seq) });
}
