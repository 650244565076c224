import { Entity, ManyToOne, OptionalProps, PrimaryKey, Property } from '@mikro-orm/core';
import { randomUUID } from 'node:crypto';
import { Tenant } from '../tenancy/tenant.entity';

/** One line of the audit journal. `details` holds identifiers and outcomes only, never payloads or secrets. */
@Entity({ tableName: 'audit_event' })
export class AuditEvent {
  [OptionalProps]?: 'id' | 'createdAt';

  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @ManyToOne({ entity: () => Tenant, deleteRule: 'cascade' })
  tenant!: Tenant;

  @Property({ type: 'Date', columnType: 'timestamptz' })
  createdAt: Date = new Date();

  @Property({ type: 'string', length: 40 })
  action!: string;

  /** `apiKey:<id>`, `endUser` (their browser at the callback), or `system`. */
  @Property({ type: 'string', length: 80 })
  actor!: string;

  @Property({ type: 'string', length: 40, nullable: true })
  resourceType: string | null = null;

  @Property({ type: 'uuid', nullable: true })
  resourceId: string | null = null;

  @Property({ type: 'json' })
  details!: Record<string, string | number | boolean | null>;
}
