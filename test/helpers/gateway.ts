import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig, type Config } from '../../src/config';
import { startGateway, type Gateway } from '../../src/gateway';
import { createLogger } from '../../src/platform/logger';
import { TenancyService } from '../../src/modules/tenancy/tenancy.service';
import { asSchemaOwner, asSystem } from '../../src/platform/tenant-scope';
import { createFreshDatabase } from './postgres';

/** Settings every test inherits from the environment CI gives (DATABASE_URL, REDIS_URL). */
export const ciConfig: Config = loadConfig();
export const hasRedis = ciConfig.redisUrl !== undefined;

export interface GqlResult<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: { data?: T; errors?: { message: string; extensions?: Record<string, unknown>; path?: string[] }[] };
}

export interface TestGateway {
  gateway: Gateway;
  config: Config;
  /** Every log line the gateway wrote, for checks that nothing secret leaked. */
  logs: string[];
  gql<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>, key?: string | null): Promise<GqlResult<T>>;
  createTenant(name: string, environment?: 'sandbox' | 'live'): Promise<{ tenantId: string; key: string }>;
  /**
   * The caller's log events of one type whose payload's `field` is `id`. An event is readable once
   * every older transaction on the server has ended, so with `atLeast` this waits (up to 15 s) until
   * that many are visible, then reads once more a moment later, so a duplicate committed alongside
   * would show too.
   */
  eventsFor(key: string, type: string, field: string, id: string, atLeast?: number): Promise<{ payload: Record<string, unknown> }[]>;
  /** Ids of the sandbox tenants createTenant made, oldest first (each has its own partition of the sandbox banks). */
  sandboxTenants: string[];
  close(): Promise<void>;
}

export interface TestGatewayOptions {
  /** Extra environment (e.g. RATE_LIMIT_PER_MINUTE); DATABASE_URL/REDIS_URL come from CI. */
  env?: Record<string, string>;
  /** A running test gateway whose database and data directory (KMS key file) this one shares: a second instance. */
  sameDataAs?: TestGateway;
  /** Force embedded PGlite even when CI provides Postgres. */
  embedded?: boolean;
}

/**
 * Starts a real gateway on a free port with its own fresh database: Postgres from DATABASE_URL
 * when given (CI), embedded PGlite otherwise.
 */
export async function startTestGateway(options: TestGatewayOptions = {}): Promise<TestGateway> {
  const dataDir = options.sameDataAs?.config.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'passerelle-test-'));
  let fresh: Awaited<ReturnType<typeof createFreshDatabase>> | undefined;
  let databaseUrl = options.sameDataAs?.gateway.db.url;
  if (!databaseUrl && !options.embedded && ciConfig.databaseUrl) {
    fresh = await createFreshDatabase(ciConfig.databaseUrl);
    databaseUrl = fresh.url;
  }
  const config = loadConfig({
    PORT: '0',
    EMBEDDED_PG_PORT: '0',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'debug',
    DEMO_TENANT: 'false',
    DB_POOL_SIZE: '4',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    ...(ciConfig.redisUrl ? { REDIS_URL: ciConfig.redisUrl } : {}),
    ...options.env,
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const gateway = await startGateway(config, createLogger(config.logLevel, sink));
  // Tests read and arrange rows of any tenant (and the job queue's tables) through the gateway's own
  // pool, as the login role the tests connect with, as migrations do.
  const sql = gateway.db.sql;
  const inspect = new Proxy(sql, {
    get(target, prop) {
      if (prop === 'query')
        return (...args: Parameters<typeof sql.query>) => asSchemaOwner('test inspection', () => (target.query as (...a: unknown[]) => unknown)(...args));
      if (prop === 'connect') return () => asSchemaOwner('test inspection', () => target.connect());
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  (gateway as { db: Gateway['db'] }).db = { ...gateway.db, sql: inspect };
  // Tests call services directly in place of the jobs and workers that run them, so on the same path.
  const services = Object.fromEntries(
    Object.entries(gateway.services).map(([name, service]) => [
      name,
      new Proxy(service as object, {
        get(target, prop) {
          const value = Reflect.get(target, prop, target) as unknown;
          return typeof value === 'function'
            ? (...args: unknown[]) => asSystem('test: direct service call', () => (value as (...a: unknown[]) => unknown).apply(target, args))
            : value;
        },
      }),
    ]),
  ) as unknown as Gateway['services'];
  (gateway as { services: Gateway['services'] }).services = services;
  const tenancy = new TenancyService();
  const sandboxTenants: string[] = [];

  return {
    gateway,
    config,
    logs,
    sandboxTenants,
    async gql(query, variables, key) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (key) headers.authorization = `Bearer ${key}`;
      const res = await fetch(gateway.graphqlUrl, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
      return { status: res.status, headers: res.headers, body: (await res.json()) as GqlResult['body'] } as never;
    },
    async eventsFor(this: TestGateway, key: string, type: string, field: string, id: string, atLeast = 0) {
      const read = async () => {
        const r = await this.gql<{ events: { nodes: { payload: Record<string, unknown> }[] } }>(
          `{ events(first: 500, types: [${type}]) { nodes { payload } } }`,
          {},
          key,
        );
        return r.body.data!.events.nodes.filter((e) => e.payload[field] === id);
      };
      let found = await read();
      for (const deadline = Date.now() + 15_000; found.length < atLeast && Date.now() < deadline; found = await read()) {
        await new Promise((r) => setTimeout(r, 200));
      }
      if (atLeast === 0) return found;
      await new Promise((r) => setTimeout(r, 500));
      return read();
    },
    async createTenant(name, environment = 'sandbox') {
      const { tenant, secret } = await tenancy.createTenant(gateway.db.orm.em.fork(), { name, environment });
      if (environment === 'sandbox') sandboxTenants.push(tenant.id);
      return { tenantId: tenant.id, key: secret };
    },
    async close() {
      await gateway.close();
      await fresh?.drop();
      if (!options.sameDataAs) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
