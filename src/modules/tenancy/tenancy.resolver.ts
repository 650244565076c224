import { Arg, Args, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { GraphQLContext } from '../../api/context';
import { ConnectionArgs, decodeCursor, pageSize, toConnection } from '../../api/relay/connection';
import { decodeGlobalId } from '../../api/relay/global-id';
import { registerNodeType } from '../../api/relay/node';
import {
  ApiKeyConnection,
  ApiKeyCreateInput,
  ApiKeyCreatePayload,
  ApiKeyRevokePayload,
  ApiKeyType,
  EndUserConnection,
  EndUserCreateInput,
  EndUserCreatePayload,
  EndUserType,
  RedirectUriInput,
  RedirectUrisPayload,
  TenantHandleSetInput,
  TenantHandleSetPayload,
  TenantType,
} from './tenancy.types';

registerNodeType('Tenant', async (ctx, id) => (id === ctx.caller.tenantId ? TenantType.from(await ctx.services.tenancy.tenant(ctx.em, ctx.caller)) : null));
registerNodeType('ApiKey', async (ctx, id) => {
  const k = await ctx.services.tenancy.apiKey(ctx.em, ctx.caller, id);
  return k && ApiKeyType.from(k);
});
registerNodeType('EndUser', async (ctx, id) => {
  const u = await ctx.services.tenancy.endUser(ctx.em, ctx.caller, id);
  return u && EndUserType.from(u);
});

@Resolver(() => TenantType)
export class TenancyResolver {
  @Query(() => TenantType, { description: 'The tenant the API key belongs to.' })
  async viewer(@Ctx() ctx: GraphQLContext): Promise<TenantType> {
    return TenantType.from(await ctx.services.tenancy.tenant(ctx.em, ctx.caller));
  }

  @FieldResolver(() => ApiKeyConnection, { description: "The tenant's API keys, oldest first (revoked ones included)." })
  async apiKeys(@Root() _tenant: TenantType, @Args(() => ConnectionArgs) args: ConnectionArgs, @Ctx() ctx: GraphQLContext) {
    const limit = pageSize(args.first);
    const after = args.after ? decodeCursor('ApiKey', args.after) : undefined;
    const rows = await ctx.services.tenancy.apiKeys(ctx.em, ctx.caller, limit + 1, after);
    return toConnection('ApiKey', rows, limit, !!after, ApiKeyType.from);
  }

  @FieldResolver(() => [String], {
    description: 'URIs end users may be sent back to after their bank (sandbox tenants may also use any http://localhost or http://127.0.0.1 URI).',
  })
  async redirectUris(@Root() _tenant: TenantType, @Ctx() ctx: GraphQLContext): Promise<string[]> {
    return ctx.services.tenancy.redirectUris(ctx.em, ctx.caller);
  }

  @Mutation(() => RedirectUrisPayload, { description: 'Allows a redirect URI for consents and payments. Adding one already allowed changes nothing.' })
  async redirectUriAdd(@Arg('input', () => RedirectUriInput) input: RedirectUriInput, @Ctx() ctx: GraphQLContext): Promise<RedirectUrisPayload> {
    const r = await ctx.services.tenancy.addRedirectUri(ctx.em, ctx.caller, input.uri);
    return r.ok ? { redirectUris: r.value, userErrors: [] } : { redirectUris: null, userErrors: r.userErrors };
  }

  @Mutation(() => RedirectUrisPayload, { description: 'Removes a redirect URI from the allow-list.' })
  async redirectUriRemove(@Arg('input', () => RedirectUriInput) input: RedirectUriInput, @Ctx() ctx: GraphQLContext): Promise<RedirectUrisPayload> {
    const r = await ctx.services.tenancy.removeRedirectUri(ctx.em, ctx.caller, input.uri);
    return r.ok ? { redirectUris: r.value, userErrors: [] } : { redirectUris: null, userErrors: r.userErrors };
  }

  @Mutation(() => TenantHandleSetPayload, {
    description: "Sets the tenant's public handle, by which other tenants of this gateway invite it to access grants (docs/delegated-access.md).",
  })
  async tenantHandleSet(@Arg('input', () => TenantHandleSetInput) input: TenantHandleSetInput, @Ctx() ctx: GraphQLContext): Promise<TenantHandleSetPayload> {
    const r = await ctx.services.tenancy.setHandle(ctx.em, ctx.caller, input.handle);
    return r.ok ? { tenant: TenantType.from(r.value), userErrors: [] } : { tenant: null, userErrors: r.userErrors };
  }

  @Query(() => EndUserConnection, { description: "The tenant's end users, oldest first." })
  async endUsers(@Args(() => ConnectionArgs) args: ConnectionArgs, @Ctx() ctx: GraphQLContext) {
    const limit = pageSize(args.first);
    const after = args.after ? decodeCursor('EndUser', args.after) : undefined;
    const rows = await ctx.services.tenancy.endUsers(ctx.em, ctx.caller, limit + 1, after);
    return toConnection('EndUser', rows, limit, !!after, EndUserType.from);
  }

  @Mutation(() => EndUserCreatePayload, { description: 'Registers an end user under the developer’s own reference.' })
  async endUserCreate(@Arg('input', () => EndUserCreateInput) input: EndUserCreateInput, @Ctx() ctx: GraphQLContext): Promise<EndUserCreatePayload> {
    const r = await ctx.services.tenancy.createEndUser(ctx.em, ctx.caller, input);
    return r.ok ? { endUser: EndUserType.from(r.value), userErrors: [] } : { endUser: null, userErrors: r.userErrors };
  }

  @Mutation(() => ApiKeyCreatePayload, { description: 'Creates an API key for the calling tenant. Its secret is returned once.' })
  async apiKeyCreate(@Arg('input', () => ApiKeyCreateInput) input: ApiKeyCreateInput, @Ctx() ctx: GraphQLContext): Promise<ApiKeyCreatePayload> {
    const r = await ctx.services.tenancy.createApiKey(ctx.em, ctx.caller, input);
    return r.ok
      ? { apiKey: ApiKeyType.from(r.value.apiKey), secret: r.value.secret, userErrors: [] }
      : { apiKey: null, secret: null, userErrors: r.userErrors };
  }

  @Mutation(() => ApiKeyRevokePayload, { description: 'Revokes an API key at once; requests with it are refused from then on.' })
  async apiKeyRevoke(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<ApiKeyRevokePayload> {
    const r = await ctx.services.tenancy.revokeApiKey(ctx.em, ctx.caller, decodeGlobalId(id, 'ApiKey'));
    return r.ok ? { apiKey: ApiKeyType.from(r.value), userErrors: [] } : { apiKey: null, userErrors: r.userErrors };
  }
}
