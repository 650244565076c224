import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import { jitExecutor } from './jit';
import { fastQueryPath } from './fast-path';
import { CompiledOperations } from './compiled';
import { expressMiddleware } from '@as-integrations/express5';
import express, { type Request, type Response, type Router } from 'express';
import { rateLimit, ipKeyGenerator, MemoryStore, type Store } from 'express-rate-limit';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import { Redis } from 'ioredis';
import {
  execute,
  getOperationAST,
  GraphQLError,
  parse,
  specifiedRules,
  subscribe,
  validate,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { Server } from 'node:http';
import { createHash, randomUUID } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Config } from '../config';
import type { Logger } from '../platform/logger';
import { watchRedis } from '../platform/redis';
import { bindTenant, tenantRequestScope, withTenant } from '../platform/tenant-scope';
import { graphqlOutcome, type Metrics } from '../platform/metrics';
import type { Caller, GraphQLContext } from './context';
import { ApiError, ErrorCode, createErrorFormatter, errorBody, requestScope } from './errors';
import { graphiqlAssets, graphiqlPage, loadExampleTabs, wantsGraphiQL } from './graphiql';
import { assertCost, depthLimit } from './limits';
import { assertStorableInput } from './input-guard';
import { LiveHub, type LiveTarget } from './live-hub';
import type { Services } from './services';

export interface GraphQLEdgeDeps {
  config: Config;
  logger: Logger;
  orm: MikroORM;
  schema: GraphQLSchema;
  services: Services;
  httpServer: Server;
  /** The sandbox demo key, pre-filled in GraphiQL for loopback visitors. */
  demoApiKey: () => string | undefined;
  /** Times operations (Apollo and the fast read path), counts open subscriptions and live fan-out. */
  metrics?: Pick<Metrics, 'graphqlOperation' | 'subscriptionOpened' | 'subscriptionClosed' | 'liveExecuted' | 'liveFramesSent' | 'slowConsumerClosed'>;
}

export interface GraphQLEdge {
  /** Express router serving `/graphql` (queries, mutations, GraphiQL) and `/graphiql/*` assets. */
  router: Router;
  /** Stops accepting subscriptions, closes sockets and the rate-limit store. */
  close(): Promise<void>;
}

