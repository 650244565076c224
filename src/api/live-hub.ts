import { noteActivity } from '../platform/heap';
import { randomUUID } from 'node:crypto';
import {
  createSourceEventStream,
  execute,
  getArgumentValues,
  getOperationAST,
  getVariableValues,
  GraphQLError,
  Kind,
  print,
  type ArgumentNode,
  visit,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type FieldNode,
} from 'graphql';
import type WebSocket from 'ws';
import type { Metrics } from '../platform/metrics';
import { after, maxPosition, positionOf, type LogPosition } from '../modules/events/event-stream';
import { encodeEventCursor, type EventEntry } from '../modules/events/events.service';
import type { EventType } from '../modules/events/events';
import type { GraphQLContext } from './context';

/** Close code of a subscriber that fell behind: the standard "Try Again Later" (RFC 6455 registry). */
export const SLOW_CONSUMER_CLOSE_CODE = 1013;
/** How long a replay waits for a connection's send buffer to drain before giving up on it. */
const REPLAY_STALL_MS = 10_000;

/** Where a subscriber's frames go: its socket and the id its client gave the subscription. */
export interface LiveTarget {
  id: string;
  socket: WebSocket;
}

export interface LiveHubOptions {
  /** Bytes a connection may have waiting to be sent before it is closed with {@link SLOW_CONSUMER_CLOSE_CODE}. */
  maxBufferedBytes: number;
  /** The `next` payload of a result, errors masked as every other GraphQL answer. */
  formatResult(result: ExecutionResult, requestId: string): unknown;
  /** An error that ends a subscription, masked as every other GraphQL answer. */
  formatError(error: unknown, requestId: string): GraphQLError;
  metrics?: Pick<Metrics, 'liveExecuted' | 'liveFramesSent' | 'slowConsumerClosed'>;
}

interface Subscriber {
  readonly socket: WebSocket;
  /** `{"id":…,"type":"next","payload":` — the frame is this, the shared payload, and `}`. */
  readonly prefix: string;
  /** While its replay runs: live payloads held back, with their log positions. */
  pending: { body: string; at: LogPosition | null }[] | null;
  pendingBytes: number;
  /** After its replay: the last position it got; the group's feed may still be behind it, and those frames are skipped. */
  floor: LogPosition | null;
  /** Ends the subscription: complete (no error) or error. */
  end(error?: GraphQLError): void;
}

/**
 * Live subscriptions fanned out per process. Subscribers whose operations would give the same
 * answer — same tenant and environment, same document (printed, so layout does not matter), same
 * operation name and variables — share one group: the group follows the event log once, executes
 * the operation once per event and writes the same serialized payload to every member, with each
 * member's own subscription id spliced into the frame. graphql-ws keeps the protocol (connection,
 * ping/pong, subscribe/complete, the final complete or error frame); only `next` frames are
 * written here, straight onto the socket.
 *
 * Every member starts with the group's frames held back while it finds its starting point: for
 * `events(after:)` its own replay of the log after its cursor, otherwise the end of the log when it
 * subscribed (live only, as before). Then it gets the held frames after that point, and later ones
 * only. An `events` group's feed itself follows the log from a cursor taken before any member
 * replays, so there is no gap at the seam; and no duplicate, as positions only grow (the feed may
 * lag behind a replay: its frames up to the member's point are skipped). A socket with more than `maxBufferedBytes` waiting is
 * closed with 1013 instead of being waited for.
 */
export class LiveHub {
  private readonly groups = new Map<string, Group>();

  constructor(private readonly options: LiveHubOptions) {}

  /**
   * The subscription as graphql-ws runs it: an iterator that yields nothing (frames are written
   * here) and ends when the subscription does; or the result of a subscribe that failed; or null
   * for an operation the hub does not take (a fragment at the root, variables that do not
   * coerce): graphql-js runs those as usual.
   */
  async subscribe(args: ExecutionArgs, target: LiveTarget): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult | null> {
    const shape = liveShape(args);
    const ctx = args.contextValue as GraphQLContext;
    if (!shape) return null;
    const key = JSON.stringify([ctx.caller.tenantId, ctx.caller.environment, shape.printed, args.operationName ?? null, stableJson(shape.variables)]);
    for (;;) {
      let group = this.groups.get(key);
      if (!group) {
        const created: Group = new Group(this.options, args, shape.feed, () => {
          if (this.groups.get(key) === created) this.groups.delete(key);
        });
        this.groups.set(key, (group = created));
      }
      const failed = await group.ready;
      if (failed) return failed;
      // The group may have ended while this subscriber waited for it: start the next one.
      if (!group.ended) return group.join(target, shape.replay);
    }
  }

  /** Groups running now (a gauge for tests and benchmarks). */
  get size(): number {
    return this.groups.size;
  }
}

class Group {
  readonly ready: Promise<ExecutionResult | null>;
  private readonly members = new Set<Subscriber>();
  private readonly abort = new AbortController();
  private readonly context: GraphQLContext;
  private args: ExecutionArgs;
  private source: AsyncIterator<unknown> | undefined;
  /** The feed stopped: no member may join any more. */
  ended = false;

