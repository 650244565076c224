import { Migration } from '@mikro-orm/migrations';

/**
 * Pages of transactions are ordered pending first, then by date, then by the per-account
 * sequence `created_version` (never by a random id): this index serves that order.
 */
export class Migration20261206110002TransactionOrder extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create index bank_transaction_order_idx on bank_transaction (account_id, (status = 'PENDING') desc, sort_date desc, created_version desc, id desc) where removed_at is null;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql('drop index if exists bank_transaction_order_idx;');
  }
}
