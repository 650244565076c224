import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { connectionType } from '../../api/relay/connection';
import { toGlobalId } from '../../api/relay/global-id';
import { Node } from '../../api/relay/node';
import { UserError } from '../../api/user-errors';
import { EventType } from '../events';
import type { AttemptRecord, DeliveryRecord, DeliveryStatus, EndpointRecord } from './webhooks.service';

export enum WebhookDeliveryStatus {
  PENDING = 'PENDING',
  DELIVERED = 'DELIVERED',
  DEAD = 'DEAD',
}

registerEnumType(WebhookDeliveryStatus, {
  name: 'WebhookDeliveryStatus',
  description: 'Where a webhook delivery stands.',
  valuesConfig: {
    PENDING: { description: 'Not yet acknowledged: waiting for its turn (deliveries of one resource go in order) or for its next retry.' },
    DELIVERED: { description: 'The receiver answered 2xx.' },
    DEAD: { description: 'Every retry failed for the whole retry window (72 hours by default): dead-lettered. webhookDeliveryReplay sends it again.' },
  },
});

/** A URL that receives the tenant's events, signed with Standard Webhooks headers. */
@ObjectType('WebhookEndpoint', { implements: Node, description: "A URL that receives the tenant's events as signed Standard Webhooks requests." })
export class WebhookEndpointType extends Node {
  @Field(() => String)
  url!: string;

  @Field(() => String, { nullable: true })
  description!: string | null;

  /** The event types sent to this endpoint. */
  @Field(() => [EventType], { description: 'The event types sent to this endpoint.' })
  eventTypes!: EventType[];

  @Field(() => Date)
  createdAt!: Date;

  /** When the signing secret was last rotated; null if never. */
  @Field(() => Date, { nullable: true, description: 'When the signing secret was last rotated; null if never.' })
  secretRotatedAt!: Date | null;

  /** Until when the previous secret also signs (24 hours after a rotation); null when only one secret signs. */
  @Field(() => Date, { nullable: true, description: 'Until when the previous secret also signs (24 hours after a rotation); null when only one secret signs.' })
  previousSecretExpiresAt!: Date | null;

  internalId!: string;

  static from(e: EndpointRecord): WebhookEndpointType {
    return Object.assign(new WebhookEndpointType(), {
      id: toGlobalId('WebhookEndpoint', e.id),
      internalId: e.id,
      url: e.url,
      description: e.description,
      eventTypes: e.eventTypes,
      createdAt: e.createdAt,
      secretRotatedAt: e.secretRotatedAt,
      previousSecretExpiresAt: e.previousSecretExpiresAt && e.previousSecretExpiresAt > new Date() ? e.previousSecretExpiresAt : null,
    });
  }
}

/** One try of a delivery. */
@ObjectType('WebhookAttempt', { simpleResolvers: true, description: 'One try of a webhook delivery.' })
export class WebhookAttemptType {
  @Field(() => Int, { description: '1 for the first try.' })
  number!: number;

  @Field(() => Date)
  at!: Date;

  @Field(() => Int)
  durationMs!: number;

  /** HTTP status the receiver answered; null when there was no answer. */
  @Field(() => Int, { nullable: true, description: 'HTTP status the receiver answered; null when there was no answer.' })
  responseStatus!: number | null;

  /** Why the try failed (timeout, connection refused, a non-2xx status…); null when it succeeded. */
  @Field(() => String, { nullable: true, description: 'Why the try failed (timeout, connection refused, a non-2xx status…); null when it succeeded.' })
  error!: string | null;

  static from(a: AttemptRecord): WebhookAttemptType {
    return Object.assign(new WebhookAttemptType(), { number: a.n, at: a.at, durationMs: a.durationMs, responseStatus: a.responseStatus, error: a.error });
  }
}

/** One event sent (or to send) to one endpoint. */
@ObjectType('WebhookDelivery', {
  implements: Node,
  description: 'One event sent (or to be sent) to one endpoint; the request carries the event id as `webhook-id`.',
})
export class WebhookDeliveryType extends Node {
  @Field(() => WebhookDeliveryStatus)
  status!: WebhookDeliveryStatus;

