import { Migration } from '@mikro-orm/migrations';

/**
 * Reconciliation (DESIGN.md D10): expected payments (invoices to collect, bills to pay) and the
 * matches that tie bank transactions to them. A transaction is never counted twice: at most one
 * live (SUGGESTED or CONFIRMED) match per transaction, enforced by a partial unique index; the
 * amounts a match allocates are its allocations. Creation times are kept to the millisecond, the
 * precision of the keyset cursors that page them (a microsecond left over would repeat rows).
 */
export class Migration20261206190001Reconciliation extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table expected_payment (
        id uuid primary key,
        tenant_id uuid not null references tenant (id) on delete cascade,
        end_user_id uuid not null references end_user (id) on delete cascade,
        account_id uuid null references account (id) on delete set null,
        direction varchar(8) not null check (direction in ('INCOMING', 'OUTGOING')),
        amount numeric not null check (amount > 0),
        currency char(3) not null,
        paid_amount numeric not null default 0,
        due_date date not null,
        counterparty_name varchar(140) null,
        counterparty_iban varchar(34) null,
        invoice_reference varchar(140) null,
        normalised_reference varchar(140) null,
        creditor_reference varchar(25) null,
        uk_reference varchar(18) null,
        external_id varchar(200) null,
        request_hash char(64) not null,
        tolerance_amount numeric not null default 0 check (tolerance_amount >= 0),
        tolerance_days int not null default 0 check (tolerance_days >= 0),
        status varchar(16) not null,
        overdue_notified_at timestamptz null,
        created_at timestamptz(3) not null,
        updated_at timestamptz(3) not null
      );`);
    this.addSql(`create unique index expected_payment_external_id_uniq on expected_payment (tenant_id, external_id) where external_id is not null;`);
    this.addSql(
      `create unique index expected_payment_creditor_reference_uniq on expected_payment (tenant_id, creditor_reference) where creditor_reference is not null;`,
    );
    this.addSql(`create index expected_payment_page_idx on expected_payment (tenant_id, created_at, id);`);
    this.addSql(`create index expected_payment_open_idx on expected_payment (tenant_id, end_user_id, status);`);
    this.addSql(
      `create index expected_payment_due_idx on expected_payment (due_date) where status in ('OPEN', 'PARTIALLY_PAID') and overdue_notified_at is null;`,
    );
    this.addSql(`
      create table reconciliation_match (
        id uuid primary key,
        tenant_id uuid not null references tenant (id) on delete cascade,
        end_user_id uuid not null references end_user (id) on delete cascade,
        transaction_id uuid not null references bank_transaction (id) on delete cascade,
        payment_id uuid null references payment (id) on delete cascade,
        status varchar(16) not null check (status in ('SUGGESTED', 'CONFIRMED', 'REJECTED', 'UNDONE', 'REVERSED')),
        rule varchar(32) not null,
        confidence numeric(4, 3) not null,
        agreeing_fields text[] not null default '{}',
        decided_by varchar(200) null,
        decided_at timestamptz null,
        created_at timestamptz(3) not null
      );`);
    // The database's guarantee that no transaction is counted twice.
    this.addSql(`create unique index reconciliation_match_live_uniq on reconciliation_match (transaction_id) where status in ('SUGGESTED', 'CONFIRMED');`);
    // "Never matched nor rejected" looks a transaction up among every match it ever had.
    this.addSql(`create index reconciliation_match_transaction_idx on reconciliation_match (transaction_id);`);
    this.addSql(`create index reconciliation_match_page_idx on reconciliation_match (tenant_id, created_at, id);`);
    this.addSql(`create index reconciliation_match_payment_idx on reconciliation_match (payment_id) where payment_id is not null;`);
    this.addSql(`
      create table reconciliation_allocation (
        match_id uuid not null references reconciliation_match (id) on delete cascade,
        tenant_id uuid not null references tenant (id) on delete cascade,
        expected_payment_id uuid not null references expected_payment (id) on delete cascade,
        amount numeric not null check (amount <> 0),
        primary key (match_id, expected_payment_id)
      );`);
    this.addSql(`create index reconciliation_allocation_expected_idx on reconciliation_allocation (expected_payment_id);`);
    // Debits of payments initiated through the gateway are found by their end-to-end id.
    this.addSql(`create index payment_tenant_end_to_end_idx on payment (tenant_id, end_to_end_id) where end_to_end_id is not null;`);
  }

  override async down(): Promise<void> {
    this.addSql('drop index if exists payment_tenant_end_to_end_idx;');
    this.addSql('drop table if exists reconciliation_allocation;');
    this.addSql('drop table if exists reconciliation_match;');
    this.addSql('drop table if exists expected_payment;');
  }
}
