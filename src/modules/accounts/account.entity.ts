import { Entity, ManyToOne, OptionalProps, PrimaryKey, Property, Unique } from '@mikro-orm/core';
import { randomUUID } from 'node:crypto';
import type { AccountKind } from '../../banking/model';
import { Consent } from '../consents/consent.entity';
import { EndUser } from '../tenancy/end-user.entity';
import { Tenant } from '../tenancy/tenant.entity';

/**
 * A bank account of an end user at one institution. It belongs to whichever consent last granted
 * it, so a renewed or new consent keeps the same account (and transaction) ids.
 */
@Entity({ tableName: 'account' })
@Unique({ properties: ['consent', 'bankAccountId'] })
export class Account {
  [OptionalProps]?: 'id' | 'createdAt' | 'version' | 'syncStatus';

  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @ManyToOne({ entity: () => Tenant, deleteRule: 'cascade' })
  tenant!: Tenant;

  /** The consent that currently grants access to it. */
  @ManyToOne({ entity: () => Consent, deleteRule: 'cascade' })
  consent!: Consent;

  @ManyToOne({ entity: () => EndUser, deleteRule: 'cascade' })
  endUser!: EndUser;

  @Property({ type: 'string', length: 64 })
  institutionId!: string;

  @Property({ type: 'string', length: 200 })
  bankAccountId!: string;

  @Property({ type: 'string', length: 16 })
  kind!: AccountKind;

  @Property({ type: 'string', length: 34, nullable: true })
  iban: string | null = null;

  @Property({ type: 'string', length: 40, nullable: true })
  maskedPan: string | null = null;

  @Property({ type: 'string', length: 3 })
  currency!: string;

  @Property({ type: 'string', length: 200, nullable: true })
  name: string | null = null;

  @Property({ type: 'string', length: 200, nullable: true })
  ownerName: string | null = null;

  @Property({ type: 'string', length: 200, nullable: true })
  product: string | null = null;

  @Property({ type: 'Date', columnType: 'timestamptz' })
  createdAt: Date = new Date();

  /** Change-feed version: bumped by every transaction insert, change and removal. */
  @Property({ type: 'bigint', defaultRaw: '0' })
  version: string = '0';

  @Property({ type: 'string', columnType: 'date', nullable: true })
  lastBookedDate: string | null = null;

  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true })
  lastSyncedAt: Date | null = null;

  @Property({ type: 'string', length: 24 })
  syncStatus: SyncStatus = 'NEVER_SYNCED';

  /** Why the last sync failed, in words safe to show (no bank payloads). */
  @Property({ type: 'string', length: 500, nullable: true })
  syncError: string | null = null;

  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true })
  nextSyncAt: Date | null = null;
}

/** Where an account's data synchronisation stands. */
export type SyncStatus = 'NEVER_SYNCED' | 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'WAITING_FOR_QUOTA' | 'CONSENT_INVALID';