  /** How many times it was tried. */
  @Field(() => Int, { description: 'How many times it was tried.' })
  attemptCount!: number;

  @Field(() => Date, { nullable: true })
  firstAttemptAt!: Date | null;

  @Field(() => Date, { nullable: true })
  lastAttemptAt!: Date | null;

  /** When it is tried next (PENDING only). */
  @Field(() => Date, { nullable: true, description: 'When it is tried next (PENDING only; it may also wait for an earlier delivery of the same resource).' })
  nextAttemptAt!: Date | null;

  @Field(() => Int, { nullable: true })
  lastResponseStatus!: number | null;

  @Field(() => String, { nullable: true })
  lastError!: string | null;

  @Field(() => Date, { nullable: true })
  deliveredAt!: Date | null;

  @Field(() => Date)
  createdAt!: Date;

  internalId!: string;
  endpointId!: string;
  eventId!: string;

  static from(d: DeliveryRecord): WebhookDeliveryType {
    return Object.assign(new WebhookDeliveryType(), {
      id: toGlobalId('WebhookDelivery', d.id),
      internalId: d.id,
      endpointId: d.endpointId,
      eventId: d.eventId,
      status: d.status as DeliveryStatus as WebhookDeliveryStatus,
      attemptCount: d.attempts,
      firstAttemptAt: d.firstAttemptAt,
      lastAttemptAt: d.lastAttemptAt,
      nextAttemptAt: d.nextAttemptAt,
      lastResponseStatus: d.lastResponseStatus,
      lastError: d.lastError,
      deliveredAt: d.deliveredAt,
      createdAt: d.createdAt,
    });
  }
}

export const WebhookEndpointConnection = connectionType('WebhookEndpoint', WebhookEndpointType, "A page of the tenant's webhook endpoints, oldest first.");
export const WebhookDeliveryConnection = connectionType('WebhookDelivery', WebhookDeliveryType, 'A page of webhook deliveries, newest first.');

@InputType({ description: 'A new webhook endpoint.' })
export class WebhookEndpointCreateInput {
  /** Where to POST events: https (live: public addresses only); plain http to localhost in the sandbox. */
  @Field(() => String, { description: 'Where to POST events: https (live: public addresses only); plain http to localhost in the sandbox.' })
  url!: string;

  /** The event types to send (at least one). */
  @Field(() => [EventType], { description: 'The event types to send (at least one).' })
  eventTypes!: EventType[];

  @Field(() => String, { nullable: true, description: 'A note for the developer (at most 200 characters).' })
  description?: string | null;
}

@ObjectType({ description: 'The new endpoint and its signing secret, shown this once.' })
export class WebhookEndpointCreatePayload {
  @Field(() => WebhookEndpointType, { nullable: true })
  webhookEndpoint!: WebhookEndpointType | null;

  /** The signing secret (`whsec_…`): shown once, keep it to verify signatures. */
  @Field(() => String, { nullable: true, description: 'The signing secret (`whsec_…`): shown once, keep it to verify signatures.' })
  secret!: string | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

@ObjectType({ description: 'The endpoint with its new signing secret, shown this once.' })
export class WebhookEndpointRotateSecretPayload {
  @Field(() => WebhookEndpointType, { nullable: true })
  webhookEndpoint!: WebhookEndpointType | null;

  /** The new signing secret: shown once. The previous one keeps signing for 24 hours. */
  @Field(() => String, { nullable: true, description: 'The new signing secret: shown once. The previous one keeps signing for 24 hours.' })
  secret!: string | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

@ObjectType({ description: 'Result of webhookEndpointDelete.' })
export class WebhookEndpointDeletePayload {
  @Field(() => ID, { nullable: true })
  deletedWebhookEndpointId!: string | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

@ObjectType({ description: 'Result of webhookDeliveryReplay.' })
export class WebhookDeliveryReplayPayload {
  @Field(() => WebhookDeliveryType, { nullable: true })
  webhookDelivery!: WebhookDeliveryType | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}