/** Extracts the key from `Bearer <key>`; anything else counts as no key. */
export function bearer(header: unknown): string | undefined {
  if (typeof header !== 'string') return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

/**
 * The GraphQL edge: Apollo Server over HTTP and graphql-ws on the same `/graphql` path, sharing
 * authentication, limits and error masking.
 */
export async function createGraphQLEdge(deps: GraphQLEdgeDeps): Promise<GraphQLEdge> {
  const { config, logger, orm, schema, services, httpServer, metrics } = deps;
  const formatError = createErrorFormatter(logger);
  const validationRules = [depthLimit(config.graphql.maxDepth)];

  const authenticate = async (key: string | undefined): Promise<{ caller: Caller; em: GraphQLContext['em'] }> => {
    const em = orm.em.fork();
    const caller = await services.tenancy.authenticate(em, key);
    if (!caller) throw unauthenticated(key);
    return { caller, em };
  };

  const { store, storeLogger, closeStore } = rateLimitStore(config, logger);
  const limitKey = (key: string) => `key:${createHash('sha256').update(key).digest('hex')}`;

  // --- WebSocket (graphql-ws): the key is checked at connection_init and again at every subscribe.
  // Per key: open connections and active subscriptions are capped, and every subscribe counts
  // against the same per-minute limit as HTTP requests.
  const wss = new WebSocketServer({ server: httpServer, path: '/graphql' });
  type WsExtra = { caller?: Caller; key?: string; limitKey?: string; subscriptions?: Set<string> };
  const connectionsByKey = new Map<string, number>();
  const subscriptionsByKey = new Map<string, number>();
  const bump = (m: Map<string, number>, k: string, by: number) => {
    const n = (m.get(k) ?? 0) + by;
    if (n > 0) m.set(k, n);
    else m.delete(k);
  };
  const wsRefusal = (message: string, extra: Record<string, unknown> = {}) =>
    [new ApiError(ErrorCode.RATE_LIMITED, message, extra)].map((e) => toGraphQLError(formatError(e.toJSON(), e)));
  const maskResult = (result: ExecutionResult, requestId: string) =>
    result.errors?.length ? { ...result, errors: result.errors.map((e) => requestScope.run({ requestId }, () => formatError(e.toJSON(), e))) } : result;
  // Live subscriptions: one execution per event for every subscriber that shares it, frames written here (see live-hub.ts).
  const liveHub = new LiveHub({
    maxBufferedBytes: config.ws.maxBufferedBytes,
    formatResult: maskResult,
    formatError: (err, requestId) => {
      const e = err instanceof GraphQLError ? err : new GraphQLError('Internal error', { originalError: err as Error });
      return toGraphQLError(requestScope.run({ requestId }, () => formatError(e.toJSON(), e)));
    },
    metrics,
  });
  const liveTargets = new WeakMap<ExecutionArgs, LiveTarget>();
  const wsServer = useServer<Record<string, unknown> | undefined, WsExtra>(
    {
      schema,
      // Operations run seeing only the caller's tenant; a shared live group executes in the tenant it is keyed by.
      subscribe: (args) =>
        withTenant(tenantOf(args), async () => {
          const target = liveTargets.get(args);
          return (target && (await liveHub.subscribe(args, target))) ?? subscribe(args);
        }),
      onConnect: async (ctx) => {
        const key = bearer(ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization);
        const em = orm.em.fork();
        const caller = await services.tenancy.authenticate(em, key);
        if (!caller) return false; // closes with 4403 Forbidden
        const lk = limitKey(key!);
        if ((connectionsByKey.get(lk) ?? 0) >= config.ws.maxConnectionsPerKey) {
          // 4429 (graphql-ws' own range, like its 4403): the reason carries the code.
          ctx.extra.socket.close(4429, `${ErrorCode.RATE_LIMITED}: at most ${config.ws.maxConnectionsPerKey} open connections per API key`);
          return false;
        }
        bump(connectionsByKey, lk, 1);
        Object.assign(ctx.extra, { caller, key, limitKey: lk, subscriptions: new Set<string>() });
        return true;
      },
      onDisconnect: (ctx) => {
        const extra = ctx.extra as WsExtra;
        if (!extra.limitKey) return;
        bump(connectionsByKey, extra.limitKey, -1);
        bump(subscriptionsByKey, extra.limitKey, -(extra.subscriptions?.size ?? 0));
        extra.subscriptions?.clear();
      },
      onComplete: (ctx, id) => {
        const extra = ctx.extra as WsExtra;
        if (extra.limitKey && extra.subscriptions?.delete(id)) bump(subscriptionsByKey, extra.limitKey, -1);
      },
      onSubscribe: async (ctx, id, payload): Promise<ExecutionArgs | readonly GraphQLError[]> => {
        const requestId = randomUUID();
        try {
          const extra = ctx.extra as WsExtra;
          const { caller, em } = await authenticate(extra.key);
          const lk = extra.limitKey!;
          const hits = await Promise.resolve()
            .then(() => store.increment(lk))
            .catch(() => null); // the store away: pass, as HTTP does
          if (hits && hits.totalHits > config.rateLimitPerMinute) {
            const retryAfter = Math.max(1, Math.ceil(((hits.resetTime?.getTime() ?? Date.now() + 60_000) - Date.now()) / 1000));
            return requestScope.run({ requestId }, () => wsRefusal(`Too many requests for this API key; retry in ${retryAfter} s.`, { retryAfter }));
          }
          if ((subscriptionsByKey.get(lk) ?? 0) >= config.ws.maxSubscriptionsPerKey) {
            return requestScope.run({ requestId }, () =>
              wsRefusal(`At most ${config.ws.maxSubscriptionsPerKey} active subscriptions per API key; complete one first.`),
            );
          }
          const document = parse(payload.query, { maxTokens: config.graphql.maxTokens });
          const errors = validate(schema, document, [...specifiedRules, ...validationRules]);
          if (errors.length > 0) return errors.map((e) => toGraphQLError(formatError(e.toJSON(), e)));
          assertOperation(getOperationAST(document, payload.operationName), payload.operationName);
          assertStorableInput(document, payload.variables);
          assertCost(schema, document, payload.operationName, payload.variables, config.graphql.maxCost);
          const contextValue: GraphQLContext = { requestId, caller, em, logger: logger.child({ requestId }), services };
          if (extra.subscriptions && !extra.subscriptions.has(id)) {
            extra.subscriptions.add(id);
            bump(subscriptionsByKey, lk, 1);
          }
          const args: ExecutionArgs = { schema, document, operationName: payload.operationName, variableValues: payload.variables, contextValue };
          liveTargets.set(args, { id, socket: ctx.extra.socket });
          return args;
        } catch (err) {
          const e = err instanceof GraphQLError ? err : new GraphQLError('Internal error', { originalError: err as Error });
          return [toGraphQLError(requestScope.run({ requestId }, () => formatError(e.toJSON(), e)))];
        }
      },
      // A subscription's stream is wrapped so that however it ends (complete, error, socket closed), the gauge goes down.
      // It also frees the key's subscription place the moment the client completes it or the socket closes.
      // Operations run seeing only the caller's tenant; a subscription's every step (next event, its resolvers) too.
      execute: (args) => withTenant(tenantOf(args), () => execute(args)),
      onOperation: (ctx, id, _payload, args, result) => {
        if (!isAsyncIterable(result)) return undefined;
        const extra = ctx.extra as WsExtra;
        return countedSubscription(result, tenantOf(args), {
          subscriptionOpened: () => metrics?.subscriptionOpened(),
          subscriptionClosed: () => {
            metrics?.subscriptionClosed();
            if (extra.limitKey && extra.subscriptions?.delete(id)) bump(subscriptionsByKey, extra.limitKey, -1);
          },
        });
      },
      onNext: (_ctx, _id, _payload, args, result) => maskResult(result, (args.contextValue as GraphQLContext | undefined)?.requestId ?? 'unknown'),
    },
    wss,
  );

  // --- HTTP (Apollo Server 5)
  const costPlugin: ApolloServerPlugin<GraphQLContext> = {
    async requestDidStart() {
      return {
        async didResolveOperation({ document, request, operation }) {
          assertOperation(operation, request.operationName);
          if (operation.operation === 'subscription') {
            throw new ApiError(ErrorCode.BAD_REQUEST, 'Subscriptions are served over graphql-ws (WebSocket) at /graphql, not over HTTP.');
          }
          assertStorableInput(document, request.variables);
          assertCost(schema, document, request.operationName, request.variables, config.graphql.maxCost);
        },
      };
    },
  };
  // One compile cache for both ways an HTTP query is run: Apollo's executor and the compiled read path.
  const operations = new CompiledOperations(schema, validationRules, config.graphql.maxTokens);
  const apollo = new ApolloServer<GraphQLContext>({
    gateway: jitExecutor(schema, operations),
    formatError,
    validationRules,
    parseOptions: { maxTokens: config.graphql.maxTokens },
    includeStacktraceInErrorResponses: false,
    // main.ts owns signals and shuts down in order; Apollo must not race it.
    stopOnTerminationSignals: false,
    introspection: true,
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer }),
      // We send no cache hints; the default plugin would still wrap every field resolver.
      ApolloServerPluginCacheControlDisabled(),
      ...(metrics ? [metricsPlugin(metrics)] : []),
      costPlugin,
      {
        async serverWillStart() {
          return { drainServer: async () => void (await wsServer.dispose()) };
        },
      },
    ],
  });
  await apollo.start();

  const limiter = rateLimit({
    windowMs: 60_000,
    limit: config.rateLimitPerMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    store,
    // A Redis outage must not take the API down: requests pass unlimited until it is back.
    passOnStoreError: true,
    logger: storeLogger,
    // Per API key (hashed, so the key never sits in Redis), else per client address.
    keyGenerator: (req) => {
      const key = bearer(req.headers.authorization);
      return key ? limitKey(key) : `ip:${ipKeyGenerator(req.ip ?? '')}`;
    },
    handler: (req, res) => {
      const resetTime = (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
      const retryAfter = Math.max(1, Math.ceil(((resetTime?.getTime() ?? Date.now() + 60_000) - Date.now()) / 1000));
      res
        .status(429)
        .set('Retry-After', String(retryAfter))
        .json(errorBody(ErrorCode.RATE_LIMITED, `Too many requests for this API key; retry in ${retryAfter} s.`, { retryAfter }));
    },
  });

  // The walkthrough's operations as GraphiQL tabs, in sandbox only (they use sandbox banks and controls).
  const exampleTabs = config.environment === 'sandbox' ? loadExampleTabs() : [];
  // The resolver context of an HTTP request, on either path: the caller's key checked, its tenant bound.
  const httpContext = async (req: Request, res: Response): Promise<GraphQLContext> => {
    const requestId = String(res.locals.requestId ?? randomUUID());
    // Authentication only runs plain SQL on the connection (no identity map): the shared manager's
    // connection serves it, and the request's fork and child logger are made on first use — the
    // compiled page path reads with plain SQL and never needs either.
    const key = bearer(req.headers.authorization);
    const caller = await services.tenancy.authenticate(orm.em, key);
    if (!caller) throw unauthenticated(key);
    bindTenant(caller.tenantId);
    let em: GraphQLContext['em'] | undefined;
    let requestLogger: GraphQLContext['logger'] | undefined;
    return {
      requestId,
      caller,
      get em() {
        return (em ??= orm.em.fork());
      },
      get logger() {
        return (requestLogger ??= logger.child({ requestId }));
      },
      services,
    };
  };
  const router = express.Router();
  router.use('/graphiql', graphiqlAssets());
  router.get('/graphql', (req, res, next) => {
    if (!wantsGraphiQL(req)) return next();
    // The socket, not req.ip: a browser behind a trusted proxy is not on this machine.
    const loopback = ['127.0.0.1', '::1', '::ffff:127.0.0.1'].includes(req.socket.remoteAddress ?? '');
    const key = config.environment === 'sandbox' && loopback ? deps.demoApiKey() : undefined;
    res
      .type('html')
      .set(
        'Content-Security-Policy',
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:; img-src 'self' data:; font-src 'self' data:",
      )
      .send(graphiqlPage(key, exampleTabs));
  });
  router.use(
    '/graphql',
    limiter,
    express.json({ limit: config.httpBodyLimitBytes }),
    // After the body is read (its stream events would lose the scope): the context below binds the caller's tenant.
    (_req, _res, next) => tenantRequestScope(next),
    fastQueryPath({
      schema,
      operations,
      maxCost: config.graphql.maxCost,
      formatError,
      onServed: metrics && ((name, outcome, seconds) => metrics.graphqlOperation({ name, type: 'query', outcome, seconds })),
      context: httpContext,
    }),
    expressMiddleware(apollo, { context: ({ req, res }) => httpContext(req, res) }),
  );

  return {
    router,
    async close() {
      await apollo.stop();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await closeStore();
    },
  };
}

