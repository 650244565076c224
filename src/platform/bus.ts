import { createPubSub, type PubSub } from '@graphql-yoga/subscription';
import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import { Redis } from 'ioredis';
import type { Logger } from './logger';
import { watchRedis } from './redis';

/**
 * Topic → payload of everything published on the bus, so `publish` and `subscribe` are typed
 * without casts. The module that owns a topic adds it beside the topic's name, by declaration
 * merging (platform names no module):
 *
 * ```ts
 * export const WAKE_TOPIC = 'events:wake';
 * declare module '../../platform/bus' {
 *   interface BusTopicMap { [WAKE_TOPIC]: Record<string, never> }
 * }
 * ```
 *
 * Payloads must survive JSON (dates as ISO strings): Redis carries them between instances.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled by declaration merging
export interface BusTopicMap {}

/** The bus's topics in the shape the pub/sub takes: one payload argument per topic. */
export type BusTopics = { [Topic in keyof BusTopicMap]: [payload: BusTopicMap[Topic]] };

/** The event bus: in-process by default, fanned out through Redis pub/sub when REDIS_URL is set. */
export interface EventBus {
  readonly pubSub: PubSub<BusTopics>;
  readonly kind: 'memory' | 'redis';
  /** With Redis: whether the connection that receives other instances' announcements is up now. */
  redisUp?(): boolean;
  close(): Promise<void>;
}

/**
 * Creates the bus. With Redis, publishing is best effort: while Redis is away a message is
 * dropped, not queued — the bus carries "look now" hints, the database holds the truth (its
 * readers also poll it, see EventStream).
 */
export function createEventBus(redisUrl: string | undefined, logger: Logger): EventBus {
  if (!redisUrl) return { pubSub: createPubSub<BusTopics>(), kind: 'memory', close: async () => undefined };
  // Publishing and subscribing need separate connections: a subscribed Redis client can't publish.
  // The publisher has no offline queue: queued hints would pile up for as long as Redis is away
  // and then arrive all at once, stale. The subscriber keeps ioredis' reconnect and re-subscribe.
  const publishClient = new Redis(redisUrl, { lazyConnect: false, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  const subscribeClient = new Redis(redisUrl, { lazyConnect: false, maxRetriesPerRequest: null });
  const lines = {
    lost: 'redis bus connection lost; reconnecting (events still reach subscribers through the log poll)',
    back: 'redis bus connection back',
  };
  watchRedis(publishClient, logger, 'publish', lines);
  const subscriber = watchRedis(subscribeClient, logger, 'subscribe', lines);
  // The event target calls publish without awaiting it: a refused publish must not become an unhandled rejection.
  const publisher = {
    publish: (channel: string, message: string) =>
      publishClient.status === 'ready' ? publishClient.publish(channel, message).catch(() => 0) : Promise.resolve(0),
  } as unknown as Redis;
  const eventTarget = createRedisEventTarget({ publishClient: publisher, subscribeClient });
  return {
    pubSub: createPubSub<BusTopics>({ eventTarget }),
    kind: 'redis',
    redisUp: subscriber.up,
    async close() {
      publishClient.disconnect();
      subscribeClient.disconnect();
    },
  };
}
