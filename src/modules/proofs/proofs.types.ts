import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { GraphQLJSONObject } from 'graphql-scalars';
import { connectionType } from '../../api/relay/connection';
import { toGlobalId } from '../../api/relay/global-id';
import { Node } from '../../api/relay/node';
import type { ProofBody } from './proof';
import type { ProofRow } from './proofs.service';

/** GraphQL's view of the proof events (same names as the stored `event`). */
export enum ProofEventKind {
  CONSENT_AUTHORISED = 'CONSENT_AUTHORISED',
  PAYMENT_APPROVED = 'PAYMENT_APPROVED',
  PAYMENT_APPROVAL_REJECTED = 'PAYMENT_APPROVAL_REJECTED',
  PAYMENT_STATUS_CHANGED = 'PAYMENT_STATUS_CHANGED',
}
registerEnumType(ProofEventKind, { name: 'ProofEvent', description: 'What a proof record proves.' });

/** Who acted. */
@ObjectType('ProofActor', {
  simpleResolvers: true,
  description: 'Who acted: END_USER (at their bank), MEMBER (of the tenant), API_KEY, or GATEWAY (its own status poll).',
})
export class ProofActorType {
  @Field(() => String, { description: 'END_USER, MEMBER, API_KEY or GATEWAY.' })
  kind!: string;

  @Field(() => String, { description: 'Global id of the end user or API key; the member id; for GATEWAY what acted (`system`).' })
  id!: string;

  @Field(() => String, { nullable: true })
  name!: string | null;
}

/** How the actor was authenticated: identifiers only, never a secret. */
@ObjectType('ProofAuthMethod', {
  simpleResolvers: true,
  description: 'How the actor was authenticated: identifiers only, never a secret. Fields not of its kind are null.',
})
export class ProofAuthMethodType {
  @Field(() => String, { description: 'BANK_SCA, BANK_REPORT (the bank reported a status to a poll), CERTIFICATE, PASSKEY or API_KEY.' })
  kind!: string;

  @Field(() => ID, { nullable: true, description: 'BANK_SCA, BANK_REPORT: the bank (Institution global id).' })
  institutionId!: string | null;

  @Field(() => String, { nullable: true, description: 'BANK_SCA: REDIRECT or DECOUPLED, when known.' })
  scaApproach!: string | null;

  @Field(() => String, { nullable: true, description: 'CERTIFICATE: the subject distinguished name.' })
  certificateSubject!: string | null;

  @Field(() => String, { nullable: true, description: 'CERTIFICATE: the serial number.' })
  certificateSerial!: string | null;

  @Field(() => String, { nullable: true, description: 'CERTIFICATE: the issuer distinguished name.' })
  certificateIssuer!: string | null;

  @Field(() => String, { nullable: true, description: 'PASSKEY: the WebAuthn credential id.' })
  credentialId!: string | null;

  @Field(() => ID, { nullable: true, description: 'API_KEY: the key (ApiKey global id).' })
  apiKeyId!: string | null;
}

/** One link of the tenant's hash chain. */
@ObjectType('ProofLink', { simpleResolvers: true, description: "One link of the tenant's proof chain: its sequence number and hashes." })
export class ProofLinkType {
  @Field(() => ID)
  id!: string;

  @Field(() => String, { description: 'Position in the tenant chain (1, 2, …; a decimal string).' })
  seq!: string;

  @Field(() => String, { description: 'SHA-256 (hex) of the canonical body.' })
  bodySha256!: string;

  @Field(() => String, { description: "The previous record's recordSha256 (64 zeros for the first record)." })
  prevSha256!: string;

  @Field(() => String, { description: 'SHA-256 (hex) of `{"bodySha256":…,"prevSha256":…,"seq":…}` (RFC 8785).' })
  recordSha256!: string;

  static from(r: ProofRow): ProofLinkType {
    return Object.assign(new ProofLinkType(), {
      id: toGlobalId('ProofRecord', r.id),
      seq: r.seq,
      bodySha256: r.bodySha256,
      prevSha256: r.prevSha256,
      recordSha256: r.recordSha256,
    });
  }
}

/** A proof record: who authorised, approved, rejected or changed what, how they authenticated, and the hashes chaining it. */
@ObjectType('ProofRecord', {
  implements: Node,
  description:
    'A proof record: who authorised, approved, rejected or changed what, how they were authenticated, the SHA-256 of the canonical document and the signature, chained to the previous record of the tenant. Never changed once written.',
})
export class ProofRecordType extends Node {
  @Field(() => String, { description: 'Position in the tenant chain (a decimal string).' })
  seq!: string;

  @Field(() => ProofEventKind)
  event!: ProofEventKind;

  @Field(() => String, { description: 'PAYMENT or CONSENT.' })
  subjectKind!: string;

  @Field(() => ID, { description: 'Global id of the payment or consent.' })
  subjectId!: string;

  @Field(() => ID, { nullable: true, description: 'The end user concerned.' })
  endUserId!: string | null;

