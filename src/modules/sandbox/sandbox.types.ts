import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { LocalDateScalar } from '../../api/local-date';
import { DecimalScalar, MoneyType } from '../../api/money';
import { UserError } from '../../api/user-errors';
import { ConsentType } from '../consents/consents.types';

export enum SandboxScaDecision {
  APPROVE = 'APPROVE',
  REJECT = 'REJECT',
}
registerEnumType(SandboxScaDecision, {
  name: 'SandboxScaDecision',
  description: "What the test user does on the sandbox bank's pages.",
  valuesConfig: {
    APPROVE: {
      description: "Logs in and enters the user's one-time code (the user's documented behaviour still applies: `rejecter` declines, `locked` cannot log in).",
    },
    REJECT: { description: 'Presses Cancel on the login page.' },
  },
});

export enum SandboxTransactionStatus {
  BOOKED = 'BOOKED',
  PENDING = 'PENDING',
}
registerEnumType(SandboxTransactionStatus, { name: 'SandboxTransactionStatus', description: "A transaction's status in a sandbox bank's ledger." });

export enum SandboxFaultKind {
  STATUS = 'STATUS',
  RATE_LIMIT = 'RATE_LIMIT',
  LATENCY = 'LATENCY',
  TIMEOUT = 'TIMEOUT',
  MALFORMED_JSON = 'MALFORMED_JSON',
  MISSING_IDS = 'MISSING_IDS',
  CHURN_IDS = 'CHURN_IDS',
  DUPLICATES = 'DUPLICATES',
}
registerEnumType(SandboxFaultKind, {
  name: 'SandboxFaultKind',
  description: "How a sandbox bank's API misbehaves (sandbox/README.md, control API).",
  valuesConfig: {
    STATUS: { description: 'Answers HTTP `status` (default 500; 503 is SERVICE_UNAVAILABLE), with Retry-After when `retryAfterSeconds` is given.' },
    RATE_LIMIT: { description: 'Answers 429 with Retry-After: `retryAfterSeconds`.' },
    LATENCY: { description: 'Waits `latencyMs`, then answers normally.' },
    TIMEOUT: { description: 'Never answers; drops the connection after `latencyMs` (default 120 s).' },
    MALFORMED_JSON: { description: 'Answers 200 with a truncated JSON body.' },
    MISSING_IDS: { description: 'Transactions come without their bank ids.' },
    CHURN_IDS: { description: 'The same transactions come back with new bank ids on every call.' },
    DUPLICATES: { description: "Each page after the first starts with the previous page's last entry." },
  },
});

@InputType({ description: 'Completes a consent that waits for SCA at a sandbox bank, as a test user, without a browser.' })
export class SandboxConsentAuthorizeInput {
  @Field(() => ID, { description: 'A consent of this tenant at a sandbox bank, waiting for the end user (PENDING_AUTHORIZATION, or a renewal in progress).' })
  consentId!: string;

  @Field(() => String, {
    nullable: true,
    defaultValue: 'alice',
    description: 'The sandbox test user who authenticates (see the sandbox test users table); default alice.',
  })
  username?: string | null;

  @Field(() => SandboxScaDecision, { nullable: true, defaultValue: SandboxScaDecision.APPROVE })
  decision?: SandboxScaDecision | null;
}

@ObjectType()
export class SandboxConsentAuthorizePayload {
  @Field(() => ConsentType, { nullable: true })
  consent!: ConsentType | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

@InputType({ description: "A transaction to add to a sandbox bank's ledger." })
export class SandboxTransactionInput {
  @Field(() => DecimalScalar, { description: "Signed amount in the account's currency: negative is a debit. Not zero; at most the currency's decimals." })
  amount!: string;

  @Field(() => SandboxTransactionStatus, { nullable: true, defaultValue: SandboxTransactionStatus.BOOKED })
  status?: SandboxTransactionStatus | null;

  @Field(() => LocalDateScalar, { nullable: true, description: "Default: today on the bank's clock." })
  bookingDate?: string | null;

  @Field(() => LocalDateScalar, { nullable: true, description: 'Default: the booking date.' })
  valueDate?: string | null;

  @Field(() => String, { nullable: true, description: 'At most 70 characters.' })
  counterpartyName?: string | null;

  @Field(() => String, { nullable: true, description: 'A valid IBAN (spaces allowed).' })
  counterpartyIban?: string | null;

  @Field(() => String, { nullable: true, description: 'Unstructured remittance information, at most 140 characters.' })
  remittanceInformation?: string | null;

  @Field(() => String, { nullable: true, description: "The bank's id of the transaction, 1–64 characters, unique in the account; generated when absent." })
  bankTransactionId?: string | null;
}

@InputType()
export class SandboxTransactionsCreateInput {
  @Field(() => ID, { description: 'An account of this tenant at a sandbox bank.' })
  accountId!: string;

  @Field(() => [SandboxTransactionInput], { description: '1 to 100 transactions, added all together or not at all.' })
  transactions!: SandboxTransactionInput[];
}

@ObjectType('SandboxBankTransaction', {
  simpleResolvers: true,
  description: "A transaction as a sandbox bank's ledger holds it (not yet the gateway's: that comes with the next sync).",
})
export class SandboxBankTransactionType {
  @Field(() => String)
  bankTransactionId!: string;

  @Field(() => SandboxTransactionStatus)
  status!: SandboxTransactionStatus;

  @Field(() => MoneyType)
  amount!: MoneyType;

