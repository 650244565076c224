import { Migration } from '@mikro-orm/migrations';

/**
 * Row-level security for the tables added after Migration20261207160001RowLevelSecurity
 * (approvals, proof records, access grants), with the same tenant and system policies.
 *
 * Access grants belong to two tenants: the owner and the grantee each see the grants they are a
 * side of, the other side's tenant row, and may append to the other side's journal and event log
 * (and to no other tenant's). An owner's event for a granted account is copied into the grantee's
 * log by a trigger; the log's triggers run as the system role, since a copy lands in another
 * tenant's log (a definer owned by the tables' owner would be bound by FORCE ROW LEVEL SECURITY,
 * or bypass it entirely as a superuser).
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
    // The two sides of a grant: each may see the other's tenant row (name and handle), and write
    // to the other's journal and log about it (invitations, answers, revocations, journalled
    // reads, and the owner's event copies, which the trigger sends only while the grant is ACTIVE).
    const otherSide = (col: string) =>
      `exists (select 1 from access_grant g where (g.owner_tenant_id = ${current} and g.grantee_tenant_id = ${col}) or (g.grantee_tenant_id = ${current} and g.owner_tenant_id = ${col}))`;
    this.addSql(`create policy access_grant_sides on tenant as permissive for select to passerelle_app using (${otherSide('tenant.id')});`);
    for (const table of ['event', 'audit_event']) {
      this.addSql(`create policy access_grant_sides on ${table} as permissive for insert to passerelle_app with check (${otherSide(`${table}.tenant_id`)});`);
    }
    // The log's own triggers act for the row they write, whoever's scope wrote it: the owner's
    // event copied into a grantee's log takes the grantee's next resource sequence number and fans
    // out to the grantee's webhook endpoints. They run as the system role (definers owned by it);
    // the role may create in the schema only for the moment of the change of owner.
    this.addSql(`grant create on schema public to passerelle_system;`);
    for (const fn of LOG_TRIGGERS) {
      this.addSql(`alter function ${fn}() owner to passerelle_system;`);
      this.addSql(`alter function ${fn}() security definer set search_path = public;`);
    }
    this.addSql(`revoke create on schema public from passerelle_system;`);
  }

  override async down(): Promise<void> {
    for (const fn of LOG_TRIGGERS) this.addSql(`alter function ${fn}() owner to current_user;`);
    this.addSql(`alter function event_resource_seq() security invoker;`);
    this.addSql(`alter function webhook_fan_out() security invoker;`);
    for (const table of ['tenant', 'event', 'audit_event']) this.addSql(`drop policy if exists access_grant_sides on ${table};`);
    for (const table of [...TENANT_TABLES, 'access_grant', 'access_grant_account']) {
      this.addSql(`drop policy if exists tenant_isolation on ${table};`);
      this.addSql(`drop policy if exists system_access on ${table};`);
      this.addSql(`alter table ${table} no force row level security;`);
      this.addSql(`alter table ${table} disable row level security;`);
    }
  }
}

const LOG_TRIGGERS = ['event_resource_seq', 'webhook_fan_out', 'access_grant_share_event'];

const TENANT_TABLES = [
  'approval_member',
  'approval_ca_certificate',
  'approver_certificate',
  'approver_passkey',
  'approval_policy',
  'payment_approval',
  'approval_link',
  'proof_chain',
  'proof_record',
  'proof_signing_key',
];
