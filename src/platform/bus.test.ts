import { describe, expect, it } from 'vitest';
import { hasRedis, ciConfig } from '../../test/helpers/gateway';
import { createEventBus, type EventBus } from './bus';
import { createLogger } from './logger';

const logger = createLogger('silent');

declare module './bus' {
  interface BusTopicMap {
    /** Topics of this test file only (a random suffix keeps concurrent runs apart on a shared Redis). */
    [topic: `test.${string}`]: Record<string, unknown>;
  }
}

function firstEvent(bus: EventBus, topic: `test.${string}`): { next: Promise<IteratorResult<unknown>>; stop: () => void } {
  const iterator = bus.pubSub.subscribe(topic)[Symbol.asyncIterator]();
  return { next: iterator.next(), stop: () => void iterator.return?.() };
}

describe('event bus', () => {
  it('delivers a published payload to an in-process subscriber', async () => {
    const bus = createEventBus(undefined, logger);
    const { next, stop } = firstEvent(bus, 'test.topic');
    bus.pubSub.publish('test.topic', { at: '2026-11-25T00:00:00.000Z', n: 1 });
    expect((await next).value).toEqual({ at: '2026-11-25T00:00:00.000Z', n: 1 });
    stop();
    await bus.close();
  });

  it.skipIf(!hasRedis)('fans a payload out to a subscriber of another instance through Redis (needs REDIS_URL)', async () => {
    const a = createEventBus(ciConfig.redisUrl, logger);
    const b = createEventBus(ciConfig.redisUrl, logger);
    const topic = `test.${Math.random().toString(36).slice(2)}` as const;
    const { next, stop } = firstEvent(b, topic);
    // The subscription reaches Redis asynchronously: publish until it lands.
    let got: unknown;
    next.then((r) => (got = r.value));
    for (let i = 0; i < 50 && got === undefined; i++) {
      await a.pubSub.publish(topic, { hello: 'across instances' });
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(got).toEqual({ hello: 'across instances' });
    stop();
    await a.close();
    await b.close();
  });
});
