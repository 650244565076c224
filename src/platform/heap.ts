import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * Gives back the memory the start-up left behind. Starting allocates in bursts: V8 grows the young
 * generation to its maximum (semi-spaces of `--max-semi-space-size`, 32 MiB each by default on
 * Node 24) and keeps it, and the old generation keeps the start's garbage. A process that then idles never
 * collects again, so it stayed at its start's peak: about 45 MiB of RSS more than it needs.
 * One memory-reducing full collection once the gateway is ready (V8's "last resort" collection:
 * it shrinks the young generation to its initial size and compacts) returns it; the young
 * generation grows again as soon as load needs it. It pauses the process once, for about 0.1 s.
 *
 * V8's `gc()` is only installed in contexts created while `--expose-gc` is set: the flag is set
 * for one new context, the function taken from it, and the flag unset again. Node 20's V8 has no
 * last-resort collection: there it is an ordinary full collection. Returns how long it took, in ms.
 */
export function collectStartGarbage(): number {
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
