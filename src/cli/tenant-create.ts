// Operator command: creates a tenant and prints its first API key (shown once).
//   npm run tenant:create -- --name "Acme" [--env sandbox|live] [--handle acme]
import { parseArgs } from 'node:util';

const usage = 'usage: npm run tenant:create -- --name <name> [--env sandbox|live] [--handle <public-handle>]';
let args;
try {
  args = parseArgs({ options: { name: { type: 'string' }, env: { type: 'string', default: 'sandbox' }, handle: { type: 'string' } } }).values;
} catch (err) {
  console.error(`${(err as Error).message}\n${usage}`);
  process.exit(64);
}
if (!args.name?.trim() || (args.env !== 'sandbox' && args.env !== 'live')) {
  console.error(usage);
  process.exit(64);
}
const environment = args.env;

// Loaded after the arguments are checked, so a typo answers at once.
await import('reflect-metadata');
const { loadConfig } = await import('../config');
const { createLogger } = await import('../platform/logger');
const { TenancyService } = await import('../modules/tenancy/tenancy.service');
const { connectForCli } = await import('./connect');

const config = loadConfig();
const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
const db = await connectForCli(config, logger);
try {
  const { tenant, secret } = await new TenancyService().createTenant(db.orm.em.fork(), { name: args.name, environment, handle: args.handle });
  process.stdout.write(
    `Tenant "${tenant.name}" (${tenant.environment}${tenant.handle ? `, handle ${tenant.handle}` : ''}) created.\nAPI key (shown once, store it now):\n${secret}\n`,
  );
} catch (err) {
  console.error(`tenant:create failed: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await db.close();
}
