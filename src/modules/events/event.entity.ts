import { Entity, OptionalProps, PrimaryKey, Property } from '@mikro-orm/core';

/**
 * One entry of the event log. Written in the same database transaction as the change it
 * describes (the transactional outbox); its transaction id, per-resource sequence and time are
 * set by the database (columns this entity does not map). The payload is what subscribers and webhooks receive: identifiers and facts, never
 * secrets or bank payloads.
 */
@Entity({ tableName: 'event' })
export class EventRecord {
  [OptionalProps]?: 'seq';

  @PrimaryKey({ type: 'bigint', autoincrement: true })
  seq!: string;

  @Property({ type: 'uuid', unique: true })
  id!: string;

  @Property({ type: 'uuid', fieldName: 'tenant_id' })
  tenantId!: string;

  @Property({ type: 'string', length: 40 })
  type!: string;

  @Property({ type: 'string', length: 40 })
  resourceType!: string;

  @Property({ type: 'uuid' })
  resourceId!: string;

  @Property({ type: 'json' })
  payload!: Record<string, unknown>;
}
