import { Migration } from '@mikro-orm/migrations';

/**
 * Berlin Group cancellation authorisation: a cancel the bank answers 202 sends the end user to
 * approve it, and they come back through the shared callback with a one-use state of its own.
 * The payment keeps that state's hash, when it was claimed (set by one atomic update before any
 * bank call), where to send the end user, and the sealed secrets finishing needs.
 */
export class Migration20261206150001PaymentCancellationAuthorisation extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      alter table payment
        add column cancel_state_hash char(64) null,
        add column cancel_claimed_at timestamptz null,
        add column cancel_authorization_url varchar(4096) null,
        add column cancel_secrets text null;`);
    this.addSql('create unique index payment_cancel_state_hash_uniq on payment (cancel_state_hash);');
  }

  override async down(): Promise<void> {
    this.addSql('drop index if exists payment_cancel_state_hash_uniq;');
    this.addSql(
      'alter table payment drop column if exists cancel_state_hash, drop column if exists cancel_claimed_at, drop column if exists cancel_authorization_url, drop column if exists cancel_secrets;',
    );
  }
}
