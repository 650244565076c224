import type { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/**
 * PGlite is one Postgres session shared by every socket connection. pglite-socket (0.2.17) keeps a
 * transaction's statements together, but outside a transaction it interleaves protocol messages
 * of different connections one by one: connection A's Parse, then B's Parse (replacing A's
 * unnamed statement), then A's Bind fails with "unnamed prepared statement does not exist".
 *
 * This keeps every extended-protocol exchange whole: once a connection has sent Parse, Bind,
 * Describe, Execute, Close, Flush or CopyData, only that connection's messages are served until
 * it sends Sync (or a simple Query, CopyDone/CopyFail, Terminate). It replaces the queue's
 * scheduling method on the instance, relying on the internals of the pinned pglite-socket version;
 * the embedded-concurrency test fails if an upgrade changes them.
 */
interface QueuedMessage {
  handlerId: number;
  message: Uint8Array;
  resolve(bytes: number): void;
  reject(err: unknown): void;
  onData(data: Uint8Array): void;
}

interface QueryQueue {
  queue: QueuedMessage[];
  processing: boolean;
  lastHandlerId: number | null;
  db: {
    isInTransaction(): boolean;
    runExclusive<T>(fn: () => Promise<T>): Promise<T>;
    execProtocolRawStream(m: Uint8Array, o: { onRawData(d: Uint8Array): void }): Promise<unknown>;
  };
  processQueue(): Promise<void>;
  clearQueueForHandler(handlerId: number): void;
}

/** Frontend message types that continue an extended-protocol exchange (it ends at Sync). */
const CONTINUES = new Set(['P', 'B', 'D', 'E', 'C', 'H', 'd'].map((c) => c.charCodeAt(0)));

export function serialiseExtendedProtocol(server: PGLiteSocketServer): void {
  const q = (server as unknown as { queryQueue?: QueryQueue }).queryQueue;
  if (!q || typeof q.processQueue !== 'function' || !Array.isArray(q.queue)) {
    throw new Error('pglite-socket internals changed: cannot serialise extended-protocol exchanges (check the pinned version)');
  }
  let owner: number | null = null;
  q.processQueue = async function processQueue(this: QueryQueue) {
    if (this.processing || this.queue.length === 0) return;
    this.processing = true;
    try {
      while (this.queue.length > 0) {
        const pinned = owner ?? (this.db.isInTransaction() ? this.lastHandlerId : null);
        let item: QueuedMessage | undefined;
        if (pinned !== null) {
          const at = this.queue.findIndex((m) => m.handlerId === pinned);
          if (at === -1) break; // wait for the pinned connection's next message
          item = this.queue.splice(at, 1)[0];
        } else {
          item = this.queue.shift();
        }
        if (!item) break;
        const type = item.message[0] ?? 0;
        owner = CONTINUES.has(type) ? item.handlerId : null;
        let bytes = 0;
        try {
          await this.db.runExclusive(() => this.db.execProtocolRawStream(item.message, { onRawData: (d) => ((bytes += d.length), item.onData(d)) }));
        } catch (err) {
          owner = null;
          item.reject(err);
          continue;
        }
        this.lastHandlerId = item.handlerId;
        item.resolve(bytes);
      }
    } finally {
      this.processing = false;
    }
  }.bind(q);
  const clear = q.clearQueueForHandler.bind(q);
  q.clearQueueForHandler = (handlerId: number) => {
    // A connection that drops mid-exchange must not hold the others forever.
    if (owner === handlerId) owner = null;
    clear(handlerId);
    void q.processQueue();
  };
}
