import type pg from 'pg';
import type { EventBus } from '../../platform/bus';
import type { Logger } from '../../platform/logger';
import type { Metrics } from '../../platform/metrics';
import type { Caller } from '../../kernel/caller';
import type { EventType } from './events';
import { EVENT_COLUMNS, SETTLED, encodeEventCursor, type EventEntry, type EventsService } from './events.service';
import { asSystem } from '../../platform/tenant-scope';

/** Where an event sits in the log: (transaction id, sequence). */
export interface LogPosition {
  txid: bigint;
  seq: bigint;
}

/** Bus topic that says "the log has new events" (every instance, through Redis when set). */
export const WAKE_TOPIC = 'events:wake';

declare module '../../platform/bus' {
  interface BusTopicMap {
    /** "The log has new events": no payload, readers look at the log. */
    [WAKE_TOPIC]: Record<string, never>;
  }
}
const POLL_MS = 1_000;
/** First and last delay of the quick re-checks after a wake-up that found nothing settled yet. */
const RECHECK_FIRST_MS = 5;
const RECHECK_LAST_MS = 320;
const BATCH = 1_000;

export const positionOf = (e: { txid: string; seq: string }): LogPosition => ({ txid: BigInt(e.txid), seq: BigInt(e.seq) });
export const after = (a: LogPosition, b: LogPosition) => a.txid > b.txid || (a.txid === b.txid && a.seq > b.seq);

/**
 * Live delivery of the event log inside one process. The log in Postgres is the truth; the bus
 * only says "look now" (through Redis across instances), and a one-second poll covers a lost
 * word — so losing Redis delays events but never loses one. One reader per process follows the
 * tail of the whole log in (txid, seq) order and hands each event to the subscribers of its tenant.
 */
export class EventStream {
  private tail: LogPosition = { txid: 0n, seq: 0n };
  private readonly listeners = new Map<string, Set<(e: EventEntry) => void>>();
  private pumping: Promise<void> | null = null;
  private again = false;
  private againFromBus = false;
  /** Delay of the next quick re-check (0: none running) and its timer. */
  private recheckMs = 0;
  private recheckTimer: NodeJS.Timeout | undefined;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private closed = false;
  /** Wakes every subscriber waiting for events (used at close, so shutdown never waits on them). */
  private readonly sleepers = new Set<() => void>();

  constructor(
    private readonly sql: Pick<pg.Pool, 'query'>,
    private readonly bus: EventBus,
    private readonly events: EventsService,
    private readonly logger: Logger,
    /** Observes each live event's lag (log write → hand-over to a subscriber). */
    private readonly metrics?: Pick<Metrics, 'eventLag'>,
  ) {}

  /** Starts at the current end of the log (subscribers replay older events from the log themselves). */
  async start(): Promise<void> {
    this.tail = await this.end();
    const iterator = this.bus.pubSub.subscribe(WAKE_TOPIC)[Symbol.asyncIterator]();
    this.unsubscribe = () => void iterator.return?.();
    void (async () => {
      for (;;) {
        const next = await iterator.next().catch(() => ({ done: true as const, value: undefined }));
        if (next.done || this.closed) return;
        this.wake(true);
      }
    })();
    this.timer = setInterval(() => this.wake(), POLL_MS);
    this.timer.unref();
  }

  /** The position of the newest event every reader can see now. */
  async end(): Promise<LogPosition> {
    const { rows } = await asSystem('event stream: end of the log', () =>
      this.sql.query<{ txid: string; seq: string }>(
        `select txid::text as txid, seq::text as seq from event where ${SETTLED} order by event.txid desc, event.seq desc limit 1`,
      ),
    );
    return rows[0] ? positionOf(rows[0]) : { txid: 0n, seq: 0n };
  }

  /** After a commit that wrote events: every instance looks at the log now. */
  notify(): void {
    this.bus.pubSub.publish(WAKE_TOPIC, {});
  }

  /** Calls `fn` with each new event of the tenant, in log order; returns the unsubscribe function. */
  listen(tenantId: string, fn: (e: EventEntry) => void): () => void {
    let set = this.listeners.get(tenantId);
    if (!set) this.listeners.set(tenantId, (set = new Set()));
    set.add(fn);
    this.wake();
    return () => {
      set!.delete(fn);
      if (set!.size === 0) this.listeners.delete(tenantId);
    };
  }

