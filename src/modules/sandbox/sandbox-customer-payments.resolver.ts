import { Arg, Ctx, Field, Float, ID, InputType, Int, Mutation, ObjectType, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../../api/context';
import { LocalDateScalar } from '../../api/local-date';
import { decodeGlobalId, toGlobalId } from '../../api/relay/global-id';
import { UserError } from '../../api/user-errors';
import { SandboxBankTransactionType, SandboxTransactionStatus } from './sandbox.types';

@InputType('SandboxCustomerPaymentsBookInput', { description: 'Which expected payments the sandbox bank’s customers pay, into which account.' })
export class SandboxCustomerPaymentsBookInput {
  @Field(() => ID, { description: 'An account of this tenant at a sandbox bank, in the expected payments’ currency.' })
  accountId!: string;

  @Field(() => [ID], { description: '1–1,000 expected payments of the tenant.' })
  expectedPaymentIds!: string[];

  @Field(() => Int, { description: 'The same seed books the same noise; bank ids derive from it (a seed used before on this account is TAKEN).' })
  seed!: number;

  @Field(() => Float, { nullable: true, description: 'Unrelated entries to add, as a share of the expected payments (0–5, default 0.5).' })
  distractorRatio?: number | null;

  @Field(() => LocalDateScalar, { nullable: true, description: 'Book nothing before this day (default: any day up to the bank’s today).' })
  bookFrom?: string | null;
}

@ObjectType('SandboxPaymentTruth', { description: 'What one booked entry truly pays: the answer a matcher is scored against.' })
export class SandboxPaymentTruthType {
  @Field(() => String)
  bankTransactionId!: string;

  @Field(() => [ID], { description: 'The expected payments it pays; empty for an unrelated entry.' })
  expectedPaymentIds!: string[];

  @Field(() => String, {
    description:
      'The noise: EXACT_REFERENCE, INVOICE_REFERENCE, TRUNCATED_REFERENCE, MISTYPED_REFERENCE, NO_REFERENCE, SPLIT, GROUPED, FEES_DEDUCTED, SAME_AMOUNT_TWO_PAYERS, LATE, or UNRELATED.',
  })
  kind!: string;
}

@ObjectType()
export class SandboxCustomerPaymentsBookPayload {
  @Field(() => [SandboxBankTransactionType], { nullable: true })
  transactions!: SandboxBankTransactionType[] | null;

  @Field(() => [SandboxPaymentTruthType], { nullable: true })
  truth!: SandboxPaymentTruthType[] | null;

  @Field(() => [ID], { nullable: true, description: 'Expected payments left unpaid on purpose.' })
  unpaidExpectedPaymentIds!: string[] | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

/** The sandbox playing the customers of reconciliation. */
@Resolver()
export class SandboxCustomerPaymentsResolver {
  @Mutation(() => SandboxCustomerPaymentsBookPayload, {
    description:
      'The sandbox bank’s customers pay the given expected payments the way real people do — exact references, truncated and mistyped ones, none, split and grouped payments, fees deducted, the same amount from two payers, late, some never — plus unrelated entries; answers the truth so a matcher can be scored. The gateway sees the entries at the next sync. Not for a bank reached through the sandbox’s upstream aggregator (GoCardless): the userError NOT_SUPPORTED. Sandbox keys only: a live key gets the error SANDBOX_ONLY.',
  })
  async sandboxCustomerPaymentsBook(
    @Arg('input', () => SandboxCustomerPaymentsBookInput) input: SandboxCustomerPaymentsBookInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<SandboxCustomerPaymentsBookPayload> {
    const r = await ctx.services.sandbox.bookCustomerPayments(ctx.em, ctx.caller, {
      accountId: decodeGlobalId(input.accountId, 'Account'),
      expectedPaymentIds: input.expectedPaymentIds.map((id) => decodeGlobalId(id, 'ExpectedPayment')),
      seed: input.seed,
      distractorRatio: input.distractorRatio ?? null,
      bookFrom: input.bookFrom ?? null,
    });
    if (!r.ok) return { transactions: null, truth: null, unpaidExpectedPaymentIds: null, userErrors: r.userErrors };
    return {
      transactions: r.value.transactions.map((t) => Object.assign(new SandboxBankTransactionType(), { ...t, status: t.status as SandboxTransactionStatus })),
      truth: r.value.truth.map((t) =>
        Object.assign(new SandboxPaymentTruthType(), {
          bankTransactionId: t.transactionId,
          expectedPaymentIds: t.expectedPaymentIds.map((id) => toGlobalId('ExpectedPayment', id)),
          kind: t.kind,
        }),
      ),
      unpaidExpectedPaymentIds: r.value.unpaid.map((id) => toGlobalId('ExpectedPayment', id)),
      userErrors: [],
    };
  }
}
