import { Entity, type Opt, PrimaryKey, Property } from '@mikro-orm/core';

/** Lifecycle of a master key version. Exactly one is `active`. */
export type MasterKeyState = 'active' | 'retiring' | 'retired';

/**
 * One version of the vault master key, stored wrapped by the KMS. The plaintext key exists only in
 * the memory of running processes. A `retired` version has no data key left under it and its
 * wrapped material is erased.
 */
@Entity({ tableName: 'vault_master_key' })
export class VaultMasterKey {
  @PrimaryKey({ type: 'integer', autoincrement: false })
  version!: number;

  @Property({ type: 'string', length: 16 })
  state!: MasterKeyState;

  @Property({ type: 'string', length: 8 })
  kmsProvider!: 'local' | 'gcp';

  /** The KMS key that wrapped it (cryptoKey resource name, or local key file fingerprint). */
  @Property({ type: 'string', length: 300 })
  kmsKeyId!: string;

  /** The KMS key version that produced `wrappedKey` (cryptoKeyVersion resource name). */
  @Property({ type: 'string', length: 400 })
  kmsKeyVersion!: string;

  @Property({ type: 'blob', columnType: 'bytea', nullable: true })
  wrappedKey: Buffer | null = null;

  @Property({ type: 'Date', columnType: 'timestamptz' })
  createdAt: Date & Opt = new Date();

  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true })
  retiredAt: Date | null = null;
}
