import { Migration } from '@mikro-orm/migrations';

/** When each API key was last used (to the minute), so operators can find and retire idle keys. */
export class Migration20261125000007KeyUse extends Migration {
  override async up(): Promise<void> {
    this.addSql('alter table api_key add column last_used_at timestamptz null;');
  }

  override async down(): Promise<void> {
    this.addSql('alter table api_key drop column last_used_at;');
  }
}
