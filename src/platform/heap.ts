import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * One memory-reducing full collection (V8's "last resort" collection: it shrinks the young
 * generation to its initial size and compacts). Busy periods grow the heap: V8 grows the young
 * generation up to its maximum (semi-spaces of `--max-semi-space-size`, 32 MiB each by default on
 * Node 24) and keeps it, and the old generation keeps the garbage. A process that then idles never
 * collects again, so it stayed at its busiest size: after start-up, about 45 MiB of RSS more than it
 * needs. The young generation grows again as soon as load needs it. It pauses the process once, for
 * about 0.1 s.
 *
 * V8's `gc()` is only installed in contexts created while `--expose-gc` is set: the flag is set
 * for one new context, the function taken from it, and the flag unset again. Node 20's V8 has no
 * last-resort collection: there it is an ordinary full collection. Returns how long it took, in ms.
 */
export function collectUnusedHeap(): number {
  v8.setFlagsFromString('--expose-gc');
  let gc: (options?: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;
  try {
    gc = vm.runInNewContext('gc') as typeof gc;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
  const started = performance.now();
  gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  return Math.round(performance.now() - started);
}

let activity = 0;

/**
 * Counts one piece of work done for a client (an HTTP request, an event sent to subscribers, a
 * webhook request): an interval with any is never idle, however little CPU it took.
 */
export function noteActivity(): void {
  activity++;
}

/** When {@link releaseHeapWhenIdle} collects. */
export interface IdleHeapOptions {
  /** How often the process's CPU time is looked at (default 1 s). */
  readonly intervalMs?: number;
  /**
   * An interval is idle when no activity was noted in it and the process used less than this share
   * of one core (default 0.1: an idle gateway's own polling takes about 0.05).
   */
  readonly idleShare?: number;
  /**
   * Idle intervals in a row before the collection after start-up (default 1: no traffic is lost to
   * it yet). Once work for clients was noted, `idleIntervals` apply instead, first collection or not.
   */
  readonly firstIdleIntervals?: number;
  /**
   * Idle intervals in a row before each later collection (default 30). A burst of load is often
   * followed by another; the grown heap serves it faster (a young generation regrowing from its
   * smallest size cost a webhook burst of a second or two a fifth of its throughput).
   */
  readonly idleIntervals?: number;
  /** Collect only when the heap holds at least this much more than it uses (default 16 MiB). */
  readonly minSlackBytes?: number;
  /** Called after each collection. */
  readonly onCollected?: (collected: { ms: number; heapTotalBefore: number; heapTotalAfter: number }) => void;
}

/**
 * Gives the heap back after busy periods: once the process has been idle for `firstIdleIntervals`
 * after start-up, and later for `idleIntervals` in a row after any busy interval, it runs
 * {@link collectUnusedHeap} once, when the heap has grown well past what it uses. Idle means no
 * noted activity ({@link noteActivity}) and little CPU, so neither sparse events to subscribers nor
 * a worker's sync count as idle. An idle gateway is collected a second or two after it starts (when
 * no client was served yet) and half a minute after each burst of load; under load nothing runs, and a process that stays idle is
 * collected once. Returns the function that stops it.
 */
export function releaseHeapWhenIdle(options: IdleHeapOptions = {}): () => void {
  const intervalMs = options.intervalMs ?? 1000;
  const idleCpuUs = intervalMs * 1000 * (options.idleShare ?? 0.1);
  const minSlack = options.minSlackBytes ?? 16 * 2 ** 20;
  let needed = options.firstIdleIntervals ?? 1;
  let cpu = process.cpuUsage();
  let seen = activity;
  let busySinceCollected = true;
  let idleInARow = 0;
  const timer = setInterval(() => {
    const used = process.cpuUsage(cpu);
    cpu = process.cpuUsage();
    const active = activity !== seen;
    seen = activity;
    if (active || used.user + used.system >= idleCpuUs) {
      busySinceCollected = true;
      idleInARow = 0;
      // Work for clients before the first collection: what it grew is a burst's heap, not the
      // start-up's, so it waits as long as after any burst (the next burst may follow soon).
      if (active) needed = options.idleIntervals ?? 30;
      return;
    }
    if (!busySinceCollected || ++idleInARow < needed) return;
    busySinceCollected = false;
    needed = options.idleIntervals ?? 30;
    const { heapTotal, heapUsed } = process.memoryUsage();
    if (heapTotal - heapUsed < minSlack) return;
    const ms = collectUnusedHeap();
    // The collection's own CPU time must not count as the next interval's load.
    cpu = process.cpuUsage();
    options.onCollected?.({ ms, heapTotalBefore: heapTotal, heapTotalAfter: process.memoryUsage().heapTotal });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
