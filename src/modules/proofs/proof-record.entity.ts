import { Entity, PrimaryKey, Property } from '@mikro-orm/core';

/**
 * A proof record as a unit of work writes it (see `ProofsService.add`). Only what the application
 * supplies is mapped: the chain columns (seq, prev_sha256, body_sha256, record_sha256) are set by
 * the database's insert trigger under the tenant's chain lock, and the row is never updated.
 */
@Entity({ tableName: 'proof_record' })
export class ProofRecordEntity {
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @Property({ type: 'uuid', fieldName: 'tenant_id' })
  tenantId!: string;

  @Property({ type: 'string', length: 16 })
  subjectKind!: string;

  @Property({ type: 'string', length: 64 })
  subjectId!: string;

  @Property({ type: 'string', length: 48 })
  event!: string;

  /** The record's canonical JSON (RFC 8785), exactly as hashed. */
  @Property({ type: 'text' })
  body!: string;

  @Property({ type: 'Date', columnType: 'timestamptz(3)' })
  createdAt!: Date;

  @Property({ type: 'Date', columnType: 'timestamptz(3)' })
  retainUntil!: Date;
}
