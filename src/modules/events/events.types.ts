import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { PageInfo } from '../../api/relay/connection';
import { EventType } from './events';
import { publicResourceId, type EventEntry } from './events.service';

registerEnumType(EventType, {
  name: 'EventType',
  description: 'What the event log records.',
  valuesConfig: {
    CONSENT_ACTIVATED: { description: 'A consent became ACTIVE (first authorisation or renewal).' },
    CONSENT_REJECTED: { description: 'The end user refused, or the bank’s authentication failed.' },
    CONSENT_EXPIRING: { description: 'A consent ends within the warning lead time (CONSENT_EXPIRY_WARNING_DAYS): ask the end user to renew.' },
    CONSENT_EXPIRED: { description: 'A consent’s validity ended, or its authorisation was abandoned.' },
    CONSENT_REVOKED: { description: 'A consent was revoked; its bank tokens are destroyed.' },
    CONSENT_REAUTH_REQUIRED: { description: 'The bank no longer accepts a consent before its end date: renew it.' },
    ACCOUNT_DISCOVERED: { description: 'A consent granted an account the gateway did not know yet.' },
    TRANSACTIONS_ADDED: { description: 'New transactions (up to 100 ids per event).' },
    TRANSACTIONS_MODIFIED: { description: 'Transactions that changed, e.g. a pending one that booked (up to 100 ids per event).' },
    TRANSACTIONS_REMOVED: { description: 'Transactions the bank no longer reports (up to 100 ids per event).' },
    BALANCE_UPDATED: { description: 'An account’s balances as of a sync.' },
    SYNC_FAILED: { description: 'A sync failed; it will be retried.' },
    PAYMENT_STATUS_CHANGED: { description: 'A payment’s status changed (normalised status, the bank’s raw code, and whether it is final).' },
    EXPECTED_PAYMENT_PAID: { description: 'An expected payment became PAID or OVERPAID through confirmed matches.' },
    EXPECTED_PAYMENT_PARTIALLY_PAID: { description: 'An expected payment received part of its amount (an instalment, or a short payment outside tolerance).' },
    EXPECTED_PAYMENT_OVERDUE: { description: 'An expected payment passed its due date (plus its tolerance days) without being paid (the daily tick).' },
    RECONCILIATION_SUGGESTED: {
      description: 'The matcher proposed a match it was not sure enough to confirm: review it (reconciliationConfirm or reconciliationReject).',
    },
    PAYMENT_APPROVAL_REQUESTED: {
      description: 'A payment waits AWAITING_APPROVAL under its end user’s approval policy (again after paymentAmend): approvers are asked to sign it.',
    },
    PAYMENT_APPROVED: {
      description: 'An approver signed a payment’s approval document; `complete` tells whether the policy is now met (the payment then goes to the bank).',
    },
    PAYMENT_APPROVAL_REJECTED: { description: 'An approver rejected a payment: it is REJECTED_BY_APPROVER and never reaches the bank.' },
    ACCESS_GRANT_INVITED: { description: 'Another tenant invited this one to read some accounts of its end user (grantee side): accept or decline it.' },
    ACCESS_GRANT_ACCEPTED: { description: 'The invited tenant accepted an access grant (owner side): it reads the granted accounts from now on.' },
    ACCESS_GRANT_DECLINED: { description: 'The invited tenant declined an access grant (owner side).' },
    ACCESS_GRANT_REVOKED: { description: 'An access grant was revoked by either side (both sides get it): the grantee’s reads and events of it stop at once.' },
  },
});

/** One entry of the event log. */
@ObjectType('Event', { description: 'One entry of the event log: written in the same transaction as the change it describes.' })
export class EventObject {
  /** Unique id of the event (use it to drop duplicates: delivery is at least once). */
  @Field(() => ID, { description: 'Unique id of the event (use it to drop duplicates: delivery is at least once).' })
  id!: string;

  @Field(() => EventType)
  type!: EventType;

  /** Global id of the consent, account or payment the event is about. */
  @Field(() => ID, { description: 'Global id of the consent, account or payment the event is about.' })
  resourceId!: string;

  /** 1, 2, 3… per resource, in commit order. */
  @Field(() => String, { description: '1, 2, 3… per resource, in commit order.' })
  resourceSequence!: string;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => GraphQLJSONObject)
  payload!: Record<string, unknown>;

  /** Pass it as `after` to continue after this event. */
  @Field(() => String, { description: 'Pass it as `after` to continue after this event.' })
  cursor!: string;

  static from(e: EventEntry): EventObject {
    return Object.assign(new EventObject(), { ...e, resourceId: publicResourceId(e) });
  }
}

/** A page of the event log. */
@ObjectType('EventConnection', { description: 'A page of the event log, oldest first.' })
export class EventConnection {
  @Field(() => [EventObject])
  nodes!: EventObject[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}
