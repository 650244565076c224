import { Entity, ManyToOne, OptionalProps, PrimaryKey, Property } from '@mikro-orm/core';
import { randomUUID } from 'node:crypto';
import type { PaymentScheme, PaymentStatus } from '../../banking/model';
import { EndUser } from '../tenancy/end-user.entity';
import { Tenant } from '../tenancy/tenant.entity';

/**
 * Where the first bank call stands: PENDING until the bank has answered (also after a timeout,
 * when the outcome is unknown: a retry calls again with the same gateway idempotency key),
 * STARTED once it has, REFUSED when it definitely refused.
 */
export type PaymentInitiation = 'PENDING' | 'STARTED' | 'REFUSED';

/**
 * A payment. `sealedState` and `secrets` hold vault-sealed ciphertext only; the callback finds
 * the payment by the hash of its `state`.
 */
@Entity({ tableName: 'payment' })
export class Payment {
  [OptionalProps]?:
    | 'id'
    | 'createdAt'
    | 'updatedAt'
    | 'terminal'
    | 'rawStatus'
    | 'reasonCode'
    | 'statusReason'
    | 'bankPaymentId'
    | 'authorizationUrl'
    | 'secrets'
    | 'authorisedAt'
    | 'cancelStateHash'
    | 'cancelClaimedAt'
    | 'cancelAuthorizationUrl'
    | 'cancelSecrets'
    | 'approvalPolicyId'
    | 'approvalRevision'
    | 'approvalsRequired'
    | 'requesterMemberId';

  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @ManyToOne({ entity: () => Tenant, deleteRule: 'cascade' })
  tenant!: Tenant;

  @ManyToOne({ entity: () => EndUser, deleteRule: 'cascade' })
  endUser!: EndUser;

  @Property({ type: 'string', length: 64 })
  institutionId!: string;

  @Property({ type: 'string', length: 32 })
  scheme!: PaymentScheme;

  @Property({ type: 'string', length: 34, nullable: true })
  debtorIban!: string | null;

  @Property({ type: 'string', length: 70 })
  creditorName!: string;

  @Property({ type: 'string', length: 34 })
  creditorIban!: string;

  @Property({ type: 'string', length: 11, nullable: true })
  creditorBic!: string | null;

  /** Decimal string (numeric column), at the currency's scale. */
  @Property({ type: 'decimal', columnType: 'numeric' })
  amount!: string;

  @Property({ type: 'string', length: 3, columnType: 'char(3)' })
  currency!: string;

  @Property({ type: 'string', length: 140, nullable: true })
  remittanceInformation!: string | null;

  @Property({ type: 'string', length: 35, nullable: true })
  endToEndId!: string | null;

  @Property({ type: 'string', columnType: 'date', nullable: true })
  requestedExecutionDate!: string | null;

  @Property({ type: 'string', length: 2048 })
  redirectUri!: string;

  @Property({ type: 'string', length: 32 })
  status!: PaymentStatus;

  @Property({ type: 'string', length: 64, nullable: true })
  rawStatus: string | null = null;

  @Property({ type: 'string', length: 16, nullable: true })
  reasonCode: string | null = null;

  @Property({ type: 'string', length: 500, nullable: true })
  statusReason: string | null = null;

  @Property({ type: 'boolean' })
  terminal: boolean = false;

  @Property({ type: 'string', length: 16 })
  initiation!: PaymentInitiation;

  @Property({ type: 'string', length: 200, nullable: true })
  bankPaymentId: string | null = null;

  /** Sent to the bank (X-Request-ID, x-idempotency-key…) on every try of the initiation. */
  @Property({ type: 'uuid', unique: true })
  gatewayIdempotencyKey!: string;

  @Property({ type: 'string', length: 4096, nullable: true })
  authorizationUrl: string | null = null;

  @Property({ type: 'string', length: 64, columnType: 'char(64)', unique: true })
  stateHash!: string;

  @Property({ type: 'text', lazy: true })
  sealedState!: string;

  @Property({ type: 'text', nullable: true, lazy: true })
  secrets: string | null = null;

  /** Past this, an authorisation never completed fails the payment. */
  @Property({ type: 'Date', columnType: 'timestamptz' })
  attemptExpiresAt!: Date;

  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true })
  authorisedAt: Date | null = null;

  /** Cancellation authorisation (Berlin Group 202): the hash of its one-use callback state. */
  @Property({ type: 'string', length: 64, columnType: 'char(64)', nullable: true })
  cancelStateHash: string | null = null;

  /** When the end user's return claimed that state (one atomic update); a later return changes nothing. */
  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true })
  cancelClaimedAt: Date | null = null;

  /** Where the end user approves the cancellation at the bank. */
  @Property({ type: 'string', length: 4096, nullable: true })
  cancelAuthorizationUrl: string | null = null;

  /** Vault-sealed: what finishing the cancellation authorisation needs. */
  @Property({ type: 'text', nullable: true, lazy: true })
  cancelSecrets: string | null = null;

  /** The approval policy version the payment was created under (null: no policy applied); it keeps it for good. */
  @Property({ type: 'uuid', nullable: true })
  approvalPolicyId: string | null = null;

  /** Bumped by every amendment while AWAITING_APPROVAL: approvals count only for the revision they signed. */
  @Property({ type: 'integer' })
  approvalRevision: number = 0;

  /** How many distinct approvers the policy asks for at the current revision. */
  @Property({ type: 'integer' })
  approvalsRequired: number = 0;

  /** The member who asked for the payment (`requestedBy`), when given. */
  @Property({ type: 'uuid', nullable: true })
  requesterMemberId: string | null = null;

  @Property({ type: 'Date', columnType: 'timestamptz' })
  createdAt: Date = new Date();

  @Property({ type: 'Date', columnType: 'timestamptz', onUpdate: () => new Date() })
  updatedAt: Date = new Date();
}
