import { Field, Float, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { DecimalScalar, MoneyType } from '../../api/money';
import { LocalDateScalar } from '../../api/local-date';
import { connectionType } from '../../api/relay/connection';
import { toGlobalId } from '../../api/relay/global-id';
import { Node } from '../../api/relay/node';
import { UserError } from '../../api/user-errors';
import { MoneyInput } from '../payments/payments.types';
import type { ExpectedPaymentRecord, MatchRecord } from './reconciliation.store';

/** Where an expected payment stands. */
export enum ExpectedPaymentStatusKind {
  OPEN = 'OPEN',
  PARTIALLY_PAID = 'PARTIALLY_PAID',
  PAID = 'PAID',
  OVERPAID = 'OVERPAID',
  CLOSED = 'CLOSED',
  CANCELLED = 'CANCELLED',
}
registerEnumType(ExpectedPaymentStatusKind, {
  name: 'ExpectedPaymentStatus',
  description: 'Where an expected payment stands: OPEN → PARTIALLY_PAID → PAID (or OVERPAID) → CLOSED, or CANCELLED.',
  valuesConfig: {
    OPEN: { description: 'Nothing confirmed against it yet.' },
    PARTIALLY_PAID: { description: 'Confirmed matches cover part of it (beyond the amount tolerance).' },
    PAID: { description: 'Confirmed matches cover it, within the amount tolerance (bank fees deducted, for instance).' },
    OVERPAID: { description: 'Confirmed matches exceed it by more than the tolerance.' },
    CLOSED: { description: 'Settled as it stands (expectedPaymentClose); no longer matched.' },
    CANCELLED: { description: 'No longer expected (expectedPaymentCancel); no longer matched.' },
  },
});

export enum ExpectedPaymentDirectionKind {
  INCOMING = 'INCOMING',
  OUTGOING = 'OUTGOING',
}
registerEnumType(ExpectedPaymentDirectionKind, {
  name: 'ExpectedPaymentDirection',
  description: 'INCOMING: money from a customer (a sales invoice); OUTGOING: money to a supplier (a bill).',
});

export enum MatchStatusKind {
  SUGGESTED = 'SUGGESTED',
  CONFIRMED = 'CONFIRMED',
  REJECTED = 'REJECTED',
  UNDONE = 'UNDONE',
  REVERSED = 'REVERSED',
}
registerEnumType(MatchStatusKind, {
  name: 'ReconciliationMatchStatus',
  description: 'Where a match stands. Only CONFIRMED matches count toward what an expected payment has received.',
  valuesConfig: {
    SUGGESTED: { description: 'Proposed by the matcher below the auto-confirm confidence: confirm or reject it.' },
    CONFIRMED: { description: 'Confirmed automatically (high confidence), by hand, or made by hand.' },
    REJECTED: { description: 'Rejected by a reviewer; the matcher will not propose this transaction again.' },
    UNDONE: { description: 'Undone by a reviewer (or by a sync when the transaction’s amount changed): the transaction is free again.' },
    REVERSED: { description: 'The bank no longer reports the transaction: what it paid is open again.' },
  },
});

export enum MatchRuleKind {
  END_TO_END_ID = 'END_TO_END_ID',
  STRUCTURED_REFERENCE = 'STRUCTURED_REFERENCE',
  REFERENCE_TEXT = 'REFERENCE_TEXT',
  REFERENCE_FUZZY = 'REFERENCE_FUZZY',
  AMOUNT_IBAN = 'AMOUNT_IBAN',
  AMOUNT_NAME = 'AMOUNT_NAME',
  REVERSAL = 'REVERSAL',
  MANUAL = 'MANUAL',
}
registerEnumType(MatchRuleKind, {
  name: 'ReconciliationRule',
  description: 'The rule that made a match, strongest first.',
  valuesConfig: {
    END_TO_END_ID: { description: 'A debit carrying the end-to-end id of a payment initiated through the gateway.' },
    STRUCTURED_REFERENCE: { description: 'The ISO 11649 (RF) creditor reference, check digits valid.' },
    REFERENCE_TEXT: { description: 'The invoice reference found whole in the remittance information (case, spaces and separators ignored).' },
    REFERENCE_FUZZY: { description: 'A reference cut short by the bank or with one character mistyped.' },
    AMOUNT_IBAN: { description: 'The amount (within tolerance) from the expected counterparty IBAN.' },
    AMOUNT_NAME: { description: 'The amount and a similar counterparty name within the date window.' },
    REVERSAL: { description: 'Money returned under a paid item’s structured reference: it is open again.' },
    MANUAL: { description: 'Made by hand (reconciliationMatch).' },
  },
});

@ObjectType('ExpectedPaymentCounterparty', { simpleResolvers: true, description: 'Who is expected to pay or be paid, when known.' })
export class CounterpartyType {
  @Field(() => String, { nullable: true })
  name!: string | null;

  @Field(() => String, { nullable: true, description: 'IBAN in electronic form.' })
  iban!: string | null;
}

@ObjectType('ExpectedPaymentTolerance', { simpleResolvers: true, description: 'How far a payment may differ and still settle the item.' })
export class ToleranceType {
  @Field(() => MoneyType, { description: 'A payment this much short (bank fees) or over still counts as PAID.' })
  amount!: MoneyType;

  @Field(() => Int, { description: 'Days after the due date before it is announced overdue.' })
  days!: number;
}

const money = (amount: string, currency: string) => Object.assign(new MoneyType(), { amount, currency });

/** An invoice to collect or a bill to pay, matched against bank transactions. */
@ObjectType('ExpectedPayment', {
  implements: Node,
  description: 'An invoice to collect (INCOMING) or a bill to pay (OUTGOING), matched automatically against bank transactions.',
})
export class ExpectedPaymentType extends Node {
  @Field(() => ExpectedPaymentStatusKind)
  status!: ExpectedPaymentStatusKind;

  @Field(() => ExpectedPaymentDirectionKind)
  direction!: ExpectedPaymentDirectionKind;

  @Field(() => MoneyType)
  amount!: MoneyType;

  @Field(() => MoneyType, { description: 'What confirmed matches allocated to it (negative reversals included).' })
  paidAmount!: MoneyType;

  @Field(() => LocalDateScalar)
  dueDate!: string;

  @Field(() => CounterpartyType)
  counterparty!: CounterpartyType;

  @Field(() => String, { nullable: true, description: 'The invoice’s own reference, as given.' })
  invoiceReference!: string | null;

  @Field(() => String, {
    nullable: true,
    description: 'ISO 11649 structured creditor reference (RF…) to print on the invoice; INCOMING only. The surest way to be matched.',
  })
  creditorReference!: string | null;

  @Field(() => String, { nullable: true, description: 'The reference for a UK payer (Faster Payments carries 18 characters); set for GBP or a GB account.' })
  ukReference!: string | null;

  @Field(() => String, { nullable: true, description: 'Your own id for it, unique per tenant: creating it again with the same body answers this one.' })
  externalId!: string | null;

  @Field(() => ToleranceType)
  tolerance!: ToleranceType;

  @Field(() => ID, { nullable: true, description: 'The only account it is matched on, when restricted.' })
  accountId!: string | null;

  @Field(() => ID)
  endUserId!: string;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => Date)
  updatedAt!: Date;

  internalId!: string;

  static from(r: ExpectedPaymentRecord): ExpectedPaymentType {
    return Object.assign(new ExpectedPaymentType(), {
      id: toGlobalId('ExpectedPayment', r.id),
      internalId: r.id,
      status: r.status as ExpectedPaymentStatusKind,
      direction: r.direction as ExpectedPaymentDirectionKind,
      amount: money(r.amount, r.currency),
      paidAmount: money(r.paidAmount, r.currency),
      dueDate: r.dueDate,
      counterparty: Object.assign(new CounterpartyType(), { name: r.counterpartyName, iban: r.counterpartyIban }),
      invoiceReference: r.invoiceReference,
      creditorReference: r.creditorReference,
      ukReference: r.ukReference,
      externalId: r.externalId,
      tolerance: Object.assign(new ToleranceType(), { amount: money(r.toleranceAmount, r.currency), days: r.toleranceDays }),
      accountId: r.accountId && toGlobalId('Account', r.accountId),
      endUserId: toGlobalId('EndUser', r.endUserId),
      createdAt: r.createdAt,
      updatedAt: r.updatedAt,
    });
  }
}

