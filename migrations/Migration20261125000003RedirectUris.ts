import { Migration } from '@mikro-orm/migrations';

/** Each tenant's allow-list of URIs end users may be sent back to after a bank's SCA. */
export class Migration20261125000003RedirectUris extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table tenant_redirect_uri (
        id uuid primary key,
        tenant_id uuid not null references tenant (id) on delete cascade,
        uri varchar(2048) not null,
        created_at timestamptz not null default now(),
        constraint tenant_redirect_uri_unique unique (tenant_id, uri)
      );`);
  }

  override async down(): Promise<void> {
    this.addSql('drop table if exists tenant_redirect_uri;');
  }
}