  /**
   * A subscriber's view: the log after `from` (replayed in pages), then live events, with no gap
   * and no duplicate at the seam (anything at or before the last delivered position is dropped).
   * `signal` ends the stream at once (a generator's own `return()` would wait for its pending event).
   */
  async *follow(caller: Caller, from: string | null | undefined, types: EventType[] | null | undefined, signal?: AbortSignal): AsyncGenerator<EventEntry> {
    const queue: EventEntry[] = [];
    let wakeUp: (() => void) | undefined;
    const stop = this.listen(caller.tenantId, (e) => {
      queue.push(e);
      wakeUp?.();
    });
    const abort = () => wakeUp?.();
    signal?.addEventListener('abort', abort);
    try {
      // Without a cursor the subscription is live only: from whatever the log receives next.
      let last: LogPosition = from ? { txid: -1n, seq: -1n } : await this.end();
      if (from) {
        for await (const e of this.replay(caller, from, types)) {
          if ('seam' in e) last = maxPosition(last, e.seam);
          else {
            last = positionOf(e);
            yield e;
          }
        }
      }
      for (;;) {
        while (queue.length > 0 && !signal?.aborted) {
          const e = queue.shift()!;
          const at = positionOf(e);
          if (!after(at, last)) continue;
          last = at;
          if (!types?.length || types.includes(e.type)) {
            this.metrics?.eventLag('subscription', e.createdAt);
            yield e;
          }
        }
        if (this.closed || signal?.aborted) return;
        await new Promise<void>((resolve) => {
          wakeUp = resolve;
          this.sleepers.add(resolve);
        });
        if (wakeUp) this.sleepers.delete(wakeUp);
        wakeUp = undefined;
      }
    } finally {
      signal?.removeEventListener('abort', abort);
      stop();
    }
  }

  /**
   * The tenant's log after `from`, in pages, then `{ seam }`: the cursor up to which it was read.
   */
  async *replay(caller: Caller, from: string, types: EventType[] | null | undefined): AsyncGenerator<EventEntry | { seam: string }> {
    let cursor = from;
    for (;;) {
      const page = await this.events.list(caller, cursor, types, 500);
      for (const e of page.events) yield e;
      cursor = page.events.at(-1)?.cursor ?? cursor;
      if (!page.hasMore) break;
    }
    yield { seam: cursor };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const wake of this.sleepers) wake();
    this.sleepers.clear();
    if (this.timer) clearInterval(this.timer);
    clearTimeout(this.recheckTimer);
    this.unsubscribe?.();
    await this.pumping;
  }

  /**
   * Reads the log now. A wake-up from the bus that finds nothing new means the event's transaction
   * committed while an older one (anywhere in the cluster) still runs, so it is not settled yet:
   * look again after 5, 10, 20 … 320 ms rather than leaving it to the next one-second poll.
   */
  private wake(fromBus = false): void {
    if (this.closed || this.listeners.size === 0) return;
    if (this.pumping) {
      this.again = true;
      this.againFromBus ||= fromBus;
      return;
    }
    // One reader for every tenant's live subscribers: it hands each event to its own tenant's listeners.
    this.pumping = asSystem('event stream: reads the log for all tenants', () => this.pump())
      .then((read) => this.recheck(read, fromBus))
      .catch((err: Error) => this.logger.warn({ err: err.message }, 'events: reading the log failed; retrying on the next tick'))
      .finally(() => {
        this.pumping = null;
        if (this.again) {
          const bus = this.againFromBus;
          this.again = false;
          this.againFromBus = false;
          this.wake(bus);
        }
      });
  }

  private recheck(read: number, fromBus: boolean): void {
    if (read > 0 || (!fromBus && this.recheckMs === 0)) {
      if (read > 0) this.recheckMs = 0;
      return;
    }
    this.recheckMs = fromBus || this.recheckMs === 0 ? RECHECK_FIRST_MS : this.recheckMs * 2;
    if (this.recheckMs > RECHECK_LAST_MS) {
      this.recheckMs = 0;
      return;
    }
    clearTimeout(this.recheckTimer);
    this.recheckTimer = setTimeout(() => this.wake(), this.recheckMs);
    this.recheckTimer.unref();
  }

  /** Hands every newly settled event to its tenant's listeners; how many it read. */
  private async pump(): Promise<number> {
    let read = 0;
    for (;;) {
      const { rows } = await this.sql.query<Omit<EventEntry, 'cursor'> & { tenantId: string }>(
        `select tenant_id as "tenantId", ${EVENT_COLUMNS}
         from event where (txid, seq) > ($1::xid8, $2::bigint) and ${SETTLED}
         order by event.txid, event.seq limit $3`,
        [String(this.tail.txid), String(this.tail.seq), BATCH],
      );
      for (const { tenantId, ...row } of rows) {
        const entry: EventEntry = { ...row, cursor: encodeEventCursor(row.txid, row.seq) };
        this.tail = positionOf(row);
        for (const fn of this.listeners.get(tenantId) ?? []) fn(entry);
      }
      read += rows.length;
      if (rows.length < BATCH) return read;
    }
  }
}

/** The later of a position and a cursor's position. */
export function maxPosition(a: LogPosition, cursor: string): LogPosition {
  const [, txid, seq] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const b = { txid: BigInt(txid!), seq: BigInt(seq!) };
  return after(b, a) ? b : a;
}
