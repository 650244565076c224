import { MikroORM, type Options } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { migrationsList } from '../../migrations';
import type { Config } from '../config';
import { serialiseExtendedProtocol } from './pglite-serial';
import { asSchemaOwner } from './tenant-scope';
import type { Logger } from './logger';

/** A running database: the ORM plus, in embedded mode, the PGlite instance serving it. */
export interface Database {
  readonly orm: MikroORM;
  /**
   * A plain `pg` pool on the same database, for the hot paths that must not hydrate entities
   * (transaction pages, set-based sync writes) and for the job queue. Dates (`date` columns)
   * come back as 'YYYY-MM-DD' strings and numerics as strings, never as JS numbers.
   */
  readonly sql: pg.Pool;
  /** Connection URL other processes can use (the PGlite socket in embedded mode). */
  readonly url: string;
  /** The server is PGlite (started here, or by the instance whose embedded database this one shares). */
  readonly embedded: boolean;
  /** Applies pending migrations under an advisory lock, so concurrent instances migrate once. */
  migrate(): Promise<string[]>;
  /** True when the database answers and no migration is pending. */
  ready(): Promise<{ ok: boolean; pending: number; error?: string }>;
  close(): Promise<void>;
}

const MIGRATION_LOCK_KEY = 4_242_001;

/** The entity classes the ORM maps; the composition root passes the list (src/entities.ts), platform names none. */
export type EntityList = NonNullable<Options['entities']>;
/**
 * Settings of the embedded PGlite server. Its shared buffers live in the process's own WebAssembly
 * memory and are all touched at start, so PostgreSQL's default (128 MB, raised to 160 MB by
 * PGlite's initdb) was most of an embedded gateway's idle memory; 8 MB is plenty for the
 * development and single-box databases embedded mode is for (the OS page cache still holds the
 * files). A deployment that outgrows it runs an external PostgreSQL (DATABASE_URL).
 */
export const EMBEDDED_PG_SETTINGS: readonly string[] = ['shared_buffers=8MB'];

/**
 * Creates the embedded cluster (PostgreSQL's initdb, in WebAssembly) in a short-lived child process.
 * initdb grows its WebAssembly memory to several hundred MiB; done in the gateway's own process, a
 * first start stayed at twice the RSS of a restart (a WebAssembly memory never shrinks, and the
 * allocator keeps what a worker thread freed). The gateway then opens the new cluster as it opens an
 * existing one.
 */
async function createEmbeddedCluster(dir: string): Promise<void> {
  const module = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  const script = 'require(process.argv[1]).PGlite.create(process.argv[2]).then((db) => db.close())';
  await new Promise<void>((resolve, reject) =>
    execFile(process.execPath, ['-e', script, module, dir], { maxBuffer: 1 << 20 }, (err, _stdout, stderr) =>
      err ? reject(new Error(`Creating the embedded database in ${dir} failed: ${stderr.trim().split('\n').at(-1) || err.message}`)) : resolve(),
    ),
  );
}

/** Builds MikroORM's options for a connection URL; shared by the gateway, the CLI and tests. */
export function ormOptions(clientUrl: string, poolSize: number, entities: EntityList, logger?: Logger): Options {
  return {
    clientUrl,
    entities,
    extensions: [Migrator],
    discovery: { disableDynamicFileAccess: true, requireEntitiesArray: true },
    migrations: {
      migrationsList,
      snapshot: false,
      transactional: true,
      allOrNothing: true,
      snapshotName: '.snapshot-passerelle',
    },
    pool: { min: 0, max: poolSize },
    // Entities are plain classes; nothing is loaded implicitly behind a resolver's back.
    forceUndefined: false,
    allowGlobalContext: false,
    debug: false,
    logger: (message: string) => logger?.debug({ orm: message }, 'orm'),
  };
}

/**
 * Connects to `DATABASE_URL` or, when unset, starts PGlite with its files under `DATA_DIR` and
 * serves it on a loopback socket, so the rest of the code (and `tenant:create` from another
 * process) always talks plain Postgres wire protocol.
 */
