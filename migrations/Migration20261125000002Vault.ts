import { Migration } from '@mikro-orm/migrations';

/** Vault: master key versions (wrapped by the KMS), per-owner data keys, rotations. */
export class Migration20261125000002Vault extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table vault_master_key (
        version integer primary key check (version > 0),
        state varchar(16) not null check (state in ('active', 'retiring', 'retired')),
        kms_provider varchar(8) not null check (kms_provider in ('local', 'gcp')),
        kms_key_id varchar(300) not null,
        kms_key_version varchar(400) not null,
        wrapped_key bytea null,
        created_at timestamptz not null default now(),
        retired_at timestamptz null,
        constraint vault_master_key_material check ((state = 'retired') = (wrapped_key is null))
      );`);
    this.addSql(`create unique index vault_master_key_one_active on vault_master_key ((true)) where state = 'active';`);
    this.addSql(`
      create table vault_data_key (
        id uuid primary key,
        tenant_id uuid not null references tenant (id) on delete cascade,
        owner_id varchar(128) not null,
        master_key_version integer null references vault_master_key (version),
        wrapped_key bytea null,
        created_at timestamptz not null default now(),
        rewrapped_at timestamptz null,
        shredded_at timestamptz null,
        constraint vault_data_key_owner_unique unique (tenant_id, owner_id),
        constraint vault_data_key_material check (
          (shredded_at is null and wrapped_key is not null and master_key_version is not null)
          or (shredded_at is not null and wrapped_key is null and master_key_version is null))
      );`);
    this.addSql(`create index vault_data_key_master_idx on vault_data_key (master_key_version, id) where master_key_version is not null;`);
    this.addSql(`
      create table vault_rotation (
        id serial primary key,
        to_version integer not null references vault_master_key (version),
        state varchar(16) not null check (state in ('running', 'done')),
        rewrapped bigint not null default 0,
        batches integer not null default 0,
        resumes integer not null default 0,
        started_at timestamptz not null default now(),
        updated_at timestamptz not null default now(),
        finished_at timestamptz null
      );`);
    this.addSql(`create unique index vault_rotation_one_running on vault_rotation ((true)) where state = 'running';`);
  }

  override async down(): Promise<void> {
    this.addSql('drop table if exists vault_rotation;');
    this.addSql('drop table if exists vault_data_key;');
    this.addSql('drop table if exists vault_master_key;');
  }
}
