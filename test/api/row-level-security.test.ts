import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { Consent } from '../../src/modules/consents/consent.entity';
import { createSqlPool } from '../../src/platform/db';
import { APP_ROLE, SYSTEM_ROLE, asSystem, scopePool, withTenant } from '../../src/platform/tenant-scope';
import { connect, settled } from '../helpers/banking';
import { ciConfig, startTestGateway, type TestGateway } from '../helpers/gateway';

// Row-level security is enforced on Postgres only (PGlite shares one session between connections; see docs/row-level-security.md).
describe.skipIf(!ciConfig.databaseUrl)('row-level security', { timeout: 120_000 }, () => {
  let t: TestGateway;
  let pool: pg.Pool;
  const tenants: { tenantId: string; key: string; consentId: string }[] = [];

  beforeAll(async () => {
    t = await startTestGateway();
    for (const name of ['Tenant A', 'Tenant B']) {
      const { tenantId, key } = await t.createTenant(name);
      const u = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
        'mutation { endUserCreate(input: { externalRef: "owner" }) { endUser { id } } }',
        {},
        key,
      );
      const c = await connect(t, key, u.body.data!.endUserCreate.endUser.id, 'nordlicht');
      await settled(t, key, c.accounts[0]!.id, null);
      tenants.push({ tenantId, key, consentId: c.consentId });
    }
    // A pool put under tenant scopes exactly as the gateway's own.
    pool = createSqlPool(t.gateway.db.url, 2);
    scopePool(pool);
  });
  afterAll(async () => {
    await pool?.end();
    await t?.close();
  });

  it('enables and forces row-level security, with a tenant policy for the gateway role, on every table with a tenant_id column', async () => {
    const { rows } = await t.gateway.db.sql.query<{ table: string; enabled: boolean; forced: boolean; policies: string[] }>(
      `select c.relname as table, c.relrowsecurity as enabled, c.relforcerowsecurity as forced,
              coalesce((select array_agg(p.policyname || ':' || array_to_string(p.roles, ',') order by p.policyname) from pg_policies p
                        where p.schemaname = 'public' and p.tablename = c.relname), '{}') as policies
       from information_schema.columns col join pg_class c on c.relname = col.table_name and c.relnamespace = 'public'::regnamespace
       where col.table_schema = 'public' and col.column_name = 'tenant_id' and c.relkind = 'r'
       order by 1`,
    );
    expect(rows.length).toBeGreaterThanOrEqual(17);
    for (const r of rows) {
      expect({ table: r.table, enabled: r.enabled, forced: r.forced, policies: r.policies }).toEqual({
        table: r.table,
        enabled: true,
        forced: true,
        // The one extra policy: the two sides of an access grant append to each other's log and journal (docs/delegated-access.md).
        policies: [
          ...(['event', 'audit_event'].includes(r.table) ? [`access_grant_sides:${APP_ROLE}`] : []),
          `system_access:${SYSTEM_ROLE}`,
          `tenant_isolation:${APP_ROLE}`,
        ],
      });
    }
    // Tables of two tenants (an access grant's owner and grantee) hold no tenant_id column but are guarded alike.
    const shared = await t.gateway.db.sql.query<{ table: string; enabled: boolean; forced: boolean }>(
      `select relname as table, relrowsecurity as enabled, relforcerowsecurity as forced from pg_class
       where relnamespace = 'public'::regnamespace and relname in ('access_grant', 'access_grant_account') order by 1`,
    );
    expect(shared.rows).toEqual([
      { table: 'access_grant', enabled: true, forced: true },
      { table: 'access_grant_account', enabled: true, forced: true },
    ]);
  });

  it('runs the gateway as roles that own no table', async () => {
    const who = async () => (await pool.query<{ u: string }>('select current_user as u')).rows[0]!.u;
    expect(await withTenant(tenants[0]!.tenantId, who)).toBe(APP_ROLE);
    expect(await who()).toBe(APP_ROLE);
    expect(await asSystem('test: role check', who)).toBe(SYSTEM_ROLE);
    const { rows } = await pool.query<{ n: string }>(`select count(*) as n from pg_tables where schemaname = 'public' and tableowner in ($1, $2)`, [
      APP_ROLE,
      SYSTEM_ROLE,
    ]);
    expect(rows[0]!.n).toBe('0');
  });

  it('lets the bulk loader role, which bypasses row-level security, insert into bank_transaction and do nothing else', async () => {
    const { rows: grants } = await t.gateway.db.sql.query<{ table: string; privilege: string }>(
      `select table_name as table, privilege_type as privilege from information_schema.role_table_grants where grantee = 'passerelle_loader' order by 1, 2`,
    );
    expect(grants).toEqual([{ table: 'bank_transaction', privilege: 'INSERT' }]);
    const asLoader = (statement: string) =>
      asSystem('test: loader role', async () => {
        const client = await pool.connect();
        try {
          await client.query('begin; set local role passerelle_loader');
          return await client.query(statement);
        } finally {
          await client.query('rollback');
          client.release();
        }
      });
    for (const statement of [
      'select id from bank_transaction limit 1',
      `update bank_transaction set removed_at = now()`,
      'delete from bank_transaction',
      'select id from account limit 1',
      'select id from consent limit 1',
      `update account set version = version`,
      `insert into end_user (id, tenant_id, external_ref, created_at) values ('${randomUUID()}', '${tenants[0]!.tenantId}', 'loader', now())`,
    ])
      await expect(asLoader(statement), statement).rejects.toThrow(/permission denied/);
  });

  it('answers a query that omits the tenant filter with the scoped tenant’s bank transactions only, and with none when no tenant is set', async () => {
    const [a, b] = tenants as [(typeof tenants)[0], (typeof tenants)[0]];
    const all = await asSystem('test: every tenant', () => pool.query<{ tenant_id: string }>('select tenant_id from bank_transaction'));
    const ofA = all.rows.filter((r) => r.tenant_id === a.tenantId).length;
    expect(ofA).toBeGreaterThan(0);
    expect(all.rows.some((r) => r.tenant_id === b.tenantId)).toBe(true);

    const seenByA = await withTenant(a.tenantId, () => pool.query<{ tenant_id: string }>('select * from bank_transaction'));
    expect(seenByA.rows).toHaveLength(ofA);
    expect(new Set(seenByA.rows.map((r) => r.tenant_id))).toEqual(new Set([a.tenantId]));

    expect((await pool.query('select * from bank_transaction')).rows).toEqual([]);
    expect((await pool.query('select * from consent')).rows).toEqual([]);
  });

  it('keeps tenants apart on one connection that serves them in turn', async () => {
    const single = createSqlPool(t.gateway.db.url, 1);
    scopePool(single);
    try {
      const count = (tenantId: string) =>
        withTenant(tenantId, async () => (await single.query<{ t: string }>('select distinct tenant_id as t from consent')).rows.map((r) => r.t));
      const seen = await Promise.all(tenants.flatMap((x) => [count(x.tenantId), count(x.tenantId)]));
      expect(seen).toEqual(tenants.flatMap((x) => [[x.tenantId], [x.tenantId]]));
    } finally {
      await single.end();
    }
  });

  it('scopes the ORM the same way: a find with no tenant condition returns the scoped tenant’s consents only', async () => {
    const [a, b] = tenants as [(typeof tenants)[0], (typeof tenants)[0]];
    const orm = t.gateway.db.orm;
    const found = await withTenant(b.tenantId, () => orm.em.fork().find(Consent, {}));
    expect(found.map((c) => c.tenant.id)).toEqual([b.tenantId]);
    expect(await orm.em.fork().find(Consent, {})).toEqual([]);
    const every = await asSystem('test: every tenant', () => orm.em.fork().find(Consent, {}));
    expect(every.map((c) => c.tenant.id).sort()).toEqual([a.tenantId, b.tenantId].sort());
  });

  it('refuses to write a row of another tenant', async () => {
    const [a, b] = tenants as [(typeof tenants)[0], (typeof tenants)[0]];
    await expect(
      withTenant(a.tenantId, () =>
        pool.query(`insert into end_user (id, tenant_id, external_ref, created_at) values ($1, $2, 'intruder', now())`, [randomUUID(), b.tenantId]),
      ),
    ).rejects.toThrow(/row-level security/);
    // An update without a tenant filter touches the scoped tenant's rows only.
    const touched = await withTenant(a.tenantId, () => pool.query(`update end_user set display_name = display_name`));
    const { rows } = await asSystem('test: every tenant', () =>
      pool.query<{ n: string }>('select count(*) as n from end_user where tenant_id = $1', [a.tenantId]),
    );
    expect(String(touched.rowCount)).toBe(rows[0]!.n);
  });

  it('refuses a tenant id that is not a UUID before any query', () => {
    expect(() => withTenant("x' or true --", () => 1)).toThrow(/not a UUID/);
  });

  it('still answers every tenant over GraphQL with its own consents', async () => {
    for (const x of tenants) {
      const r = await t.gql<{ consents: { edges: { node: { id: string } }[] } }>('{ consents(first: 10) { edges { node { id } } } }', {}, x.key);
      expect(r.body.data!.consents.edges.map((e) => e.node.id)).toEqual([x.consentId]);
    }
  });
});
