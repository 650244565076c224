import { Field, ID, InputType, ObjectType, registerEnumType, type ClassType } from 'type-graphql';
import { connectionType } from '../../api/relay/connection';
import { toGlobalId } from '../../api/relay/global-id';
import { Node } from '../../api/relay/node';
import { UserError } from '../../api/user-errors';
import type { AccountRecord } from '../accounts';
import { AccountFields } from '../accounts/accounts.types';
import type { TransactionRecord } from '../transactions';
import { TransactionFields } from '../transactions/transactions.types';
import { PaymentFields } from '../payments/payments.types';
import {
  AccessGrantScope,
  sharedTransactionId,
  sideOf,
  statusOf,
  type AccessGrantSide,
  type AccessGrantStatus,
  type GrantRecord,
  type Share,
  type SharedPaymentRecord,
} from './grants.service';
import type { Caller } from '../../api/context';

registerEnumType(AccessGrantScope, {
  name: 'AccessGrantScope',
  description: 'What an access grant lets the grantee read. Initiation (payments, syncs) is never grantable.',
  valuesConfig: {
    ACCOUNTS_READ: { description: 'The account itself (IBAN, name, owner name, product, sync status); required in every grant.' },
    BALANCES_READ: { description: 'Balances as of the owner’s last sync, and BALANCE_UPDATED events.' },
    TRANSACTIONS_READ: { description: 'Stored transactions, and TRANSACTIONS_ADDED/MODIFIED/REMOVED events.' },
    PAYMENTS_READ: { description: 'Payments the owner made from the account (SharedAccount.payments), and their PAYMENT_* events. Never initiation.' },
  },
});

export enum AccessGrantStatusEnum {
  PENDING = 'PENDING',
  ACTIVE = 'ACTIVE',
  DECLINED = 'DECLINED',
  REVOKED = 'REVOKED',
  EXPIRED = 'EXPIRED',
}
registerEnumType(AccessGrantStatusEnum, {
  name: 'AccessGrantStatus',
  description: 'Where an access grant stands.',
  valuesConfig: {
    PENDING: { description: 'Invited; the grantee has not answered yet.' },
    ACTIVE: { description: 'Accepted: the grantee reads the granted accounts and receives their events.' },
    DECLINED: { description: 'The grantee declined.' },
    REVOKED: { description: 'Ended by either side (see closedBy).' },
    EXPIRED: { description: 'Its end date passed.' },
  },
});

export enum AccessGrantSideEnum {
  OWNER = 'OWNER',
  GRANTEE = 'GRANTEE',
}
registerEnumType(AccessGrantSideEnum, {
  name: 'AccessGrantSide',
  description: 'A side of an access grant: the tenant whose end user’s data it is, or the tenant that reads it.',
});

/** Permission for another tenant of this gateway to read some accounts of one end user. */
@ObjectType('AccessGrant', {
  implements: Node,
  description: 'Permission for another tenant of this gateway to read some accounts of one end user, with chosen scopes, until an end date.',
})
export class AccessGrantType extends Node {
  internalId!: string;
  endUserInternalId!: string;
  accountInternalIds!: string[];

  @Field(() => AccessGrantStatusEnum)
  status!: AccessGrantStatus;

  /** The calling tenant's side of this grant. */
  @Field(() => AccessGrantSideEnum, { description: "The calling tenant's side of this grant." })
  viewerSide!: AccessGrantSide;

  @Field(() => String, { nullable: true })
  ownerHandle!: string | null;

  @Field(() => String)
  ownerName!: string;

  @Field(() => String, { nullable: true })
  granteeHandle!: string | null;

  @Field(() => String)
  granteeName!: string;

  @Field(() => [AccessGrantScope])
  scopes!: AccessGrantScope[];

  /** After this instant nothing is readable through the grant. */
  @Field(() => Date, { description: 'After this instant nothing is readable through the grant and no event is copied.' })
  endsAt!: Date;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => Date, { nullable: true })
  acceptedAt!: Date | null;

  /** When it was declined or revoked. */
  @Field(() => Date, { nullable: true, description: 'When it was declined or revoked.' })
  closedAt!: Date | null;

  @Field(() => AccessGrantSideEnum, { nullable: true })
  closedBy!: AccessGrantSide | null;

  static from(caller: Caller, g: GrantRecord): AccessGrantType {
    return Object.assign(new AccessGrantType(), {
      id: toGlobalId('AccessGrant', g.id),
      internalId: g.id,
      endUserInternalId: g.endUserId,
      accountInternalIds: g.accountIds,
      status: statusOf(g),
      viewerSide: sideOf(caller, g),
      ownerHandle: g.ownerHandle,
      ownerName: g.ownerName,
      granteeHandle: g.granteeHandle,
      granteeName: g.granteeName,
      scopes: g.scopes,
      endsAt: g.endsAt,
      createdAt: g.createdAt,
      acceptedAt: g.acceptedAt,
      closedAt: g.closedAt,
      closedBy: g.closedBy,
    });
  }
}

