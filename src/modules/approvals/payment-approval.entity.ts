import { Entity, ManyToOne, OptionalProps, PrimaryKey, Property } from '@mikro-orm/core';
import { randomUUID } from 'node:crypto';
import { Payment } from '../payments/payment.entity';
import { Tenant } from '../tenancy/tenant.entity';
import { ApprovalMember } from './member.entity';

export type ApprovalDecision = 'APPROVE' | 'REJECT';
export type ApprovalMethod = 'CERTIFICATE' | 'PASSKEY';

/** A member's signed decision on one revision of a payment's approval document. */
@Entity({ tableName: 'payment_approval' })
export class PaymentApproval {
  [OptionalProps]?: 'id' | 'createdAt' | 'reason' | 'voidedAt';

  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @ManyToOne({ entity: () => Tenant, deleteRule: 'cascade' })
  tenant!: Tenant;

  @ManyToOne({ entity: () => Payment, deleteRule: 'cascade' })
  payment!: Payment;

  @ManyToOne({ entity: () => ApprovalMember, deleteRule: 'cascade' })
  member!: ApprovalMember;

  /** The payment's approval revision signed; an amendment bumps the payment's, and older approvals stop counting. */
  @Property({ type: 'integer' })
  revision!: number;

  @Property({ type: 'string', length: 8 })
  decision!: ApprovalDecision;

  @Property({ type: 'string', length: 16 })
  method!: ApprovalMethod;

  /** Certificate: `<issuer>#<serial>`; passkey: its credential id. */
  @Property({ type: 'string', length: 1400 })
  credentialRef!: string;

  /** SHA-256 (hex) of the exact document bytes signed. */
  @Property({ type: 'string', length: 64, columnType: 'char(64)' })
  documentSha256!: string;

  /** The compact JWS, or the WebAuthn assertion (JSON), as received. */
  @Property({ type: 'text' })
  signature!: string;

  @Property({ type: 'string', length: 500, nullable: true })
  reason: string | null = null;

  @Property({ type: 'Date', columnType: 'timestamptz(3)' })
  createdAt: Date = new Date();

  /** Set when it stopped counting before the payment left AWAITING_APPROVAL: its certificate was revoked or its member lost the APPROVER role. */
  @Property({ type: 'Date', columnType: 'timestamptz(3)', nullable: true })
  voidedAt: Date | null = null;
}

export type ApprovalLinkPurpose = 'PASSKEY_REGISTRATION' | 'PAYMENT_APPROVAL';

/** A one-use link to a hosted page (passkey registration, passkey approval of one payment). */
@Entity({ tableName: 'approval_link' })
export class ApprovalLink {
  [OptionalProps]?: 'id' | 'createdAt' | 'payment' | 'challenge' | 'decision' | 'claimedAt';

  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @ManyToOne({ entity: () => Tenant, deleteRule: 'cascade' })
  tenant!: Tenant;

  @ManyToOne({ entity: () => ApprovalMember, deleteRule: 'cascade' })
  member!: ApprovalMember;

  @Property({ type: 'string', length: 24 })
  purpose!: ApprovalLinkPurpose;

  @ManyToOne({ entity: () => Payment, deleteRule: 'cascade', nullable: true })
  payment: Payment | null = null;

  /** SHA-256 of the link's token: the token itself is never stored. */
  @Property({ type: 'string', length: 64, columnType: 'char(64)' })
  tokenHash!: string;

  /** The WebAuthn challenge last issued on the page (registration) or its one-use nonce (approval), base64url. */
  @Property({ type: 'string', length: 200, nullable: true })
  challenge: string | null = null;

  @Property({ type: 'string', length: 8, nullable: true })
  decision: 'APPROVE' | 'REJECT' | null = null;

  @Property({ type: 'Date', columnType: 'timestamptz' })
  expiresAt!: Date;

  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true })
  claimedAt: Date | null = null;

  @Property({ type: 'Date', columnType: 'timestamptz(3)' })
  createdAt: Date = new Date();
}
