// `npm run bench`: every benchmark, each printing a markdown table for docs/measurements.md.
//   npm run bench [-- cold-start memory vault sync page page-alloc bank-calls events webhooks reconciliation]   (default: all; sync, page, bank-calls and reconciliation need DATABASE_URL; events and webhooks also REDIS_URL)
import coldStart from './cold-start';
import memory from './memory.bench';
import vault from './vault.bench';
import sync from './sync.bench';
import page from './page.bench';
import pageAlloc from './page-alloc.bench';
import bankCalls from './bank-calls.bench';
import events from './events.bench';
import webhooks from './webhooks.bench';
import reconciliation from './reconciliation.bench';

const benches: Record<string, () => Promise<string | void>> = {
  'cold-start': () => coldStart(3),
  memory: () => memory(),
  vault: () => vault({ log: () => undefined }), // printed below, once
  sync: () => sync(),
  page: () => page(),
  'page-alloc': () => pageAlloc(),
  'bank-calls': () => bankCalls(),
  events: () => events(),
  webhooks: () => webhooks(),
  reconciliation: () => reconciliation(),
};
const wanted = process.argv.slice(2).filter((a) => a !== '--');
for (const name of wanted.length ? wanted : Object.keys(benches)) {
  const run = benches[name];
  if (!run) {
    console.error(`unknown benchmark "${name}"; known: ${Object.keys(benches).join(', ')}`);
    process.exit(2);
  }
  console.log(`\n## ${name}\n`);
  const table = await run();
  if (table) console.log(table);
}
