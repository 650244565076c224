import { Migration } from '@mikro-orm/migrations';

/**
 * An approval stops counting for a payment still AWAITING_APPROVAL when the certificate that
 * signed it is revoked or its member loses the APPROVER role (docs/approvals.md): it is marked
 * voided, never deleted, so the decision and its proof record stay part of the history. A member
 * may decide once per revision among the decisions that count: after a voiding they may sign again
 * (with another certificate).
 */
export class Migration20261208010002ApprovalVoided extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table payment_approval add column voided_at timestamptz(3) null;`);
    this.addSql(`alter table payment_approval drop constraint payment_approval_payment_id_member_id_revision_key;`);
    this.addSql(`create unique index payment_approval_counting_idx on payment_approval (payment_id, member_id, revision) where voided_at is null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index if exists payment_approval_counting_idx;`);
    this.addSql(`delete from payment_approval where voided_at is not null;`);
    this.addSql(`alter table payment_approval add constraint payment_approval_payment_id_member_id_revision_key unique (payment_id, member_id, revision);`);
    this.addSql(`alter table payment_approval drop column if exists voided_at;`);
  }
}
