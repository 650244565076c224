import { Arg, Ctx, Int, Query, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../../api/context';
import { EventType } from './events';
import { MAX_EVENTS_PAGE } from './events.service';
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
      pageInfo: { hasNextPage: page.hasMore, hasPreviousPage: !!after, startCursor: nodes[0]?.cursor ?? null, endCursor: nodes.at(-1)?.cursor ?? after ?? null },
    };
  }
}