  constructor(
    private readonly options: LiveHubOptions,
    args: ExecutionArgs,
    /** The group's document; for `events`, given the cursor its feed starts after. */
    private readonly feed: (cursor: string) => DocumentNode,
    private readonly forget: () => void,
  ) {
    const first = args.contextValue as GraphQLContext;
    // One context for the group's executions: its own request id (masked errors name it) and the signal that ends its feed.
    const requestId = randomUUID();
    this.context = { ...first, requestId, logger: first.logger.child({ requestId }), em: first.em.fork(), signal: this.abort.signal };
    this.args = { ...args, contextValue: this.context };
    this.ready = this.start();
  }

  private async start(): Promise<ExecutionResult | null> {
    let stream: Awaited<ReturnType<typeof createSourceEventStream>>;
    try {
      // Taken before any member replays: the feed misses nothing a replay could end before.
      const from = await this.context.services.eventStream.end();
      this.args = { ...this.args, document: this.feed(encodeEventCursor(String(from.txid), String(from.seq))) };
      stream = await createSourceEventStream(this.args);
    } catch (err) {
      this.close();
      // Unmasked here: graphql-ws passes a failed subscribe through the edge's onNext, which masks it.
      return { errors: [err instanceof GraphQLError ? err : new GraphQLError('Internal error', { originalError: err as Error })] };
    }
    if (!(Symbol.asyncIterator in stream)) {
      this.close();
      return stream;
    }
    this.source = stream[Symbol.asyncIterator]();
    // The first next() registers the feed with the event stream at once, before any member's replay reads the log.
    void this.run(this.source.next());
    return null;
  }

  private async run(first: Promise<IteratorResult<unknown>>): Promise<void> {
    let error: GraphQLError | undefined;
    try {
      for (let next = await first; !next.done && !this.ended; next = await this.source!.next()) {
        const body = await this.render(next.value);
        const at = eventPosition(next.value);
        let sent = 0;
        for (const m of this.members) sent += this.deliver(m, body, at) ? 1 : 0;
        this.options.metrics?.liveFramesSent(sent);
        noteActivity();
      }
    } catch (err) {
      error = this.options.formatError(err, this.context.requestId);
    }
    const members = [...this.members];
    this.close();
    for (const m of members) m.end(error);
  }

  /** Executes the operation for one event: the payload every member's frame carries. */
  async render(root: unknown): Promise<string> {
    const result = await execute({ ...this.args, rootValue: root });
    this.options.metrics?.liveExecuted();
    return JSON.stringify(this.options.formatResult(result, this.context.requestId));
  }

