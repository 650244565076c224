import fs from 'node:fs';
import path from 'node:path';

export const README = fs.readFileSync(path.resolve(import.meta.dirname, '../../README.md'), 'utf8');

/** The README's event catalogue: each type's sample payload as the table shows it. */
export function eventCatalogue(readme = README): Map<string, Record<string, unknown>> {
  const section = /^### Event catalogue\n([\s\S]*?)(?=^#)/m.exec(readme)?.[1] ?? '';
  const rows = [...section.matchAll(/^\| `([A-Z_]+)` \|.*\| `(\{.*\})` \|$/gm)];
  return new Map(rows.map((m) => [m[1]!, JSON.parse(m[2]!) as Record<string, unknown>]));
}
