import { Ctx, Resolver, Root, Subscription } from 'type-graphql';
import type { GraphQLContext } from '../../api/context';
import { ApiError, ErrorCode } from '../../api/errors';
import { EventType, type EventEntry } from '../events';
import { PaymentType } from './payments.types';

/** Live payment status changes over graphql-ws: the payments module follows the event log (payments → events, never back). */
@Resolver()
export class PaymentSubscriptionsResolver {
  @Subscription(() => PaymentType, {
    description: 'Payments of the tenant whose status changed (each PAYMENT_STATUS_CHANGED event), with the payment as it stands now.',
    subscribe: ({ context }) =>
      (context as GraphQLContext).services.eventStream.follow(
        (context as GraphQLContext).caller,
        null,
        [EventType.PAYMENT_STATUS_CHANGED],
        (context as GraphQLContext).signal,
      ),
  })
  async paymentStatusChanged(@Root() e: EventEntry, @Ctx() ctx: GraphQLContext): Promise<PaymentType> {
    const p = await ctx.services.payments.get(ctx.em.fork(), ctx.caller, e.resourceId);
    if (!p) throw new ApiError(ErrorCode.NOT_FOUND, 'The payment no longer exists.');
    return PaymentType.from(p);
  }
}
