import v8 from 'node:v8';
import vm from 'node:vm';

/** What {@link trimHeap} did: the V8 heap before and after, and how long the collection paused the process. */
export interface HeapTrim {
  readonly heapTotalBefore: number;
  readonly heapTotalAfter: number;
  readonly pauseMs: number;
}

type GcFunction = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async'; flavor?: 'regular' | 'last-resort' }) => void;

let gc: GcFunction | undefined;

/**
 * One memory-reducing full collection: V8 collects everything unreachable and gives the unused
 * parts of its heap, the young generation included, back to the system.
 *
 * Start-up allocates in a burst (modules, schema, compiled code), which makes V8 grow its young
 * generation and old spaces; an idle server then runs no collection that would shrink them again,
 * so it kept about 60 MiB it no longer used. Called once after start-up (see main.ts), it pauses
 * the process once, for about a tenth of a second.
 *
 * V8's `gc` extension is the documented way to ask for this collection: it is enabled for a new,
 * empty context only, so nothing in the gateway's own context can reach it.
 */
export function trimHeap(): HeapTrim {
  if (!gc) {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as GcFunction;
  }
  const heapTotalBefore = process.memoryUsage().heapTotal;
  const started = performance.now();
  gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  const pauseMs = performance.now() - started;
  return { heapTotalBefore, heapTotalAfter: process.memoryUsage().heapTotal, pauseMs };
}
