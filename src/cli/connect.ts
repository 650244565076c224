import { MikroORM } from '@mikro-orm/postgresql';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { Config } from '../config';
import { entities } from '../entities';
import { openDatabase, ormOptions } from '../platform/db';
import { scopeOrm } from '../platform/tenant-scope';
import type { Logger } from '../platform/logger';

/**
 * Database access for operator commands. With DATABASE_URL, that server. In embedded mode, the
 * running gateway's PGlite socket when one is serving DATA_DIR (PGlite can't be opened twice),
 * else the embedded database opened by this process.
 */
export async function connectForCli(config: Config, logger: Logger): Promise<{ orm: MikroORM; close(): Promise<void> }> {
  const running = config.databaseUrl ? undefined : await runningEmbeddedUrl(config);
  const url = config.databaseUrl ?? running;
  if (url) {
    const orm = await MikroORM.init(ormOptions(url, 2, entities, logger));
    const pending = await orm.getMigrator().getPendingMigrations();
    if (pending.length) {
      await orm.close(true);
      throw new Error(`The database has ${pending.length} pending migration(s): start the gateway once to apply them.`);
    }
    // On Postgres the command works under row-level security like the gateway (its writes go through asSystem).
    const [server] = await orm.em.getConnection().execute<{ v: string }[]>('select version() as v');
    if (!server!.v.includes('PGlite')) scopeOrm(orm);
    return { orm, close: () => orm.close(true) };
  }
  const db = await openDatabase(config, logger, entities);
  await db.migrate();
  return { orm: db.orm, close: () => db.close() };
}

async function runningEmbeddedUrl(config: Config): Promise<string | undefined> {
  let url: string;
  try {
    url = fs.readFileSync(path.join(config.dataDir, 'embedded-pg-url'), 'utf8').trim();
  } catch {
    return undefined;
  }
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return url;
  } catch {
    return undefined; // a stale file from a gateway that did not shut down cleanly
  } finally {
    await client.end().catch(() => undefined);
  }
}
