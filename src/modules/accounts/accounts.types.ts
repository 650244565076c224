import { ArgsType, Field, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { LocalDateScalar } from '../../api/local-date';
import { DecimalScalar, MoneyType } from '../../api/money';
import { Node } from '../../api/relay/node';
import { toGlobalId } from '../../api/relay/global-id';
import { connectionType } from '../../api/relay/connection';
import type { Account } from './account.entity';
import { MAX_TRANSACTION_PAGE, type AccountRecord, type BalanceRecord } from './accounts.service';
import type { TransactionRecord } from '../transactions';
import { TransactionStatusEnum } from '../transactions/transactions.types';

/** Kind of account, whatever the bank calls it. */
export enum AccountKindEnum {
  CHECKING = 'CHECKING',
  SAVINGS = 'SAVINGS',
  CARD = 'CARD',
  LOAN = 'LOAN',
  OTHER = 'OTHER',
}
registerEnumType(AccountKindEnum, { name: 'AccountKind', description: 'Kind of account, whatever the bank calls it.' });

/** Where an account's data synchronisation stands. */
export enum SyncStatusEnum {
  NEVER_SYNCED = 'NEVER_SYNCED',
  QUEUED = 'QUEUED',
  RUNNING = 'RUNNING',
  SUCCEEDED = 'SUCCEEDED',
  FAILED = 'FAILED',
  WAITING_FOR_QUOTA = 'WAITING_FOR_QUOTA',
  CONSENT_INVALID = 'CONSENT_INVALID',
}
registerEnumType(SyncStatusEnum, {
  name: 'SyncStatus',
  description: "Where an account's data synchronisation stands.",
  valuesConfig: {
    NEVER_SYNCED: { description: 'No sync has finished yet.' },
    QUEUED: { description: 'A sync is waiting for a worker.' },
    RUNNING: { description: 'A worker is reading the bank now.' },
    SUCCEEDED: { description: 'The last sync stored everything the bank reported.' },
    FAILED: { description: 'The last sync failed (see syncError); it is retried with backoff.' },
    WAITING_FOR_QUOTA: { description: 'The daily unattended-access limit is used up; the next sync waits for its reset.' },
    CONSENT_INVALID: { description: 'The consent no longer works at the bank; renew it (consentRenew).' },
  },
});

/** Balance kinds across standards; `bankType` keeps the bank's own name. */
export enum BalanceKindEnum {
  BOOKED = 'BOOKED',
  AVAILABLE = 'AVAILABLE',
  EXPECTED = 'EXPECTED',
  CREDIT_LIMIT = 'CREDIT_LIMIT',
  OTHER = 'OTHER',
}
registerEnumType(BalanceKindEnum, { name: 'BalanceKind', description: "Balance kinds across standards; `bankType` keeps the bank's own name." });

/** How a sync reads the bank. */
export enum SyncModeEnum {
  USER_PRESENT = 'USER_PRESENT',
  BACKGROUND = 'BACKGROUND',
}
registerEnumType(SyncModeEnum, {
  name: 'SyncMode',
  description: 'How a sync reads the bank.',
  valuesConfig: {
    USER_PRESENT: {
      description: 'The end user is at the screen: their IP goes to the bank as PSU-IP-Address and the read does not count against frequencyPerDay.',
    },
    BACKGROUND: { description: 'Unattended: counts against the consent’s frequencyPerDay (at most 4 a day).' },
  },
});

/** One balance of an account, as of the last sync. */
@ObjectType('Balance', { description: 'One balance of an account, as of the last sync.' })
export class BalanceType {
  @Field(() => BalanceKindEnum)
  kind!: BalanceKindEnum;

  /** The bank's own balance type, e.g. closingBooked, interimAvailable, CLBD, InterimAvailable. */
  @Field(() => String, { description: "The bank's own balance type, e.g. closingBooked, interimAvailable, CLBD, InterimAvailable." })
  bankType!: string;

  @Field(() => MoneyType)
  amount!: MoneyType;

  @Field(() => LocalDateScalar, { nullable: true })
  referenceDate!: string | null;

  @Field(() => Date, { nullable: true })
  lastChangeDateTime!: Date | null;

  @Field(() => Boolean, { nullable: true })
  creditLimitIncluded!: boolean | null;

  static from(b: BalanceRecord): BalanceType {
    return Object.assign(new BalanceType(), {
      kind: b.kind as BalanceKindEnum,
      bankType: b.bankType,
      amount: { amount: b.amount, currency: b.currency },
      referenceDate: b.referenceDate,
      lastChangeDateTime: b.lastChangeDateTime,
      creditLimitIncluded: b.creditLimitIncluded,
    });
  }
}

/** Unattended reads left today for an account, and when the counter resets. */
@ObjectType('SyncBudget', { description: 'Unattended reads left today for an account (PSD2 frequencyPerDay), and when the counter resets.' })
export class SyncBudgetType {
  @Field(() => Int)
  remaining!: number;

  @Field(() => Date)
  resetsAt!: Date;
}

/**
 * The fields every view of a bank account shares: the owner's `Account` and a grantee's
 * `SharedAccount` (src/modules/grants) expose them with the same names and descriptions.
 */
@ObjectType()
export abstract class AccountFields extends Node {
  @Field(() => AccountKindEnum)
  kind!: AccountKindEnum;

  @Field(() => String, { nullable: true })
  iban!: string | null;

  /** Masked card number, for card accounts. */
  @Field(() => String, { nullable: true, description: 'Masked card number, for card accounts.' })
  maskedPan!: string | null;

  /** ISO 4217 currency code. */
  @Field(() => String, { description: 'ISO 4217 currency code.' })
  currency!: string;

  @Field(() => String, { nullable: true })
  name!: string | null;

  @Field(() => String, { nullable: true })
  ownerName!: string | null;

  @Field(() => String, { nullable: true })
  product!: string | null;

  @Field(() => SyncStatusEnum)
  syncStatus!: SyncStatusEnum;

  /** When a sync last stored this account's data (for a grantee: the owner's sync; grantees never cause one). */
  @Field(() => Date, {
    nullable: true,
    description: "When a sync last stored this account's data (for a grantee: the owner's sync; grantees never cause one).",
  })
  lastSyncedAt!: Date | null;

  /** Copies the shared fields of `a` onto `target`. */
  static fill<T extends AccountFields>(target: T, a: AccountRecord): T {
    return Object.assign(target, {
      kind: a.kind as AccountKindEnum,
      iban: a.iban,
      maskedPan: a.maskedPan,
      currency: a.currency,
      name: a.name,
      ownerName: a.ownerName,
      product: a.product,
      syncStatus: a.syncStatus as SyncStatusEnum,
      lastSyncedAt: a.lastSyncedAt,
    });
  }
}

/** A bank account a consent grants access to. */
@ObjectType('Account', {
  implements: Node,
  description: 'A bank account of an end user. Its id stays the same across syncs, renewals and new consents at the same bank.',
})
export class AccountType extends AccountFields {
  internalId!: string;
  consentId!: string;

  /** Why the last sync failed, when it did. */
  @Field(() => String, { nullable: true, description: 'Why the last sync failed, when it did.' })
  syncError!: string | null;

  /** When the next background sync is planned. */
  @Field(() => Date, { nullable: true, description: 'When the next background sync is planned.' })
  nextSyncAt!: Date | null;

  /**
   * The page of transactions read together with the account, for a request that asks it for that
   * page only (`account(id)` resolver); `transactions` serves it when its arguments are these.
   */
  prefetchedPage?: { first: number; after: string | null; rows: (TransactionRecord & { createdVersion: string })[] };

  /** An account known by its id only: for a selection that reads no other field of it. */
  static identified(id: string): AccountType {
    return Object.assign(new AccountType(), { id: toGlobalId('Account', id), internalId: id });
  }

  static from(a: Account): AccountType {
    return AccountType.fromRecord({ ...a, consentId: a.consent.id });
  }

  static fromRecord(a: AccountRecord): AccountType {
    return Object.assign(AccountFields.fill(new AccountType(), a), {
      id: toGlobalId('Account', a.id),
      internalId: a.id,
      consentId: a.consentId,
      syncError: a.syncError,
      nextSyncAt: a.nextSyncAt,
    });
  }
}

export const AccountConnection = connectionType('Account', AccountType);

/** Filters of `Account.transactions`; all optional, combined with AND. */
@InputType('TransactionFilter', { description: 'Filters of Account.transactions; all optional, combined with AND.' })
export class TransactionFilterInput {
  /** Earliest date (booking date, or the pending entry's date), inclusive. */
  @Field(() => LocalDateScalar, { nullable: true, description: "Earliest date (booking date, or the pending entry's date), inclusive." })
  from?: string | null;

  /** Latest date, inclusive. */
  @Field(() => LocalDateScalar, { nullable: true, description: 'Latest date, inclusive.' })
  to?: string | null;

  @Field(() => TransactionStatusEnum, { nullable: true })
  status?: 'BOOKED' | 'PENDING' | null;

  /** Smallest signed amount (debits are negative). */
  @Field(() => DecimalScalar, { nullable: true, description: 'Smallest signed amount (debits are negative).' })
  minAmount?: string | null;

  @Field(() => DecimalScalar, { nullable: true, description: 'Largest signed amount.' })
  maxAmount?: string | null;

  /** Case-insensitive text in the description, counterparty or remittance information (1–100 characters). */
  @Field(() => String, { nullable: true, description: 'Case-insensitive text in the description, counterparty or remittance information (1–100 characters).' })
  search?: string | null;
}

/** What `accountSync` takes. */
@InputType('AccountSyncInput', { description: 'What accountSync takes.' })
export class AccountSyncInput {
  @Field(() => SyncModeEnum)
  mode!: SyncModeEnum;

  /** The end user's IP address; required for USER_PRESENT (sent to the bank as PSU-IP-Address). */
  @Field(() => String, { nullable: true, description: "The end user's IP address; required for USER_PRESENT (sent to the bank as PSU-IP-Address)." })
  psuIpAddress?: string | null;
}

/** The arguments of an account's transactions (an own account's, or a shared one's through a grant). */
@ArgsType()
export class TransactionsArgs {
  @Field(() => Int, { nullable: true, description: `How many transactions to return (1–${MAX_TRANSACTION_PAGE}, default 50).` })
  first?: number | null;

  @Field(() => String, { nullable: true, description: 'Return transactions after this cursor (an `endCursor` or edge `cursor`).' })
  after?: string | null;

  @Field(() => TransactionFilterInput, { nullable: true })
  filter?: TransactionFilterInput | null;
}