  @Field(() => LocalDateScalar)
  bookingDate!: string;

  @Field(() => LocalDateScalar, { nullable: true })
  valueDate!: string | null;
}

@ObjectType()
export class SandboxTransactionsCreatePayload {
  @Field(() => [SandboxBankTransactionType], { nullable: true })
  transactions!: SandboxBankTransactionType[] | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

@InputType({ description: 'Books a pending transaction at a sandbox bank.' })
export class SandboxTransactionBookInput {
  @Field(() => ID)
  accountId!: string;

  @Field(() => String, { description: "The pending transaction's bank id." })
  bankTransactionId!: string;

  @Field(() => DecimalScalar, { nullable: true, description: 'The booked amount when it differs from the pending one (a tip, a final card amount).' })
  amount?: string | null;

  @Field(() => String, { nullable: true, description: 'A new bank id for the booked entry (some banks change it when booking).' })
  newBankTransactionId?: string | null;

  @Field(() => LocalDateScalar, { nullable: true, description: "Default: today on the bank's clock." })
  bookingDate?: string | null;
}

@ObjectType()
export class SandboxTransactionBookPayload {
  @Field(() => SandboxBankTransactionType, { nullable: true })
  transaction!: SandboxBankTransactionType | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

@InputType()
export class SandboxConsentExpireInput {
  @Field(() => ID, { description: 'An authorised consent of this tenant at a sandbox bank.' })
  consentId!: string;
}

@ObjectType()
export class SandboxConsentExpirePayload extends SandboxConsentAuthorizePayload {}

@InputType({ description: "One fault rule of a sandbox bank's API." })
export class SandboxFaultInput {
  @Field(() => SandboxFaultKind)
  kind!: SandboxFaultKind;

  @Field(() => String, {
    nullable: true,
    description:
      "A path pattern found anywhere in the request path below the bank's API root, `*` standing for any characters (e.g. `accounts/*/transactions`); URL path characters only, never a regular expression. Every route when absent.",
  })
  route?: string | null;

  @Field(() => String, { nullable: true, description: 'Only requests with this HTTP method (GET, POST…).' })
  method?: string | null;

  @Field(() => Int, { nullable: true, description: 'HTTP status for STATUS, 400–599 (default 500).' })
  status?: number | null;

  @Field(() => Int, { nullable: true, description: 'Retry-After in seconds (0–86400) for STATUS and RATE_LIMIT.' })
  retryAfterSeconds?: number | null;

  @Field(() => Int, { nullable: true, description: 'Delay in milliseconds (0–600000) for LATENCY and TIMEOUT.' })
  latencyMs?: number | null;

  @Field(() => Int, { nullable: true, description: 'How many matching requests it hits (at least 1); unlimited when absent.' })
  times?: number | null;
}

@InputType()
export class SandboxFaultSetInput {
  @Field(() => ID, { description: 'A sandbox institution.' })
  institutionId!: string;

  @Field(() => [SandboxFaultInput], { description: "The bank's whole fault list from now on (at most 50); an empty list clears it." })
  faults!: SandboxFaultInput[];
}

@ObjectType('SandboxFault', { simpleResolvers: true, description: "An active fault rule of a sandbox bank's API." })
export class SandboxFaultType {
  @Field(() => String)
  id!: string;

  @Field(() => SandboxFaultKind)
  kind!: SandboxFaultKind;

  @Field(() => String, { nullable: true })
  route!: string | null;

  @Field(() => String, { nullable: true })
  method!: string | null;

  @Field(() => Int, { nullable: true })
  status!: number | null;

  @Field(() => Int, { nullable: true })
  retryAfterSeconds!: number | null;

  @Field(() => Int, { nullable: true })
  latencyMs!: number | null;

  @Field(() => Int, { nullable: true, description: 'How many requests it was set to hit; null: unlimited.' })
  times!: number | null;

  @Field(() => Int, { nullable: true, description: 'How many more requests it hits; null: unlimited.' })
  remaining!: number | null;
}

@ObjectType()
export class SandboxFaultSetPayload {
  @Field(() => [SandboxFaultType], { nullable: true })
  faults!: SandboxFaultType[] | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

@InputType({ description: "Moves a sandbox bank's clock forward by the sum of the given parts (each at least 0; together more than 0, at most 3650 days)." })
export class SandboxClockAdvanceInput {
  @Field(() => ID)
  institutionId!: string;

  @Field(() => Int, { nullable: true })
  seconds?: number | null;

  @Field(() => Int, { nullable: true })
  minutes?: number | null;

  @Field(() => Int, { nullable: true })
  hours?: number | null;

  @Field(() => Int, { nullable: true })
  days?: number | null;
}

@ObjectType()
export class SandboxClockAdvancePayload {
  @Field(() => ID, { nullable: true })
  institutionId!: string | null;

  @Field(() => Date, { nullable: true, description: "The bank's clock after the move." })
  now!: Date | null;

  @Field(() => LocalDateScalar, { nullable: true, description: "The bank's date (UTC) after the move." })
  today!: string | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

@InputType()
export class SandboxResetInput {
  @Field(() => ID, { nullable: true, description: 'One sandbox institution; every sandbox bank when absent.' })
  institutionId?: string | null;
}

@ObjectType()
export class SandboxResetPayload {
  @Field(() => [ID], { nullable: true, description: 'The institutions reset.' })
  institutionIds!: string[] | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}
