/**
 * One fresh, migrated database per test file: a new database on the Postgres server of
 * DATABASE_URL when it is set (CI), else an embedded PGlite under a temporary DATA_DIR.
 * Every log line is captured in `logs` so tests can assert on (and scan) what would be written.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { migrationsList } from '../../migrations';
import { loadConfig, type Config } from '../../src/config';
import { entities } from '../../src/entities';
import { openDatabase, type Database } from '../../src/platform/db';
import { createLogger, type Logger } from '../../src/platform/logger';
import { createFreshDatabase } from './postgres';

export interface TestDatabase {
  readonly config: Config;
  readonly db: Database;
  readonly logger: Logger;
  /** Every line the logger wrote, raw JSON. */
  readonly logs: string[];
  /** Closes the database and drops it (Postgres) or deletes its DATA_DIR (embedded). */
  close(): Promise<void>;
}

export interface TestDatabaseOptions {
  /** Database name prefix: `<prefix>_test_<random>` (default `passerelle`). */
  prefix?: string;
  /** Extra environment variables for loadConfig (DATA_DIR, DATABASE_URL and EMBEDDED_PG_PORT are set here). */
  env?: Record<string, string | undefined>;
  /** Logger level (default `debug`). */
  logLevel?: string;
  /** Skip migrations (default false). */
  skipMigrations?: boolean;
}

export async function createTestDatabase(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `${options.prefix ?? 'passerelle'}-test-`));
  const serverUrl = loadConfig().databaseUrl;
  let databaseUrl: string | undefined;
  let dropDatabase: (() => Promise<void>) | undefined;
  if (serverUrl) {
    const fresh = await createFreshDatabase(serverUrl, options.prefix ?? 'passerelle');
    databaseUrl = fresh.url;
    dropDatabase = fresh.drop;
  }
  if (!databaseUrl && !options.skipMigrations) await copyEmbeddedTemplate(dataDir);
  const config = loadConfig({
    ...process.env,
    LOG_LEVEL: options.logLevel ?? 'debug',
    ...options.env,
    DATA_DIR: dataDir,
    DATABASE_URL: databaseUrl,
    EMBEDDED_PG_PORT: '0',
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const logger = createLogger(config.logLevel, sink);
  let db: Database;
  try {
    db = await openDatabase(config, logger, entities);
    if (!options.skipMigrations) await db.migrate();
  } catch (err) {
    await dropDatabase?.().catch(() => undefined);
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  let closed = false;
  return {
    config,
    db,
    logger,
    logs,
    async close() {
      if (closed) return;
      closed = true;
      await db.close();
      await dropDatabase?.();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Creating an embedded PGlite runs initdb (about 9 s on two cores), so the first test file builds
 * a migrated template once per schema version and every later one copies it (about 1.5 s). The
 * template (in the OS temp directory) is keyed by the migrations' code, the Node and the PGlite
 * versions, so a changed migration never reuses a stale schema.
 */
async function copyEmbeddedTemplate(dataDir: string): Promise<void> {
  const hash = createHash('sha256').update(process.version).update(pgliteVersion());
  for (const m of migrationsList) hash.update(m.name).update(String(m.class));
  const template = path.join(os.tmpdir(), `passerelle-pglite-template-${hash.digest('hex').slice(0, 16)}`);
  if (!fs.existsSync(template)) {
    const building = fs.mkdtempSync(`${template}.building-`);
    const config = loadConfig({ ...process.env, DATA_DIR: building, DATABASE_URL: undefined, EMBEDDED_PG_PORT: '0', LOG_LEVEL: 'silent' });
    const db = await openDatabase(config, createLogger('silent'), entities);
    try {
      await db.migrate();
    } finally {
      await db.close();
    }
    try {
      fs.renameSync(building, template); // atomic: a parallel worker may have won the race
    } catch {
      fs.rmSync(building, { recursive: true, force: true });
    }
  }
  fs.cpSync(path.join(template, 'pgdata'), path.join(dataDir, 'pgdata'), { recursive: true });
}

/** The installed PGlite version: a new release may change its data directory format. */
function pgliteVersion(): string {
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  const root = entry.slice(0, entry.lastIndexOf(`${path.sep}dist${path.sep}`));
  return (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
}
