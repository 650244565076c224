import http from 'node:http';
import https from 'node:https';
import dns from 'node:dns';
import type { LookupFunction } from 'node:net';
import type pg from 'pg';
import type { EventBus } from '../../platform/bus';
import { isPublicAddress } from '../../platform/ip';
import type { Logger } from '../../platform/logger';
import type { Metrics } from '../../platform/metrics';
import { WAKE_TOPIC } from '../events/event-stream';
import { EVENT_COLUMNS, encodeEventCursor, type EventEntry } from '../events/events.service';
import { EventObject } from '../events/events.types';
import type { VaultService } from '../vault';
import { signatureHeader } from './signing';
import { SECRET_PURPOSE } from './webhooks.service';
import { asSystem } from '../../platform/tenant-scope';

/** Delivery settings (config `WEBHOOK_*`). */
export interface DispatcherSettings {
  concurrency: number;
  timeoutMs: number;
  retryBaseMs: number;
  retryWindowSeconds: number;
}

/** Longest wait between two attempts of one delivery. */
const MAX_BACKOFF_MS = 6 * 3600_000;
/** Deliveries one lane sends before it lets other lanes have the worker. */
const LANE_BATCH = 100;
const SWEEP_MS = 1_000;
const MAX_RESPONSE_BYTES = 64 * 1024;

/**
 * Exponential backoff with "equal jitter": half the doubled delay fixed, half random — retries of
 * many deliveries that failed together spread out instead of arriving as one wave.
 */
export function retryDelayMs(attempt: number, baseMs: number, random = Math.random): number {
  const delay = Math.min(MAX_BACKOFF_MS, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(delay / 2 + random() * (delay / 2));
}

interface LaneEndpoint {
  url: string;
  tenantId: string;
  environment: 'sandbox' | 'live';
  secretSealed: string;
  previousSecretSealed: string | null;
  previousValid: boolean;
}

interface Head extends Omit<EventEntry, 'cursor'> {
  deliveryId: string;
  attempts: number;
  notYet: boolean;
  nextAttemptAt: Date;
  windowEnds: Date | null;
}

interface AttemptResult {
  ok: boolean;
  status: number | null;
  error: string | null;
  durationMs: number;
}

/** Refuses to connect anywhere but the public internet (live tenants): checked on the address actually dialled. */
const publicOnly: LookupFunction = (hostname, options, callback) => {
  dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '', 0);
    const list = addresses as dns.LookupAddress[];
    const bad = list.find((a) => !isPublicAddress(a.address));
    if (bad || list.length === 0) return callback(Object.assign(new Error('the receiver resolves to an address that is not public'), { code: 'EADDRNOTALLOWED' }), '', 0);
    if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, list);
    callback(null, list[0]!.address, list[0]!.family);
  });
};

/**
 * Sends webhook deliveries. Deliveries of one resource to one endpoint form a lane and go out
 * strictly in the resource's sequence: a lane is claimed with a lease in `webhook_lane` (so any
 * number of processes share the work, and a crashed one's lanes come back when the lease ends),
 * its head is sent, and a failure parks the lane until the head's next attempt. pg-boss is not
 * used here: its 10.x queues cannot hold back a key's successors while one is retrying.
 */
