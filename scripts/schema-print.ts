// Prints the GraphQL SDL to schema/schema.graphql; with --check, fails when the file is stale.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildApiSchema, printApiSchema } from '../src/api/schema';

const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../schema/schema.graphql');
const sdl = printApiSchema(await buildApiSchema());
if (process.argv.includes('--check')) {
  const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  if (current !== sdl) {
    console.error('schema/schema.graphql is stale: run `npm run schema:print` and commit the result.');
    process.exit(1);
  }
  console.log('schema/schema.graphql is current.');
} else {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, sdl);
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
}
