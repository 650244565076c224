import { createPubSub, type PubSub } from '@graphql-yoga/subscription';
import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import { Redis } from 'ioredis';
import type { Logger } from './logger';

/**
 * Topic → payload of everything published on the bus (a resource's events go on a topic named
 * after it); payloads must survive JSON (dates as ISO strings) because Redis carries them between instances.
 */
export type BusTopics = Record<string, [payload: unknown]>;

/** The event bus: in-process by default, fanned out through Redis pub/sub when REDIS_URL is set. */
export interface EventBus {
  readonly pubSub: PubSub<BusTopics>;
  readonly kind: 'memory' | 'redis';
  close(): Promise<void>;
}

export function createEventBus(redisUrl: string | undefined, logger: Logger): EventBus {
  if (!redisUrl) return { pubSub: createPubSub<BusTopics>(), kind: 'memory', close: async () => undefined };
  // Publishing and subscribing need separate connections: a subscribed Redis client can't publish.
  const publishClient = new Redis(redisUrl, { lazyConnect: false, maxRetriesPerRequest: null });
  const subscribeClient = new Redis(redisUrl, { lazyConnect: false, maxRetriesPerRequest: null });
  for (const c of [publishClient, subscribeClient]) c.on('error', (err) => logger.warn({ err: err.message }, 'redis bus connection error'));
  const eventTarget = createRedisEventTarget({ publishClient, subscribeClient });
  return {
    pubSub: createPubSub<BusTopics>({ eventTarget }),
    kind: 'redis',
    async close() {
      publishClient.disconnect();
      subscribeClient.disconnect();
    },
  };
}
