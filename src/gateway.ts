import 'reflect-metadata';
import express from 'express';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Config } from './config';
import { entities } from './entities';
import { buildApiSchema } from './api/schema';
import { createGraphQLEdge } from './api/server';
import type { Services } from './api/services';
import { createEventBus, type EventBus } from './platform/bus';
import { openDatabase, type Database } from './platform/db';
import { noteActivity } from './platform/heap';
import { finalErrorHandler, healthRoutes, requestId } from './platform/http';
import type { Logger } from './platform/logger';
import { Metrics, metricsRoute } from './platform/metrics';
import { TenancyService } from './modules/tenancy/tenancy.service';
import { Tenant } from './modules/tenancy/tenant.entity';
import { openVault } from './modules/vault';
import { InstitutionsService } from './modules/institutions/institutions.service';
import { InstitutionRegistry, loadLiveInstitutions } from './banking/registry';
import type { BankClientCredentials } from './banking/adapters';
import { loadGoCardlessInstitutions } from './banking/adapters/gocardless/gocardless.institutions';
import { loadRemoteSandbox, sandboxInstitutions } from './banking/sandbox-institutions';
import { createAdapterRegistry } from './banking/adapters/registry';
import { ConsentsService } from './modules/consents/consents.service';
import { AuditService } from './modules/audit/audit.service';
import { consentRoutes } from './api/bank-callback.routes';
import { createSandbox, type Sandbox } from '../sandbox/create';
import { partitionName } from '../sandbox/partition-name';
import { startJobs, type Jobs } from './platform/jobs';
import { AccountsService } from './modules/accounts/accounts.service';
import { SyncService } from './modules/sync/sync.service';
import { EventsService } from './modules/events/events.service';
import { EventStream } from './modules/events/event-stream';
import { EventRecord } from './modules/events/event.entity';
import { PaymentsService } from './modules/payments/payments.service';
import { WebhooksService } from './modules/webhooks/webhooks.service';
import { WebhookDispatcher } from './modules/webhooks/webhook-dispatcher';
import { SandboxService } from './modules/sandbox/sandbox.service';
import { ReconciliationService } from './modules/reconciliation/reconciliation.service';
import { GrantsService } from './modules/grants/grants.service';
import { SandboxControlClient } from './modules/sandbox/sandbox-control.client';
import { asSystem, enforceTenantScopes } from './platform/tenant-scope';
import { ProofsService } from './modules/proofs/proofs.service';
import { proofRoutes } from './modules/proofs/proof.routes';
import { ApprovalsService } from './modules/approvals/approvals.service';
import { PolicyGate } from './modules/approvals/policy-gate';
import { approvalRoutes } from './modules/approvals/approval.routes';
import { PasskeysService } from './modules/approvals/passkeys.service';

/** Paths that do not count as activity: health probes and metrics scrapes. */
const PROBES = new Set(['/healthz', '/readyz', '/metrics']);

/** A running gateway: what `main.ts` starts and what tests start on a free port. */
export interface Gateway {
  readonly config: Config;
  readonly db: Database;
  readonly bus: EventBus;
  readonly jobs: Jobs;
  readonly services: Services;
  readonly httpServer: http.Server;
  /** The URL of the GraphQL endpoint as bound (real port when PORT=0). */
  readonly graphqlUrl: string;
  readonly baseUrl: string;
  /** Where browsers and banks reach this gateway: PUBLIC_URL, else http://localhost:<bound port>. */
  readonly publicUrl: string;
  /** The in-process sandbox banks, when mounted. */
  readonly sandbox: Sandbox | undefined;
  /** The demo tenant's key when this start created it, or the one kept in DATA_DIR. */
  readonly demoApiKey: string | undefined;
  /** Finishes in-flight requests, closes sockets, the bus and the database (in that order). */
  close(): Promise<void>;
}

export const DEMO_KEY_FILE = 'demo-api-key';
export const SANDBOX_TOKEN_FILE = 'sandbox-admin-token';

