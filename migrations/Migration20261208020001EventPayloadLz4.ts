import { Migration } from '@mikro-orm/migrations';

/**
 * Event payloads are compressed with lz4 where the server has it: a first sync appends a thousand
 * TRANSACTIONS_ADDED events of a hundred ids each in its publishing transaction, and pglz spent
 * about 100 ms of it compressing them (lz4: about 10). Rows stored before keep their pglz
 * compression; both read the same. A server built without lz4 (embedded PGlite) keeps pglz.
 */
export class Migration20261208020001EventPayloadLz4 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      do $$ begin
        alter table event alter column payload set compression lz4;
      exception when feature_not_supported then
        null;
      end $$;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table event alter column payload set compression default;`);
  }
}
