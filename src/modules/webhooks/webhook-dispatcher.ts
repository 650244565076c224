import type pg from 'pg';
import type { EventBus } from '../../platform/bus';
import type { Logger } from '../../platform/logger';
import type { Metrics } from '../../platform/metrics';
import { WAKE_TOPIC } from '../events';
import type { VaultService } from '../vault';
import { DeliveryStore, type AttemptOutcome, type LaneEndpoint, type LaneHead, type LaneRelease, type LaneStep, type LeasedLane } from './delivery.store';
import { WebhookSender, type AttemptResult } from './webhook-sender';
import { signingKeys, type SigningKey } from './signing';
import { SECRET_PURPOSE } from './webhooks.service';
import { asSystem } from '../../platform/tenant-scope';
import { noteActivity } from '../../platform/heap';

/** Delivery settings (config `WEBHOOK_*`). */
export interface DispatcherSettings {
  concurrency: number;
  endpointConcurrency: number;
  timeoutMs: number;
  retryBaseMs: number;
  retryWindowSeconds: number;
}

/** Longest wait between two attempts of one delivery. */
const MAX_BACKOFF_MS = 6 * 3600_000;
/** Deliveries of one lane read (and sent back to back) at a time. */
const RUN_LENGTH = 100;
/** Runs one lane may send in a row before it goes back behind the lanes waiting longer. */
const RUNS_PER_HOLD = 10;
const SWEEP_MS = 1_000;
/** Lanes of an endpoint a process holds, per request it may have in flight there: the next ones start without waiting for a lease. */
const WAITING_PER_RUNNING = 3;
/** Time kept between the last request a lease allows and its end, for recording the run. */
const RECORD_MARGIN_MS = 5_000;
/** How soon a lane whose row a writer holds locked is tried again. */
const LOCKED_RETRY_MS = 50;

/**
 * Exponential backoff with "equal jitter": half the doubled delay fixed, half random — retries of
 * many deliveries that failed together spread out instead of arriving as one wave.
 */
