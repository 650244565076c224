// The page benchmark's peer: PostGraphile 5 (its Amber preset, defaults otherwise) serving the same
// database over node:http, one Node process, a pool of 10. PostGraphile is not a dependency of the
// gateway: install it anywhere and name that folder.
//   npm install --prefix /tmp/pg5 postgraphile@5
//   POSTGRAPHILE_DIR=/tmp/pg5 DATABASE_URL=postgres://… PORT=0 node bench/peer-postgraphile.mjs   → prints "listening <port>"
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const dir = process.env.POSTGRAPHILE_DIR;
if (!dir) {
  console.error('set POSTGRAPHILE_DIR to a folder where `npm install postgraphile@5` was run');
  process.exit(2);
}
const require = createRequire(path.join(path.resolve(dir), 'package.json'));
const load = (specifier) => import(pathToFileURL(require.resolve(specifier)).href);
const { postgraphile } = await load('postgraphile');
const { grafserv } = await load('postgraphile/grafserv/node');
const { PostGraphileAmberPreset } = await load('postgraphile/presets/amber');
const { makePgService } = await load('postgraphile/adaptors/pg');

const preset = {
  extends: [PostGraphileAmberPreset],
  pgServices: [makePgService({ connectionString: process.env.DATABASE_URL, schemas: ['public'], poolConfig: { max: Number(process.env.POOL_SIZE ?? 10) } })],
  grafserv: { graphiql: false, watch: false },
};
const serv = postgraphile(preset).createServ(grafserv);
const server = createServer();
await serv.addTo(server);
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => process.stdout.write(`listening ${server.address().port}\n`));
const shutdown = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
