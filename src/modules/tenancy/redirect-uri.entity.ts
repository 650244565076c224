import { Entity, ManyToOne, OptionalProps, PrimaryKey, Property, Unique } from '@mikro-orm/core';
import { randomUUID } from 'node:crypto';
import { Tenant } from './tenant.entity';

/** A URI the tenant allows end users to be sent back to after the bank's authentication. */
@Entity({ tableName: 'tenant_redirect_uri' })
@Unique({ properties: ['tenant', 'uri'] })
export class RedirectUri {
  [OptionalProps]?: 'id' | 'createdAt';

  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @ManyToOne({ entity: () => Tenant, deleteRule: 'cascade' })
  tenant!: Tenant;

  @Property({ type: 'string', length: 2048 })
  uri!: string;

  @Property({ type: 'Date', columnType: 'timestamptz' })
  createdAt: Date = new Date();
}
