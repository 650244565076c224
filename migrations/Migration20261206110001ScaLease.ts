import { Migration } from '@mikro-orm/migrations';

/**
 * A short lease on a consent's authentication: `sandboxConsentAuthorize` takes it with one
 * statement before asking the bank, so simultaneous calls authorise a consent once.
 */
export class Migration20261206110001ScaLease extends Migration {
  override async up(): Promise<void> {
    this.addSql('alter table consent add column sca_lease_until timestamptz null;');
  }

  override async down(): Promise<void> {
    this.addSql('alter table consent drop column sca_lease_until;');
  }
}