export class WebhookDispatcher {
  private readonly active = new Set<Promise<void>>();
  private readonly aborts = new Set<AbortController>();
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private sweeping: Promise<void> | null = null;
  private again = false;
  private closed = false;
  private readonly agents = {
    sandbox: { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) },
    live: { http: new http.Agent({ keepAlive: true, lookup: publicOnly }), https: new https.Agent({ keepAlive: true, lookup: publicOnly }) },
  };

  constructor(
    private readonly deps: {
      sql: pg.Pool;
      vault: VaultService;
      bus: EventBus;
      logger: Logger;
      settings: DispatcherSettings;
      /** Counts attempts by outcome and observes the lag of delivered events. */
      metrics?: Pick<Metrics, 'webhookAttempt' | 'eventLag'>;
    },
  ) {}

  private get leaseSeconds(): number {
    return Math.ceil((this.deps.settings.timeoutMs * 2) / 1000) + 10;
  }

  /** Starts delivering in this process (nothing when `concurrency` is 0). */
  start(): void {
    if (this.deps.settings.concurrency === 0) return;
    const iterator = this.deps.bus.pubSub.subscribe(WAKE_TOPIC)[Symbol.asyncIterator]();
    this.unsubscribe = () => void iterator.return?.();
    void (async () => {
      for (;;) {
        const next = await iterator.next().catch(() => ({ done: true as const, value: undefined }));
        if (next.done || this.closed) return;
        this.wake();
      }
    })();
    this.timer = setInterval(() => this.wake(), SWEEP_MS);
    this.timer.unref();
    this.wake();
  }

  /** Looks for due lanes now. */
  wake(): void {
    if (this.closed || this.deps.settings.concurrency === 0) return;
    if (this.sweeping) {
      this.again = true;
      return;
    }
    this.sweeping = (async () => {
      do {
        this.again = false;
        await asSystem('webhook dispatcher: due lanes of all tenants', () => this.sweep()).catch((err: Error) => this.deps.logger.warn({ err: err.message }, 'webhooks: sweep failed'));
      } while (this.again && !this.closed);
    })().finally(() => (this.sweeping = null));
  }

  private async sweep(): Promise<void> {
    const free = this.deps.settings.concurrency - this.active.size;
    if (free <= 0) return;
    const { rows } = await this.deps.sql.query<{ endpointId: string; resourceId: string }>(
      `update webhook_lane l set leased_until = now() + make_interval(secs => $2)
       from (select endpoint_id, resource_id from webhook_lane
             where due_at <= now() and (leased_until is null or leased_until < now())
             order by due_at limit $1 for update skip locked) d
       where l.endpoint_id = d.endpoint_id and l.resource_id = d.resource_id
       returning l.endpoint_id as "endpointId", l.resource_id as "resourceId"`,
      [free, this.leaseSeconds],
    );
    for (const lane of rows) {
      const run: Promise<void> = this.runLane(lane.endpointId, lane.resourceId)
        .catch(async (err: Error) => {
          this.deps.logger.error({ err: err.message, endpointId: lane.endpointId }, 'webhooks: lane failed; it is retried when its lease ends');
        })
        .finally(() => {
          this.active.delete(run);
          this.wake();
        });
      this.active.add(run);
    }
  }

  private async runLane(endpointId: string, resourceId: string): Promise<void> {
    const sql = this.deps.sql;
    const lane = [endpointId, resourceId];
    const { rows: found } = await sql.query<LaneEndpoint>(
      `select e.url, e.tenant_id as "tenantId", t.environment, e.secret_sealed as "secretSealed", e.previous_secret_sealed as "previousSecretSealed",
              coalesce(e.previous_secret_expires_at > now(), false) as "previousValid"
       from webhook_endpoint e join tenant t on t.id = e.tenant_id where e.id = $1`,
      [endpointId],
    );
    const endpoint = found[0];
    if (!endpoint) return; // deleted: its lanes went with it
    const context = { tenantId: endpoint.tenantId, ownerId: endpointId, purpose: SECRET_PURPOSE };
    const secrets = [await this.deps.vault.openText(endpoint.secretSealed, context)];
    if (endpoint.previousSecretSealed && endpoint.previousValid) secrets.push(await this.deps.vault.openText(endpoint.previousSecretSealed, context));

    for (let sent = 0; sent < LANE_BATCH && !this.closed; sent++) {
      const { rows: versions } = await sql.query<{ version: string }>('select version::text as version from webhook_lane where endpoint_id = $1 and resource_id = $2', lane);
      if (!versions[0]) return;
      // The event's columns come from a lateral subquery, where they resolve to `event` alone.
      const { rows: heads } = await sql.query<Head>(
        `select h."deliveryId", h.attempts, h."notYet", h."nextAttemptAt", h."windowEnds", ev.*
         from (select d.id as "deliveryId", d.event_id, d.attempts, d.next_attempt_at > now() as "notYet", d.next_attempt_at as "nextAttemptAt",
                      d.first_attempt_at + make_interval(secs => $3) as "windowEnds"
               from webhook_delivery d
               where d.endpoint_id = $1 and d.resource_id = $2 and d.status = 'PENDING'
               order by d.resource_seq limit 1) h,
              lateral (select ${EVENT_COLUMNS} from event where event.id = h.event_id) ev`,
        [...lane, this.deps.settings.retryWindowSeconds],
      );
      const head = heads[0];
      if (!head) {
        // Park the lane, unless a delivery arrived since the version was read (then go round again).
        const parked = await sql.query(
          'update webhook_lane set due_at = null, leased_until = null where endpoint_id = $1 and resource_id = $2 and version = $3',
          [...lane, versions[0].version],
        );
        if (parked.rowCount) return;
        continue;
      }
      if (head.notYet) {
        await sql.query('update webhook_lane set due_at = $3, leased_until = null where endpoint_id = $1 and resource_id = $2', [...lane, head.nextAttemptAt]);
        return;
      }
      await sql.query('update webhook_lane set leased_until = now() + make_interval(secs => $3) where endpoint_id = $1 and resource_id = $2', [...lane, this.leaseSeconds]);
      const result = await this.send(endpoint, secrets, { ...head, cursor: encodeEventCursor(head.txid, head.seq) });
      if (!result) {
        // Shutting down mid-request: nothing is recorded and the lane is free for the next process.
        await sql.query('update webhook_lane set leased_until = null where endpoint_id = $1 and resource_id = $2', lane);
        return;
      }
      const retryAt = await this.record(head, result);
      if (retryAt) {
        await sql.query('update webhook_lane set due_at = $3, leased_until = null where endpoint_id = $1 and resource_id = $2', [...lane, retryAt]);
        // Short retries should not wait for the next one-second sweep.
        const wait = retryAt.getTime() - Date.now();
        if (wait < SWEEP_MS) setTimeout(() => this.wake(), Math.max(0, wait) + 5).unref();
        return;
      }
    }
    // Batch done (or closing): the lane stays due for the next sweep.
    await sql.query('update webhook_lane set leased_until = null where endpoint_id = $1 and resource_id = $2', lane);
  }

  /** Records an attempt; returns when to try again, or null when the delivery is settled (delivered or dead). */
  private async record(head: Head, r: AttemptResult): Promise<Date | null> {
    const client = await this.deps.sql.connect();
    try {
      await client.query('begin');
      const n = head.attempts + 1;
      await client.query('insert into webhook_attempt (delivery_id, n, at, duration_ms, response_status, error) values ($1, $2, now(), $3, $4, $5)', [
        head.deliveryId,
        n,
        r.durationMs,
        r.status,
        r.error?.slice(0, 300) ?? null,
      ]);
      let retryAt: Date | null = null;
      if (r.ok) {
        await client.query(
          `update webhook_delivery set status = 'DELIVERED', attempts = $2, first_attempt_at = coalesce(first_attempt_at, now()), last_attempt_at = now(),
             delivered_at = now(), last_response_status = $3, last_error = null where id = $1`,
          [head.deliveryId, n, r.status],
        );
      } else {
        const now = Date.now();
        const windowEnds = head.windowEnds?.getTime() ?? now + this.deps.settings.retryWindowSeconds * 1000;
        // The last attempt is made at the end of the window, so retries span all of it.
        const next = now >= windowEnds ? null : new Date(Math.min(now + retryDelayMs(n, this.deps.settings.retryBaseMs), windowEnds));
        await client.query(
          `update webhook_delivery set status = $2, attempts = $3, first_attempt_at = coalesce(first_attempt_at, now()), last_attempt_at = now(),
             next_attempt_at = coalesce($4, next_attempt_at), last_response_status = $5, last_error = $6 where id = $1`,
          [head.deliveryId, next ? 'PENDING' : 'DEAD', n, next, r.status, r.error?.slice(0, 300) ?? null],
        );
        retryAt = next;
        if (!next) this.deps.logger.warn({ deliveryId: head.deliveryId, attempts: n }, 'webhooks: delivery dead-lettered after its retry window');
      }
      await client.query('commit');
      this.observe(head, r, retryAt);
      return retryAt;
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /** Metrics of a recorded attempt (after its commit, so a rolled-back record counts nothing). */
  private observe(head: Head, r: AttemptResult, retryAt: Date | null): void {
    const metrics = this.deps.metrics;
    if (!metrics) return;
    metrics.webhookAttempt(r.ok ? 'delivered' : retryAt ? 'failed_attempt' : 'dead', r.durationMs);
    if (r.ok) metrics.eventLag('webhook', head.createdAt);
  }

  /** One signed POST; null when cut short by shutdown. */
  private async send(endpoint: LaneEndpoint, secrets: string[], event: EventEntry): Promise<AttemptResult | null> {
    const e = EventObject.from(event);
    const body = JSON.stringify({
      type: e.type,
      timestamp: e.createdAt.toISOString(),
      data: { id: e.id, type: e.type, resourceType: event.resourceType, resourceId: e.resourceId, resourceSequence: e.resourceSequence, createdAt: e.createdAt, cursor: e.cursor, payload: e.payload },
    });
    const timestamp = Math.floor(Date.now() / 1000);
    const url = new URL(endpoint.url);
    const agents = this.agents[endpoint.environment];
    const abort = new AbortController();
    const timeout = setTimeout(() => abort.abort(new Error('timeout')), this.deps.settings.timeoutMs);
    this.aborts.add(abort);
    const started = performance.now();
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = (url.protocol === 'https:' ? https : http).request(
          url,
          {
            method: 'POST',
            agent: url.protocol === 'https:' ? agents.https : agents.http,
            signal: abort.signal,
            headers: {
              'content-type': 'application/json',
              'content-length': Buffer.byteLength(body),
              'user-agent': 'Passerelle-Webhooks/1',
              'webhook-id': e.id,
              'webhook-timestamp': String(timestamp),
              'webhook-signature': signatureHeader(secrets, e.id, timestamp, body),
            },
          },
          (res) => {
            let read = 0;
            res.on('data', (chunk: Buffer) => {
              read += chunk.length;
              if (read > MAX_RESPONSE_BYTES) res.destroy();
            });
            res.on('end', () => resolve(res.statusCode ?? 0));
            res.on('close', () => resolve(res.statusCode ?? 0));
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(body);
      });
      const ok = status >= 200 && status < 300;
      return { ok, status, error: ok ? null : `the receiver answered HTTP ${status}`, durationMs: Math.round(performance.now() - started) };
    } catch (err) {
      if (this.closed) return null;
      return { ok: false, status: null, error: describe(err, this.deps.settings.timeoutMs), durationMs: Math.round(performance.now() - started) };
    } finally {
      clearTimeout(timeout);
      this.aborts.delete(abort);
    }
  }

  /** Stops sweeping, cuts in-flight requests short (they are retried elsewhere) and waits for the lanes to let go. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.unsubscribe?.();
    for (const a of this.aborts) a.abort(new Error('shutdown'));
    await this.sweeping;
    await Promise.all(this.active);
    for (const group of Object.values(this.agents)) {
      group.http.destroy();
      group.https.destroy();
    }
  }
}

/** A failure in words for the delivery log: what happened, never a secret or the URL. */
function describe(err: unknown, timeoutMs: number): string {
  const e = err as { code?: string; name?: string; message?: string; cause?: { message?: string } };
  if (e.name === 'AbortError' || e.cause?.message === 'timeout' || e.message === 'timeout') return `no answer within ${timeoutMs} ms`;
  switch (e.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
      return 'connection reset by the receiver';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'the host name does not resolve';
    case 'EADDRNOTALLOWED':
      return 'the receiver resolves to an address that is not public (refused in live)';
    default:
      return e.code ? `network error ${e.code}` : 'the request failed';
  }
}
