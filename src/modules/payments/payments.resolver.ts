import { Arg, Args, ArgsType, Ctx, Field, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { GraphQLContext } from '../../api/context';
import { ConnectionArgs, decodeCursor, pageSize, toConnection } from '../../api/relay/connection';
import { decodeGlobalId } from '../../api/relay/global-id';
import { registerNodeType } from '../../api/relay/node';
import { InstitutionType } from '../institutions/institutions.types';
import { EndUserType } from '../tenancy/tenancy.types';
import { PaymentCancelPayload, PaymentConnection, PaymentInitiateInput, PaymentInitiatePayload, PaymentStatusKind, PaymentType } from './payments.types';

registerNodeType('Payment', async (ctx, id) => {
  const p = await ctx.services.payments.get(ctx.em, ctx.caller, id);
  return p && PaymentType.from(p);
});

@ArgsType()
class PaymentsArgs extends ConnectionArgs {
  @Field(() => PaymentStatusKind, { nullable: true, description: 'Only payments in this status.' })
  status?: PaymentStatusKind | null;
}

@Resolver(() => PaymentType)
export class PaymentsResolver {
  @Query(() => PaymentConnection, { description: "The tenant's payments, oldest first." })
  async payments(@Args(() => PaymentsArgs) args: PaymentsArgs, @Ctx() ctx: GraphQLContext) {
    const limit = pageSize(args.first);
    const after = args.after ? decodeCursor('Payment', args.after) : undefined;
    const rows = await ctx.services.payments.list(ctx.em, ctx.caller, args.status, limit + 1, after);
    return toConnection('Payment', rows, limit, !!after, PaymentType.from);
  }

  @FieldResolver(() => InstitutionType, { nullable: true, description: 'The bank the payment is made through.' })
  institution(@Root() payment: PaymentType, @Ctx() ctx: GraphQLContext): InstitutionType | null {
    const i = ctx.services.institutions.get(ctx.caller, payment.institutionSlug);
    return i ? InstitutionType.from(i) : null;
  }

  @FieldResolver(() => EndUserType)
  async endUser(@Root() payment: PaymentType, @Ctx() ctx: GraphQLContext): Promise<EndUserType> {
    const u = await ctx.services.tenancy.endUser(ctx.em, ctx.caller, payment.endUserId);
    return EndUserType.from(u!);
  }

  @Mutation(() => PaymentInitiatePayload, {
    description:
      'Initiates a payment and returns where to send the end user to approve it; under the end user’s approval policy it is AWAITING_APPROVAL instead, and goes to the bank once approved (docs/approvals.md). `idempotencyKey` (1–200 printable characters, per tenant) is required: the same key with the same input answers the same payment without a second bank call, even while the first is still running; the same key with another input is IDEMPOTENCY_KEY_REUSED. Everything is checked before the bank is called.',
  })
  async paymentInitiate(
    @Arg('input', () => PaymentInitiateInput) input: PaymentInitiateInput,
    @Arg('idempotencyKey', () => String) idempotencyKey: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<PaymentInitiatePayload> {
    const r = await ctx.services.payments.initiate(
      ctx.em,
      ctx.caller,
      {
        institutionId: decodeGlobalId(input.institutionId, 'Institution'),
        endUserId: decodeGlobalId(input.endUserId, 'EndUser'),
        scheme: input.scheme,
        debtorAccount: input.debtorAccount ? { iban: input.debtorAccount.iban } : null,
        creditor: { name: input.creditor.name, iban: input.creditor.iban, bic: input.creditor.bic ?? null },
        amount: { amount: input.amount.amount, currency: input.amount.currency },
        remittanceInformation: input.remittanceInformation ?? null,
        endToEndId: input.endToEndId ?? null,
        requestedExecutionDate: input.requestedExecutionDate ?? null,
        redirectUri: input.redirectUri,
        psuId: input.psuId ?? null,
        ...(input.requestedBy != null ? { requestedBy: decodeGlobalId(input.requestedBy, 'ApprovalMember') } : {}),
      },
      idempotencyKey,
    );
    return { payment: r.payment && PaymentType.from(r.payment), authorizationUrl: r.authorizationUrl, userErrors: r.userErrors };
  }

  @Mutation(() => PaymentCancelPayload, {
    description:
      'Cancels a payment at the bank before it is executed, where the bank’s standard allows it (Berlin Group, STET); otherwise, or once final, NOT_CANCELLABLE. When the bank needs the end user to authorise the cancellation (Berlin Group), the payment is unchanged and authorizationUrl says where to send them; they come back to the payment’s redirectUri with paymentId and cancellation=cancelled|declined|pending.',
  })
  async paymentCancel(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<PaymentCancelPayload> {
    const r = await ctx.services.payments.cancel(ctx.em, ctx.caller, decodeGlobalId(id, 'Payment'));
    return r.ok
      ? { payment: PaymentType.from(r.value.payment), authorizationUrl: r.value.authorizationUrl, userErrors: [] }
      : { payment: null, authorizationUrl: null, userErrors: r.userErrors };
  }
}
