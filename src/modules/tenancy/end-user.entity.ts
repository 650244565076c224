import { Entity, OptionalProps, ManyToOne, PrimaryKey, Property, Unique } from '@mikro-orm/core';
import { randomUUID } from 'node:crypto';
import { Tenant } from './tenant.entity';

/** The person (PSU) a developer connects to banks, known by the developer's own reference. */
@Entity({ tableName: 'end_user' })
@Unique({ properties: ['tenant', 'externalRef'] })
export class EndUser {
  [OptionalProps]?: 'id' | 'createdAt' | 'displayName';

  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @ManyToOne({ entity: () => Tenant, deleteRule: 'cascade' })
  tenant!: Tenant;

  @Property({ type: 'string', length: 128 })
  externalRef!: string;

  @Property({ type: 'string', length: 200, nullable: true })
  displayName: string | null = null;

  @Property({ type: 'Date', columnType: 'timestamptz' })
  createdAt: Date = new Date();
}
