// createSandbox, kept light: listing the banks (for the gateway's registry) needs only their
// descriptions, so the code that builds banks (OAuth servers, OpenAPI validators, ledgers, the
// upstream's OpenAPI file) is imported on the first request that reaches a bank, not at start.
import express, { type Router } from 'express';
import { pino, type Logger } from 'pino';
import type { SandboxBankInfo, SandboxClientCredentials } from './core/bank';
import { describePartition } from './describe';
import { TEST_USERS } from './core/users';
import type { Lenience } from './standards/strict';
import type { Partition, Partitions } from './partitions';
import { describeGoCardlessUpstream } from './upstreams/gocardless-identity';

export interface SandboxOptions {
  /** Where the HTTP server that mounts the router is reachable, e.g. http://127.0.0.1:4000. */
  publicUrl: string;
  /**
   * Where this process itself reaches that server (default `publicUrl`), for the control API's
   * headless SCA (`POST /control/sca/complete`), which walks the banks' own pages over HTTP: e.g.
   * `http://127.0.0.1:4000` when `publicUrl` is a name only browsers resolve.
   */
  selfUrl?: string;
  /** Path the router is mounted at; default `/sandbox`. */
  mountPath?: string;
  /** Bearer token protecting `${mountPath}/control`. */
  adminToken: string;
  /** Seed of the generated data; default 1. */
  seed?: number;
  /** Start of every bank clock; default now. Fix it for byte-identical data across runs. */
  now?: Date;
  logger?: Logger;
  /**
   * Public JWKs of the gateway's OAuth client. When given, every bank accepts authorisation
   * requests as signed request objects (JAR, the UK OBIE way) verified with these keys.
   */
  clientJwks?: { keys: Record<string, unknown>[] };
  /**
   * Per bank id, a real bank's known leniency to reproduce: fields that bank accepts although the
   * official file forbids them. Without it every bank refuses any request the file forbids.
   */
  lenient?: Record<string, Lenience>;
  /**
   * How many partitions (`/t/<name>/…`, a full copy of every bank each, a few MB of seeded data)
   * live at once; past it the least recently used one is dropped. Default 16.
   */
  maxPartitions?: number;
  /**
   * Build the default partition (the banks at `mountPath` itself) on its first request instead of
   * now. A gateway sends each tenant to its own partition, so its process often never needs this
   * one: lazy saves it the banks' ledgers, OAuth servers and validators at start. Default false.
   */
  lazy?: boolean;
}

/** Default bound on live partitions. */
export const DEFAULT_MAX_PARTITIONS = 16;

export interface Sandbox {
  /** Mount at `mountPath` on the server reachable at `publicUrl`. */
  router: Router;
  banks: SandboxBankInfo[];
  /** OAuth client credentials per bank id. */
  clients: Record<string, SandboxClientCredentials>;
  /**
   * Resolves once the default partition's banks are built and can answer (building them now if the
   * sandbox is lazy). A server that awaits it before it listens spares its first request the build.
   */
  ready(): Promise<void>;
  close(): Promise<void>;
}

/** Builds the sandbox banks, their OAuth servers, SCA pages and the control API. */
export function createSandbox(options: SandboxOptions): Sandbox {
  if (!options.adminToken || options.adminToken.length < 8) throw new Error('createSandbox: adminToken must have at least 8 characters');
  let parsed: URL;
  try {
    parsed = new URL(options.publicUrl);
  } catch {
    throw new Error(`createSandbox: publicUrl is not a URL: ${options.publicUrl}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('createSandbox: publicUrl must be http(s)');
  const publicUrl = options.publicUrl.replace(/\/+$/, '');
  const selfUrl = (options.selfUrl ?? publicUrl).replace(/\/+$/, '');
  if (!/^https?:\/\/[^/?#]+/.test(selfUrl)) throw new Error(`createSandbox: selfUrl must be an http(s) URL, got ${options.selfUrl}`);
  const trimmed = (options.mountPath ?? '/sandbox').replace(/^\/+|\/+$/g, '');
  const mountPath = trimmed ? `/${trimmed}` : '';
  const logger = options.logger ?? pino({ level: 'silent' });
  const startMs = (options.now ?? new Date()).getTime();
  // Every copy of the banks runs on one timeline: a partition made later is not in the past.
  const ctx = {
    lenient: options.lenient,
    publicUrl,
    seed: options.seed ?? 1,
    adminToken: options.adminToken,
    logger,
    startMs,
    clockOrigin: Date.now(),
    clientJwks: options.clientJwks,
  };
  const addressesOf = (base: string) => ({ publicBase: `${publicUrl}${base}`, selfBase: `${selfUrl}${base}` });
  // The default partition, at the mount path itself, for direct users of the sandbox: built now,
  // or on its first request when lazy. Its banks and those of the upstream aggregator (GoCardless
  // Bank Account Data, reaching the same banks' data) are described without building anything.
  const described = describePartition(ctx, mountPath);
  const upstream = describeGoCardlessUpstream({ publicUrl, mountPath, seed: ctx.seed });
  // The bank code, loaded once, on first use (or now, when not lazy).
  let code: Promise<typeof import('./partitions')> | undefined;
  const bankCode = () => (code ??= import('./partitions'));
  let root: Promise<Partition> | undefined;
  const rootPartition = () =>
    (root ??= bankCode()
      .then(async ({ Partition }) =>
        options.lazy
          ? Partition.create(ctx, mountPath, addressesOf(mountPath))
          : (await Partition.loadStandards(), Partition.createNow(ctx, mountPath, addressesOf(mountPath))),
      )
      .catch((err: unknown) => {
        root = undefined;
        throw err;
      }));
  // Every other partition is a full copy of the banks under /t/<name>, made on first use (a
  // gateway gives each tenant its own: faults, clocks, resets and data of one never reach another).
  let partitions: Promise<{ all: Partitions; router: Router }> | undefined;
  const tenantPartitions = () =>
    (partitions ??= bankCode().then(({ Partition, Partitions }) => {
      const all = new Partitions(options.adminToken, options.maxPartitions ?? DEFAULT_MAX_PARTITIONS, (name) => {
        const base = `${mountPath}/t/${name}`;
        return Partition.create({ ...ctx, logger: logger.child({ partition: name }) }, base, addressesOf(base));
      });
      return { all, router: all.router() };
    }));
  if (!options.lazy) void rootPartition().catch((err: unknown) => logger.error({ err }, 'sandbox: the default partition could not be built'));
  const router = express.Router();
  // A public index for sandbox users: the banks and the documented test users (no secrets).
  router.get('/', (_req, res) => {
    res.json({
      banks: described.banks,
      users: TEST_USERS.map(({ username, password, otp, behaviour, description }) => ({ username, password, otp, behaviour, description })),
      control: `${publicUrl}${mountPath}/control (Authorization: Bearer <admin token>)`,
    });
  });
  router.use('/t', (req, res, next) => {
    tenantPartitions().then((p) => p.router(req, res, next), next);
  });
  router.use((req, res, next) => {
    rootPartition().then((p) => p.router(req, res, next), next);
  });
  return {
    router,
    banks: [...described.banks, ...upstream.banks],
    clients: { ...described.clients, ...upstream.clients },
    async ready() {
      await rootPartition();
    },
    async close() {
      await Promise.all([root?.then((p) => p.close()).catch(() => undefined), partitions?.then((p) => p.all.close())]);
    },
  };
}
