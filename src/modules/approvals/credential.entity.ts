import { Entity, ManyToOne, OptionalProps, PrimaryKey, Property } from '@mikro-orm/core';
import { randomUUID } from 'node:crypto';
import { Tenant } from '../tenancy/tenant.entity';
import { ApprovalMember } from './member.entity';

/** A CA certificate the tenant trusts for its approvers' certificates (a root or an intermediate). */
@Entity({ tableName: 'approval_ca_certificate' })
export class ApprovalCaCertificate {
  [OptionalProps]?: 'id' | 'createdAt';

  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @ManyToOne({ entity: () => Tenant, deleteRule: 'cascade' })
  tenant!: Tenant;

  /** SHA-256 of the DER, hex. */
  @Property({ type: 'string', length: 64, columnType: 'char(64)' })
  fingerprint!: string;

  @Property({ type: 'string', length: 1024 })
  subject!: string;

  /** The certificate, DER in base64 (public data). */
  @Property({ type: 'text' })
  der!: string;

  @Property({ type: 'Date', columnType: 'timestamptz' })
  notAfter!: Date;

  @Property({ type: 'Date', columnType: 'timestamptz(3)' })
  createdAt: Date = new Date();
}

/** An approver's signing certificate (as a smart card holds), checked against the tenant's CAs when added and at every use. */
@Entity({ tableName: 'approver_certificate' })
export class ApproverCertificate {
  [OptionalProps]?: 'id' | 'createdAt' | 'revokedAt' | 'revocationReason';

  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @ManyToOne({ entity: () => Tenant, deleteRule: 'cascade' })
  tenant!: Tenant;

  @ManyToOne({ entity: () => ApprovalMember, deleteRule: 'cascade' })
  member!: ApprovalMember;

  @Property({ type: 'string', length: 64, columnType: 'char(64)' })
  fingerprint!: string;

  @Property({ type: 'string', length: 1024 })
  subject!: string;

  @Property({ type: 'string', length: 1024 })
  issuer!: string;

  @Property({ type: 'string', length: 128 })
  serialNumber!: string;

  @Property({ type: 'text' })
  der!: string;

  @Property({ type: 'Date', columnType: 'timestamptz' })
  notBefore!: Date;

  @Property({ type: 'Date', columnType: 'timestamptz' })
  notAfter!: Date;

  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true })
  revokedAt: Date | null = null;

  @Property({ type: 'string', length: 200, nullable: true })
  revocationReason: string | null = null;

  @Property({ type: 'Date', columnType: 'timestamptz(3)' })
  createdAt: Date = new Date();
}

/** An approver's WebAuthn passkey, registered on the gateway's hosted page. */
@Entity({ tableName: 'approver_passkey' })
export class ApproverPasskey {
  [OptionalProps]?: 'id' | 'createdAt' | 'counter' | 'transports' | 'revokedAt';

  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @ManyToOne({ entity: () => Tenant, deleteRule: 'cascade' })
  tenant!: Tenant;

  @ManyToOne({ entity: () => ApprovalMember, deleteRule: 'cascade' })
  member!: ApprovalMember;

  /** The authenticator's credential id, base64url. */
  @Property({ type: 'string', length: 1400 })
  credentialId!: string;

  /** COSE public key, base64url. */
  @Property({ type: 'text' })
  publicKey!: string;

  /** The authenticator's signature counter as last seen (a clone or a replay shows a counter that does not grow). */
  @Property({ type: 'bigint' })
  counter: string = '0';

  @Property({ type: 'json' })
  transports: string[] = [];

  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true })
  revokedAt: Date | null = null;

  @Property({ type: 'Date', columnType: 'timestamptz(3)' })
  createdAt: Date = new Date();
}
