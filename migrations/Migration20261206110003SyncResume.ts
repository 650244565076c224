import { Migration } from '@mikro-orm/migrations';

/**
 * The mode (and, user-present, the end user's IP) of the sync running on an account, kept only
 * while it runs: a sync a crash interrupted resumes as what it was, not as a background read.
 */
export class Migration20261206110003SyncResume extends Migration {
  override async up(): Promise<void> {
    this.addSql('alter table account add column running_sync_mode varchar(16) null, add column running_sync_psu_ip varchar(45) null;');
  }

  override async down(): Promise<void> {
    this.addSql('alter table account drop column running_sync_mode, drop column running_sync_psu_ip;');
  }
}
