import { Entity, OptionalProps, PrimaryKey, Property } from '@mikro-orm/core';
import { randomUUID } from 'node:crypto';

/** One line of the audit journal. `details` holds identifiers and outcomes only, never payloads or secrets. */
@Entity({ tableName: 'audit_event' })
export class AuditEvent {
  [OptionalProps]?: 'id' | 'createdAt';

  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  /**
   * The tenant whose journal this line belongs to, by id: the audit module knows no tenancy entity (tenancy
   * journals through it). The database keeps the foreign key, cascading with the tenant's deletion.
   */
  @Property({ type: 'uuid', fieldName: 'tenant_id' })
  tenantId!: string;

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
