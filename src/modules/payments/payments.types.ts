import { Field, ID, InputType, ObjectType, registerEnumType } from 'type-graphql';
import { DecimalScalar, MoneyType } from '../../api/money';
import { LocalDateScalar } from '../../api/local-date';
import { connectionType } from '../../api/relay/connection';
import { toGlobalId } from '../../api/relay/global-id';
import { Node } from '../../api/relay/node';
import { UserError } from '../../api/user-errors';
import { PaymentSchemeKind } from '../institutions/institutions.types';
import type { Payment } from './payment.entity';

/** Normalised payment status, the same whatever the bank's standard. */
export enum PaymentStatusKind {
  AWAITING_APPROVAL = 'AWAITING_APPROVAL',
  REJECTED_BY_APPROVER = 'REJECTED_BY_APPROVER',
  AUTHORIZATION_REQUIRED = 'AUTHORIZATION_REQUIRED',
  PENDING = 'PENDING',
  ACCEPTED = 'ACCEPTED',
  EXECUTED = 'EXECUTED',
  REJECTED = 'REJECTED',
  CANCELLED = 'CANCELLED',
  FAILED = 'FAILED',
}

registerEnumType(PaymentStatusKind, {
  name: 'PaymentStatus',
  description: 'Where a payment stands, whatever the bank’s standard; `rawStatus` keeps the bank’s own code.',
  valuesConfig: {
    AWAITING_APPROVAL: {
      description: 'Held by the end user’s approval policy: nothing has gone to the bank; `approval` says who still has to sign (docs/approvals.md).',
    },
    REJECTED_BY_APPROVER: { description: 'An approver rejected it before it went to the bank. Final.' },
    AUTHORIZATION_REQUIRED: { description: 'Waiting for the end user to approve it at their bank (authorizationUrl).' },
    PENDING: { description: 'Received by the bank, not yet accepted (RCVD, PDNG, PATC).' },
    ACCEPTED: { description: 'Accepted by the bank, on its way (ACTC, ACCP, ACSP…); future-dated payments wait here.' },
    EXECUTED: { description: 'Settled (ACSC, ACCC; UK AcceptedSettlementCompleted). Final.' },
    REJECTED: { description: 'The end user or the bank refused it (RJCT; reasonCode says why, e.g. AM04 insufficient funds, DS02). Final.' },
    CANCELLED: { description: 'Cancelled before execution (paymentCancel). Final.' },
    FAILED: {
      description:
        'It could not be made: the bank refused the request, the end user never finished the authentication (30 minutes), or it was never approved under its approval policy (APPROVAL_PENDING_TTL_HOURS). Final.',
    },
  },
});

@ObjectType('PaymentCreditor', { simpleResolvers: true, description: 'Who is paid.' })
export class PaymentCreditorType {
  @Field(() => String)
  name!: string;

  @Field(() => String, { description: 'IBAN in electronic form (no spaces, capitals).' })
  iban!: string;

  @Field(() => String, { nullable: true })
  bic!: string | null;
}

@ObjectType('PaymentAccount', { simpleResolvers: true, description: 'An account a payment is made from.' })
export class PaymentAccountType {
  @Field(() => String)
  iban!: string;
}

/** The columns a payment view is filled from: the Payment entity, or a grantee's shared payment row. */
export type PaymentFieldsSource = { status: string; scheme: string } & Pick<
  Payment,
  | 'rawStatus'
  | 'reasonCode'
  | 'statusReason'
  | 'terminal'
  | 'amount'
  | 'currency'
  | 'creditorName'
  | 'creditorIban'
  | 'creditorBic'
  | 'debtorIban'
  | 'remittanceInformation'
  | 'endToEndId'
  | 'requestedExecutionDate'
  | 'createdAt'
  | 'updatedAt'
>;

/**
 * The fields of a payment shared by the tenant's own `Payment` and the `SharedPayment` a grantee
 * reads (modules/grants), which has none of Payment's field resolvers and no redirect URI.
 */
@ObjectType()
export abstract class PaymentFields extends Node {
  @Field(() => PaymentStatusKind)
  status!: PaymentStatusKind;

  @Field(() => String, {
    nullable: true,
    description: 'The bank’s own status: ISO 20022 (RCVD, ACTC, ACSC, RJCT, CANC…) or, at UK banks, the OBIE status. Null before the bank answered.',
  })
  rawStatus!: string | null;

  @Field(() => String, { nullable: true, description: 'ISO 20022 status reason when the bank gave one (AM04, AC04, DS02, AB05…).' })
  reasonCode!: string | null;

  @Field(() => String, { nullable: true, description: 'Why the payment is in its status, when that needs explaining.' })
  statusReason!: string | null;

  @Field(() => Boolean, { description: 'True once the status is final (EXECUTED, REJECTED, CANCELLED, FAILED): it never changes again.' })
  terminal!: boolean;

  @Field(() => MoneyType)
  amount!: MoneyType;

  @Field(() => PaymentCreditorType)
  creditor!: PaymentCreditorType;

  @Field(() => PaymentAccountType, { nullable: true, description: 'The account paid from; null when the end user chooses it at the bank.' })
  debtorAccount!: PaymentAccountType | null;

  @Field(() => PaymentSchemeKind)
  scheme!: PaymentSchemeKind;

  @Field(() => String, { nullable: true })
  remittanceInformation!: string | null;

  @Field(() => String, { nullable: true })
  endToEndId!: string | null;

