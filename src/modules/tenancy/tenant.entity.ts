import { Entity, OptionalProps, PrimaryKey, Property } from '@mikro-orm/core';
import { randomUUID } from 'node:crypto';
import type { Environment } from '../../config';

@Entity({ tableName: 'tenant' })
export class Tenant {
  [OptionalProps]?: 'id' | 'isDemo' | 'createdAt' | 'handle';

  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @Property({ type: 'string', length: 200 })
  name!: string;

  @Property({ type: 'string', length: 16 })
  environment!: Environment;

  @Property({ type: 'boolean', default: false })
  isDemo: boolean = false;

  /** Public handle other tenants name it by (delegated access); unique, set by the operator or `tenantHandleSet`. */
  @Property({ type: 'string', length: 40, nullable: true })
  handle: string | null = null;

  @Property({ type: 'Date', columnType: 'timestamptz' })
  createdAt: Date = new Date();
}
