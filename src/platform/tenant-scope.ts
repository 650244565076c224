import { AsyncLocalStorage } from 'node:async_hooks';
import type { MikroORM } from '@mikro-orm/postgresql';
import type pg from 'pg';

/**
 * Which rows the database lets the current code see (docs/row-level-security.md). Every pooled
 * connection of the gateway works as a role that owns no table; row-level security then shows it
 * one tenant's rows, or every row on the named system path:
 * - {@link withTenant}: role `passerelle_app`, setting `passerelle.tenant_id` = the tenant;
 * - {@link asSystem}: role `passerelle_system`, for work with no caller tenant (bank callbacks,
 *   jobs, the event stream and webhook dispatcher, operator commands), always with a reason;
 * - no scope: role `passerelle_app` with no tenant, which sees no tenant's rows at all;
 * - {@link asSchemaOwner}: the login role itself, for migrations only.
 *
 * The scope lives in AsyncLocalStorage and is applied when a connection is taken from a pool, as
 * session settings remembered per connection: a connection already set for the same scope costs
 * no round trip, so a tenant's requests usually pay nothing for it.
 */
export type DbScope =
  | { readonly kind: 'tenant'; readonly tenantId: string }
  | { readonly kind: 'system'; readonly reason: string }
  | { readonly kind: 'owner'; readonly reason: string };

export const APP_ROLE = 'passerelle_app';
export const SYSTEM_ROLE = 'passerelle_system';
export const TENANT_SETTING = 'passerelle.tenant_id';

/** A mutable holder, so an entry point can open a scope before it knows the tenant (see {@link bindTenant}). */
interface Holder {
  scope: DbScope | undefined;
}

const storage = new AsyncLocalStorage<Holder>();
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Runs `fn` seeing only `tenantId`'s rows (also the primitive for reading an owner tenant's data after a grant check). */
export function withTenant<T>(tenantId: string, fn: () => T): T {
  if (!UUID.test(tenantId)) throw new Error('withTenant: the tenant id is not a UUID');
  return storage.run({ scope: { kind: 'tenant', tenantId } }, fn);
}

/** Runs `fn` seeing every tenant's rows. The reason names the path (grep `asSystem(`); keep such paths few. */
export function asSystem<T>(reason: string, fn: () => T): T {
  return storage.run({ scope: { kind: 'system', reason } }, fn);
}

/** Runs `fn` as the login role (the tables' owner): schema migrations (and tests inspecting the database) only. */
export function asSchemaOwner<T>(reason: string, fn: () => T): T {
  return storage.run({ scope: { kind: 'owner', reason } }, fn);
}

/**
 * Opens an empty scope for one request (no tenant: nothing visible) that {@link bindTenant} fills
 * once the caller is authenticated. Everything `fn` starts, including later callbacks, shares it.
 */
export function tenantRequestScope<T>(fn: () => T): T {
  return storage.run({ scope: undefined }, fn);
}

/** Sets the tenant of the scope opened by {@link tenantRequestScope}; a scope cannot change tenant. */
export function bindTenant(tenantId: string): void {
  const holder = storage.getStore();
  if (!holder) throw new Error('bindTenant outside a request scope');
  if (holder.scope?.kind === 'tenant' && holder.scope.tenantId === tenantId) return;
  if (holder.scope) throw new Error('bindTenant: the request scope is already bound');
  if (!UUID.test(tenantId)) throw new Error('bindTenant: the tenant id is not a UUID');
  holder.scope = { kind: 'tenant', tenantId };
}

/** The current scope (undefined: no tenant, nothing visible). */
export function currentScope(): DbScope | undefined {
  return storage.getStore()?.scope;
}

const applied = new WeakMap<object, string>();

/** Makes `client`'s session match the current scope; one round trip only when it differs from the last one set. */
async function applyScope(client: Pick<pg.ClientBase, 'query'>): Promise<void> {
  const scope = currentScope();
  const role = scope?.kind === 'system' ? SYSTEM_ROLE : scope?.kind === 'owner' ? 'none' : APP_ROLE;
  const tenant = scope?.kind === 'tenant' ? scope.tenantId : '';
  const key = `${role}/${tenant}`;
  if (applied.get(client) === key) return;
  applied.delete(client);
  // Session-level (not local): set between transactions, it holds for every statement until the next checkout changes it.
  await client.query(`select set_config('role', $1, false), set_config('${TENANT_SETTING}', $2, false)`, [role, tenant]);
  applied.set(client, key);
}

/** Makes every connection taken from `pool` (by `connect()` and by `query()`) follow the current scope. */
export function scopePool(pool: pg.Pool): void {
  const connect = pool.connect.bind(pool) as () => Promise<pg.PoolClient>;
  const scoped = async (): Promise<pg.PoolClient> => {
    const client = await connect();
    try {
      await applyScope(client);
    } catch (err) {
      client.release(err as Error);
      throw err;
    }
    return client;
  };
  // pg-pool's query() calls this.connect(callback); keep both forms.
  pool.connect = ((cb?: (err: Error | undefined, client?: pg.PoolClient, done?: (release?: unknown) => void) => void) => {
    const p = scoped();
    if (!cb) return p;
    p.then(
      (client) => cb(undefined, client, (e?: unknown) => client.release(e as Error | undefined)),
      (err: Error) => cb(err),
    );
    return undefined;
  }) as typeof pool.connect;
}

/**
 * Puts the gateway's pools under row-level security (after migrations). Not on PGlite: it serves
 * every socket connection from one session, so a per-connection role and tenant would leak between
 * connections; there the login role (a superuser) stays and isolation rests on the queries' own
 * tenant filters. Returns whether the database now enforces tenant scopes.
 */
export function enforceTenantScopes(db: { readonly sql: pg.Pool; readonly orm: MikroORM; readonly embedded: boolean }): boolean {
  if (db.embedded) return false;
  scopePool(db.sql);
  scopeOrm(db.orm);
  return true;
}

/** Same for MikroORM: every connection knex acquires (per query, or per transaction) follows the current scope. */
export function scopeOrm(orm: MikroORM): void {
  const client = orm.em.getConnection().getKnex().client as {
    acquireConnection(): Promise<pg.ClientBase>;
    releaseConnection(c: pg.ClientBase): Promise<unknown>;
  };
  const acquire = client.acquireConnection.bind(client);
  client.acquireConnection = async () => {
    const connection = await acquire();
    try {
      await applyScope(connection);
    } catch (err) {
      await client.releaseConnection(connection);
      throw err;
    }
    return connection;
  };
}
