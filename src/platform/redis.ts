import type { Redis } from 'ioredis';
import type { Logger } from './logger';

/** What a watched connection says in the log when it goes and when it comes back. */
export interface RedisOutageLines {
  lost: string;
  back: string;
}

/**
 * Follows one Redis connection's health. ioredis reports every failed reconnect (every ≤ 2 s, for
 * as long as Redis is away): this logs one line when the connection is lost and one when it is back.
 */
export function watchRedis(client: Redis, logger: Logger, connection: string, lines: RedisOutageLines): { up(): boolean } {
  let down = false;
  client.on('error', (err: Error) => {
    if (down) return;
    down = true;
    logger.warn({ err: err.message, connection }, lines.lost);
  });
  client.on('ready', () => {
    if (!down) return;
    down = false;
    logger.info({ connection }, lines.back);
  });
  return { up: () => client.status === 'ready' };
}