export const AccessGrantConnection = connectionType('AccessGrant', AccessGrantType, 'Access grants the tenant gave or received, oldest first.');

/**
 * One of the owner's accounts as a grantee reads it: its id is grant-scoped (it stops resolving
 * when the grant ends, and names nothing in the owner's tenant).
 */
@ObjectType('SharedAccount', {
  implements: Node,
  description: "One of another tenant's accounts, read through an access grant. Its id is grant-scoped: it stops resolving when the grant ends.",
})
export class SharedAccountType extends AccountFields {
  sharedId!: string;
  grantInternalId!: string;

  static from(share: Share, a: AccountRecord): SharedAccountType {
    return Object.assign(AccountFields.fill(new SharedAccountType(), a), {
      id: toGlobalId('SharedAccount', share.sharedId),
      sharedId: share.sharedId,
      grantInternalId: share.grantId,
    });
  }
}

/** A transaction of a shared account, with a grant-scoped id (the same one its events carry). */
@ObjectType('SharedTransaction', {
  implements: Node,
  simpleResolvers: true,
  description: 'A transaction of a shared account. Its id is grant-scoped: the same one TRANSACTIONS_* events of the grant carry.',
})
export class SharedTransactionType extends TransactionFields {
  static fromShared(sharedId: string, r: TransactionRecord): SharedTransactionType {
    const t = TransactionFields.fill(new SharedTransactionType(), r);
    t.id = toGlobalId('SharedTransaction', sharedTransactionId(sharedId, r.id));
    return t;
  }
}

export const SharedTransactionConnection = connectionType(
  'SharedTransaction',
  SharedTransactionType,
  "A page of a shared account's transactions, in the owner's page order.",
);

/**
 * One of the owner's payments made from a shared account (PAYMENTS_READ), with a grant-scoped id:
 * the same one the PAYMENT_* events copied to the grantee carry.
 */
@ObjectType('SharedPayment', {
  implements: Node,
  simpleResolvers: true,
  description:
    "A payment made from a shared account (the owner's end user's, debtor IBAN = the account's), read through an access grant with PAYMENTS_READ. Its id is grant-scoped: the same one the PAYMENT_* events of the grant carry; it stops resolving when the grant ends.",
})
export class SharedPaymentType extends PaymentFields {
  sharedAccountId!: string;

  static fromShared(r: SharedPaymentRecord): SharedPaymentType {
    return Object.assign(PaymentFields.fill(new SharedPaymentType(), r), { id: toGlobalId('SharedPayment', r.id), sharedAccountId: r.sharedAccountId });
  }
}

export const SharedPaymentConnection = connectionType('SharedPayment', SharedPaymentType, 'Payments made from a shared account, oldest first.');

/** What `accessGrantInvite` takes. */
@InputType('AccessGrantInviteInput', { description: 'What accessGrantInvite takes.' })
export class AccessGrantInviteInput {
  /** The end user whose accounts are shared. */
  @Field(() => ID, { description: 'The end user whose accounts are shared.' })
  endUserId!: string;

  /** The public handle of the tenant invited to read them. */
  @Field(() => String, { description: 'The public handle of the tenant invited to read them.' })
  granteeHandle!: string;

  /** AccessGrantScope names; ACCOUNTS_READ is required. Strings, so an unknown one is a userError (UNKNOWN_SCOPE) journalled like any refusal. */
  @Field(() => [String], {
    description:
      'AccessGrantScope names (ACCOUNTS_READ, BALANCES_READ, TRANSACTIONS_READ, PAYMENTS_READ); ACCOUNTS_READ is required. Strings, so an unknown one is a userError (UNKNOWN_SCOPE) journalled like any refusal.',
  })
  scopes!: string[];

  /** Accounts of that end user (1–50). */
  @Field(() => [ID], { description: 'Accounts of that end user (1–50).' })
  accountIds!: string[];

  /** When access ends (in the future, at most 730 days ahead). */
  @Field(() => Date, { description: 'When access ends (in the future, at most 730 days ahead).' })
  endsAt!: Date;
}

/** The payload class of one access-grant mutation: the grant as it stands after it, or userErrors. */
function grantPayload(name: string): ClassType<{ accessGrant: AccessGrantType | null; userErrors: UserError[] }> {
  @ObjectType(name, { description: 'The access grant after the mutation, or the userErrors that explain why nothing changed.' })
  class Payload {
    @Field(() => AccessGrantType, { nullable: true })
    accessGrant!: AccessGrantType | null;

    @Field(() => [UserError])
    userErrors!: UserError[];
  }
  return Payload;
}

export const AccessGrantInvitePayload = grantPayload('AccessGrantInvitePayload');
export const AccessGrantAcceptPayload = grantPayload('AccessGrantAcceptPayload');
export const AccessGrantDeclinePayload = grantPayload('AccessGrantDeclinePayload');
export const AccessGrantRevokePayload = grantPayload('AccessGrantRevokePayload');
