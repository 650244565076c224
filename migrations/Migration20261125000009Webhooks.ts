import { Migration } from '@mikro-orm/migrations';

/**
 * Webhooks: endpoints with sealed signing secrets, and one delivery per (endpoint, event), created
 * by a trigger in the same transaction as the event — so no event is committed without its
 * deliveries, and a crash after the commit leaves them PENDING for the next worker. Deliveries of
 * one resource to one endpoint form a lane, sent strictly in the resource's sequence; the lane row
 * says when it next needs a worker (`due_at`) and who holds it (`leased_until`).
 */
export class Migration20261125000009Webhooks extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table webhook_endpoint (
        id uuid primary key,
        tenant_id uuid not null references tenant (id) on delete cascade,
        url varchar(2048) not null,
        description varchar(200),
        event_types text[] not null,
        secret_sealed text not null,
        previous_secret_sealed text,
        previous_secret_expires_at timestamptz,
        secret_rotated_at timestamptz,
        created_at timestamptz not null default now()
      );`);
    this.addSql(`create index webhook_endpoint_tenant_idx on webhook_endpoint (tenant_id, created_at, id);`);
    this.addSql(`
      create table webhook_delivery (
        id uuid primary key default gen_random_uuid(),
        endpoint_id uuid not null references webhook_endpoint (id) on delete cascade,
        tenant_id uuid not null,
        event_id uuid not null,
        resource_id uuid not null,
        resource_seq bigint not null,
        status varchar(12) not null default 'PENDING',
        attempts int not null default 0,
        first_attempt_at timestamptz,
        last_attempt_at timestamptz,
        next_attempt_at timestamptz not null default now(),
        last_response_status int,
        last_error varchar(300),
        delivered_at timestamptz,
        created_at timestamptz not null default now(),
        unique (endpoint_id, event_id)
      );`);
    // The lane's order, and the lists of the API (newest first per endpoint or tenant).
    this.addSql(`create index webhook_delivery_lane_idx on webhook_delivery (endpoint_id, resource_id, resource_seq) where status = 'PENDING';`);
    this.addSql(`create index webhook_delivery_list_idx on webhook_delivery (tenant_id, created_at desc, id desc);`);
    this.addSql(`
      create table webhook_attempt (
        delivery_id uuid not null references webhook_delivery (id) on delete cascade,
        n int not null,
        at timestamptz not null,
        duration_ms int not null,
        response_status int,
        error varchar(300),
        primary key (delivery_id, n)
      );`);
    this.addSql(`
      create table webhook_lane (
        endpoint_id uuid not null references webhook_endpoint (id) on delete cascade,
        resource_id uuid not null,
        due_at timestamptz,
        leased_until timestamptz,
        version bigint not null default 0,
        primary key (endpoint_id, resource_id)
      );`);
    this.addSql(`create index webhook_lane_due_idx on webhook_lane (due_at) where due_at is not null;`);
    // A lane that is idle becomes due now; one already due (or waiting for a retry) keeps its time.
    // Every new delivery bumps the version, so a worker that found the lane empty cannot park it over this one.
    this.addSql(`
      create function webhook_fan_out() returns trigger language plpgsql as $$
      begin
        with created as (
          insert into webhook_delivery (endpoint_id, tenant_id, event_id, resource_id, resource_seq)
          select e.id, new.tenant_id, new.id, new.resource_id, new.resource_seq
          from webhook_endpoint e
          where e.tenant_id = new.tenant_id and new.type = any (e.event_types)
          returning endpoint_id
        )
        insert into webhook_lane (endpoint_id, resource_id, due_at)
        select endpoint_id, new.resource_id, now() from created
        on conflict (endpoint_id, resource_id)
        do update set due_at = coalesce(webhook_lane.due_at, excluded.due_at), version = webhook_lane.version + 1;
        return null;
      end $$;`);
    this.addSql(`create trigger event_webhook_fan_out after insert on event for each row execute function webhook_fan_out();`);
  }

  override async down(): Promise<void> {
    this.addSql('drop trigger if exists event_webhook_fan_out on event;');
    this.addSql('drop function if exists webhook_fan_out();');
    this.addSql('drop table if exists webhook_lane;');
    this.addSql('drop table if exists webhook_attempt;');
    this.addSql('drop table if exists webhook_delivery;');
    this.addSql('drop table if exists webhook_endpoint;');
  }
}
