/**
 * Prometheus metrics of one gateway (`GET /metrics`, prom-client).
 *
 * Each gateway owns its own `Registry` rather than prom-client's global one: tests (and tools)
 * start several gateways in one process, and their numbers must not mix.
 *
 * Labels are low-cardinality by construction and never carry a tenant, account, consent or
 * payment id, a token, a URL or a secret: GraphQL operation names are bounded (the first
 * {@link OPERATION_NAME_LIMIT} distinct names, then `other`), HTTP routes are a fixed set, bank
 * operations are the adapters' own names (`accounts.transactions`), never paths.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type pg from 'pg';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ErrorCode } from '../kernel/errors';
import { errorBody } from './http-errors';
import type { Environment } from '../config';

/** Distinct GraphQL operation names kept as label values; later new names count as `other`. */
export const OPERATION_NAME_LIMIT = 200;
/** Distinct institutions and bank operations kept as label values. */
const BANK_LABEL_LIMIT = 200;
/** The label value of everything past a label's limit. */
export const OTHER = 'other';

/** The HTTP routes told apart; any other path is `other` (so raw paths with ids never become labels). */
export const HTTP_ROUTES = ['/graphql', '/graphiql', '/callback', '/connect', '/sandbox', '/healthz', '/readyz', '/metrics'] as const;

/** How a GraphQL operation ended: `user_error` = a payload with userErrors, `rejected` = coded top-level errors (auth, limits, bad input), `error` = an internal fault. */
export type GraphQLOutcome = 'ok' | 'user_error' | 'rejected' | 'error';
/** What became of one webhook attempt. */
export type WebhookOutcome = 'delivered' | 'failed_attempt' | 'dead';
/** Where an event was handed over: to a live subscriber, or to a webhook receiver (answered 2xx). */
export type EventChannel = 'subscription' | 'webhook';
export type VaultOperation = 'create_data_key' | 'seal' | 'open' | 'shred' | 'rotate';

/**
 * Keeps a label's distinct values bounded: a value must match `pattern` (else `invalid`), and once
 * `limit` distinct values were seen any new one reads `other`, so no caller can grow a series set
 * without bound by inventing names.
 */
export class BoundedLabel {
  private readonly seen = new Set<string>();

  constructor(
    private readonly limit: number,
    private readonly pattern: RegExp,
  ) {}

  of(value: string): string {
    if (this.seen.has(value)) return value;
    if (!this.pattern.test(value)) return 'invalid';
    if (this.seen.size >= this.limit) return OTHER;
    this.seen.add(value);
    return value;
  }
}

/** What the metrics read of one bank call attempt (the banking layer's `BankCallRecord` has this shape). */
export interface BankCallObservation {
  readonly institutionId: string;
  readonly operation: string;
  /** HTTP status; absent when no answer came. */
  readonly status?: number;
  readonly latencyMs: number;
  /** The banking error code that left no status (`TIMEOUT`, `UNAVAILABLE`…). */
  readonly errorCode?: string;
}

/** What the metrics read of malformed entries skipped in one bank answer (the banking layer's `SkippedEntriesReport`). */
export interface SkippedEntriesObservation {
  readonly institutionId: string;
  readonly operation: string;
  readonly kind: 'balance' | 'transaction';
  readonly count: number;
}

/** The route label of a request path: one of {@link HTTP_ROUTES}, else `other`. */
export function routeLabel(path: string): string {
  return HTTP_ROUTES.find((r) => path === r || path.startsWith(`${r}/`)) ?? OTHER;
}

/** The status label of a bank call: the HTTP status, else the error that left none (`timeout`, `unavailable`…), else `no_response`. */
export function bankStatusLabel(record: Pick<BankCallObservation, 'status' | 'errorCode'>): string {
  if (record.status) return String(record.status);
  return record.errorCode ? String(record.errorCode).toLowerCase() : 'no_response';
}

/**
 * The outcome of a GraphQL result as sent: `error` when any error is an internal fault (masked as
 * INTERNAL_SERVER_ERROR, or uncoded), `rejected` when all errors are coded ones (authentication,
 * limits, bad input), `user_error` when a top-level payload holds userErrors, else `ok`.
 */
