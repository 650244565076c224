import type { EntityManager } from '@mikro-orm/postgresql';
import type { Caller } from '../kernel/caller';
import type { Logger } from '../platform/logger';
import type { Services } from './services';

export type { Caller } from '../kernel/caller';

/** What every resolver receives. `em` is a fresh fork per request (and per subscription). */
export interface GraphQLContext {
  readonly requestId: string;
  readonly caller: Caller;
  readonly em: EntityManager;
  readonly logger: Logger;
  readonly services: Services;
  /** Set on a live subscription's context: aborted when its last subscriber leaves, it ends the event stream at once. */
  readonly signal?: AbortSignal;
}
