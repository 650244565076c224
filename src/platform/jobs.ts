/**
 * Durable jobs (DESIGN.md D3): account syncs and their schedule, decoupled-consent and payment
 * polling, consent expiry, expected-payment overdue ticks and proof purges are rows in Postgres,
 * managed by pg-boss 10, so any number of gateway processes share the work and a crash loses
 * nothing. Webhook deliveries are not jobs: they are leased lanes of their own table
 * (modules/webhooks/delivery.store.ts). Works the same on external PostgreSQL and on the embedded
 * PGlite socket.
 *
 * Delivery is at least once: a job whose handler outlives its expiry, whose process dies, or that
 * is still running when `stop` gives up, is run again. Handlers must be idempotent.
 */
import PgBoss from 'pg-boss';
import type { Logger } from './logger';
import { asSystem } from './tenant-scope';

/** How a queue stores and retries its jobs. Stored in the database; every process shares it. */
export interface QueueOptions {
  /**
   * pg-boss storage policy, fixed when the queue is first created:
   * `standard` (default) no limits; `short` at most one queued job per singletonKey (a second send
   * returns null); `singleton` at most one running job per singletonKey; `stately` at most one
   * queued and one running per singletonKey.
   */
  policy?: 'standard' | 'short' | 'singleton' | 'stately';
  /** Retries after the first attempt (default 2). */
  retryLimit?: number;
  /** Seconds before a retry (default 0; at least 1 with backoff). */
  retryDelay?: number;
  /** Exponential backoff with jitter: the n-th retry waits about retryDelay * 2^(n-1) to twice that. */
  retryBackoff?: boolean;
  /**
   * A running job older than this is failed (and retried): by its own process (the handler is not
   * aborted, only abandoned) or, if that process died, by any instance's maintenance. Default 900.
   */
  expireInSeconds?: number;
}

export interface SendOptions {
  /** Deduplicates on `short`/`stately` queues (see QueueOptions.policy); refused on `standard` ones. */
  singletonKey?: string;
  /** When the job may start: a Date, or a number of seconds from now. */
  startAfter?: Date | number;
  /** Overrides the queue's retryLimit for this job. */
  retryLimit?: number;
}

export interface WorkOptions {
  /** Jobs of this queue run at once in this process (default 1): one polling worker each. */
  concurrency?: number;
  /** Seconds between polls while the queue is empty (default 2, minimum 0.5). */
  pollingIntervalSeconds?: number;
}

export interface Job<T> {
  id: string;
  data: T;
  /** 0 on the first attempt, n on the n-th retry (or re-run after an expiry). */
  retryCount: number;
}

/** Durable, Postgres-backed jobs (pg-boss 10). One per process; any number of processes share the queues. */
export interface Jobs {
  /** Declares a queue (idempotent); call before send/work/schedule. The given (or default) options replace stored ones; the policy never changes once created. */
  define(name: string, options?: QueueOptions): Promise<void>;
  /** Enqueues; returns the job id, or null when a singletonKey job with that key is already queued. */
  send<T extends object>(name: string, data: T, options?: SendOptions): Promise<string | null>;
  /** Runs `handler` for each job of `name` in this process, up to `concurrency` at once. A throw fails the job (retried per the queue's policy). */
  work<T extends object>(name: string, options: WorkOptions, handler: (job: Job<T>) => Promise<void>): Promise<void>;
  /** Cron schedule in UTC, one per queue (a second call replaces it); pg-boss sends one job per tick across all processes. */
  schedule(name: string, cron: string, data?: object): Promise<void>;
  /**
   * Stops fetching, waits for running handlers up to `timeoutMs` (default 10 s, at least 1 s), then
   * fails whatever still runs (so it is retried elsewhere) and closes. `timeoutMs <= 0` does not
   * wait at all. Safe to call twice.
   */
  stop(timeoutMs?: number): Promise<void>;
}

export interface StartJobsOptions {
  /** Postgres URL: DATABASE_URL, or the embedded PGlite socket's `db.url`. */
  url: string;
  logger: Logger;
  /** Schema of pg-boss's tables (default `pgboss`). */
  schema?: string;
  /** Connections of this process's jobs pool (default 3; PGlite serves few). */
  maxConnections?: number;
  /**
   * Seconds between maintenance runs (expiring jobs of dead workers, archiving, deleting), done
   * by one instance at a time across all processes (default 30). Bounds how late a crashed
   * worker's job is retried after its expiry.
   */
  maintenanceIntervalSeconds?: number;
}