export function graphqlOutcome(result: { data?: unknown; errors?: readonly { extensions?: Record<string, unknown> }[] } | undefined): GraphQLOutcome {
  const errors = result?.errors ?? [];
  if (errors.length > 0) {
    const internal = errors.some((e) => typeof e.extensions?.code !== 'string' || e.extensions.code === ErrorCode.INTERNAL_SERVER_ERROR);
    return internal ? 'error' : 'rejected';
  }
  const data = result?.data;
  if (data && typeof data === 'object') {
    for (const payload of Object.values(data)) {
      const userErrors = (payload as { userErrors?: unknown } | null)?.userErrors;
      if (Array.isArray(userErrors) && userErrors.length > 0) return 'user_error';
    }
  }
  return 'ok';
}

const seconds = (startedMs: number) => (performance.now() - startedMs) / 1000;

// Buckets in seconds, each fitted to what it measures.
const API_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BANK_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60];
const SYNC_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900];
// Live events arrive in milliseconds; a webhook retried for hours is lag too.
const LAG_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21_600, 86_400];
const WEBHOOK_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const VAULT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5];

/** The metrics of one gateway and the typed calls its modules make. */
export class Metrics {
  readonly registry = new Registry();
  private readonly operationNames = new BoundedLabel(OPERATION_NAME_LIMIT, /^[_A-Za-z][_0-9A-Za-z]{0,99}$/);
  private readonly institutions = new BoundedLabel(BANK_LABEL_LIMIT, /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/);
  private readonly bankOperations = new BoundedLabel(BANK_LABEL_LIMIT, /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/);

  private readonly httpDuration = this.histogram(
    'passerelle_http_request_duration_seconds',
    'HTTP requests by method, route (a fixed set; other paths are "other") and status code.',
    ['method', 'route', 'status'],
    API_BUCKETS,
  );
  private readonly graphqlDuration = this.histogram(
    'passerelle_graphql_operation_duration_seconds',
    'GraphQL operations over HTTP by operation name ("anonymous" when unnamed, "invalid" when none was resolved, "other" past 200 names), type and outcome (ok, user_error, rejected, error).',
    ['operation', 'type', 'outcome'],
    API_BUCKETS,
  );
  private readonly subscriptions = new Gauge({
    name: 'passerelle_graphql_subscriptions_active',
    help: 'GraphQL subscriptions open over graphql-ws in this process.',
    registers: [this.registry],
  });
  private readonly liveExecutions = this.counter(
    'passerelle_live_executions_total',
    'Subscription operations executed for live events: one per event and distinct (tenant, operation, variables), however many subscribers share the result.',
    [],
  );
  private readonly liveFrames = this.counter('passerelle_live_frames_total', 'graphql-ws `next` frames written to live subscribers.', []);
  private readonly slowConsumers = this.counter(
    'passerelle_ws_slow_consumer_closes_total',
    'graphql-ws connections closed with 1013 because more than WS_MAX_BUFFERED_BYTES waited to be sent to them.',
    [],
  );
  private readonly bankCalls = this.counter(
    'passerelle_bank_calls_total',
    'Bank API call attempts (resource API and OAuth server) by institution, operation and HTTP status (or the error when no answer came).',
    ['institution', 'operation', 'status'],
  );
  private readonly bankDuration = this.histogram(
    'passerelle_bank_call_duration_seconds',
    'Duration of bank API call attempts, labelled as passerelle_bank_calls_total.',
    ['institution', 'operation', 'status'],
    BANK_BUCKETS,
  );
  private readonly bankEntriesSkippedTotal = this.counter(
    'passerelle_bank_entries_skipped_total',
    'Malformed entries (a balance, a transaction) skipped in otherwise good bank answers, by institution, operation and kind; each is logged with the request id.',
    ['institution', 'operation', 'kind'],
  );
  private readonly syncJobs = this.counter('passerelle_sync_jobs_total', 'Account syncs run by this process, by outcome and mode.', ['outcome', 'mode']);
  private readonly syncDuration = this.histogram(
    'passerelle_sync_job_duration_seconds',
    'Duration of account syncs by outcome and mode.',
    ['outcome', 'mode'],
    SYNC_BUCKETS,
  );
  private readonly syncRunning = new Gauge({ name: 'passerelle_sync_running', help: 'Account syncs running in this process now.', registers: [this.registry] });
  private readonly eventLagSeconds = this.histogram(
    'passerelle_event_lag_seconds',
    'Time from an event being written to the log to its hand-over: to a live subscriber (channel="subscription") or to a webhook receiver that answered 2xx (channel="webhook", retries included).',
    ['channel'],
    LAG_BUCKETS,
  );
  private readonly webhookDeliveries = this.counter(
    'passerelle_webhook_deliveries_total',
    'Webhook delivery attempts by outcome: delivered, failed_attempt (will be retried) or dead (retry window over).',
    ['outcome'],
  );
  private readonly webhookDuration = this.histogram(
    'passerelle_webhook_attempt_duration_seconds',
    'Duration of webhook requests by outcome.',
    ['outcome'],
    WEBHOOK_BUCKETS,
  );
  private readonly vaultOperations = this.counter(
    'passerelle_vault_operations_total',
    'Vault operations by operation and outcome ("ok" or the vault error code).',
    ['operation', 'outcome'],
  );
  private readonly vaultDuration = this.histogram(
    'passerelle_vault_operation_duration_seconds',
    'Duration of vault operations by operation and outcome.',
    ['operation', 'outcome'],
    VAULT_BUCKETS,
  );

