import { Args, ArgsType, Ctx, Field, Query, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../../api/context';
import { ApiError, ErrorCode } from '../../api/errors';
import { ConnectionArgs, paginateList } from '../../api/relay/connection';
import { registerNodeType } from '../../api/relay/node';
import { CapabilityKind, InstitutionConnection, InstitutionType } from './institutions.types';

registerNodeType('Institution', async (ctx, id) => {
  const i = ctx.services.institutions.get(ctx.caller, id);
  return i ? InstitutionType.from(i) : null;
});

@ArgsType()
class InstitutionsArgs extends ConnectionArgs {
  @Field(() => String, { nullable: true, description: 'ISO 3166-1 alpha-2 country code, e.g. "DE".' })
  country?: string | null;

  @Field(() => String, { nullable: true, description: 'Part of the name (accents and case ignored) or the start of the BIC.' })
  search?: string | null;

  @Field(() => CapabilityKind, { nullable: true, description: 'Only institutions that offer this.' })
  capability?: CapabilityKind | null;
}

@Resolver(() => InstitutionType)
export class InstitutionsResolver {
  @Query(() => InstitutionConnection, {
    description: 'Banks the caller can connect: sandbox banks for sandbox keys, live banks for live keys. Ordered by name.',
  })
  institutions(@Args(() => InstitutionsArgs) args: InstitutionsArgs, @Ctx() ctx: GraphQLContext) {
    if (args.country != null && !/^[A-Za-z]{2}$/.test(args.country)) {
      throw new ApiError(ErrorCode.BAD_USER_INPUT, 'Argument "country" must be an ISO 3166-1 alpha-2 code such as "DE".', { argument: 'country' });
    }
    if (args.search != null && args.search.length > 100) {
      throw new ApiError(ErrorCode.BAD_USER_INPUT, 'Argument "search" must be at most 100 characters.', { argument: 'search' });
    }
    const items = ctx.services.institutions.list(ctx.caller, args);
    return paginateList('Institution', items, (i) => i.id, args, InstitutionType.from);
  }
}
