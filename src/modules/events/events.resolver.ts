import { Arg, Ctx, ID, Int, Query, Resolver, Root, Subscription } from 'type-graphql';
import type { GraphQLContext } from '../../api/context';
import { ApiError, ErrorCode } from '../../api/errors';
import { decodeGlobalId } from '../../api/relay/global-id';
import { TransactionType } from '../transactions/transactions.types';
import { EventType } from './events';
import { MAX_EVENTS_PAGE, type EventEntry } from './events.service';
import { EventConnection, EventObject } from './events.types';

@Resolver()
export class EventsResolver {
  @Query(() => EventConnection, {
    description: `The replayable event log of the calling tenant, oldest first: start without \`after\`, keep the last cursor, and continue from it — nothing is skipped or repeated. \`first\`: 1–${MAX_EVENTS_PAGE} (default 100).`,
  })
  async events(
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Arg('types', () => [EventType], { nullable: true }) types: EventType[] | null,
    @Arg('first', () => Int, { nullable: true }) first: number | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<EventConnection> {
    const page = await ctx.services.events.list(ctx.caller, after, types, first);
    const nodes = page.events.map(EventObject.from);
    return {
      nodes,
      pageInfo: {
        hasNextPage: page.hasMore,
        hasPreviousPage: !!after,
        startCursor: nodes[0]?.cursor ?? null,
        endCursor: nodes.at(-1)?.cursor ?? after ?? null,
      },
    };
  }
}

/** Live events over graphql-ws (the API key is checked at connect and at every subscribe). */
@Resolver()
export class EventSubscriptionsResolver {
  @Subscription(() => EventObject, {
    name: 'events',
    description:
      'The event log, live: with `after`, first every event after that cursor, then new ones as they commit — no gap and no duplicate at the seam; without it, new events only. Delivery is at least once across reconnects: keep the last cursor and drop ids already seen.',
    subscribe: ({ args, context }) => {
      const ctx = context as GraphQLContext;
      return ctx.services.eventStream.follow(ctx.caller, args.after as string | null, args.types as EventType[] | null, ctx.signal);
    },
  })
  eventsLive(
    @Root() e: EventEntry,
    @Arg('after', () => String, { nullable: true }) _after: string | null,
    @Arg('types', () => [EventType], { nullable: true }) _types: EventType[] | null,
  ): EventObject {
    return EventObject.from(e);
  }

  @Subscription(() => [TransactionType], {
    description: 'New transactions of one account as they are stored (each TRANSACTIONS_ADDED event, up to 100 transactions).',
    subscribe: async function* ({ args, context }) {
      const ctx = context as GraphQLContext;
      const id = decodeGlobalId(args.accountId as string, 'Account');
      const account = id ? await ctx.services.accounts.record(ctx.caller, id) : null;
      if (!account) throw new ApiError(ErrorCode.NOT_FOUND, 'No account with this id.', { argument: 'accountId' });
      for await (const e of ctx.services.eventStream.follow(ctx.caller, null, [EventType.TRANSACTIONS_ADDED], ctx.signal)) {
        if (e.resourceId === account.id) yield e;
      }
    },
  })
  async transactionsAdded(@Root() e: EventEntry, @Arg('accountId', () => ID) _accountId: string, @Ctx() ctx: GraphQLContext): Promise<TransactionType[]> {
    const ids = ((e.payload.transactionIds as string[] | undefined) ?? []).map((g) => decodeGlobalId(g, 'Transaction')).filter((x): x is string => !!x);
    // One read per event, shared by every subscription of the tenant to this account's additions.
    return (await ctx.services.accounts.transactionsOfEvent(ctx.caller, e.id, ids)).map(TransactionType.from);
  }
}