/** The one answer to a missing, unknown or revoked API key, over HTTP and graphql-ws alike. */
function unauthenticated(key: string | undefined): ApiError {
  return new ApiError(ErrorCode.UNAUTHENTICATED, key ? 'The API key is invalid or revoked.' : 'Missing API key: send `Authorization: Bearer <key>`.');
}

/** A document whose operation cannot be picked (operationName names none, or several and no name) is the caller's mistake. */
function assertOperation(
  operation: OperationDefinitionNode | null | undefined,
  operationName: string | null | undefined,
): asserts operation is OperationDefinitionNode {
  if (operation) return;
  throw new ApiError(
    ErrorCode.BAD_REQUEST,
    typeof operationName === 'string'
      ? 'The document has no operation named by operationName.'
      : 'The document has several operations: name the one to run with operationName.',
  );
}

/** Times each operation Apollo answers, named after the operation it resolved (none: `invalid`). */
function metricsPlugin(metrics: Pick<Metrics, 'graphqlOperation'>): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      const started = performance.now();
      let name: string | null | undefined;
      let type: string | undefined;
      return {
        async didResolveOperation({ operation }) {
          if (!operation) return;
          name = operation.name?.value ?? null;
          type = operation.operation;
        },
        async willSendResponse({ response }) {
          const result = response.body.kind === 'single' ? response.body.singleResult : response.body.initialResult;
          metrics.graphqlOperation({ name, type, outcome: graphqlOutcome(result), seconds: (performance.now() - started) / 1000 });
        },
      };
    },
  };
}