  join(target: LiveTarget, replay: Replay | null): AsyncIterableIterator<ExecutionResult> {
    let settle!: (r: IteratorResult<ExecutionResult>) => void;
    let fail!: (e: GraphQLError) => void;
    const done = new Promise<IteratorResult<ExecutionResult>>((resolve, reject) => {
      settle = resolve;
      fail = reject;
    });
    const member: Subscriber = {
      socket: target.socket,
      prefix: `{"id":${JSON.stringify(target.id)},"type":"next","payload":`,
      pending: [],
      pendingBytes: 0,
      floor: null,
      end: (error) => {
        this.leave(member);
        if (error) fail(error);
        else settle({ done: true, value: undefined });
      },
    };
    this.members.add(member);
    void this.catchUp(member, replay).catch((err: unknown) => member.end(this.options.formatError(err, this.context.requestId)));
    return {
      next: () => done,
      return: async () => {
        member.end();
        return { done: true, value: undefined };
      },
      throw: async (err?: unknown) => {
        member.end();
        throw err;
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  /** Sends one payload to a member, or holds it while the member replays; false when nothing was written. */
  private deliver(m: Subscriber, body: string, at: LogPosition | null): boolean {
    if (m.pending) {
      m.pending.push({ body, at });
      m.pendingBytes += body.length;
      if (m.pendingBytes > this.options.maxBufferedBytes) this.tooSlow(m.socket);
      return false;
    }
    if (m.floor && at) {
      if (!after(at, m.floor)) return false;
      m.floor = null;
    }
    return this.write(m, body);
  }

  private write(m: Subscriber, body: string): boolean {
    const socket = m.socket;
    if (socket.readyState !== socket.OPEN) return false;
    if (socket.bufferedAmount > this.options.maxBufferedBytes) {
      this.tooSlow(socket);
      return false;
    }
    socket.send(`${m.prefix}${body}}`);
    return true;
  }

  /** Closes a connection that does not keep up; its subscriptions end when the socket closes (graphql-ws returns them). */
  private tooSlow(socket: WebSocket): void {
    if (socket.readyState !== socket.OPEN) return;
    this.options.metrics?.slowConsumerClosed();
    socket.close(SLOW_CONSUMER_CLOSE_CODE, `SLOW_CONSUMER: more than ${this.options.maxBufferedBytes} bytes waiting; resume from your last cursor`);
  }

  /** The member's starting point (its replay, or the end of the log now), then the frames held back for it after that point. */
  private async catchUp(m: Subscriber, replay: Replay | null): Promise<void> {
    let last: LogPosition = { txid: -1n, seq: -1n };
    if (!replay) last = await this.context.services.eventStream.end();
    else {
      for await (const e of this.context.services.eventStream.replay(this.context.caller, replay.after, replay.types)) {
        if (!this.members.has(m)) return;
        if ('seam' in e) {
          last = maxPosition(last, e.seam);
          continue;
        }
        const body = await this.render(e);
        if (!(await this.room(m))) return;
        this.write(m, body);
        this.options.metrics?.liveFramesSent(1);
        last = positionOf(e);
      }
    }
    const held = m.pending ?? [];
    m.pending = null;
    m.pendingBytes = 0;
    let sent = 0;
    for (const p of held) {
      if (p.at && !after(p.at, last)) continue;
      if (p.at) last = p.at;
      sent += this.write(m, p.body) ? 1 : 0;
    }
    this.options.metrics?.liveFramesSent(sent);
    m.floor = last;
  }

  /** Waits (a replay is paced by its reader) until the member's socket has room; false when it is gone or stalled. */
  private async room(m: Subscriber): Promise<boolean> {
    const deadline = Date.now() + REPLAY_STALL_MS;
    while (m.socket.readyState === m.socket.OPEN && m.socket.bufferedAmount > this.options.maxBufferedBytes / 2) {
      if (Date.now() > deadline) {
        this.tooSlow(m.socket);
        return false;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    return m.socket.readyState === m.socket.OPEN && this.members.has(m);
  }

  private leave(m: Subscriber): void {
    if (!this.members.delete(m)) return;
    if (this.members.size === 0) this.close();
  }

  /** No member left, or the feed ended: stop the feed and let the next subscriber start a new group. */
  private close(): void {
    if (this.ended) return;
    this.ended = true;
    this.forget();
    this.abort.abort();
    void this.source?.return?.().catch(() => undefined);
  }
}

interface Replay {
  after: string;
  types: EventType[] | null;
}

/**
 * What decides a subscription's answer (the printed document without a replay cursor, the
 * variables), the member's replay if any, and the group's document given its feed's cursor.
 */
function liveShape(
  args: ExecutionArgs,
): { printed: string; variables: Record<string, unknown>; replay: Replay | null; feed: (cursor: string) => DocumentNode } | null {
  const operation = getOperationAST(args.document, args.operationName);
  if (operation?.operation !== 'subscription') return null;
  const root = operation.selectionSet.selections[0];
  if (operation.selectionSet.selections.length !== 1 || root?.kind !== Kind.FIELD) return null;
  const field = args.schema.getSubscriptionType()?.getFields()[root.name.value];
  if (!field) return null;
  const coerced = getVariableValues(args.schema, operation.variableDefinitions ?? [], args.variableValues ?? {});
  if (coerced.errors) return null;
  const variables = { ...(args.variableValues ?? {}) };
  if (root.name.value !== 'events') return { printed: print(args.document), variables, replay: null, feed: () => args.document };

  // `events(after:)`: the cursor is the member's own replay, not part of the shared answer; the
  // group's feed gets a cursor of its own.
  const values = getArgumentValues(field, root, coerced.coerced) as { after?: string | null; types?: EventType[] | null };
  const cursorNode = root.arguments?.find((a) => a.name.value === 'after');
  if (cursorNode?.value.kind === Kind.VARIABLE && countVariable(args.document, cursorNode.value.name.value) === 1)
    delete variables[cursorNode.value.name.value];
  const withCursor = (cursor: string | null) =>
    visit(args.document, {
      Field: (node: FieldNode) => {
        if (node !== root) return undefined;
        const rest = (node.arguments ?? []).filter((a) => a !== cursorNode);
        const arg: ArgumentNode = { kind: Kind.ARGUMENT, name: { kind: Kind.NAME, value: 'after' }, value: { kind: Kind.STRING, value: cursor ?? '' } };
        return { ...node, arguments: cursor === null ? rest : [...rest, arg] };
      },
    });
  return {
    printed: print(withCursor(null)),
    variables,
    replay: values.after ? { after: values.after, types: values.types ?? null } : null,
    feed: (cursor) => withCursor(cursor),
  };
}

/** How often `$name` is used (not declared) in the document. */
function countVariable(document: DocumentNode, name: string): number {
  let n = 0;
  visit(document, {
    VariableDefinition: () => false,
    Variable: (node) => void (node.name.value === name && n++),
  });
  return n;
}

function eventPosition(root: unknown): LogPosition | null {
  const e = root as Partial<EventEntry> | null;
  return e && typeof e.txid === 'string' && typeof e.seq === 'string' ? positionOf(e as EventEntry) : null;
}

/** JSON with object keys sorted: equal variables give equal keys whatever their order. */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
