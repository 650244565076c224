import { loadConfig } from '../src/config';

/** Says once, at the top of the run, which real services the suite talks to and what it skips. */
export default function setup(): void {
  const config = loadConfig();
  const lines = [
    `database: ${config.databaseUrl ? 'PostgreSQL from DATABASE_URL (a fresh database per test file)' : 'embedded PGlite (set DATABASE_URL to use PostgreSQL)'}`,
    config.redisUrl
      ? 'redis: REDIS_URL (tests that need Redis run)'
      : 'redis: REDIS_URL not set — tests that need Redis are SKIPPED (their names end in "(needs REDIS_URL)")',
  ];
  process.stdout.write(`\n${lines.map((l) => `  ${l}`).join('\n')}\n\n`);
}