const tenantOf = (args: ExecutionArgs) => (args.contextValue as GraphQLContext).caller.tenantId;

const isAsyncIterable = (value: unknown): value is AsyncIterable<unknown> => typeof value === 'object' && value !== null && Symbol.asyncIterator in value;

/**
 * The subscription's stream, counted while open. A plain iterator, not an async generator: a
 * generator's `return()` would queue behind its pending `next()` (which waits for the next event),
 * so a closed socket would hold the stream, and the count, until that event came.
 */
function countedSubscription<T>(
  source: AsyncIterable<T>,
  tenantId: string,
  metrics: Pick<Metrics, 'subscriptionOpened' | 'subscriptionClosed'>,
): AsyncIterableIterator<T> {
  const inner = source[Symbol.asyncIterator]();
  let open = true;
  const closed = () => {
    if (open) metrics.subscriptionClosed();
    open = false;
  };
  metrics.subscriptionOpened();
  return {
    async next() {
      try {
        const r = await withTenant(tenantId, () => inner.next());
        if (r.done) closed();
        return r;
      } catch (err) {
        closed();
        throw err;
      }
    },
    async return(value?: unknown) {
      closed();
      return inner.return ? inner.return(value) : { done: true, value: undefined };
    },
    async throw(err?: unknown) {
      closed();
      if (inner.throw) return inner.throw(err);
      throw err;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

function toGraphQLError(f: ReturnType<ReturnType<typeof createErrorFormatter>>): GraphQLError {
  return new GraphQLError(f.message, { extensions: f.extensions });
}

function rateLimitStore(
  config: Config,
  logger: Logger,
): { store: Store; storeLogger: { error(...args: unknown[]): void; warn(...args: unknown[]): void }; closeStore: () => Promise<void> } {
  const storeLogger = {
    error: (err: unknown) => logger.warn({ err }, 'rate-limit store error; request allowed'),
    warn: (msg: unknown) => logger.warn({ msg }, 'rate limiter warning'),
  };
  // Explicit even without Redis: graphql-ws subscribes count in the same store as HTTP requests.
  if (!config.redisUrl) return { store: new MemoryStore(), storeLogger, closeStore: async () => undefined };
  const client = new Redis(config.redisUrl, { maxRetriesPerRequest: 2, enableOfflineQueue: true });
  const health = watchRedis(client, logger, 'rate-limit', {
    lost: 'redis rate-limit connection lost; requests pass without a limit until it is back',
    back: 'redis rate-limit connection back',
  });
  // The offline queue covers start-up (the store loads its script at once); once connected, a
  // request never waits for a Redis that went away: it fails at once and passes unlimited.
  let connectedOnce = false;
  client.once('ready', () => (connectedOnce = true));
  const store = new RedisStore({
    prefix: 'passerelle:rl:',
    sendCommand: (command: string, ...args: string[]) =>
      (connectedOnce && !health.up() ? Promise.reject(new Error('Redis is not connected')) : client.call(command, ...args)) as Promise<RedisReply>,
  });
  return {
    store,
    // The outage is logged once by the watcher; a store error while Redis is up is worth a line each.
    storeLogger: { ...storeLogger, error: (err: unknown) => void (health.up() && storeLogger.error(err)) },
    closeStore: async () => void client.disconnect(),
  };
}