export const ExpectedPaymentConnection = connectionType('ExpectedPayment', ExpectedPaymentType);

@ObjectType('ReconciliationAllocation', { simpleResolvers: true, description: 'The part of a transaction a match gives to one expected payment.' })
export class AllocationType {
  @Field(() => ID)
  expectedPaymentId!: string;

  @Field(() => MoneyType, { description: 'Positive; negative for a reversal.' })
  amount!: MoneyType;
}

/** A transaction tied to expected payments (or to a gateway payment), with why. */
@ObjectType('ReconciliationMatch', {
  implements: Node,
  description:
    'A bank transaction tied to the expected payments it settles (or to the gateway payment it executed), with the rule, confidence and agreeing fields.',
})
export class MatchType extends Node {
  @Field(() => MatchStatusKind)
  status!: MatchStatusKind;

  @Field(() => MatchRuleKind)
  rule!: MatchRuleKind;

  @Field(() => Float, { description: '0–1. At or above 0.95 the matcher confirms on its own.' })
  confidence!: number;

  @Field(() => [String], { description: 'The fields that agreed, e.g. creditorReference, amount, counterpartyIban.' })
  agreeingFields!: string[];

  @Field(() => ID)
  transactionId!: string;

  @Field(() => ID, { nullable: true, description: 'The gateway payment this debit executed (rule END_TO_END_ID).' })
  paymentId!: string | null;

