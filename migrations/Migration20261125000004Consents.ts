import { Migration } from '@mikro-orm/migrations';

/** Consents (their bank tokens only ever sealed by the vault) and the accounts they grant. */
export class Migration20261125000004Consents extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table consent (
        id uuid primary key,
        tenant_id uuid not null references tenant (id) on delete cascade,
        end_user_id uuid not null references end_user (id) on delete cascade,
        institution_id varchar(64) null,
        scopes jsonb not null,
        status varchar(32) not null,
        status_reason varchar(500) null,
        valid_for_days int not null,
        history_days int not null,
        frequency_per_day int not null,
        valid_until timestamptz null,
        redirect_uri varchar(2048) not null,
        bank_consent_id varchar(200) null,
        sca_approach varchar(16) null,
        attempt_state_hash char(64) null unique,
        attempt_expires_at timestamptz null,
        attempt_secrets text null,
        connect_token_hash char(64) null unique,
        tokens text null,
        created_at timestamptz not null,
        updated_at timestamptz not null,
        authorized_at timestamptz null
      );`);
    this.addSql(`create index consent_tenant_page_idx on consent (tenant_id, created_at, id);`);
    this.addSql(`
      create table account (
        id uuid primary key,
        tenant_id uuid not null references tenant (id) on delete cascade,
        consent_id uuid not null references consent (id) on delete cascade,
        bank_account_id varchar(200) not null,
        kind varchar(16) not null,
        iban varchar(34) null,
        masked_pan varchar(40) null,
        currency char(3) not null,
        name varchar(200) null,
        owner_name varchar(200) null,
        product varchar(200) null,
        created_at timestamptz not null,
        constraint account_consent_bank_unique unique (consent_id, bank_account_id)
      );`);
    this.addSql(`create index account_tenant_page_idx on account (tenant_id, created_at, id);`);
  }

  override async down(): Promise<void> {
    this.addSql('drop table if exists account;');
    this.addSql('drop table if exists consent;');
  }
}
