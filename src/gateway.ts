import 'reflect-metadata';
import express from 'express';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Config } from './config';
import { buildApiSchema } from './api/schema';
import { createGraphQLEdge } from './api/server';
import type { Services } from './api/services';
import { createEventBus, type EventBus } from './platform/bus';
import { openDatabase, type Database } from './platform/db';
import { finalErrorHandler, healthRoutes, requestId } from './platform/http';
import type { Logger } from './platform/logger';
import { TenancyService } from './modules/tenancy/tenancy.service';
import { Tenant } from './modules/tenancy/tenant.entity';
import { openVault } from './modules/vault';
import { createSandbox, type Sandbox } from '../sandbox';

/** A running gateway: what `main.ts` starts and what tests start on a free port. */
export interface Gateway {
  readonly config: Config;
  readonly db: Database;
  readonly bus: EventBus;
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

/** Composition root: config → database (migrated) → bus → services → HTTP + GraphQL → listen. */
export async function startGateway(config: Config, logger: Logger): Promise<Gateway> {
  const db = await openDatabase(config, logger);
  try {
    const applied = await db.migrate();
    if (applied.length) logger.info({ migrations: applied }, 'migrations applied');
    const vault = await openVault({ config, orm: db.orm, logger });
    const bus = createEventBus(config.redisUrl, logger);
    const services: Services = { tenancy: new TenancyService(), vault };
    const demoApiKey = config.demoTenant ? await ensureDemoTenant(config, db, services) : undefined;
    const schema = await buildApiSchema(bus.pubSub);

    const app = express();
    app.disable('x-powered-by');
    app.set('trust proxy', false);
    const httpServer = http.createServer(app);
    const edge = await createGraphQLEdge({
      config,
      logger,
      orm: db.orm,
      schema,
      services,
      httpServer,
      demoApiKey: () => demoApiKey ?? readDemoKey(config),
    });
    app.use(requestId());
    app.use(healthRoutes(() => db.ready()));
    app.use(edge.router);
    // The sandbox needs the bound address for its OAuth issuers, so it is created after listen.
    let sandbox: Sandbox | undefined;
    app.use('/sandbox', (req, res, next) => (sandbox ? sandbox.router(req, res, next) : next()));
    app.use(finalErrorHandler(logger));

    await new Promise<void>((resolve, reject) => {
      httpServer.once('error', reject);
      httpServer.listen(config.port, config.host, () => resolve());
    });
    const port = (httpServer.address() as { port: number }).port;
    const baseUrl = `http://${config.host.includes(':') ? `[${config.host}]` : config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;
    const publicUrl = config.publicUrl ?? `http://localhost:${port}`;
    if (config.sandbox.enabled) {
      sandbox = createSandbox({ publicUrl, mountPath: '/sandbox', adminToken: sandboxAdminToken(config), logger: logger.child({ component: 'sandbox' }) });
    }

    let closing: Promise<void> | undefined;
    return {
      config,
      db,
      bus,
      services,
      httpServer,
      baseUrl,
      publicUrl,
      sandbox,
      graphqlUrl: `${baseUrl}/graphql`,
      demoApiKey,
      close() {
        closing ??= (async () => {
          await edge.close(); // drains HTTP (in-flight requests finish) and closes WebSockets
          await sandbox?.close();
          await bus.close();
          await vault.close(); // zeroes the master key held in memory
          await db.close();
        })();
        return closing;
      },
    };
  } catch (err) {
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

export function readDemoKey(config: Config): string | undefined {
  try {
    return fs.readFileSync(path.join(config.dataDir, DEMO_KEY_FILE), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