  @Field(() => ID, { nullable: true, description: 'The API key (the application) that acted, when one did.' })
  applicationId!: string | null;

  @Field(() => ProofActorType)
  actor!: ProofActorType;

  @Field(() => ProofAuthMethodType)
  authMethod!: ProofAuthMethodType;

  @Field(() => GraphQLJSONObject, { description: 'The document authorised, approved or changed, as hashed (RFC 8785).' })
  document!: Record<string, unknown>;

  @Field(() => String, { description: 'SHA-256 (hex) of the canonical document.' })
  documentSha256!: string;

  @Field(() => GraphQLJSONObject, {
    nullable: true,
    description: "The actor's signature as given: `format` (JWS or WEBAUTHN), `value` and what checking it offline needs.",
  })
  signature!: Record<string, unknown> | null;

  @Field(() => Date, { description: 'When the act happened.' })
  occurredAt!: Date;

  @Field(() => Date, { description: 'When the record was written.' })
  createdAt!: Date;

  @Field(() => Date, { description: 'Kept until then (PROOF_RETENTION_YEARS when written), then purged.' })
  retainUntil!: Date;

  @Field(() => String, { description: 'The record body exactly as hashed (RFC 8785 canonical JSON).' })
  canonical!: string;

  @Field(() => String)
  bodySha256!: string;

  @Field(() => String)
  prevSha256!: string;

  @Field(() => String)
  recordSha256!: string;

  static from(r: ProofRow): ProofRecordType {
    const b = JSON.parse(r.body) as ProofBody;
    const a = b.authMethod;
    const gid = (kind: string, id: string) => (kind === 'END_USER' ? toGlobalId('EndUser', id) : kind === 'API_KEY' ? toGlobalId('ApiKey', id) : id);
    return Object.assign(new ProofRecordType(), {
      id: toGlobalId('ProofRecord', r.id),
      seq: r.seq,
      event: b.event as ProofEventKind,
      subjectKind: b.subject.kind,
      subjectId: toGlobalId(b.subject.kind === 'PAYMENT' ? 'Payment' : 'Consent', b.subject.id),
      endUserId: b.endUserId ? toGlobalId('EndUser', b.endUserId) : null,
      applicationId: b.applicationId ? toGlobalId('ApiKey', b.applicationId) : null,
      actor: Object.assign(new ProofActorType(), { kind: b.actor.kind, id: gid(b.actor.kind, b.actor.id), name: b.actor.name ?? null }),
      authMethod: Object.assign(new ProofAuthMethodType(), {
        kind: a.kind,
        institutionId: a.kind === 'BANK_SCA' || a.kind === 'BANK_REPORT' ? toGlobalId('Institution', a.institutionId) : null,
        scaApproach: a.kind === 'BANK_SCA' ? a.scaApproach : null,
        certificateSubject: a.kind === 'CERTIFICATE' ? a.subject : null,
        certificateSerial: a.kind === 'CERTIFICATE' ? a.serial : null,
        certificateIssuer: a.kind === 'CERTIFICATE' ? a.issuer : null,
        credentialId: a.kind === 'PASSKEY' ? a.credentialId : null,
        apiKeyId: a.kind === 'API_KEY' ? toGlobalId('ApiKey', a.apiKeyId) : null,
      }),
      document: b.document,
      documentSha256: b.documentSha256,
      signature: b.signature as Record<string, unknown> | null,
      occurredAt: new Date(b.occurredAt),
      createdAt: new Date(b.createdAt),
      retainUntil: new Date(b.retainUntil),
      canonical: r.body,
      bodySha256: r.bodySha256,
      prevSha256: r.prevSha256,
      recordSha256: r.recordSha256,
    });
  }
}

export const ProofRecordConnection = connectionType('ProofRecord', ProofRecordType);

/** A record with the chain from it towards the head. */
@ObjectType('ProofResult', {
  simpleResolvers: true,
  description: 'A proof record with its chain path: the links from it towards the head of the tenant chain.',
})
export class ProofResultType {
  @Field(() => ProofRecordType)
  record!: ProofRecordType;

  @Field(() => [ProofLinkType], { description: 'From the record (first) towards the head, in chain order, at most `pathFirst` links.' })
  chainPath!: ProofLinkType[];

  @Field(() => Boolean, { description: 'True when chainPath reaches the head of the chain.' })
  chainPathComplete!: boolean;

  @Field(() => String, { description: "The head's sequence number now." })
  headSeq!: string;
}

/** The file `npm run proof:verify` checks offline. */
@ObjectType('ProofExportFile', {
  simpleResolvers: true,
  description: 'A proof export: save `content` as `fileName` and check it offline with `npm run proof:verify -- FILE`.',
})
export class ProofExportFileType {
  @Field(() => String)
  fileName!: string;

  @Field(() => String, {
    description: 'The export as JSON: the record, the chain from it towards the head (at most 1000 links) and the tenant’s signature over the last link.',
  })
  content!: string;

  @Field(() => String, { description: "Where the tenant's proof-signing public key is published (a JWKS)." })
  jwksUrl!: string;
}
