import { Migration } from '@mikro-orm/migrations';

/**
 * Row-level security for the tables added after Migration20261207160001RowLevelSecurity
 * (approvals, proof records, access grants), with the same tenant and system policies.
 *
 * Access grants belong to two tenants: the owner and the grantee each see the grants they are a
 * side of. An owner's event for a granted account is copied into the grantee's log by a trigger
 * running in the owner's scope, so the owner may append to the log of a tenant it has an ACTIVE
 * grant to, and to nothing else (the trigger runs as the invoker: a definer would be bound by
 * FORCE ROW LEVEL SECURITY as the tables' owner, or bypass it entirely as a superuser).
 * `vault_key_epoch` is one counter for the whole gateway and holds no tenant's data.
 */
export class Migration20261207230001IsolateLaterTenantTables extends Migration {
  override async up(): Promise<void> {
    for (const table of TENANT_TABLES) this.addSql(`select passerelle_isolate_tenant('${table}');`);
    const current = `nullif(current_setting('passerelle.tenant_id', true), '')::uuid`;
    this.addSql(`alter table access_grant enable row level security;`);
    this.addSql(`alter table access_grant force row level security;`);
    const side = `(owner_tenant_id = ${current} or grantee_tenant_id = ${current})`;
    this.addSql(`create policy tenant_isolation on access_grant to passerelle_app using ${side} with check ${side};`);
    this.addSql(`create policy system_access on access_grant to passerelle_system using (true) with check (true);`);
    this.addSql(`alter table access_grant_account enable row level security;`);
    this.addSql(`alter table access_grant_account force row level security;`);
    const owned = `exists (select 1 from access_grant g where g.id = access_grant_account.grant_id)`;
    this.addSql(`create policy tenant_isolation on access_grant_account to passerelle_app using (${owned}) with check (${owned});`);
    this.addSql(`create policy system_access on access_grant_account to passerelle_system using (true) with check (true);`);
    this.addSql(`
      create policy access_grant_copy on event as permissive for insert to passerelle_app with check (
        exists (select 1 from access_grant g
                where g.owner_tenant_id = ${current} and g.grantee_tenant_id = event.tenant_id and g.status = 'ACTIVE'));`);
    this.addSql(`alter function access_grant_share_event() security invoker;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter function access_grant_share_event() security definer;`);
    this.addSql(`drop policy if exists access_grant_copy on event;`);
    for (const table of [...TENANT_TABLES, 'access_grant', 'access_grant_account']) {
      this.addSql(`drop policy if exists tenant_isolation on ${table};`);
      this.addSql(`drop policy if exists system_access on ${table};`);
      this.addSql(`alter table ${table} no force row level security;`);
      this.addSql(`alter table ${table} disable row level security;`);
    }
  }
}

const TENANT_TABLES = [
  'approval_member', 'approval_ca_certificate', 'approver_certificate', 'approver_passkey', 'approval_policy',
  'payment_approval', 'approval_link', 'proof_chain', 'proof_record', 'proof_signing_key',
];
