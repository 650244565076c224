import { Migration } from '@mikro-orm/migrations';

/**
 * Account data: accounts owned by end user + institution (so a new consent takes over the same
 * accounts and their ids), balances, transactions with a per-account change version, and the
 * unattended-access budget actually used.
 */
export class Migration20261125000006AccountData extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      alter table account
        add column end_user_id uuid null references end_user (id) on delete cascade,
        add column institution_id varchar(64) null,
        add column version bigint not null default 0,
        add column last_booked_date date null,
        add column last_synced_at timestamptz null,
        add column sync_status varchar(24) not null default 'NEVER_SYNCED',
        add column sync_error varchar(500) null,
        add column next_sync_at timestamptz null;`);
    this.addSql(`update account a set end_user_id = c.end_user_id, institution_id = c.institution_id from consent c where c.id = a.consent_id;`);
    this.addSql(`alter table account alter column end_user_id set not null;`);
    this.addSql(`create index account_owner_idx on account (tenant_id, end_user_id, institution_id);`);
    this.addSql(`create index account_due_idx on account (next_sync_at) where next_sync_at is not null;`);

    this.addSql(`
      create table balance (
        id uuid primary key,
        tenant_id uuid not null references tenant (id) on delete cascade,
        account_id uuid not null references account (id) on delete cascade,
        kind varchar(16) not null,
        bank_type varchar(64) not null,
        amount numeric not null,
        currency char(3) not null,
        reference_date date null,
        last_change_date_time timestamptz null,
        credit_limit_included boolean null,
        fetched_at timestamptz not null
      );`);
    this.addSql(`create index balance_account_idx on balance (account_id);`);

    // Rows are never deleted by a sync: a removal is a tombstone carrying the version that removed
    // it, so the change feed can report it.
    this.addSql(`
      create table bank_transaction (
        id uuid primary key,
        tenant_id uuid not null references tenant (id) on delete cascade,
        account_id uuid not null references account (id) on delete cascade,
        status varchar(8) not null,
        amount numeric not null,
        currency char(3) not null,
        booking_date date null,
        value_date date null,
        transaction_date date null,
        sort_date date not null,
        counterparty_name varchar(300) null,
        counterparty_iban varchar(34) null,
        remittance text null,
        description varchar(300) null,
        end_to_end_id varchar(100) null,
        bank_transaction_code varchar(100) null,
        bank_transaction_id varchar(200) null,
        fingerprint char(64) not null,
        occurrence int not null,
        content_hash char(64) not null,
        pending_origin jsonb null,
        raw jsonb null,
        created_version bigint not null,
        version bigint not null,
        removed_at timestamptz null,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now()
      );`);
    this.addSql(`create index bank_transaction_page_idx on bank_transaction (account_id, sort_date desc, id desc) where removed_at is null;`);
    this.addSql(`create unique index bank_transaction_feed_idx on bank_transaction (account_id, version);`);

    this.addSql(`
      create table sync_usage (
        consent_id uuid not null references consent (id) on delete cascade,
        account_id uuid not null references account (id) on delete cascade,
        scope varchar(16) not null,
        day date not null,
        used int not null,
        primary key (consent_id, account_id, scope, day)
      );`);
  }

  override async down(): Promise<void> {
    this.addSql('drop table if exists sync_usage;');
    this.addSql('drop table if exists bank_transaction;');
    this.addSql('drop table if exists balance;');
    this.addSql(`alter table account drop column end_user_id, drop column institution_id, drop column version, drop column last_booked_date,
      drop column last_synced_at, drop column sync_status, drop column sync_error, drop column next_sync_at;`);
  }
}