  @Field(() => LocalDateScalar, { nullable: true, description: 'The date asked for; null = immediate.' })
  requestedExecutionDate!: string | null;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => Date)
  updatedAt!: Date;

  /** Copies the shared fields of `p` onto `target`. */
  static fill<T extends PaymentFields>(target: T, p: PaymentFieldsSource): T {
    return Object.assign(target, {
      status: p.status as PaymentStatusKind,
      rawStatus: p.rawStatus,
      reasonCode: p.reasonCode,
      statusReason: p.statusReason,
      terminal: p.terminal,
      amount: Object.assign(new MoneyType(), { amount: p.amount, currency: p.currency }),
      creditor: Object.assign(new PaymentCreditorType(), { name: p.creditorName, iban: p.creditorIban, bic: p.creditorBic }),
      debtorAccount: p.debtorIban ? Object.assign(new PaymentAccountType(), { iban: p.debtorIban }) : null,
      scheme: p.scheme as PaymentSchemeKind,
      remittanceInformation: p.remittanceInformation,
      endToEndId: p.endToEndId,
      requestedExecutionDate: p.requestedExecutionDate,
      createdAt: p.createdAt,
      updatedAt: p.updatedAt,
    });
  }
}

/** A payment initiated through the gateway. */
@ObjectType('Payment', { implements: Node, description: 'A payment initiated through the gateway, and where it stands at the bank.' })
export class PaymentType extends PaymentFields {
  @Field(() => String, { description: 'Where the end user is sent back, with `paymentId` and `outcome` (success, rejected, failed).' })
  redirectUri!: string;

  internalId!: string;
  endUserId!: string;
  institutionSlug!: string;

  static from(p: Payment): PaymentType {
    return Object.assign(PaymentFields.fill(new PaymentType(), p), {
      id: toGlobalId('Payment', p.id),
      internalId: p.id,
      endUserId: p.endUser.id,
      institutionSlug: p.institutionId,
      redirectUri: p.redirectUri,
    });
  }
}

export const PaymentConnection = connectionType('Payment', PaymentType);

@InputType('PaymentAccountInput', { description: 'An account given by IBAN.' })
export class PaymentAccountInput {
  @Field(() => String, { description: 'IBAN; spaces and lower case are accepted.' })
  iban!: string;
}

@InputType('PaymentCreditorInput', { description: 'Who is paid.' })
export class PaymentCreditorInput {
  @Field(() => String, { description: '1–70 characters.' })
  name!: string;

  @Field(() => String, { description: 'IBAN; checked (mod-97, country format) before anything is sent.' })
  iban!: string;

  @Field(() => String, { nullable: true })
  bic?: string | null;
}

@InputType('MoneyInput', { description: 'An amount: a positive decimal string and its ISO 4217 currency.' })
export class MoneyInput {
  @Field(() => DecimalScalar)
  amount!: string;

  @Field(() => String)
  currency!: string;
}

@InputType('PaymentInitiateInput', { description: 'A payment to initiate. Everything is checked before the bank is called.' })
export class PaymentInitiateInput {
  @Field(() => ID)
  institutionId!: string;

  @Field(() => ID)
  endUserId!: string;

  @Field(() => PaymentSchemeKind)
  scheme!: PaymentSchemeKind;

  @Field(() => PaymentAccountInput, { nullable: true, description: 'The account to pay from; leave it out to let the end user choose at the bank.' })
  debtorAccount?: PaymentAccountInput | null;

  @Field(() => PaymentCreditorInput)
  creditor!: PaymentCreditorInput;

  @Field(() => MoneyInput, { description: 'More than zero, at most the currency’s decimals; EUR for SEPA schemes, GBP for Faster Payments.' })
  amount!: MoneyInput;

  @Field(() => String, { nullable: true, description: 'SEPA: up to 140 characters; Faster Payments: the payment reference, up to 18.' })
  remittanceInformation?: string | null;

  @Field(() => String, { nullable: true, description: 'Your end-to-end reference, up to 35 characters.' })
  endToEndId?: string | null;

  @Field(() => LocalDateScalar, { nullable: true, description: 'SEPA_CREDIT_TRANSFER only: today or later (up to a year ahead); leave out for immediate.' })
  requestedExecutionDate?: string | null;

  @Field(() => String, { description: "Where the end user returns after the bank; must be in the tenant's allow-list (redirectUriAdd)." })
  redirectUri!: string;

  @Field(() => String, {
    nullable: true,
    description:
      "The end user's login at the bank (PSU-ID), up to 100 characters. At a bank that offers decoupled SCA the end user then approves in the bank's app: authorizationUrl is null and the payment moves on by itself. Used for the first call only, never stored.",
  })
  psuId?: string | null;

  @Field(() => ID, {
    nullable: true,
    description:
      'The member (REQUESTER or APPROVER of this end user) asking for the payment; under a policy that forbids self-approval they cannot approve it.',
  })
  requestedBy?: string | null;
}

@ObjectType()
export class PaymentInitiatePayload {
  @Field(() => PaymentType, { nullable: true })
  payment!: PaymentType | null;

  @Field(() => String, { nullable: true, description: 'Send the end user here to approve the payment at their bank; null once it can no longer be used.' })
  authorizationUrl!: string | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

@ObjectType()
export class PaymentCancelPayload {
  @Field(() => PaymentType, { nullable: true })
  payment!: PaymentType | null;

  @Field(() => String, {
    nullable: true,
    description:
      'Set when the bank cancels only after the end user authorises it (Berlin Group): send them here. The payment stays as it is until they approve; then it is CANCELLED (PAYMENT_STATUS_CHANGED). Null when no authorisation is needed.',
  })
  authorizationUrl!: string | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}
