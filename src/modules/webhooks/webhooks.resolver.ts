import { Arg, Args, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { GraphQLContext } from '../../api/context';
import { ConnectionArgs, decodeCursor, pageSize, toConnection } from '../../api/relay/connection';
import { decodeGlobalId } from '../../api/relay/global-id';
import { registerNodeType } from '../../api/relay/node';
import { EventObject } from '../events/events.types';
import {
  WebhookAttemptType,
  WebhookDeliveryConnection,
  WebhookDeliveryReplayPayload,
  WebhookDeliveryStatus,
  WebhookDeliveryType,
  WebhookEndpointConnection,
  WebhookEndpointCreateInput,
  WebhookEndpointCreatePayload,
  WebhookEndpointDeletePayload,
  WebhookEndpointRotateSecretPayload,
  WebhookEndpointType,
} from './webhooks.types';

registerNodeType('WebhookEndpoint', async (ctx, id) => {
  const e = await ctx.services.webhooks.endpoint(ctx.caller, id);
  return e ? WebhookEndpointType.from(e) : null;
});
registerNodeType('WebhookDelivery', async (ctx, id) => {
  const d = await ctx.services.webhooks.delivery(ctx.caller, id);
  return d ? WebhookDeliveryType.from(d) : null;
});

async function deliveryPage(
  ctx: GraphQLContext,
  endpointId: string | null,
  status: WebhookDeliveryStatus | null,
  first: number | null | undefined,
  after: string | null | undefined,
) {
  const limit = pageSize(first);
  const page = await ctx.services.webhooks.deliveries(ctx.caller, { endpointId, status }, limit, after);
  const edges = page.deliveries.map((d) => ({ cursor: d.cursor, node: WebhookDeliveryType.from(d) }));
  return {
    edges,
    nodes: edges.map((e) => e.node),
    pageInfo: { hasNextPage: page.hasMore, hasPreviousPage: !!after, startCursor: edges[0]?.cursor ?? null, endCursor: edges.at(-1)?.cursor ?? null },
  };
}

const NO_SUCH_ENDPOINT = '00000000-0000-0000-0000-000000000000';

@Resolver(() => WebhookEndpointType)
export class WebhooksResolver {
  @Query(() => WebhookEndpointConnection, { description: "The tenant's webhook endpoints, oldest first." })
  async webhookEndpoints(@Args(() => ConnectionArgs) args: ConnectionArgs, @Ctx() ctx: GraphQLContext) {
    const limit = pageSize(args.first);
    const after = args.after ? decodeCursor('WebhookEndpoint', args.after) : undefined;
    const rows = await ctx.services.webhooks.endpoints(ctx.caller, limit, after);
    return toConnection('WebhookEndpoint', rows, limit, !!after, WebhookEndpointType.from);
  }

  @Query(() => WebhookDeliveryConnection, { description: 'The delivery log, newest first: optionally of one endpoint and one status (e.g. DEAD, to replay).' })
  async webhookDeliveries(
    @Arg('endpointId', () => ID, { nullable: true }) endpointId: string | null,
    @Arg('status', () => WebhookDeliveryStatus, { nullable: true }) status: WebhookDeliveryStatus | null,
    @Arg('first', () => Int, { nullable: true }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: GraphQLContext,
  ) {
    // An id that is not one of this tenant's endpoints lists nothing (a foreign id reveals nothing).
    const id = endpointId ? (decodeGlobalId(endpointId, 'WebhookEndpoint') ?? NO_SUCH_ENDPOINT) : null;
    return deliveryPage(ctx, id, status, first, after);
  }

  @FieldResolver(() => WebhookDeliveryConnection, { description: "This endpoint's deliveries, newest first." })
  async deliveries(
    @Root() endpoint: WebhookEndpointType,
    @Arg('status', () => WebhookDeliveryStatus, { nullable: true }) status: WebhookDeliveryStatus | null,
    @Arg('first', () => Int, { nullable: true }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: GraphQLContext,
  ) {
    return deliveryPage(ctx, endpoint.internalId, status, first, after);
  }

  @Mutation(() => WebhookEndpointCreatePayload, {
    description: 'Registers a URL to receive events of the given types, signed with Standard Webhooks headers. The signing secret is returned once.',
  })
  async webhookEndpointCreate(
    @Arg('input', () => WebhookEndpointCreateInput) input: WebhookEndpointCreateInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<WebhookEndpointCreatePayload> {
    const r = await ctx.services.webhooks.create(ctx.caller, input);
    return r.ok
      ? { webhookEndpoint: WebhookEndpointType.from(r.value.endpoint), secret: r.value.secret, userErrors: [] }
      : { webhookEndpoint: null, secret: null, userErrors: r.userErrors };
  }

  @Mutation(() => WebhookEndpointDeletePayload, { description: 'Deletes an endpoint with its pending deliveries and log; its secret is destroyed.' })
  async webhookEndpointDelete(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<WebhookEndpointDeletePayload> {
    const r = await ctx.services.webhooks.delete(ctx.caller, decodeGlobalId(id, 'WebhookEndpoint'));
    return r.ok ? { deletedWebhookEndpointId: id, userErrors: [] } : { deletedWebhookEndpointId: null, userErrors: r.userErrors };
  }

  @Mutation(() => WebhookEndpointRotateSecretPayload, {
    description:
      'Gives the endpoint a new signing secret, returned once. For 24 hours both the new and the previous secret sign every request, so the receiver can switch without missing one.',
  })
  async webhookEndpointRotateSecret(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<WebhookEndpointRotateSecretPayload> {
    const r = await ctx.services.webhooks.rotateSecret(ctx.caller, decodeGlobalId(id, 'WebhookEndpoint'));
    return r.ok
      ? { webhookEndpoint: WebhookEndpointType.from(r.value.endpoint), secret: r.value.secret, userErrors: [] }
      : { webhookEndpoint: null, secret: null, userErrors: r.userErrors };
  }

  @Mutation(() => WebhookDeliveryReplayPayload, {
    description: 'Sends a delivered or dead-lettered delivery again, with a fresh retry window (same event id: receivers that de-duplicate see it once).',
  })
  async webhookDeliveryReplay(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<WebhookDeliveryReplayPayload> {
    const r = await ctx.services.webhooks.replay(ctx.caller, decodeGlobalId(id, 'WebhookDelivery'));
    return r.ok ? { webhookDelivery: WebhookDeliveryType.from(r.value), userErrors: [] } : { webhookDelivery: null, userErrors: r.userErrors };
  }
}

@Resolver(() => WebhookDeliveryType)
export class WebhookDeliveryResolver {
  @FieldResolver(() => WebhookEndpointType, { nullable: true })
  async endpoint(@Root() d: WebhookDeliveryType, @Ctx() ctx: GraphQLContext): Promise<WebhookEndpointType | null> {
    const e = await ctx.services.webhooks.endpoint(ctx.caller, d.endpointId);
    return e ? WebhookEndpointType.from(e) : null;
  }

  @FieldResolver(() => EventObject, { nullable: true, description: 'The event sent (its id is the `webhook-id` header).' })
  async event(@Root() d: WebhookDeliveryType, @Ctx() ctx: GraphQLContext): Promise<EventObject | null> {
    const e = await ctx.services.webhooks.event(ctx.caller, d.eventId);
    return e ? EventObject.from(e) : null;
  }

  @FieldResolver(() => [WebhookAttemptType], { description: 'Every try, oldest first.' })
  async attempts(@Root() d: WebhookDeliveryType, @Ctx() ctx: GraphQLContext): Promise<WebhookAttemptType[]> {
    return (await ctx.services.webhooks.attempts(d.internalId)).map(WebhookAttemptType.from);
  }
}
