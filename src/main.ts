import 'reflect-metadata';
import { ConfigError, loadConfig, redactedConfig } from './config';
import { readDemoKey, startGateway } from './gateway';
import { releaseHeapWhenIdle } from './platform/heap';
import { createLogger } from './platform/logger';

const started = performance.now();
let config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(78); // EX_CONFIG
  }
  throw err;
}
const logger = createLogger(config.logLevel);
logger.info({ config: redactedConfig(config) }, 'starting Passerelle');

const gateway = await startGateway(config, logger).catch((err: Error) => {
  logger.fatal({ err }, 'start-up failed');
  process.exit(1);
});
const readyMs = Math.round(performance.now() - started);
logger.info({ url: gateway.graphqlUrl, readyMs, database: gateway.db.embedded ? 'embedded' : 'external', bus: gateway.bus.kind }, 'ready');

// The banner goes to stdout, not the log: the demo key is for the person at the terminal.
const key = gateway.demoApiKey ?? readDemoKey(config);
process.stdout.write(
  [
    '\n',
    `  Passerelle is ready in ${readyMs} ms`,
    `  GraphQL:   ${gateway.publicUrl}/graphql   (GraphiQL in a browser)`,
    gateway.sandbox
      ? `  Sandbox:   ${gateway.sandbox.banks.filter((b) => !b.upstreamInstitutionId).length} mocked banks and an upstream aggregator under ${gateway.publicUrl}/sandbox (control API token in ${config.dataDir}/sandbox-admin-token unless SANDBOX_ADMIN_TOKEN is set)`
      : '',
    `  Database:  ${gateway.db.embedded ? `embedded PGlite in ${config.dataDir}` : 'external PostgreSQL'}`,
    key ? `  Demo key:  ${key}   (sandbox; also in ${config.dataDir}/demo-api-key)` : '',
  ]
    .filter(Boolean)
    .join('\n') + '\n\n',
);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    const force = setTimeout(() => {
      logger.error('shutdown timed out; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs);
    force.unref();
    gateway.close().then(
      () => {
        logger.info('stopped cleanly');
        process.exit(0);
      },
      (err: Error) => {
        logger.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  });
}

// The heap grown by start-up given back once the process is idle, and the heap a burst of load grew
// half a minute after it (one pause of about 0.1 s each): about 45 MiB of RSS after start on Node 24
// (docs/capacity.md).
releaseHeapWhenIdle({
  onCollected: (c) =>
    logger.debug({ ms: c.ms, heapTotalMiB: [c.heapTotalBefore, c.heapTotalAfter].map((b) => Math.round(b / 2 ** 20)) }, 'idle: heap released'),
});
