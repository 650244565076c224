import { Migration } from '@mikro-orm/migrations';

/**
 * Row-level security (docs/row-level-security.md): the database itself keeps tenants apart, so a
 * query that forgets its tenant filter reads nothing of another tenant.
 *
 * The tables stay owned by the migrating role; the gateway works as one of two roles that own
 * nothing (it enters them with SET ROLE per pooled connection, src/platform/tenant-scope.ts):
 * - `passerelle_app`: sees and writes only rows of the tenant named by the `passerelle.tenant_id`
 *   setting; none when it is unset;
 * - `passerelle_system`: every row, for the paths that have no caller tenant (bank callbacks,
 *   jobs, the webhook dispatcher, operator commands), entered only through `asSystem(reason, …)`.
 * FORCE binds the owner as well: a data migration on these tables runs `set local role passerelle_system`.
 *
 * `passerelle_isolate_tenant(table)` applies the same policies to a table with a `tenant_id`
 * column; later migrations that add such tables call it (a test fails for any table left out).
 * Roles are shared by every database of the server, so their creation tolerates a concurrent one.
 */
export class Migration20261207160001RowLevelSecurity extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      do $$
      declare r text;
      begin
        foreach r in array array['passerelle_app', 'passerelle_system'] loop
          if not exists (select 1 from pg_roles where rolname = r) then
            begin
              execute format('create role %I nologin', r);
            exception when duplicate_object or unique_violation then null;
            end;
          end if;
          -- The migrating role enters both with SET ROLE (a superuser may already). It does not
          -- inherit their policies where the server allows saying so (PostgreSQL 16+), so FORCE
          -- binds it too; on older servers make the login role NOINHERIT for that.
          if not pg_has_role(current_user, r, 'member') then
            if current_setting('server_version_num')::int >= 160000 then
              execute format('grant %I to %I with inherit false', r, current_user);
            else
              execute format('grant %I to %I', r, current_user);
            end if;
          end if;
        end loop;
      end $$;`);
    this.addSql(`grant usage on schema public to passerelle_app, passerelle_system;`);
    this.addSql(`grant select, insert, update, delete on all tables in schema public to passerelle_app, passerelle_system;`);
    this.addSql(`grant usage, select, update on all sequences in schema public to passerelle_app, passerelle_system;`);
    this.addSql(`revoke insert, update, delete on mikro_orm_migrations from passerelle_app, passerelle_system;`);
    // Tables and sequences later migrations create (as the same owner) are granted alike.
    this.addSql(`alter default privileges in schema public grant select, insert, update, delete on tables to passerelle_app, passerelle_system;`);
    this.addSql(`alter default privileges in schema public grant usage, select, update on sequences to passerelle_app, passerelle_system;`);
    this.addSql(`
      create function passerelle_isolate_tenant(t regclass, tenant_column text default 'tenant_id') returns void language plpgsql as $$
      begin
        execute format('alter table %s enable row level security', t);
        execute format('alter table %s force row level security', t);
        execute format(
          'create policy tenant_isolation on %s to passerelle_app using (%2$I = nullif(current_setting(''passerelle.tenant_id'', true), '''')::uuid) with check (%2$I = nullif(current_setting(''passerelle.tenant_id'', true), '''')::uuid)',
          t, tenant_column);
        execute format('create policy system_access on %s to passerelle_system using (true) with check (true)', t);
      end $$;`);
    for (const table of TENANT_TABLES) this.addSql(`select passerelle_isolate_tenant('${table}');`);
    // The tenant row itself: a tenant sees its own.
    this.addSql(`select passerelle_isolate_tenant('tenant', 'id');`);
    // Tables without tenant_id that still hold one tenant's data follow the row they belong to.
    for (const [table, parent, key] of CHILD_TABLES) {
      this.addSql(`alter table ${table} enable row level security;`);
      this.addSql(`alter table ${table} force row level security;`);
      const owned = `exists (select 1 from ${parent} p where p.id = ${table}.${key})`;
      this.addSql(`create policy tenant_isolation on ${table} to passerelle_app using (${owned}) with check (${owned});`);
      this.addSql(`create policy system_access on ${table} to passerelle_system using (true) with check (true);`);
    }
  }

  override async down(): Promise<void> {
    for (const table of [...TENANT_TABLES, 'tenant', ...CHILD_TABLES.map(([t]) => t)]) {
      this.addSql(`drop policy if exists tenant_isolation on ${table};`);
      this.addSql(`drop policy if exists system_access on ${table};`);
      this.addSql(`alter table ${table} no force row level security;`);
      this.addSql(`alter table ${table} disable row level security;`);
    }
    this.addSql('drop function if exists passerelle_isolate_tenant(regclass, text);');
    this.addSql(`alter default privileges in schema public revoke all on tables from passerelle_app, passerelle_system;`);
    this.addSql(`alter default privileges in schema public revoke all on sequences from passerelle_app, passerelle_system;`);
    this.addSql(`revoke all on all tables in schema public from passerelle_app, passerelle_system;`);
    this.addSql(`revoke all on all sequences in schema public from passerelle_app, passerelle_system;`);
    this.addSql(`revoke usage on schema public from passerelle_app, passerelle_system;`);
  }
}

const TENANT_TABLES = [
  'account',
  'api_key',
  'audit_event',
  'balance',
  'bank_transaction',
  'consent',
  'end_user',
  'event',
  'payment',
  'payment_idempotency',
  'tenant_redirect_uri',
  'vault_data_key',
  'webhook_delivery',
  'webhook_endpoint',
  'expected_payment',
  'reconciliation_match',
  'reconciliation_allocation',
];

/** [table, parent table, column referencing the parent's id]. */
const CHILD_TABLES: Array<[string, string, string]> = [
  ['sync_usage', 'consent', 'consent_id'],
  ['webhook_attempt', 'webhook_delivery', 'delivery_id'],
  ['webhook_lane', 'webhook_endpoint', 'endpoint_id'],
];