  /** `defaultMetrics`: Node process metrics (CPU, memory, event loop, GC) under their usual unprefixed names. */
  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  private histogram<L extends string>(name: string, help: string, labelNames: readonly L[], buckets: number[]): Histogram<L> {
    return new Histogram<L>({ name, help, labelNames, buckets, registers: [this.registry] });
  }

  private counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
    return new Counter<L>({ name, help, labelNames, registers: [this.registry] });
  }

  /** The exposition in Prometheus text format, and its content type. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** Times every request answered by the app (mount first). WebSocket upgrades do not pass through Express. */
  httpMiddleware() {
    return (req: Request, res: Response, next: NextFunction) => {
      const started = performance.now();
      const route = routeLabel(req.path);
      res.once('close', () => {
        const status = res.writableFinished ? String(res.statusCode) : 'aborted';
        this.httpDuration.observe({ method: httpMethod(req.method), route, status }, seconds(started));
      });
      next();
    };
  }

  /**
   * One GraphQL operation. `name`: the resolved operation's name (null when unnamed), undefined
   * when no operation was resolved (parse or validation error): only names of valid documents count.
   */
  graphqlOperation(op: { name: string | null | undefined; type: string | undefined; outcome: GraphQLOutcome; seconds: number }): void {
    const operation = op.name === undefined ? 'invalid' : op.name === null ? 'anonymous' : this.operationNames.of(op.name);
    this.graphqlDuration.observe({ operation, type: op.type ?? 'unknown', outcome: op.outcome }, op.seconds);
  }

  subscriptionOpened(): void {
    this.subscriptions.inc();
  }

  subscriptionClosed(): void {
    this.subscriptions.dec();
  }

  /** One execution of a live subscription's operation for one event (its frame goes to every subscriber sharing it). */
  liveExecuted(): void {
    this.liveExecutions.inc();
  }

  liveFramesSent(count: number): void {
    if (count > 0) this.liveFrames.inc(count);
  }

  slowConsumerClosed(): void {
    this.slowConsumers.inc();
  }

  /** The adapters' `onCall` hook: one observation per bank call attempt. */
  readonly bankCall = (record: BankCallObservation): void => {
    const labels = {
      institution: this.institutions.of(record.institutionId),
      operation: this.bankOperations.of(record.operation),
      status: bankStatusLabel(record),
    };
    this.bankCalls.inc(labels);
    this.bankDuration.observe(labels, Math.max(0, record.latencyMs) / 1000);
  };

  /** The adapters' `onSkippedEntries` hook: malformed entries set aside in one answer. */
  readonly bankEntriesSkipped = (report: SkippedEntriesObservation): void => {
    this.bankEntriesSkippedTotal.inc(
      { institution: this.institutions.of(report.institutionId), operation: this.bankOperations.of(report.operation), kind: report.kind },
      report.count,
    );
  };

  /** Runs one sync and counts it: `outcome` is the sync's status in lower case, `error` when it threw (the queue retries it). */
  async syncJob<T extends { status: string }>(mode: string, run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    this.syncRunning.inc();
    let outcome = 'error';
    try {
      const result = await run();
      outcome = result.status.toLowerCase();
      return result;
    } finally {
      this.syncRunning.dec();
      const labels = { outcome, mode: mode.toLowerCase() };
      this.syncJobs.inc(labels);
      this.syncDuration.observe(labels, seconds(started));
    }
  }

  /** An event handed over on `channel`; `createdAt` is when it was written to the log (clock skew clamps at 0). */
  eventLag(channel: EventChannel, createdAt: Date): void {
    this.eventLagSeconds.observe({ channel }, Math.max(0, Date.now() - createdAt.getTime()) / 1000);
  }

  /** One webhook attempt and what became of its delivery. */
  webhookAttempt(outcome: WebhookOutcome, durationMs: number): void {
    this.webhookDeliveries.inc({ outcome });
    this.webhookDuration.observe({ outcome }, durationMs / 1000);
  }

  /** Runs one vault operation and counts it: outcome `ok`, or the error's code (a closed set of vault codes), else `error`. */
  async vault<T>(operation: VaultOperation, run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    let outcome = 'error';
    try {
      const result = await run();
      outcome = 'ok';
      return result;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'string' && /^VAULT_[A-Z_]{1,40}$/.test(code)) outcome = code.toLowerCase();
      throw err;
    } finally {
      this.vaultOperations.inc({ operation, outcome });
      this.vaultDuration.observe({ operation, outcome }, seconds(started));
    }
  }

  /** Gauges of a `pg` pool, read at scrape time. */
  observePool(pool: Pick<pg.Pool, 'totalCount' | 'idleCount' | 'waitingCount'>): void {
    new Gauge({
      name: 'passerelle_db_pool_connections',
      help: 'Connections of the plain SQL pool by state (idle, busy).',
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        this.set({ state: 'idle' }, pool.idleCount);
        this.set({ state: 'busy' }, pool.totalCount - pool.idleCount);
      },
    });
    new Gauge({
      name: 'passerelle_db_pool_waiting_clients',
      help: 'Queries waiting for a connection of the plain SQL pool.',
      registers: [this.registry],
      collect() {
        this.set(pool.waitingCount);
      },
    });
  }
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const httpMethod = (method: string) => (METHODS.has(method) ? method : OTHER);