export async function openDatabase(config: Config, logger: Logger, entities: EntityList): Promise<Database> {
  let url = config.databaseUrl;
  let pglite: PGlite | undefined;
  let socket: PGLiteSocketServer | undefined;
  if (!url) {
    const dir = path.join(config.dataDir, 'pgdata');
    fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    if (!fs.existsSync(path.join(dir, 'PG_VERSION'))) await createEmbeddedCluster(dir);
    pglite = await PGlite.create(dir, { startParams: [...PGlite.defaultStartParams, ...EMBEDDED_PG_SETTINGS.flatMap((s) => ['-c', s])] });
    const port = config.embeddedPgPort === 0 ? await freePort() : config.embeddedPgPort;
    // One wire connection per slot of both pools, plus the job queue, the migration lock and an operator CLI.
    socket = new PGLiteSocketServer({ db: pglite, host: '127.0.0.1', port, maxConnections: config.dbPoolSize * 2 + 8 });
    serialiseExtendedProtocol(socket);
    try {
      await socket.start();
    } catch (err) {
      await pglite.close();
      throw new Error(
        `Embedded Postgres could not listen on 127.0.0.1:${port} (${(err as Error).message}). ` +
          'Is another Passerelle running with the same DATA_DIR? Set EMBEDDED_PG_PORT to another port.',
      );
    }
    url = `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`;
    fs.writeFileSync(path.join(config.dataDir, 'embedded-pg-url'), url, { mode: 0o600 });
    logger.info({ dataDir: dir, port }, 'embedded Postgres (PGlite) serving on loopback');
  }
  const orm = await MikroORM.init(ormOptions(url, config.dbPoolSize, entities, logger));
  const clientUrl = url;
  const sql = createSqlPool(url, config.dbPoolSize);
  sql.on('error', (err) => logger.warn({ err: err.message }, 'idle database connection failed'));
  // A second instance on another process's embedded database (tests, a local scale-out) talks to
  // PGlite too: its socket connections share one session, so no named prepared statements or COPY.
  const pgliteServer = pglite !== undefined || (await sql.query<{ v: string }>('select version() as v')).rows[0]!.v.includes('PGlite');

  return {
    orm,
    sql,
    url: clientUrl,
    embedded: pgliteServer,
    async migrate() {
      // The usual start: nothing pending, one query, no lock, no migrator.
      if ((await pendingMigrations(sql)).length === 0) return [];
      const lock = new pg.Client({ connectionString: clientUrl });
      await lock.connect();
      try {
        await lock.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
        const done = await asSchemaOwner('migrations', () => orm.getMigrator().up());
        return done.map((m) => m.name);
      } finally {
        await lock.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
        await lock.end();
      }
    },
    async ready() {
      try {
        await orm.em.getConnection().execute('select 1');
        const pending = await pendingMigrations(sql);
        return { ok: pending.length === 0, pending: pending.length };
      } catch (err) {
        return { ok: false, pending: -1, error: (err as Error).message };
      }
    },
    async close() {
      await sql.end().catch(() => undefined);
      await orm.close(true);
      if (socket) await socket.stop();
      if (pglite) {
        await pglite.close();
        fs.rmSync(path.join(config.dataDir, 'embedded-pg-url'), { force: true });
      }
    },
  };
}

/** Where MikroORM's migrator records what it applied (its default table). */
const MIGRATIONS_TABLE = 'mikro_orm_migrations';
const UNDEFINED_TABLE = '42P01';

/**
 * Names of the listed migrations the database has not recorded, in one query (the migrator
 * itself would create its table, list the executed ones and diff them on every call).
 */
export async function pendingMigrations(sql: Pick<pg.Pool, 'query'>): Promise<string[]> {
  let applied: Set<string>;
  try {
    const { rows } = await sql.query<{ name: string }>(`select name from ${MIGRATIONS_TABLE}`);
    applied = new Set(rows.map((r) => r.name));
  } catch (err) {
    if ((err as { code?: string }).code !== UNDEFINED_TABLE) throw err;
    applied = new Set(); // a new database: everything is pending
  }
  return migrationsList.map((m) => m.name).filter((name) => !applied.has(name));
}

const DATE_OID = 1082;

/** A `pg` pool whose `date` values stay calendar strings (a booking date is not an instant). */
export function createSqlPool(url: string, max: number): pg.Pool {
  return new pg.Pool({
    connectionString: url,
    max,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === DATE_OID ? (v: string) => v : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
    },
  });
}

/** Runs `fn` in one transaction on one pooled connection: committed when it returns, rolled back when it throws. */
export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    const out = await fn(client);
    await client.query('commit');
    return out;
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** Asks the kernel for a free loopback port (tests run many embedded databases side by side). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}
