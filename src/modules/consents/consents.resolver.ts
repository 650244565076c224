import { Arg, Args, ArgsType, Ctx, Field, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { GraphQLContext } from '../../api/context';
import { ConnectionArgs, decodeCursor, pageSize, toConnection } from '../../api/relay/connection';
import { decodeGlobalId } from '../../api/relay/global-id';
import { registerNodeType } from '../../api/relay/node';
import { InstitutionType } from '../institutions/institutions.types';
import { EndUserType } from '../tenancy/tenancy.types';
import { ConsentStatus } from './consent.state';
import { ConsentConnection, ConsentCreateInput, ConsentLinkPayload, ConsentRevokePayload, ConsentType } from './consents.types';

registerNodeType('Consent', async (ctx, id) => {
  const c = await ctx.services.consents.get(ctx.em, ctx.caller, id);
  return c && ConsentType.from(c);
});

@ArgsType()
class ConsentsArgs extends ConnectionArgs {
  @Field(() => ConsentStatus, { nullable: true, description: 'Only consents in this status.' })
  status?: ConsentStatus | null;
}

@Resolver(() => ConsentType)
export class ConsentsResolver {
  @Query(() => ConsentConnection, { description: "The tenant's consents, oldest first." })
  async consents(@Args(() => ConsentsArgs) args: ConsentsArgs, @Ctx() ctx: GraphQLContext) {
    const limit = pageSize(args.first);
    const after = args.after ? decodeCursor('Consent', args.after) : undefined;
    const rows = await ctx.services.consents.list(ctx.em, ctx.caller, args.status, limit + 1, after);
    return toConnection('Consent', rows, limit, !!after, ConsentType.from);
  }

  @FieldResolver(() => InstitutionType, { nullable: true, description: 'The bank; null until the end user picks one on the hosted connect page.' })
  institution(@Root() consent: ConsentType, @Ctx() ctx: GraphQLContext): InstitutionType | null {
    const i = consent.institutionSlug ? ctx.services.institutions.get(ctx.caller, consent.institutionSlug) : undefined;
    return i ? InstitutionType.from(i) : null;
  }

  @FieldResolver(() => EndUserType)
  async endUser(@Root() consent: ConsentType, @Ctx() ctx: GraphQLContext): Promise<EndUserType> {
    const u = await ctx.services.tenancy.endUser(ctx.em, ctx.caller, consent.endUserId);
    return EndUserType.from(u!);
  }

  @Mutation(() => ConsentLinkPayload, {
    description: 'Creates a consent and returns where to send the end user: their bank, or the hosted connect page when no institution is given.',
  })
  async consentCreate(@Arg('input', () => ConsentCreateInput) input: ConsentCreateInput, @Ctx() ctx: GraphQLContext): Promise<ConsentLinkPayload> {
    const r = await ctx.services.consents.create(ctx.em, ctx.caller, {
      endUserId: decodeGlobalId(input.endUserId, 'EndUser'),
      // An id that doesn't decode is reported as not found, like a foreign one.
      institutionId: input.institutionId == null ? null : (decodeGlobalId(input.institutionId, 'Institution') ?? ''),
      scopes: input.scopes,
      validForDays: input.validForDays,
      historyDays: input.historyDays,
      redirectUri: input.redirectUri,
      psuId: input.psuId,
    });
    return r.ok
      ? { consent: ConsentType.from(r.value.consent), authorizationUrl: r.value.authorizationUrl, userErrors: [] }
      : { consent: null, authorizationUrl: null, userErrors: r.userErrors };
  }

  @Mutation(() => ConsentLinkPayload, {
    description:
      "Starts a new authorisation for an existing consent, keeping its scopes and history (clamped to the bank's maximum). Its accounts keep their ids.",
  })
  async consentRenew(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<ConsentLinkPayload> {
    const r = await ctx.services.consents.renew(ctx.em, ctx.caller, decodeGlobalId(id, 'Consent'));
    return r.ok
      ? { consent: ConsentType.from(r.value.consent), authorizationUrl: r.value.authorizationUrl, userErrors: [] }
      : { consent: null, authorizationUrl: null, userErrors: r.userErrors };
  }

  @Mutation(() => ConsentRevokePayload, { description: 'Revokes the consent at the bank where the standard allows it and destroys its bank tokens.' })
  async consentRevoke(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<ConsentRevokePayload> {
    const r = await ctx.services.consents.revoke(ctx.em, ctx.caller, decodeGlobalId(id, 'Consent'));
    return r.ok ? { consent: ConsentType.from(r.value), userErrors: [] } : { consent: null, userErrors: r.userErrors };
  }
}
