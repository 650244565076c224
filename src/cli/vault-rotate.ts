/**
 * `npm run vault:rotate -- [--batch-size N] [--batch-delay-ms N] [--status] [--json]`
 *
 * Rotates the vault master key online: creates a new master key version (one KMS call), re-wraps
 * every data key in batches (no token ciphertext is read or rewritten), then retires the old
 * versions. Resumes an unfinished rotation instead of starting a new one, so after a crash simply
 * run it again. `--status` only prints the key versions and the last rotation.
 *
 * Exit codes: 0 done, 1 failed (the error code is printed), 2 bad arguments, 75 another process is
 * rotating (EX_TEMPFAIL), 78 bad configuration (EX_CONFIG).
 */
import 'reflect-metadata';
import { parseArgs } from 'node:util';

const usage = 'usage: vault-rotate [--batch-size N (default 500)] [--batch-delay-ms N (default 0)] [--status] [--json]';

let args;
try {
  args = parseArgs({
    options: {
      'batch-size': { type: 'string', default: '500' },
      'batch-delay-ms': { type: 'string', default: '0' },
      status: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  }).values;
} catch (err) {
  console.error(`${(err as Error).message}\n${usage}`);
  process.exit(2);
}
if (args.help) {
  console.log(usage);
  process.exit(0);
}
const batchSize = Number(args['batch-size']);
const batchDelayMs = Number(args['batch-delay-ms']);
if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100_000 || !Number.isInteger(batchDelayMs) || batchDelayMs < 0) {
  console.error(`--batch-size must be 1–100000 and --batch-delay-ms a whole number ≥ 0\n${usage}`);
  process.exit(2);
}

// Heavy modules (ORM, PGlite, KMS client) load only once the arguments are known to be good.
const { ConfigError, loadConfig } = await import('../config');
const { openVault, VaultError, VaultErrorCode } = await import('../modules/vault');
const { createLogger } = await import('../platform/logger');
const { connectForCli } = await import('./connect');
const { asSystem } = await import('../platform/tenant-scope');

let config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(78);
  }
  throw err;
}
// Logs go to stderr; stdout carries the report.
const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, process.stderr);

const abort = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`${signal}: stopping after the current batch; run again to resume`);
    abort.abort();
  });
}

const db = await connectForCli(config, logger);
let code = 0;
try {
  // An operator command: it re-wraps every tenant's data keys.
  const vault = await asSystem('operator: vault:rotate', () => openVault({ config, orm: db.orm, logger }));
  try {
    if (!args.status) {
      const report = await asSystem('operator: vault:rotate', () =>
        vault.rotate({
          batchSize,
          batchDelayMs,
          signal: abort.signal,
          onBatch: (p) => {
            if (!args.json) console.error(`  re-wrapped ${p.rewrapped} data key(s) under master key v${p.toVersion}`);
          },
        }),
      );
      if (args.json) console.log(JSON.stringify({ rotation: report }));
      else {
        console.log(
          `${report.resumed ? 'Resumed and finished' : 'Finished'} rotation #${report.rotationId}: master key v${report.toVersion} is active, ` +
            `${report.rewrapped} data key(s) re-wrapped in ${report.batches} batch(es)` +
            (report.retiredVersions.length ? `, retired v${report.retiredVersions.join(', v')}` : '') +
            '.',
        );
      }
    }
    const status = await asSystem('operator: vault:rotate', () => vault.status());
    if (args.json) console.log(JSON.stringify({ status }));
    else {
      console.log(`KMS: ${status.kms.kind} ${status.kms.keyId}`);
      // The KMS key version matters when destroying old Cloud KMS key versions: only those no longer
      // listed here (retired masters have no wrapped material left) may go.
      for (const m of status.masterKeys) {
        const wrappedBy = m.state === 'retired' ? '' : `  wrapped by ${m.kmsKeyVersion}`;
        console.log(`  master key v${m.version}  ${m.state.padEnd(8)}  ${m.dataKeys} data key(s)${wrappedBy}`);
      }
      console.log(`  shredded data keys: ${status.shreddedDataKeys}`);
    }
  } finally {
    await vault.close();
  }
} catch (err) {
  if (err instanceof VaultError) {
    console.error(`${err.code}: ${err.message}`);
    code = err.code === VaultErrorCode.ROTATION_BUSY ? 75 : 1;
  } else if ((err as Error).name === 'AbortError') {
    console.error('Rotation interrupted; it is saved and resumes on the next run.');
    code = 1;
  } else {
    logger.error({ err }, 'vault rotation failed');
    console.error(`vault rotation failed: ${(err as Error).message}`);
    code = 1;
  }
} finally {
  await db.close();
}
process.exit(code);
