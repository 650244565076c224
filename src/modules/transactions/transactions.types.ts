import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { LocalDateScalar } from '../../api/local-date';
import { atCurrencyScale, MoneyType } from '../../api/money';
import { connectionType } from '../../api/relay/connection';
import { toGlobalId } from '../../api/relay/global-id';
import { Node } from '../../api/relay/node';
import type { TransactionRecord } from './transactions.store';

/** BOOKED or PENDING. */
export enum TransactionStatusEnum {
  BOOKED = 'BOOKED',
  PENDING = 'PENDING',
}
registerEnumType(TransactionStatusEnum, { name: 'TransactionStatus', description: 'BOOKED (final) or PENDING (may still change, book or disappear).' });

/** The other party of a transaction. */
@ObjectType('Counterparty', { simpleResolvers: true, description: 'The other party of a transaction.' })
export class CounterpartyType {
  @Field(() => String, { nullable: true })
  name!: string | null;

  @Field(() => String, { nullable: true })
  iban!: string | null;
}

/** What a booked transaction looked like while it was pending. */
@ObjectType('PendingOrigin', {
  simpleResolvers: true,
  description: 'What a booked transaction looked like while it was pending (the bank may have changed its id or amount when booking).',
})
export class PendingOriginType {
  @Field(() => String, { nullable: true, description: "The pending entry's id at the bank." })
  bankTransactionId!: string | null;

  @Field(() => MoneyType)
  amount!: MoneyType;

  @Field(() => LocalDateScalar, { nullable: true })
  date!: string | null;
}

/**
 * The fields of a transaction, shared by the tenant's own `Transaction` and the `SharedTransaction`
 * a grantee reads (modules/grants), which has none of Transaction's field resolvers.
 */
@ObjectType({ simpleResolvers: true })
export abstract class TransactionFields extends Node {
  internalId!: string;
  accountInternalId!: string;

  @Field(() => TransactionStatusEnum)
  status!: TransactionStatusEnum;

  /** Signed: debits negative. */
  @Field(() => MoneyType, { description: 'Signed: debits negative.' })
  amount!: MoneyType;

  @Field(() => LocalDateScalar, { nullable: true })
  bookingDate!: string | null;

  @Field(() => LocalDateScalar, { nullable: true })
  valueDate!: string | null;

  /** When the end user made it (card payments), if the bank says. */
  @Field(() => LocalDateScalar, { nullable: true, description: 'When the end user made it (card payments), if the bank says.' })
  transactionDate!: string | null;

  @Field(() => CounterpartyType, { nullable: true })
  counterparty!: CounterpartyType | null;

  /** The remittance information exactly as the bank sent it. */
  @Field(() => String, { nullable: true, description: 'The remittance information exactly as the bank sent it.' })
  remittanceInformation!: string | null;

  /** A cleaned, human description (merchant or counterparty, without reference noise). */
  @Field(() => String, { nullable: true, description: 'A cleaned, human description (merchant or counterparty, without reference noise).' })
  description!: string | null;

  @Field(() => String, { nullable: true })
  endToEndId!: string | null;

  /** ISO 20022 bank transaction code (Domain-Family-SubFamily) or the bank's proprietary code. */
  @Field(() => String, { nullable: true, description: "ISO 20022 bank transaction code (Domain-Family-SubFamily) or the bank's proprietary code." })
  bankTransactionCode!: string | null;

  /** The bank's own id of the entry, when it gives one (may be absent or unstable at some banks). */
  @Field(() => String, { nullable: true, description: "The bank's own id of the entry, when it gives one (may be absent or unstable at some banks)." })
  bankTransactionId!: string | null;

  /** Set on a booked transaction that was first seen pending. */
  @Field(() => PendingOriginType, { nullable: true, description: 'Set on a booked transaction that was first seen pending.' })
  pendingOf!: PendingOriginType | null;

  /** Fills `t` from a stored record; the id is the caller's to set. */
  protected static fill<T extends TransactionFields>(t: T, r: TransactionRecord): T {
    t.internalId = r.id;
    t.accountInternalId = r.accountId;
    t.status = r.status as TransactionStatusEnum;
    t.amount = { amount: r.amount, currency: r.currency };
    t.bookingDate = r.bookingDate;
    t.valueDate = r.valueDate;
    t.transactionDate = r.transactionDate;
    t.counterparty = r.counterpartyName !== null || r.counterpartyIban !== null ? { name: r.counterpartyName, iban: r.counterpartyIban } : null;
    t.remittanceInformation = r.remittanceInformation;
    t.description = r.description;
    t.endToEndId = r.endToEndId;
    t.bankTransactionCode = r.bankTransactionCode;
    t.bankTransactionId = r.bankTransactionId;
    t.pendingOf = r.pendingOrigin
      ? {
          bankTransactionId: r.pendingOrigin.bankTransactionId,
          amount: { amount: atCurrencyScale(r.pendingOrigin.amount, r.currency), currency: r.currency },
          date: r.pendingOrigin.date,
        }
      : null;
    return t;
  }
}

/**
 * A transaction. Its id is stable across syncs, re-consents and the pending→booked step; amounts
 * are signed (debits negative) whatever the bank's convention.
 */
@ObjectType('Transaction', {
  implements: Node,
  // Plain properties: no per-field middleware wrapper (a page resolves 100 × 15 of them).
  simpleResolvers: true,
  description:
    "A transaction. Its id is stable across syncs, re-consents and the pending→booked step; amounts are signed (debits negative) whatever the bank's convention.",
})
export class TransactionType extends TransactionFields {
  static from(r: TransactionRecord): TransactionType {
    const t = TransactionFields.fill(new TransactionType(), r);
    t.id = toGlobalId('Transaction', r.id);
    return t;
  }
}

export const TransactionConnection = connectionType(
  'Transaction',
  TransactionType,
  "A page of an account's transactions, newest first (booking date, then id).",
);

/** Changes to an account's transactions after a cursor. */
@ObjectType('TransactionsSyncResult', {
  description:
    "Changes to an account's transactions after a cursor: each transaction at most once, in its latest state. Keep nextCursor and call again while hasMore.",
})
export class TransactionsSyncResult {
  @Field(() => [TransactionType])
  added!: TransactionType[];

  @Field(() => [TransactionType])
  modified!: TransactionType[];

  /** Ids of transactions the bank no longer reports (e.g. a pending entry that was dropped). */
  @Field(() => [ID], { description: 'Ids of transactions the bank no longer reports (e.g. a pending entry that was dropped).' })
  removed!: string[];

  /** Where to continue; valid as long as the account exists. */
  @Field(() => String, { description: 'Where to continue; valid as long as the account exists.' })
  nextCursor!: string;

  @Field(() => Boolean)
  hasMore!: boolean;
}
