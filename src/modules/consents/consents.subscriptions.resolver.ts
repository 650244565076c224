import { Ctx, Resolver, Root, Subscription } from 'type-graphql';
import type { GraphQLContext } from '../../api/context';
import { ApiError, ErrorCode } from '../../api/errors';
import { EventType, type EventEntry } from '../events';
import { ConsentType } from './consents.types';

/** Live consent status changes over graphql-ws: the consents module follows the event log (consents → events, never back). */
@Resolver()
export class ConsentSubscriptionsResolver {
  @Subscription(() => ConsentType, {
    description: 'Consents of the tenant whose status changed (activated, rejected, expiring, expired, revoked, re-authentication required).',
    subscribe: ({ context }) =>
      (context as GraphQLContext).services.eventStream.follow(
        (context as GraphQLContext).caller,
        null,
        [
          EventType.CONSENT_ACTIVATED,
          EventType.CONSENT_REJECTED,
          EventType.CONSENT_EXPIRING,
          EventType.CONSENT_EXPIRED,
          EventType.CONSENT_REVOKED,
          EventType.CONSENT_REAUTH_REQUIRED,
        ],
        (context as GraphQLContext).signal,
      ),
  })
  async consentStatusChanged(@Root() e: EventEntry, @Ctx() ctx: GraphQLContext): Promise<ConsentType> {
    const c = await ctx.services.consents.get(ctx.em.fork(), ctx.caller, e.resourceId);
    if (!c) throw new ApiError(ErrorCode.NOT_FOUND, 'The consent no longer exists.');
    return ConsentType.from(c);
  }
}
