import { BigIntType, Entity, ManyToOne, type Opt, PrimaryKey, Property } from '@mikro-orm/core';
import { VaultMasterKey } from './vault-master-key.entity';

/**
 * One master key rotation. Its progress is derived from the data keys themselves (those not yet
 * under `toVersion`), so a crashed rotation resumes exactly where it stopped; this row records it.
 */
@Entity({ tableName: 'vault_rotation' })
export class VaultRotation {
  @PrimaryKey({ type: 'integer' })
  id!: number;

  @ManyToOne({ entity: () => VaultMasterKey, fieldName: 'to_version' })
  toVersion!: VaultMasterKey;

  @Property({ type: 'string', length: 16 })
  state!: 'running' | 'done';

  @Property({ type: new BigIntType('number'), default: 0 })
  rewrapped: number & Opt = 0;

  @Property({ type: 'integer', default: 0 })
  batches: number & Opt = 0;

  /** How many times the rotation was resumed after an interruption. */
  @Property({ type: 'integer', default: 0 })
  resumes: number & Opt = 0;

  @Property({ type: 'Date', columnType: 'timestamptz' })
  startedAt: Date & Opt = new Date();

  @Property({ type: 'Date', columnType: 'timestamptz' })
  updatedAt: Date & Opt = new Date();

  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true })
  finishedAt: Date | null = null;
}