  @Field(() => [AllocationType])
  allocations!: AllocationType[];

  @Field(() => String, {
    nullable: true,
    description: 'Who decided: `matcher` for automatic confirmations, `apiKey:<id>` for a reviewer, `sync` when the bank changed the transaction.',
  })
  decidedBy!: string | null;

  @Field(() => Date, { nullable: true })
  decidedAt!: Date | null;

  @Field(() => Date)
  createdAt!: Date;

  internalId!: string;
  internalTransactionId!: string;
  internalEndUserId!: string;

  static from(r: MatchRecord): MatchType {
    return Object.assign(new MatchType(), {
      id: toGlobalId('ReconciliationMatch', r.id),
      internalId: r.id,
      internalTransactionId: r.transactionId,
      internalEndUserId: r.endUserId,
      status: r.status as MatchStatusKind,
      rule: r.rule as MatchRuleKind,
      confidence: Number(r.confidence),
      agreeingFields: r.agreeingFields,
      transactionId: toGlobalId('Transaction', r.transactionId),
      paymentId: r.paymentId && toGlobalId('Payment', r.paymentId),
      allocations: r.allocations.map((a) =>
        Object.assign(new AllocationType(), { expectedPaymentId: toGlobalId('ExpectedPayment', a.expectedPaymentId), amount: money(a.amount, a.currency) }),
      ),
      decidedBy: r.decidedBy,
      decidedAt: r.decidedAt,
      createdAt: r.createdAt,
    });
  }
}

export const MatchConnection = connectionType('ReconciliationMatch', MatchType);

@InputType('ExpectedPaymentCreateInput', { description: 'An invoice to collect or a bill to pay. Everything is checked before anything is written.' })
export class ExpectedPaymentCreateInput {
  @Field(() => ID)
  endUserId!: string;

  @Field(() => ExpectedPaymentDirectionKind)
  direction!: ExpectedPaymentDirectionKind;

