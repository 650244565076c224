import type { EntityManager } from '@mikro-orm/postgresql';

/** The forms a secret could be stored in by mistake: as is, base64, base64url, hex. */
export function secretForms(secret: string): string[] {
  const raw = Buffer.from(secret, 'utf8');
  return [secret, raw.toString('base64'), raw.toString('base64url'), raw.toString('hex')].filter((n) => n.length >= 16);
}

/**
 * Every text, bytea and json cell of every table in the current schema that contains one of
 * `secrets` (in any of its forms), as `table.column`; also returns how many cells were read.
 */
export async function findSecretsInDatabase(em: EntityManager, secrets: string[]): Promise<{ hits: string[]; cells: number }> {
  const conn = em.getConnection();
  const columns = await conn.execute<{ table_name: string; column_name: string }[]>(
    `select table_name, column_name from information_schema.columns
      where table_schema = current_schema() and data_type in ('text', 'character varying', 'character', 'bytea', 'jsonb', 'json')`,
  );
  const needles = secrets.flatMap(secretForms);
  const hits = new Set<string>();
  let cells = 0;
  for (const { table_name, column_name } of columns) {
    const rows = await conn.execute<{ v: string | null }[]>(`select "${column_name}"::text as v from "${table_name}"`);
    for (const { v } of rows) {
      if (v == null) continue;
      cells++;
      if (needles.some((n) => v.includes(n))) hits.add(`${table_name}.${column_name}`);
    }
  }
  return { hits: [...hits], cells };
}
