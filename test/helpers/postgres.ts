import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * A fresh, empty database on the server `serverUrl` points at (CI: DATABASE_URL), so every test
 * file migrates and runs in isolation. Its name always says "test"; `drop()` removes it.
 */
export async function createFreshDatabase(serverUrl: string, label = 'passerelle'): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `${label}_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      try {
        await c.query(`drop database if exists "${name}" with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}
