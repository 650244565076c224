import { Entity, ManyToOne, OptionalProps, PrimaryKey, Property, Unique } from '@mikro-orm/core';
import { randomUUID } from 'node:crypto';
import type { AccountKind } from '../../banking/model';
import { Consent } from '../consents/consent.entity';
import { Tenant } from '../tenancy/tenant.entity';

/** An account a consent grants access to, as the bank listed it at authorisation. */
@Entity({ tableName: 'account' })
@Unique({ properties: ['consent', 'bankAccountId'] })
export class Account {
  [OptionalProps]?: 'id' | 'createdAt';

  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @ManyToOne({ entity: () => Tenant, deleteRule: 'cascade' })
  tenant!: Tenant;

  @ManyToOne({ entity: () => Consent, deleteRule: 'cascade' })
  consent!: Consent;

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
}
