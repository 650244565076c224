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

/**
 * The items of several sources as they come, each tagged with its source's index: each source is
 * read one step at a time and in its own order (so each still has one request in flight), the
 * sources side by side. A source's error is thrown at once; the other sources are then closed
 * (after the steps already asked of them).
 */
export async function* merged<T>(sources: readonly AsyncIterable<T>[]): AsyncGenerator<[number, T]> {
  const iterators = sources.map((s) => s[Symbol.asyncIterator]());
  type Step = { lane: number; result: IteratorResult<T> };
  const waiting = new Map<number, Promise<Step>>();
  const ask = (lane: number) => {
    const step = iterators[lane]!.next().then((result) => ({ lane, result }));
    step.catch(() => undefined); // raced below; a rejection is thrown from there
    waiting.set(lane, step);
  };
  iterators.forEach((_, lane) => ask(lane));
  try {
    while (waiting.size > 0) {
      const { lane, result } = await Promise.race(waiting.values());
      if (result.done) {
        waiting.delete(lane);
        continue;
      }
      yield [lane, result.value];
      ask(lane);
    }
  } finally {
    // Stopped early or failed: let the unfinished sources clean up once their current step is over.
    const open = [...waiting.keys()];
    waiting.clear();
    await Promise.allSettled(open.map((lane) => iterators[lane]!.return?.()));
  }
}
