import { Migration } from '@mikro-orm/migrations';

/**
 * One counter that every shred and every rotation batch bumps in its own transaction: a process
 * keeping unwrapped data keys in memory reads it (at most VAULT_KEY_CACHE_CHECK_MS apart) to learn
 * that a key it holds was shredded or re-wrapped, even when it missed the bus message.
 */
export class Migration20261207181001VaultKeyEpoch extends Migration {
  override async up(): Promise<void> {
    this.addSql('create table vault_key_epoch (id smallint primary key default 1 check (id = 1), epoch bigint not null default 0);');
    this.addSql('insert into vault_key_epoch (id, epoch) values (1, 0);');
  }

  override async down(): Promise<void> {
    this.addSql('drop table vault_key_epoch;');
  }
}