export function retryDelayMs(attempt: number, baseMs: number, random = Math.random): number {
  const delay = Math.min(MAX_BACKOFF_MS, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(delay / 2 + random() * (delay / 2));
}

interface Queued {
  lane: LeasedLane;
  keys: Promise<SigningKey[]>;
}

interface Recorded {
  outcome: AttemptOutcome;
  createdAt: Date;
}

/**
 * Sends webhook deliveries. Deliveries of one resource to one endpoint form a lane and go out
 * strictly in the resource's sequence, the next only once the previous one is answered 2xx (or
 * dead). Lanes are leased in batches in `webhook_lane` (any number of processes share the work;
 * a crashed one's lanes come back when their leases end), each with a run of its pending
 * deliveries; different lanes are sent at once, at most `concurrency` per process and
 * `endpointConcurrency` per endpoint over the endpoint's keep-alive connections; one lane's run is
 * sent back to back (a long lane reads its next run while sending this one); the attempts of all
 * lanes are recorded together, one statement per batch, which also moves the lanes on.
 *
 * At least once: a run sent but not recorded (crash, lost database) is sent again from its first
 * unrecorded delivery once the lease ends — receivers drop repeats by `webhook-id`. A retryable
 * failure stops its lane's run and parks the lane until the retry. pg-boss is not used here: its
 * 10.x queues cannot hold back a key's successors while one is retrying.
 */
export class WebhookDispatcher {
  private readonly store: DeliveryStore;
  private readonly sender: WebhookSender;
  private readonly queue: Queued[] = [];
  /** Lanes of each endpoint this process holds (running or queued). */
  private readonly held = new Map<string, number>();
  private readonly runs = new Set<Promise<void>>();
  private running = 0;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private sweeping: Promise<void> | null = null;
  private again = false;
  private closed = false;
  private pending: { recorded: Recorded[]; lanes: LaneRelease[] } = { recorded: [], lanes: [] };
  private flushing: Promise<void> | null = null;

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
  ) {
    this.store = new DeliveryStore(deps.sql);
    this.sender = new WebhookSender({ timeoutMs: deps.settings.timeoutMs, endpointConcurrency: deps.settings.endpointConcurrency });
  }

  private get settings(): DispatcherSettings {
    return this.deps.settings;
  }

  private get leaseSeconds(): number {
    return Math.ceil((this.settings.timeoutMs * 2 + RECORD_MARGIN_MS) / 1000) + 5;
  }

  /** Starts delivering in this process (nothing when `concurrency` is 0). */
  start(): void {
    if (this.settings.concurrency === 0) return;
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
    if (this.closed || this.settings.concurrency === 0) return;
    if (this.sweeping) {
      this.again = true;
      return;
    }
    this.sweeping = (async () => {
      do {
        this.again = false;
        await asSystem('webhook dispatcher: due lanes of all tenants', () => this.sweep()).catch((err: Error) =>
          this.deps.logger.warn({ err: err.message }, 'webhooks: sweep failed'),
        );
      } while (this.again && !this.closed);
    })().finally(() => (this.sweeping = null));
  }

  /** Leases due lanes for the room this process has, one statement for all of them. */
  private async sweep(): Promise<void> {
    this.sender.dropIdle();
    const perEndpoint = WAITING_PER_RUNNING * this.settings.endpointConcurrency; // running, and more waiting to follow at once
    const room = Math.min(2 * this.settings.concurrency - this.running - this.queue.length, perEndpoint);
    if (room <= 0) return;
    const endpointRoom = new Map([...this.held].map(([id, n]) => [id, perEndpoint - n]));
    const lanes = await this.store.lease({
      lanes: room,
      leaseSeconds: this.leaseSeconds,
      runLength: RUN_LENGTH,
      windowSeconds: this.settings.retryWindowSeconds,
      endpointRoom,
      perEndpoint,
    });
    const keys = new Map<string, Promise<SigningKey[]>>();
    const excess: LaneRelease[] = [];
    for (const lane of lanes) {
      const held = this.held.get(lane.endpointId) ?? 0;
      if (held >= perEndpoint || this.closed) {
        excess.push({ ...lane, step: { kind: 'release' } });
        continue;
      }
      this.held.set(lane.endpointId, held + 1);
      let k = keys.get(lane.endpointId);
      if (!k) {
        k = this.openKeys(lane.endpoint);
        k.catch(() => undefined); // reported by the lane that awaits it
        keys.set(lane.endpointId, k);
      }
      this.queue.push({ lane, keys: k });
    }
    if (excess.length) this.submit([], excess);
    this.pump();
  }

  /** Starts lane runs while this process and their endpoints have room. */
  private pump(): void {
    while (!this.closed && this.running < this.settings.concurrency) {
      const i = this.queue.findIndex((q) => this.sender.channel(q.lane.endpoint).running < this.settings.endpointConcurrency);
      if (i < 0) return;
      const [q] = this.queue.splice(i, 1);
      const channel = this.sender.channel(q!.lane.endpoint);
      channel.running++;
      this.running++;
      const run: Promise<void> = this.runLane(q!)
        .catch((err: Error) =>
          this.deps.logger.error({ err: err.message, endpointId: q!.lane.endpointId }, 'webhooks: lane failed; it is retried when its lease ends'),
        )
        .finally(() => {
          channel.running--;
          this.running--;
          this.releaseHold(q!.lane.endpointId);
          this.runs.delete(run);
          this.pump();
          // More lanes of this endpoint once half of those waiting have started (one lease for several).
          if ((this.held.get(q!.lane.endpointId) ?? 0) - channel.running <= ((WAITING_PER_RUNNING - 1) * this.settings.endpointConcurrency) / 2) this.wake();
        });
      this.runs.add(run);
    }
  }

  private releaseHold(endpointId: string): void {
    const n = (this.held.get(endpointId) ?? 1) - 1;
    if (n > 0) this.held.set(endpointId, n);
    else this.held.delete(endpointId);
  }

  /** The endpoint's signing keys, opened from the vault once per sweep for all its lanes. */
  private async openKeys(endpoint: LaneEndpoint): Promise<SigningKey[]> {
    const context = { tenantId: endpoint.tenantId, ownerId: endpoint.id, purpose: SECRET_PURPOSE };
    const secrets = [await this.deps.vault.openText(endpoint.secretSealed, context)];
    if (endpoint.previousSecretSealed && endpoint.previousValid) secrets.push(await this.deps.vault.openText(endpoint.previousSecretSealed, context));
    return signingKeys(secrets);
  }

  /**
   * Sends a lane's runs, each back to back: stops at a failure to be retried (the lane waits for
   * it), at a delivery not due yet, at shutdown, or when the lease would end before another
   * request could be answered and recorded. A full run fetches the next one while it is sent.
   */
  private async runLane({ lane, keys: opening }: Queued): Promise<void> {
    const channel = this.sender.channel(lane.endpoint);
    // Unopenable secrets (a vault fault): the lease is left to run out, so the lane is tried again later.
    const keys = await opening;
    let { heads, version, leasedUntil } = lane;
    for (let hold = 1; ; hold++) {
      const full = heads.length === RUN_LENGTH;
      const prefetch =
        full && hold < RUNS_PER_HOLD && !this.closed
          ? this.store.next(lane, heads.at(-1)!.event.resourceSequence, {
              leaseSeconds: this.leaseSeconds,
              runLength: RUN_LENGTH,
              windowSeconds: this.settings.retryWindowSeconds,
            })
          : null;
      prefetch?.catch(() => undefined); // awaited below, unless the run stops first
      const recorded: Recorded[] = [];
      let step: LaneStep | null = null;
      for (const head of heads) {
        if (this.closed || Date.now() + this.settings.timeoutMs + RECORD_MARGIN_MS > leasedUntil) {
          step = { kind: 'release' };
          break;
        }
        if (head.notYet) {
          step = { kind: 'retry', at: head.nextAttemptAt };
          break;
        }
        const result = await this.sender.send(channel, keys, head.event);
        noteActivity(); // work for a client: the heap a burst of deliveries grew is kept for the next one
        if (!result) {
          step = { kind: 'release' }; // shutting down mid-request: sent again by the next process
          break;
        }
        const outcome = this.outcome(head, result);
        recorded.push({ outcome, createdAt: head.event.createdAt });
        if (outcome.kind === 'retry') {
          step = { kind: 'retry', at: outcome.nextAt! };
          break;
        }
      }
      if (!step && !full) step = { kind: 'park', version };
      if (!step && !prefetch) step = { kind: 'requeue' };
      if (step) {
        this.submit(recorded, [{ endpointId: lane.endpointId, resourceId: lane.resourceId, token: lane.token, step }]);
        return;
      }
      // The whole run went out and more is pending: carry on under the renewed lease.
      let next: Awaited<ReturnType<DeliveryStore['next']>>;
      try {
        next = await prefetch!;
      } catch (err) {
        this.deps.logger.warn({ err: (err as Error).message }, 'webhooks: reading the next run of a lane failed');
        this.submit(recorded, [{ endpointId: lane.endpointId, resourceId: lane.resourceId, token: lane.token, step: { kind: 'release' } }]);
        return;
      }
      this.submit(recorded, []);
      if (!next.held) return; // the lease ran out and another worker has the lane: it is theirs now
      ({ heads, version, leasedUntil } = next);
    }
  }

  /** What an attempt means for its delivery: delivered, tried again at some time, or dead. */
  private outcome(head: LaneHead, r: AttemptResult): AttemptOutcome {
    const base = { deliveryId: head.deliveryId, status: r.status, error: r.error, durationMs: r.durationMs, at: r.at };
    if (r.ok) return { ...base, kind: 'delivered', nextAt: null };
    const now = Date.now();
    const windowEnds = head.windowEnds ?? now + this.settings.retryWindowSeconds * 1000;
    // The last attempt is made at the end of the window, so retries span all of it.
    if (now >= windowEnds) return { ...base, kind: 'dead', nextAt: null };
    return { ...base, kind: 'retry', nextAt: Math.min(now + retryDelayMs(head.attempts + 1, this.settings.retryBaseMs), windowEnds) };
  }

  /** Queues attempts and lane steps for the next recording statement (one at a time; what arrives meanwhile goes in the next). */
  private submit(recorded: Recorded[], lanes: LaneRelease[]): void {
    if (recorded.length === 0 && lanes.length === 0) return;
    this.pending.recorded.push(...recorded);
    this.pending.lanes.push(...lanes);
    this.kick();
  }

  private kick(): void {
    if (this.flushing || (this.pending.recorded.length === 0 && this.pending.lanes.length === 0)) return;
    this.flushing = this.flush().finally(() => {
      this.flushing = null;
      this.kick(); // anything submitted while the last statement was finishing
    });
  }

  private async flush(): Promise<void> {
    while (this.pending.recorded.length || this.pending.lanes.length) {
      const batch = this.pending;
      this.pending = { recorded: [], lanes: [] };
      const outcomes = batch.recorded.map((r) => r.outcome);
      let states;
      try {
        states = await this.store.record(outcomes, batch.lanes).catch((err: Error & { code?: string }) => {
          // A deadlock with a writer (an endpoint being deleted) rolls the statement back: once more.
          if (err.code === '40P01') return this.store.record(outcomes, batch.lanes);
          throw err;
        });
      } catch (err) {
        this.deps.logger.error(
          { err: (err as Error).message, attempts: outcomes.length },
          'webhooks: recording attempts failed; their deliveries are sent again when the lanes’ leases end',
        );
        continue;
      }
      this.observe(batch.recorded);
      const locked = batch.lanes.filter((_, i) => states[i]!.state === 'locked');
      // After shutdown such a lane keeps its lease until it runs out, and another process takes it then.
      if (locked.length && !this.closed) setTimeout(() => this.submit([], locked), LOCKED_RETRY_MS).unref();
      for (const [i, lane] of batch.lanes.entries()) {
        // Short retries should not wait for the next one-second sweep.
        if (states[i]!.state === 'done' && lane.step.kind === 'retry' && lane.step.at - Date.now() < SWEEP_MS)
          setTimeout(() => this.wake(), Math.max(0, lane.step.at - Date.now()) + 5).unref();
      }
      if (states.some((s) => s.due)) this.wake();
    }
  }

  /** Metrics and logs of recorded attempts (after their commit, so a rolled-back record counts nothing). */
  private observe(recorded: Recorded[]): void {
    const metrics = this.deps.metrics;
    for (const { outcome, createdAt } of recorded) {
      if (outcome.kind === 'dead') this.deps.logger.warn({ deliveryId: outcome.deliveryId }, 'webhooks: delivery dead-lettered after its retry window');
      if (!metrics) continue;
      metrics.webhookAttempt(outcome.kind === 'delivered' ? 'delivered' : outcome.kind === 'retry' ? 'failed_attempt' : 'dead', outcome.durationMs);
      if (outcome.kind === 'delivered') metrics.eventLag('webhook', createdAt);
    }
  }

  /** Stops sweeping, cuts in-flight requests short (they are retried elsewhere), records what was answered and lets the lanes go. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.unsubscribe?.();
    this.sender.abortAll();
    await this.sweeping;
    const waiting = this.queue.splice(0);
    this.submit(
      [],
      waiting.map(({ lane }) => ({ endpointId: lane.endpointId, resourceId: lane.resourceId, token: lane.token, step: { kind: 'release' } })),
    );
    await Promise.all(this.runs);
    while (this.flushing) await this.flushing;
    this.sender.destroy();
  }
}
