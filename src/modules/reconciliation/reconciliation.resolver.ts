import { Arg, Args, ArgsType, Ctx, Field, ID, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';
import type { GraphQLContext } from '../../api/context';
import { ApiError, ErrorCode } from '../../api/errors';
import { LocalDateScalar } from '../../api/local-date';
import { ConnectionArgs, decodeCursor, pageSize, toConnection } from '../../api/relay/connection';
import { decodeGlobalId } from '../../api/relay/global-id';
import { registerNodeType } from '../../api/relay/node';
import { EventType } from '../events';
import type { EventEntry } from '../events';
import type { ExpectedPaymentDraft } from './expected-payment.validation';
import {
  ExpectedPaymentBulkCreateInput,
  ExpectedPaymentBulkCreatePayload,
  ExpectedPaymentConnection,
  ExpectedPaymentCreateInput,
  ExpectedPaymentPayload,
  ExpectedPaymentStatusKind,
  ExpectedPaymentType,
  ManualMatchInput,
  MatchConnection,
  MatchStatusKind,
  MatchType,
  ReconciliationChangeType,
  ReconciliationMatchPayload,
  ReconciliationRunPayload,
  RunInput,
} from './reconciliation.types';

registerNodeType('ExpectedPayment', async (ctx, id) => {
  const r = await ctx.services.reconciliation.get(ctx.caller, id);
  return r && ExpectedPaymentType.from(r);
});
registerNodeType('ReconciliationMatch', async (ctx, id) => {
  const r = await ctx.services.reconciliation.match(ctx.caller, id);
  return r && MatchType.from(r);
});

@ArgsType()
class ExpectedPaymentsArgs extends ConnectionArgs {
  @Field(() => ExpectedPaymentStatusKind, { nullable: true })
  status?: ExpectedPaymentStatusKind | null;

  @Field(() => LocalDateScalar, { nullable: true, description: 'Only those due before this day.' })
  dueBefore?: string | null;

  @Field(() => String, { nullable: true, description: 'Counterparty name (contains, any case) or IBAN (exact).' })
  counterparty?: string | null;

  @Field(() => ID, { nullable: true })
  endUserId?: string | null;
}

@ArgsType()
class MatchesArgs extends ConnectionArgs {
  @Field(() => MatchStatusKind, { nullable: true })
  status?: MatchStatusKind | null;

  @Field(() => ID, { nullable: true })
  expectedPaymentId?: string | null;

  @Field(() => ID, { nullable: true })
  transactionId?: string | null;
}

const RECONCILIATION_EVENTS = [
  EventType.EXPECTED_PAYMENT_PAID,
  EventType.EXPECTED_PAYMENT_PARTIALLY_PAID,
  EventType.EXPECTED_PAYMENT_OVERDUE,
  EventType.RECONCILIATION_SUGGESTED,
];

function draftOf(i: ExpectedPaymentCreateInput): ExpectedPaymentDraft {
  return {
    endUserId: decodeGlobalId(i.endUserId, 'EndUser'),
    direction: i.direction,
    amount: i.amount.amount,
    currency: i.amount.currency,
    dueDate: i.dueDate,
    counterpartyName: i.counterpartyName ?? null,
    counterpartyIban: i.counterpartyIban ?? null,
    invoiceReference: i.invoiceReference ?? null,
    externalId: i.externalId ?? null,
    // An id that is not an Account id is answered NOT_FOUND like an unknown one.
    accountId: i.accountId ? (decodeGlobalId(i.accountId, 'Account') ?? '00000000-0000-0000-0000-000000000000') : null,
    toleranceAmount: i.toleranceAmount ?? null,
    toleranceDays: i.toleranceDays ?? null,
  };
}

@Resolver()
export class ReconciliationResolver {
  @Query(() => ExpectedPaymentConnection, { description: "The tenant's expected payments, oldest first." })
  async expectedPayments(@Args(() => ExpectedPaymentsArgs) args: ExpectedPaymentsArgs, @Ctx() ctx: GraphQLContext) {
    const limit = pageSize(args.first);
    const after = args.after ? decodeCursor('ExpectedPayment', args.after) : undefined;
    if (args.counterparty && args.counterparty.length > 140)
      throw new ApiError(ErrorCode.BAD_USER_INPUT, 'Argument "counterparty" is at most 140 characters.', { argument: 'counterparty' });
    const endUserId = args.endUserId ? decodeGlobalId(args.endUserId, 'EndUser') : null;
    if (args.endUserId && !endUserId) throw new ApiError(ErrorCode.BAD_USER_INPUT, 'Argument "endUserId" is not an EndUser id.', { argument: 'endUserId' });
    const rows = await ctx.services.reconciliation.list(
      ctx.caller,
      { status: args.status, dueBefore: args.dueBefore, counterparty: args.counterparty, endUserId },
      limit + 1,
      after,
    );
    return toConnection('ExpectedPayment', rows, limit, !!after, ExpectedPaymentType.from);
  }

  @Query(() => MatchConnection, {
    description: "The tenant's reconciliation matches, oldest first: filter by status (SUGGESTED: the review queue), expected payment or transaction.",
  })
  async reconciliationMatches(@Args(() => MatchesArgs) args: MatchesArgs, @Ctx() ctx: GraphQLContext) {
    const limit = pageSize(args.first);
    const after = args.after ? decodeCursor('ReconciliationMatch', args.after) : undefined;
    const filter = {
      status: args.status,
      expectedPaymentId: args.expectedPaymentId ? (decodeGlobalId(args.expectedPaymentId, 'ExpectedPayment') ?? '00000000-0000-0000-0000-000000000000') : null,
      transactionId: args.transactionId ? (decodeGlobalId(args.transactionId, 'Transaction') ?? '00000000-0000-0000-0000-000000000000') : null,
    };
    const rows = await ctx.services.reconciliation.matches(ctx.caller, filter, limit + 1, after);
    return toConnection('ReconciliationMatch', rows, limit, !!after, MatchType.from);
  }

  @Mutation(() => ExpectedPaymentPayload, {
    description:
      'Creates an expected payment for an end user. INCOMING ones get an ISO 11649 creditor reference to print on the invoice. With `externalId`, the same body again answers the same expected payment; another body is EXTERNAL_ID_REUSED.',
  })
  async expectedPaymentCreate(
    @Arg('input', () => ExpectedPaymentCreateInput) input: ExpectedPaymentCreateInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<ExpectedPaymentPayload> {
    const r = await ctx.services.reconciliation.create(ctx.caller, [draftOf(input)], ['input']);
    return r.ok ? { expectedPayment: ExpectedPaymentType.from(r.value[0]!), userErrors: [] } : { expectedPayment: null, userErrors: r.userErrors };
  }

  @Mutation(() => ExpectedPaymentBulkCreatePayload, {
    description: 'Creates 1–1,000 expected payments at once, all or none (any userError and nothing is written).',
  })
  async expectedPaymentBulkCreate(
    @Arg('input', () => ExpectedPaymentBulkCreateInput) input: ExpectedPaymentBulkCreateInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<ExpectedPaymentBulkCreatePayload> {
    const r = await ctx.services.reconciliation.create(ctx.caller, input.items.map(draftOf), ['input', 'items']);
    return r.ok ? { expectedPayments: r.value.map(ExpectedPaymentType.from), userErrors: [] } : { expectedPayments: [], userErrors: r.userErrors };
  }

  @Mutation(() => ExpectedPaymentPayload, {
    description: 'Cancels an OPEN or PARTIALLY_PAID expected payment: it is no longer matched; its suggestions are rejected.',
  })
  async expectedPaymentCancel(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<ExpectedPaymentPayload> {
    const r = await ctx.services.reconciliation.finish(ctx.caller, decodeGlobalId(id, 'ExpectedPayment'), 'CANCELLED');
    return r.ok ? { expectedPayment: ExpectedPaymentType.from(r.value), userErrors: [] } : { expectedPayment: null, userErrors: r.userErrors };
  }

  @Mutation(() => ExpectedPaymentPayload, {
    description: 'Closes an expected payment as it stands (e.g. a short payment written off): it is no longer matched.',
  })
  async expectedPaymentClose(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<ExpectedPaymentPayload> {
    const r = await ctx.services.reconciliation.finish(ctx.caller, decodeGlobalId(id, 'ExpectedPayment'), 'CLOSED');
    return r.ok ? { expectedPayment: ExpectedPaymentType.from(r.value), userErrors: [] } : { expectedPayment: null, userErrors: r.userErrors };
  }

  @Mutation(() => ReconciliationMatchPayload, { description: 'Confirms a SUGGESTED match: its amounts count toward the expected payments.' })
  async reconciliationConfirm(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<ReconciliationMatchPayload> {
    return payload(await ctx.services.reconciliation.decide(ctx.caller, decodeGlobalId(id, 'ReconciliationMatch'), 'CONFIRM'));
  }

  @Mutation(() => ReconciliationMatchPayload, {
    description: 'Rejects a SUGGESTED or CONFIRMED match: the matcher will not propose that transaction again (match it by hand if needed).',
  })
  async reconciliationReject(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<ReconciliationMatchPayload> {
    return payload(await ctx.services.reconciliation.decide(ctx.caller, decodeGlobalId(id, 'ReconciliationMatch'), 'REJECT'));
  }

  @Mutation(() => ReconciliationMatchPayload, {
    description: 'Undoes a CONFIRMED or REJECTED match: the transaction is free again (reconciliationRun or reconciliationMatch).',
  })
  async reconciliationUndo(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<ReconciliationMatchPayload> {
    return payload(await ctx.services.reconciliation.decide(ctx.caller, decodeGlobalId(id, 'ReconciliationMatch'), 'UNDO'));
  }

  @Mutation(() => ReconciliationMatchPayload, {
    description:
      'Matches a transaction by hand to one or several expected payments of the same end user, in full or in part. Nothing may exceed the transaction’s amount (AMOUNT_EXCEEDED) nor an expected payment’s open amount plus tolerance; a transaction already matched is ALREADY_MATCHED.',
  })
  async reconciliationMatch(@Arg('input', () => ManualMatchInput) input: ManualMatchInput, @Ctx() ctx: GraphQLContext): Promise<ReconciliationMatchPayload> {
    const allocations = input.allocations.map((a) => ({ expectedPaymentId: decodeGlobalId(a.expectedPaymentId, 'ExpectedPayment'), amount: a.amount }));
    return payload(await ctx.services.reconciliation.manualMatch(ctx.caller, decodeGlobalId(input.transactionId, 'Transaction'), allocations));
  }

  @Mutation(() => ReconciliationRunPayload, {
    description:
      'Matches the backlog now: every transaction never matched nor rejected, of one account, one end user or the whole tenant. Syncs match new transactions on their own.',
  })
  async reconciliationRun(
    @Arg('input', () => RunInput, { nullable: true }) input: RunInput | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<ReconciliationRunPayload> {
    const accountId = input?.accountId ? (decodeGlobalId(input.accountId, 'Account') ?? '00000000-0000-0000-0000-000000000000') : null;
    const endUserId = input?.endUserId ? (decodeGlobalId(input.endUserId, 'EndUser') ?? '00000000-0000-0000-0000-000000000000') : null;
    const r = await ctx.services.reconciliation.runBacklog(ctx.caller, { accountId, endUserId });
    return r.ok ? { ...r.value, userErrors: [] } : { examined: 0, confirmed: 0, suggested: 0, userErrors: r.userErrors };
  }

  @Subscription(() => ReconciliationChangeType, {
    description: "An end user's reconciliation as it changes: expected payments paid, partly paid or overdue, and new suggestions to review.",
    subscribe: async function* ({ args, context }) {
      const ctx = context as GraphQLContext;
      const endUserId = decodeGlobalId(args.endUserId as string, 'EndUser');
      const user = endUserId ? await ctx.services.tenancy.endUser(ctx.em.fork(), ctx.caller, endUserId) : null;
      if (!user) throw new ApiError(ErrorCode.NOT_FOUND, 'No end user with this id.', { argument: 'endUserId' });
      for await (const e of ctx.services.eventStream.follow(ctx.caller, (args.after as string | null) ?? null, RECONCILIATION_EVENTS)) {
        const owner =
          e.resourceType === 'ExpectedPayment'
            ? (await ctx.services.reconciliation.get(ctx.caller, e.resourceId))?.endUserId
            : (await ctx.services.reconciliation.match(ctx.caller, e.resourceId))?.endUserId;
        if (owner === user.id) yield e;
      }
    },
  })
  async reconciliationChanged(
    @Root() e: EventEntry,
    @Arg('endUserId', () => ID) _endUserId: string,
    @Arg('after', () => String, { nullable: true, description: 'Resume after this event cursor.' }) _after: string | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<ReconciliationChangeType> {
    const ep = e.resourceType === 'ExpectedPayment' ? await ctx.services.reconciliation.get(ctx.caller, e.resourceId) : null;
    const m = e.resourceType === 'ReconciliationMatch' ? await ctx.services.reconciliation.match(ctx.caller, e.resourceId) : null;
    return Object.assign(new ReconciliationChangeType(), {
      type: e.type,
      cursor: e.cursor,
      expectedPayment: ep && ExpectedPaymentType.from(ep),
      match: m && MatchType.from(m),
    });
  }
}

function payload(
  r: { ok: true; value: Parameters<typeof MatchType.from>[0] } | { ok: false; userErrors: ReconciliationMatchPayload['userErrors'] },
): ReconciliationMatchPayload {
  return r.ok ? { match: MatchType.from(r.value), userErrors: [] } : { match: null, userErrors: r.userErrors };
}
