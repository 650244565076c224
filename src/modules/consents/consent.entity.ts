import { Entity, ManyToOne, OptionalProps, PrimaryKey, Property } from '@mikro-orm/core';
import { randomUUID } from 'node:crypto';
import type { AccessScope, ScaApproach } from '../../banking/model';
import { EndUser } from '../tenancy/end-user.entity';
import { Tenant } from '../tenancy/tenant.entity';
import { ConsentStatus } from './consent.state';

/**
 * A consent. `tokens` and `attemptSecrets` hold vault-sealed ciphertext only; the authorisation
 * attempt is found by the hash of its `state`, never by the value itself.
 */
@Entity({ tableName: 'consent' })
export class Consent {
  [OptionalProps]?: 'id' | 'createdAt' | 'updatedAt' | 'status';

  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @ManyToOne({ entity: () => Tenant, deleteRule: 'cascade' })
  tenant!: Tenant;

  @ManyToOne({ entity: () => EndUser, deleteRule: 'cascade' })
  endUser!: EndUser;

  /** Registry slug; null until the end user picks a bank on the hosted connect page. */
  @Property({ type: 'string', length: 64, nullable: true })
  institutionId: string | null = null;

  @Property({ type: 'json' })
  scopes!: AccessScope[];

  @Property({ type: 'string', length: 32 })
  status: ConsentStatus = ConsentStatus.PENDING_AUTHORIZATION;

  @Property({ type: 'string', length: 500, nullable: true })
  statusReason: string | null = null;

  @Property({ type: 'integer' })
  validForDays!: number;

  @Property({ type: 'integer' })
  historyDays!: number;

  @Property({ type: 'integer' })
  frequencyPerDay!: number;

  /** As adjusted by the bank once authorised. */
  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true })
  validUntil: Date | null = null;

  @Property({ type: 'string', length: 2048 })
  redirectUri!: string;

  @Property({ type: 'string', length: 200, nullable: true })
  bankConsentId: string | null = null;

  @Property({ type: 'string', length: 16, nullable: true })
  scaApproach: ScaApproach | null = null;

  @Property({ type: 'string', length: 64, nullable: true, unique: true })
  attemptStateHash: string | null = null;

  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true })
  attemptExpiresAt: Date | null = null;

  @Property({ type: 'text', nullable: true, lazy: true })
  attemptSecrets: string | null = null;

  @Property({ type: 'string', length: 64, nullable: true, unique: true })
  connectTokenHash: string | null = null;

  /** Until when a sandbox authorisation holds this consent's authentication (taken by one statement). */
  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true })
  scaLeaseUntil: Date | null = null;

  @Property({ type: 'text', nullable: true, lazy: true })
  tokens: string | null = null;

  @Property({ type: 'Date', columnType: 'timestamptz' })
  createdAt: Date = new Date();

  @Property({ type: 'Date', columnType: 'timestamptz', onUpdate: () => new Date() })
  updatedAt: Date = new Date();

  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true })
  authorizedAt: Date | null = null;
}