const QUEUE_DEFAULTS = { policy: 'standard', retryLimit: 2, retryDelay: 0, retryBackoff: false, expireInSeconds: 900 } as const;

/** Starts pg-boss on `url`, installing or migrating its schema when needed (under its own lock). */
export async function startJobs(opts: StartJobsOptions): Promise<Jobs> {
  const log = opts.logger.child({ component: 'jobs' });
  const started = Date.now();
  const boss = new PgBoss({
    connectionString: opts.url,
    schema: opts.schema ?? 'pgboss',
    max: opts.maxConnections ?? 3,
    application_name: 'passerelle-jobs',
    supervise: true,
    maintenanceIntervalSeconds: opts.maintenanceIntervalSeconds ?? 30,
    schedule: true,
    // Cron ticks are checked every 30 s and moved to their queue within 10 s.
    cronMonitorIntervalSeconds: 30,
    cronWorkerIntervalSeconds: 10,
  });
  // pg-boss re-emits pool, maintenance, cron and worker errors here; unhandled, they would crash.
  boss.on('error', (err: unknown) => log.error({ err }, 'jobs: pg-boss error'));
  await boss.start();
  log.debug({ ms: Date.now() - started }, 'jobs: started');

  const policies = new Map<string, NonNullable<QueueOptions['policy']>>();
  let stopping: Promise<void> | undefined;

  return {
    async define(name, options = {}) {
      const wanted = { ...QUEUE_DEFAULTS, ...options };
      const stored = await boss.getQueue(name);
      if (!stored) {
        await boss.createQueue(name, { name, ...wanted });
        policies.set(name, wanted.policy);
        return;
      }
      const policy = (stored.policy ?? 'standard') as NonNullable<QueueOptions['policy']>;
      if (policy !== wanted.policy) {
        log.warn({ queue: name, stored: policy, wanted: wanted.policy }, 'jobs: a queue keeps the policy it was created with');
      }
      policies.set(name, policy);
      const same =
        stored.retryLimit === wanted.retryLimit &&
        stored.retryDelay === wanted.retryDelay &&
        stored.retryBackoff === wanted.retryBackoff &&
        stored.expireInSeconds === wanted.expireInSeconds;
      if (!same) await boss.updateQueue(name, { name, ...wanted, policy });
    },

    async send(name, data, options = {}) {
      if (options.singletonKey !== undefined && policies.get(name) === 'standard') {
        throw new Error(`jobs: queue ${name} has the standard policy, where a singletonKey deduplicates nothing; define it as 'short' or 'stately'`);
      }
      const sendOptions: PgBoss.SendOptions = {};
      if (options.singletonKey !== undefined) sendOptions.singletonKey = options.singletonKey;
      if (options.startAfter !== undefined) sendOptions.startAfter = options.startAfter;
      if (options.retryLimit !== undefined) sendOptions.retryLimit = options.retryLimit;
      return boss.send(name, data, sendOptions);
    },

    async work<T extends object>(name: string, options: WorkOptions, handler: (job: Job<T>) => Promise<void>) {
      const concurrency = options.concurrency ?? 1;
      if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error('jobs: concurrency must be a positive integer');
      const workOptions = {
        batchSize: 1,
        includeMetadata: true as const,
        ...(options.pollingIntervalSeconds !== undefined ? { pollingIntervalSeconds: options.pollingIntervalSeconds } : {}),
      };
      const run = async ([job]: PgBoss.JobWithMetadata<T>[]) => {
        try {
          // A job has no caller: its handler reads and writes across tenants, by the job's own ids.
          await asSystem(`job ${name}`, () => handler({ id: job.id, data: job.data, retryCount: job.retryCount }));
        } catch (err) {
          const final = job.retryCount >= job.retryLimit;
          log.warn({ err, queue: name, jobId: job.id, retryCount: job.retryCount, retryLimit: job.retryLimit, final }, 'jobs: handler failed');
          throw err;
        }
      };
      // pg-boss 10 has no in-worker concurrency: each work() is one polling worker taking one job at a time.
      for (let i = 0; i < concurrency; i++) await boss.work<T>(name, workOptions, run);
    },

    async schedule(name, cron, data) {
      await boss.schedule(name, cron, data ?? {}, { tz: 'UTC' });
    },

    stop(timeoutMs = 10_000) {
      stopping ??= boss
        .stop({ graceful: timeoutMs > 0, wait: true, close: true, timeout: Math.max(timeoutMs, 1000) })
        .catch((err: unknown) => log.error({ err }, 'jobs: stop failed'));
      return stopping;
    },
  };
}
