import { Entity, ManyToOne, type Opt, PrimaryKey, Property, Unique } from '@mikro-orm/core';
import { randomUUID } from 'node:crypto';
import { Tenant } from '../tenancy/tenant.entity';
import { VaultMasterKey } from './vault-master-key.entity';

/**
 * The data key (DEK) of one owner — a consent or a payment authorisation — wrapped by a master key
 * version. Shredding erases `wrappedKey` and keeps the row as a tombstone, so opening an old value
 * reports `VAULT_KEY_SHREDDED` and the owner can never get a new key by mistake.
 */
@Entity({ tableName: 'vault_data_key' })
@Unique({ properties: ['tenant', 'ownerId'] })
export class VaultDataKey {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @ManyToOne({ entity: () => Tenant, deleteRule: 'cascade' })
  tenant!: Tenant;

  /** Id of the consent or payment authorisation whose secrets this key protects. */
  @Property({ type: 'string', length: 128 })
  ownerId!: string;

  @ManyToOne({ entity: () => VaultMasterKey, fieldName: 'master_key_version', nullable: true })
  masterKey: VaultMasterKey | null = null;

  @Property({ type: 'blob', columnType: 'bytea', nullable: true })
  wrappedKey: Buffer | null = null;

  @Property({ type: 'Date', columnType: 'timestamptz' })
  createdAt: Date & Opt = new Date();

  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true })
  rewrappedAt: Date | null = null;

  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true })
  shreddedAt: Date | null = null;
}