/** Composition root: config → database (migrated) → vault → bus → listen → sandbox, registry, services → HTTP + GraphQL routes. */
export async function startGateway(config: Config, logger: Logger): Promise<Gateway> {
  const live = loadLiveInstitutions(config.institutionsFile); // first: a bad entry or credential file stops start-up before anything opens
  const unusable = live.institutions.filter((i) => !live.credentials.has(i.id)).map((i) => i.id);
  // Listed to live tenants but unable to connect until the operator adds its credentials: say so now, not at the first consent.
  if (unusable.length) logger.warn({ institutions: unusable }, 'live institutions without credentials: consents and payments there will fail');
  const db = await openDatabase(config, logger, entities);
  let httpServer: http.Server | undefined;
  let jobs: Jobs | undefined;
  try {
    const applied = await db.migrate();
    if (applied.length) logger.info({ migrations: applied }, 'migrations applied');
    if (!enforceTenantScopes(db)) logger.info('embedded PGlite: row-level security is not enforced (one shared session); queries keep their tenant filters');
    const metrics = new Metrics();
    metrics.observePool(db.sql);
    const vault = await openVault({ config, orm: db.orm, logger, metrics });
    const bus = createEventBus(config.redisUrl, logger);
    const vaultOffBus = vault.useBus(bus);
    jobs = await startJobs({ url: db.url, logger });

    // Bind first: the sandbox banks' OAuth issuers and bank redirects need the real address
    // (PORT=0 in tests). Routes are added right after; until then every path answers 404.
    const app = express();
    app.disable('x-powered-by');
    // Behind a proxy (TRUST_PROXY) req.ip is the client from X-Forwarded-For; otherwise the socket's address.
    app.set('trust proxy', config.trustProxy === false ? false : typeof config.trustProxy === 'number' ? config.trustProxy : [...config.trustProxy]);
    app.use(requestId());
    // Every request keeps the process from counting as idle (platform/heap.ts), except the probes
    // and scrapes that reach an idle gateway every few seconds.
    app.use((req, _res, next) => {
      if (!PROBES.has(req.path)) noteActivity();
      next();
    });
    app.use(metrics.httpMiddleware());
    const server = (httpServer = http.createServer(app));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve());
    });
    const port = (server.address() as { port: number }).port;
    const baseUrl = `http://${config.host.includes(':') ? `[${config.host}]` : config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;
    const publicUrl = config.publicUrl ?? `http://localhost:${port}`;

    const remote = config.sandbox.enabled && config.sandbox.url ? await loadRemoteSandbox(config.sandbox.url, config.sandbox.adminToken!) : undefined;
    const sandbox =
      config.sandbox.enabled && !remote
        ? createSandbox({
            publicUrl,
            selfUrl: baseUrl,
            mountPath: '/sandbox',
            adminToken: sandboxAdminToken(config),
            maxPartitions: config.sandbox.partitions,
            lazy: true,
            logger: logger.child({ component: 'sandbox' }),
          })
        : undefined;
    // An upstream aggregator's institutions (GoCardless Bank Account Data), read with the operator's secret: refused credentials stop start-up.
    const upstream = config.upstreams.gocardless
      ? await loadGoCardlessInstitutions(config.upstreams.gocardless, { logger: logger.child({ component: 'gocardless' }) })
      : { institutions: [], credentials: new Map<string, BankClientCredentials>() };
    const registry = new InstitutionRegistry([...live.institutions, ...upstream.institutions, ...sandboxInstitutions(sandbox?.banks ?? remote?.banks ?? [])]);
    const credentials = (id: string) => live.credentials.get(id) ?? upstream.credentials.get(id) ?? sandbox?.clients[id] ?? remote?.clients[id];
    const audit = new AuditService(db.orm, logger.child({ module: 'audit' }), db.sql);
    // Each bank call attempt goes to the tenant's audit journal and to the metrics.
    const onCall: typeof audit.recordBankCall = (call) => {
      audit.recordBankCall(call);
      metrics.bankCall(call);
    };
    const adapters = createAdapterRegistry({
      credentials,
      logger,
      callbackUrl: `${publicUrl}/callback`,
      onCall,
      tppIpAddress: config.tppIpAddress,
      onSkippedEntries: metrics.bankEntriesSkipped,
    });
    const tenancy = new TenancyService(audit, db.sql, !db.embedded);
    // Read once (a file under DATA_DIR unless SANDBOX_ADMIN_TOKEN is set), and only with sandbox banks.
    const partitionToken = config.sandbox.enabled ? sandboxAdminToken(config) : '';
    const partitionOf = (tenantId: string) => sandboxPartition(partitionToken, tenantId);
    const institutions = new InstitutionsService(registry, partitionOf);
    const proofs = new ProofsService({
      sql: db.sql,
      retentionYears: config.proofRetentionYears,
      vault,
      publicUrl,
      jobs,
      logger: logger.child({ module: 'proofs' }),
    });
    const accounts = new AccountsService(db.sql, !db.embedded);
    const consents = new ConsentsService({
      orm: db.orm,
      accounts,
      jobs,
      institutions,
      tenancy,
      vault,
      adapters,
      audit,
      logger: logger.child({ module: 'consents' }),
      publicUrl,
      expiryWarningDays: config.consentExpiryWarningDays,
      proofs,
    });
    const events = new EventsService(db.sql);
    const eventStream = new EventStream(db.sql, bus, events, logger.child({ module: 'events' }), metrics);
    // Any flush that wrote events (consents, accounts) and every sync wake the readers of the log.
    db.orm.em
      .getEventManager()
      .registerSubscriber({ afterFlush: (args) => void (args.uow.getChangeSets().some((c) => c.entity instanceof EventRecord) && eventStream.notify()) });
    const reconciliation = new ReconciliationService({
      sql: db.sql,
      audit,
      logger: logger.child({ module: 'reconciliation' }),
      jobs,
      notifyEvents: () => eventStream.notify(),
    });
    const sync = new SyncService({
      orm: db.orm,
      sql: db.sql,
      consents,
      adapters,
      audit,
      logger: logger.child({ module: 'sync' }),
      jobs,
      bulkCopy: !db.embedded,
      notifyEvents: () => eventStream.notify(),
      metrics,
      onWrite: (client, change) => reconciliation.onSyncWrite(client, change),
    });
    consents.onActivated((consentId, psuIpAddress) => sync.syncConsentAccounts(consentId, psuIpAddress));
    const approvalGate = new PolicyGate(audit);
    const payments = new PaymentsService({
      orm: db.orm,
      jobs,
      audit,
      institutions,
      tenancy,
      vault,
      adapters,
      logger: logger.child({ module: 'payments' }),
      publicUrl,
      lockUrl: db.embedded ? null : db.url,
      proofs,
      approvalGate,
      approvalPendingTtlMs: config.approvalPendingTtlHours * 3_600_000,
    });
    const approvals = new ApprovalsService({
      orm: db.orm,
      audit,
      payments,
      institutions,
      proofs,
      gate: approvalGate,
      logger: logger.child({ module: 'approvals' }),
      publicUrl,
      linkTtlMs: config.approvalLinkTtlMinutes * 60_000,
    });
    const webhookDispatcher = new WebhookDispatcher({
      sql: db.sql,
      vault,
      bus,
      logger: logger.child({ module: 'webhooks' }),
      settings: config.webhooks,
      metrics,
    });
    const webhooks = new WebhooksService({ sql: db.sql, vault, audit, wake: () => eventStream.notify() });
    // The sandbox* mutations drive the sandbox through its control API over HTTP, in-process or standalone alike.
    const control = sandbox
      ? new SandboxControlClient(`${baseUrl}/sandbox/control`, sandboxAdminToken(config))
      : remote
        ? new SandboxControlClient(`${config.sandbox.url}/control`, config.sandbox.adminToken!)
        : null;
    const sandboxControls = new SandboxService({
      client: control,
      partitionOf,
      consents,
      accounts,
      institutions,
      logger: logger.child({ module: 'sandbox' }),
      reconciliation,
    });
    const grants = new GrantsService({ sql: db.sql, audit, accounts, notifyEvents: () => eventStream.notify() });
    const services: Services = {
      tenancy,
      vault,
      institutions,
      consents,
      audit,
      accounts,
      sync,
      events,
      eventStream,
      payments,
      webhooks,
      reconciliation,
      sandbox: sandboxControls,
      proofs,
      approvals,
      grants,
    };
    const demoApiKey = config.demoTenant ? await asSystem('demo tenant set-up', () => ensureDemoTenant(config, db, services)) : undefined;
    const schema = await buildApiSchema(bus.pubSub);
    const edge = await createGraphQLEdge({
      config,
      logger,
      orm: db.orm,
      schema,
      services,
      httpServer: server,
      demoApiKey: () => demoApiKey ?? readDemoKey(config),
      metrics,
    });
    app.use(healthRoutes(() => db.ready(), bus.redisUp));
    app.use(metricsRoute(metrics, { token: config.metrics.token, environment: config.environment }));
    app.use(edge.router);
    app.use(consentRoutes({ orm: db.orm, consents, institutions, publicUrl, payments }));
    app.use(proofRoutes(proofs));
    app.use(approvalRoutes({ orm: db.orm, passkeys: new PasskeysService({ orm: db.orm, approvals, audit, publicUrl }) }));
    if (sandbox) app.use('/sandbox', sandbox.router);
    app.use(finalErrorHandler(logger));
    // Background workers have no caller tenant; their timers and loops keep this scope.
    await asSystem('background workers', async () => {
      await eventStream.start();
      await consents.start({ work: config.syncConcurrency > 0 });
      await payments.start({ work: config.syncConcurrency > 0 });
      await reconciliation.start({ work: config.syncConcurrency > 0 });
      await proofs.start({ work: config.syncConcurrency > 0 });
      await sync.start({ concurrency: config.syncConcurrency });
      webhookDispatcher.start();
    });
    const startedJobs = jobs;

    let closing: Promise<void> | undefined;
    return {
      config,
      db,
      bus,
      jobs: startedJobs,
      services,
      httpServer: server,
      baseUrl,
      publicUrl,
      sandbox,
      graphqlUrl: `${baseUrl}/graphql`,
      demoApiKey,
      close() {
        closing ??= (async () => {
          vaultOffBus(); // first: its Redis unsubscribe must complete before the bus closes
          await eventStream.close(); // live subscriptions end; the log keeps everything for their resume
          await webhookDispatcher.close(); // requests in flight are cut short; their deliveries stay pending for another process
          await edge.close(); // drains HTTP (in-flight requests finish) and closes WebSockets
          await startedJobs.stop(config.shutdownTimeoutMs); // running syncs finish or go back to the queue
          await audit.flush(); // bank-call lines still waiting for their batch
          await sandbox?.close();
          await bus.close();
          await vault.close(); // zeroes the master key held in memory
          await db.close();
        })();
        return closing;
      },
    };
  } catch (err) {
    httpServer?.close();
    await jobs?.stop(0).catch(() => undefined);
    await db.close().catch(() => undefined);
    throw err;
  }
}

