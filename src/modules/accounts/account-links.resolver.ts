import { Ctx, FieldResolver, Resolver, Root } from 'type-graphql';
import type { GraphQLContext } from '../../api/context';
import { ConsentType } from '../consents/consents.types';
import { TransactionType } from '../transactions/transactions.types';
import { AccountType } from './accounts.types';

/**
 * The fields of other modules' objects that lead to accounts (`Transaction.account`,
 * `Consent.accounts`): they live here so that the GraphQL edge depends one way, accounts →
 * transactions and accounts → consents.
 */
@Resolver(() => TransactionType)
export class TransactionAccountResolver {
  @FieldResolver(() => AccountType)
  async account(@Root() t: TransactionType, @Ctx() ctx: GraphQLContext): Promise<AccountType> {
    const a = await ctx.services.accounts.record(ctx.caller, t.accountInternalId);
    return AccountType.fromRecord(a!);
  }
}

@Resolver(() => ConsentType)
export class ConsentAccountsResolver {
  @FieldResolver(() => [AccountType], { description: 'The accounts the end user granted, as the bank listed them at authorisation.' })
  async accounts(@Root() consent: ConsentType, @Ctx() ctx: GraphQLContext): Promise<AccountType[]> {
    return (await ctx.services.accounts.ofConsent(ctx.em, ctx.caller, consent.internalId)).map(AccountType.from);
  }
}
