// `npm start`: the compiled gateway (dist/main.js), built first when dist/ is missing or older
// than its sources (esbuild, well under a second; nothing is downloaded). Imported in this
// process, not spawned, so SIGINT and SIGTERM reach the gateway's own handlers.
import { build, isStale } from './build.mjs';

if (isStale()) {
  const ms = await build();
  console.error(`built dist/ in ${ms} ms`);
}
await import('../dist/main.js');
