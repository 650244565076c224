import { Migration } from '@mikro-orm/migrations';

/** Tenants, their API keys (hashes only) and their end users. */
export class Migration20261125000001Tenancy extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table tenant (
        id uuid primary key,
        name varchar(200) not null,
        environment varchar(16) not null check (environment in ('sandbox', 'live')),
        is_demo boolean not null default false,
        created_at timestamptz not null default now()
      );`);
    this.addSql(`
      create table api_key (
        id uuid primary key,
        tenant_id uuid not null references tenant (id) on delete cascade,
        name varchar(200) not null,
        prefix varchar(32) not null,
        hash char(64) not null unique,
        created_at timestamptz not null default now(),
        revoked_at timestamptz null
      );`);
    this.addSql(`create index api_key_tenant_idx on api_key (tenant_id, created_at, id);`);
    this.addSql(`
      create table end_user (
        id uuid primary key,
        tenant_id uuid not null references tenant (id) on delete cascade,
        external_ref varchar(128) not null,
        display_name varchar(200) null,
        created_at timestamptz not null default now(),
        constraint end_user_external_ref_unique unique (tenant_id, external_ref)
      );`);
    this.addSql(`create index end_user_tenant_page_idx on end_user (tenant_id, created_at, id);`);
  }

  override async down(): Promise<void> {
    this.addSql('drop table if exists end_user;');
    this.addSql('drop table if exists api_key;');
    this.addSql('drop table if exists tenant;');
  }
}