  @Field(() => MoneyInput, { description: 'More than zero, at most the currency’s decimals.' })
  amount!: MoneyInput;

  @Field(() => String, { description: 'YYYY-MM-DD.' })
  dueDate!: string;

  @Field(() => String, { nullable: true, description: 'Up to 140 characters.' })
  counterpartyName?: string | null;

  @Field(() => String, { nullable: true, description: 'Checked (mod-97, country format).' })
  counterpartyIban?: string | null;

  @Field(() => String, { nullable: true, description: 'The invoice’s own number or reference, up to 140 characters; searched for in remittance information.' })
  invoiceReference?: string | null;

  @Field(() => String, { nullable: true, description: 'Your id for it, up to 200 characters, unique per tenant (idempotent).' })
  externalId?: string | null;

  @Field(() => ID, { nullable: true, description: 'Match it on this account only.' })
  accountId?: string | null;

  @Field(() => DecimalScalar, { nullable: true, description: 'Amount tolerance (default 0): short or over by this much still counts as PAID.' })
  toleranceAmount?: string | null;

  @Field(() => Int, { nullable: true, description: 'Days after the due date before it is overdue (0–90, default 0).' })
  toleranceDays?: number | null;
}

@InputType('ExpectedPaymentBulkCreateInput', { description: '1–1,000 expected payments, created all or none.' })
export class ExpectedPaymentBulkCreateInput {
  @Field(() => [ExpectedPaymentCreateInput])
  items!: ExpectedPaymentCreateInput[];
}

@ObjectType()
export class ExpectedPaymentPayload {
  @Field(() => ExpectedPaymentType, { nullable: true })
  expectedPayment!: ExpectedPaymentType | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

@ObjectType()
export class ExpectedPaymentBulkCreatePayload {
  @Field(() => [ExpectedPaymentType])
  expectedPayments!: ExpectedPaymentType[];

  @Field(() => [UserError])
  userErrors!: UserError[];
}

@InputType('ReconciliationAllocationInput', { description: 'Part of a transaction given to one expected payment.' })
export class AllocationInput {
  @Field(() => ID)
  expectedPaymentId!: string;

  @Field(() => DecimalScalar, { description: 'Positive, at most the currency’s decimals.' })
  amount!: string;
}

@InputType('ReconciliationMatchInput', { description: 'A match made by hand: all or part of a transaction to one or several expected payments.' })
export class ManualMatchInput {
  @Field(() => ID)
  transactionId!: string;

  @Field(() => [AllocationInput])
  allocations!: AllocationInput[];
}

@InputType('ReconciliationRunInput', { description: 'Which backlog to match: one account, one end user, or (neither) the whole tenant.' })
export class RunInput {
  @Field(() => ID, { nullable: true })
  accountId?: string | null;

  @Field(() => ID, { nullable: true })
  endUserId?: string | null;
}

@ObjectType()
export class ReconciliationMatchPayload {
  @Field(() => MatchType, { nullable: true })
  match!: MatchType | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

@ObjectType()
export class ReconciliationRunPayload {
  @Field(() => Int, { description: 'Transactions looked at.' })
  examined!: number;

  @Field(() => Int)
  confirmed!: number;

  @Field(() => Int)
  suggested!: number;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

@ObjectType('ReconciliationChange', {
  description: 'A change in an end user’s reconciliation: an expected payment paid, partly paid or overdue, or a new suggestion.',
})
export class ReconciliationChangeType {
  @Field(() => String, {
    description: 'The event type (EXPECTED_PAYMENT_PAID, EXPECTED_PAYMENT_PARTIALLY_PAID, EXPECTED_PAYMENT_OVERDUE, RECONCILIATION_SUGGESTED).',
  })
  type!: string;

  @Field(() => String, { description: 'Event cursor.' })
  cursor!: string;

  @Field(() => ExpectedPaymentType, { nullable: true })
  expectedPayment!: ExpectedPaymentType | null;

  @Field(() => MatchType, { nullable: true })
  match!: MatchType | null;
}
