import { Migration } from '@mikro-orm/migrations';

/** The audit journal: append-only, per tenant; never payloads, tokens or secrets. */
export class Migration20261125000005Audit extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table audit_event (
        id uuid primary key,
        tenant_id uuid not null references tenant (id) on delete cascade,
        created_at timestamptz not null,
        action varchar(40) not null,
        actor varchar(80) not null,
        resource_type varchar(40) null,
        resource_id uuid null,
        details jsonb not null
      );`);
    this.addSql(`create index audit_event_tenant_page_idx on audit_event (tenant_id, created_at, id);`);
  }

  override async down(): Promise<void> {
    this.addSql('drop table if exists audit_event;');
  }
}
