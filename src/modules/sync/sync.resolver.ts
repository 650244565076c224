import { Arg, Ctx, Field, ID, Mutation, ObjectType, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../../api/context';
import { decodeGlobalId } from '../../api/relay/global-id';
import { UserError } from '../../api/user-errors';
import { AccountSyncInput, AccountType } from '../accounts/accounts.types';

@ObjectType()
export class AccountSyncPayload {
  /** The account, its syncStatus now QUEUED. */
  @Field(() => AccountType, { nullable: true, description: 'The account, its syncStatus now QUEUED.' })
  account!: AccountType | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

@Resolver()
export class SyncResolver {
  @Mutation(() => AccountSyncPayload, {
    description:
      'Queues a sync of one account. USER_PRESENT (with the end user’s IP) does not count against the daily limit; BACKGROUND does, and is refused with BUDGET_EXHAUSTED when none is left. Follow syncStatus / lastSyncedAt, or the change feed.',
  })
  async accountSync(
    @Arg('id', () => ID) id: string,
    @Arg('input', () => AccountSyncInput) input: AccountSyncInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<AccountSyncPayload> {
    const r = await ctx.services.sync.request(ctx.em, ctx.caller, decodeGlobalId(id, 'Account'), input.mode, input.psuIpAddress);
    return r.ok ? { account: AccountType.from(r.value), userErrors: [] } : { account: null, userErrors: r.userErrors };
  }
}
