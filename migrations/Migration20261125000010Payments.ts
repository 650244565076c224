import { Migration } from '@mikro-orm/migrations';

/**
 * Payments: one row per payment, written (with the gateway's own idempotency key for the bank)
 * before the first bank call, so a call retried after a timeout carries the same key and never
 * pays twice; and the developer's idempotency keys per tenant, each bound to its request's hash
 * and to the payment it created.
 */
export class Migration20261125000010Payments extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table payment (
        id uuid primary key,
        tenant_id uuid not null references tenant (id) on delete cascade,
        end_user_id uuid not null references end_user (id) on delete cascade,
        institution_id varchar(64) not null,
        scheme varchar(32) not null,
        debtor_iban varchar(34) null,
        creditor_name varchar(70) not null,
        creditor_iban varchar(34) not null,
        creditor_bic varchar(11) null,
        amount numeric not null check (amount > 0),
        currency char(3) not null,
        remittance_information varchar(140) null,
        end_to_end_id varchar(35) null,
        requested_execution_date date null,
        redirect_uri varchar(2048) not null,
        status varchar(32) not null,
        raw_status varchar(64) null,
        reason_code varchar(16) null,
        status_reason varchar(500) null,
        terminal boolean not null default false,
        initiation varchar(16) not null,
        bank_payment_id varchar(200) null,
        gateway_idempotency_key uuid not null unique,
        authorization_url varchar(4096) null,
        state_hash char(64) not null unique,
        sealed_state text not null,
        secrets text null,
        attempt_expires_at timestamptz not null,
        authorised_at timestamptz null,
        created_at timestamptz not null,
        updated_at timestamptz not null
      );`);
    this.addSql(`create index payment_tenant_page_idx on payment (tenant_id, created_at, id);`);
    this.addSql(`create index payment_tenant_status_idx on payment (tenant_id, status, created_at, id);`);
    this.addSql(`
      create table payment_idempotency (
        tenant_id uuid not null references tenant (id) on delete cascade,
        key varchar(200) not null,
        request_hash char(64) not null,
        payment_id uuid not null references payment (id) on delete cascade,
        created_at timestamptz not null,
        primary key (tenant_id, key)
      );`);
  }

  override async down(): Promise<void> {
    this.addSql('drop table if exists payment_idempotency;');
    this.addSql('drop table if exists payment;');
  }
}
