import { Migration } from '@mikro-orm/migrations';

/**
 * A large first sync commits its transactions in chunks while it still reads the bank; until its
 * last transaction publishes them, a row here says which of the account's rows to leave out of
 * every read (those numbered after `after_version`). Reads of an account's transactions check
 * this small table, not the account row, so a page is still one query that waits for no lock on
 * `account`. The publishing transaction deletes the row; so does the next sync of an account whose
 * first sync died half-way, with the rows it left.
 */
export class Migration20261208020002UnpublishedSync extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table sync_unpublished (
        account_id uuid primary key references account (id) on delete cascade,
        tenant_id uuid not null references tenant (id) on delete cascade,
        after_version bigint not null,
        created_at timestamptz not null default now()
      );`);
    this.addSql(`select passerelle_isolate_tenant('sync_unpublished');`);
  }

  override async down(): Promise<void> {
    this.addSql('drop table if exists sync_unpublished;');
  }
}
