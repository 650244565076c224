/**
 * Reads up to `ahead` items of `source` before they are asked for, so that the bank is already
 * answering page n+1 while page n is being stored. The source is an async generator: it still
 * runs one step at a time — one request to the bank in flight, in the same order, with the same
 * pacing and Retry-After handling it has on its own — it is only not paused at each page.
 * At most `ahead` pages wait in memory. An error is thrown where its page would have been.
 */
export async function* prefetched<T>(source: AsyncIterable<T>, ahead: number): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  const queue: Promise<IteratorResult<T>>[] = [];
  let ended = false;
  const fill = () => {
    while (!ended && queue.length < ahead) {
      const next = iterator.next();
      // Marks the end (and handles a rejection until the consumer awaits it in order).
      next.then(
        (r) => void (r.done && (ended = true)),
        () => void (ended = true),
      );
      queue.push(next);
    }
  };
  let finished = false;
  try {
    for (;;) {
      fill();
      const r = await queue.shift()!;
      if (r.done) {
        finished = true;
        return;
      }
      yield r.value;
    }
  } catch (err) {
    finished = true;
    throw err;
  } finally {
    // The consumer stopped early: let the source clean up (after the reads already asked for).
    if (!finished) await iterator.return?.();
  }
}
