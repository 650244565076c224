import { Migration } from '@mikro-orm/migrations';

/**
 * The event log (transactional outbox): one row per change, written in the same transaction as
 * the change. Readers page by (txid, seq) and only read events of transactions older than every
 * transaction still running, so a cursor never skips an event that commits late.
 */
export class Migration20261125000008Events extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table event (
        seq bigserial primary key,
        txid xid8 not null default pg_current_xact_id(),
        id uuid not null unique,
        tenant_id uuid not null references tenant (id) on delete cascade,
        type varchar(40) not null,
        resource_type varchar(40) not null,
        resource_id uuid not null,
        resource_seq bigint not null default 0,
        created_at timestamptz not null default now(),
        payload jsonb not null
      );`);
    this.addSql(`create index event_tenant_order_idx on event (tenant_id, txid, seq);`);
    this.addSql(`create unique index event_resource_seq_idx on event (resource_id, resource_seq);`);
    // Per-resource sequence: events of one resource are numbered 1, 2, 3… in commit order. The
    // transaction-scoped lock makes a second writer of the same resource wait for the first's commit.
    this.addSql(`
      create function event_resource_seq() returns trigger language plpgsql as $$
      begin
        perform pg_advisory_xact_lock(4242003, hashtext(new.resource_id::text));
        select coalesce(max(resource_seq), 0) + 1 into new.resource_seq from event where resource_id = new.resource_id;
        return new;
      end $$;`);
    this.addSql(`create trigger event_resource_seq before insert on event for each row execute function event_resource_seq();`);
  }

  override async down(): Promise<void> {
    this.addSql('drop table if exists event;');
    this.addSql('drop function if exists event_resource_seq();');
  }
}
