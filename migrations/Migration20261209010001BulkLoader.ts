import { Migration } from '@mikro-orm/migrations';

/**
 * A third role for one job: a large first sync's chunks are COPYed straight into
 * `bank_transaction`. PostgreSQL refuses `COPY FROM` into a table whose row-level security applies
 * to the role, so without this role each chunk goes through a session-private staging table and an
 * `INSERT … SELECT` (about 15 % more of the database's time for the sync, and rows inserted one by
 * one instead of the COPY's batches).
 *
 * `passerelle_loader` bypasses row-level security and may do nothing but INSERT into
 * `bank_transaction`: it reads nothing, changes nothing, and touches no other table. The sync
 * enters it with `SET LOCAL ROLE` for the one statement of a chunk, from `passerelle_system`,
 * whose policy on this table is already `true`; the rows' tenant comes from the account row the
 * sync read, as with the staging table. (docs/row-level-security.md)
 *
 * Creating a role that bypasses row-level security needs a superuser on PostgreSQL 15 (on 16+, a
 * role with CREATEROLE and BYPASSRLS itself). Where the migrating role may not, the migration
 * creates nothing and the sync keeps the staging table; an operator may create the role later by
 * hand (docs/row-level-security.md), and the sync finds it at its next first sync.
 */
export class Migration20261209010001BulkLoader extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      do $$
      begin
        if not exists (select 1 from pg_roles where rolname = 'passerelle_loader') then
          begin
            create role passerelle_loader nologin bypassrls;
          exception
            when duplicate_object or unique_violation then null;
            when insufficient_privilege then
              raise notice 'passerelle_loader not created (%): large first syncs use the staging table', sqlerrm;
              return;
          end;
        end if;
        grant insert on bank_transaction to passerelle_loader;
        if not pg_has_role(current_user, 'passerelle_loader', 'member') then
          begin
            if current_setting('server_version_num')::int >= 160000 then
              execute 'grant passerelle_loader to ' || quote_ident(current_user) || ' with inherit false';
            else
              execute 'grant passerelle_loader to ' || quote_ident(current_user);
            end if;
          exception when insufficient_privilege then
            raise notice 'passerelle_loader not granted to % (%): large first syncs use the staging table', current_user, sqlerrm;
          end;
        end if;
      end $$;`);
  }

  override async down(): Promise<void> {
    // The role is shared by every database of the server: only this database's grant goes.
    this.addSql(`
      do $$ begin
        if exists (select 1 from pg_roles where rolname = 'passerelle_loader') then
          revoke insert on bank_transaction from passerelle_loader;
        end if;
      end $$;`);
  }
}
