import { Migration } from '@mikro-orm/migrations';

/**
 * Webhook lanes are leased in batches and their runs recorded in batches, possibly after the
 * lease has run out and another process holds the lane: the lease token says whose lease it is,
 * so only the current holder moves a lane on (parks it, sets its retry time, lets it go).
 */
export class Migration20261207180001WebhookLaneLeaseToken extends Migration {
  override async up(): Promise<void> {
    this.addSql('alter table webhook_lane add column lease_token uuid null;');
  }

  override async down(): Promise<void> {
    this.addSql('alter table webhook_lane drop column lease_token;');
  }
}