/** Who may read `/metrics`. */
export interface MetricsAccess {
  /** METRICS_TOKEN: when set, scrapers must send `Authorization: Bearer <token>`. */
  token: string | undefined;
  /** Without a token, sandbox serves metrics openly and live refuses (403). */
  environment: Environment;
}

/**
 * `GET /metrics`: the Prometheus exposition. With METRICS_TOKEN, only for its bearer (401
 * otherwise); without, open in sandbox and refused in live, where metrics are still collected.
 * Not behind the GraphQL rate limit and not a GraphQL operation.
 */
export function metricsRoute(metrics: Metrics, access: MetricsAccess) {
  const router = express.Router();
  const expected = access.token ? digest(access.token) : undefined;
  router.get('/metrics', async (req, res) => {
    res.set('Cache-Control', 'no-store');
    if (expected) {
      const given = /^Bearer\s+(\S+)\s*$/i.exec(req.header('authorization') ?? '')?.[1];
      // Digests first: equal lengths for timingSafeEqual, and nothing learnt from timing.
      if (!given || !timingSafeEqual(digest(given), expected)) {
        return void res
          .status(401)
          .set('WWW-Authenticate', 'Bearer realm="metrics"')
          .json(errorBody(ErrorCode.UNAUTHENTICATED, 'Metrics need `Authorization: Bearer <METRICS_TOKEN>`.'));
      }
    } else if (access.environment === 'live') {
      return void res
        .status(403)
        .json(
          errorBody(
            ErrorCode.FORBIDDEN,
            'Metrics are not served in live without a token: set METRICS_TOKEN (16+ characters) and scrape with `Authorization: Bearer <token>`.',
          ),
        );
    }
    const { contentType, body } = await metrics.exposition();
    res.type(contentType).send(body);
  });
  return router;
}

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();