/**
 * On an empty database, creates the sandbox demo tenant and keeps its key in DATA_DIR (mode 600),
 * so `npm start` on a fresh clone hands the developer a working key.
 */
async function ensureDemoTenant(config: Config, db: Database, services: Services): Promise<string | undefined> {
  const em = db.orm.em.fork();
  if ((await em.count(Tenant, {})) > 0) return undefined;
  const { secret } = await services.tenancy.createTenant(em, { name: 'Demo', environment: 'sandbox', isDemo: true });
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(config.dataDir, DEMO_KEY_FILE), `${secret}\n`, { mode: 0o600 });
  return secret;
}

/** The control API token: SANDBOX_ADMIN_TOKEN, else one generated once and kept in DATA_DIR (mode 600). */
export function sandboxAdminToken(config: Config): string {
  if (config.sandbox.adminToken) return config.sandbox.adminToken;
  const file = path.join(config.dataDir, SANDBOX_TOKEN_FILE);
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    const token = randomBytes(24).toString('base64url');
    fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(file, `${token}\n`, { mode: 0o600 });
    return token;
  }
}

/**
 * The tenant's partition of the sandbox: its own copy of every sandbox bank (data, consents,
 * faults, clock, quotas), named with the admin token so only this gateway can open one; the label
 * is a digest, so bank URLs do not carry tenant ids.
 */
export function sandboxPartition(adminToken: string, tenantId: string): string {
  return partitionName(adminToken, createHash('sha256').update(`tenant/${tenantId}`).digest('base64url').slice(0, 16));
}

export function readDemoKey(config: Config): string | undefined {
  try {
    return fs.readFileSync(path.join(config.dataDir, DEMO_KEY_FILE), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
