import { Arg, Args, Ctx, FieldResolver, ID, Mutation, Resolver, Root, Subscription } from 'type-graphql';
import type { GraphQLContext } from '../../api/context';
import { ApiError, ErrorCode } from '../../api/errors';
import { ConnectionArgs, decodeCursor, pageSize, toConnection, type ConnectionShape } from '../../api/relay/connection';
import { decodeGlobalId, toGlobalId } from '../../api/relay/global-id';
import { EventType, type EventEntry } from '../events';
import type { UserError } from '../../api/user-errors';
import { registerNodeType } from '../../api/relay/node';
import { MAX_TRANSACTION_PAGE, encodeTransactionCursor } from '../accounts';
import { AccountType, BalanceType, TransactionsArgs } from '../accounts/accounts.types';
import { EndUserType, TenantType } from '../tenancy/tenancy.types';
import { AccessGrantScope, wrapCursor } from './grants.service';
import {
  AccessGrantAcceptPayload,
  AccessGrantConnection,
  AccessGrantDeclinePayload,
  AccessGrantInviteInput,
  AccessGrantInvitePayload,
  AccessGrantRevokePayload,
  AccessGrantType,
  SharedAccountType,
  SharedPaymentConnection,
  SharedPaymentType,
  SharedTransactionConnection,
  SharedTransactionType,
} from './grants.types';

registerNodeType('AccessGrant', async (ctx, id) => {
  const g = await ctx.services.grants.get(ctx.caller, id);
  return g && AccessGrantType.from(ctx.caller, g);
});
// A shared account's id stops resolving the moment its grant is no longer usable: its grantee
// gets ACCESS_GRANT_INACTIVE (it knew the id), anyone else null.
registerNodeType('SharedAccount', async (ctx, id) => {
  const share = await ctx.services.grants.share(ctx.caller, id);
  return share && SharedAccountType.from(share, await ctx.services.grants.account(ctx.caller, id));
});

// A shared transaction's or payment's id resolves only through a usable grant of the caller
// with the scope that reads it; otherwise (ended grant, other tenant, the owner) it is null.
registerNodeType('SharedTransaction', async (ctx, id) => {
  const found = await ctx.services.grants.transaction(ctx.caller, id);
  return found && SharedTransactionType.fromShared(found.share.sharedId, found.row);
});
registerNodeType('SharedPayment', async (ctx, id) => {
  const p = await ctx.services.grants.payment(ctx.caller, id);
  return p && SharedPaymentType.fromShared(p);
});

type GrantPayload = { accessGrant: AccessGrantType | null; userErrors: UserError[] };

@Resolver(() => TenantType)
export class AccessGrantsTenantResolver {
  @FieldResolver(() => AccessGrantConnection, { description: 'Access grants the tenant gave (as owner) or received (as grantee), oldest first.' })
  async accessGrants(@Root() _tenant: TenantType, @Args(() => ConnectionArgs) args: ConnectionArgs, @Ctx() ctx: GraphQLContext) {
    const limit = pageSize(args.first);
    const after = args.after ? decodeCursor('AccessGrant', args.after) : undefined;
    const rows = await ctx.services.grants.list(ctx.caller, limit + 1, after);
    return toConnection('AccessGrant', rows, limit, !!after, (r) => AccessGrantType.from(ctx.caller, r));
  }
}

@Resolver(() => AccessGrantType)
export class AccessGrantsResolver {
  @Mutation(() => AccessGrantInvitePayload, {
    description:
      "Invites another tenant of this gateway (by its public handle) to read some accounts of one of this tenant's end users, with chosen scopes, until `endsAt`. The grant is PENDING until the grantee accepts it.",
  })
  async accessGrantInvite(@Arg('input', () => AccessGrantInviteInput) input: AccessGrantInviteInput, @Ctx() ctx: GraphQLContext): Promise<GrantPayload> {
    const r = await ctx.services.grants.invite(ctx.caller, {
      endUserId: decodeGlobalId(input.endUserId, 'EndUser'),
      granteeHandle: input.granteeHandle,
      scopes: input.scopes,
      accountIds: input.accountIds.map((a) => decodeGlobalId(a, 'Account')),
      endsAt: input.endsAt,
    });
    return r.ok ? { accessGrant: AccessGrantType.from(ctx.caller, r.value), userErrors: [] } : { accessGrant: null, userErrors: r.userErrors };
  }

  @Mutation(() => AccessGrantAcceptPayload, {
    description: 'The grantee accepts a PENDING grant: from then on its keys read the granted accounts and it receives their events and webhooks.',
  })
  async accessGrantAccept(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<GrantPayload> {
    return payload(ctx, await ctx.services.grants.accept(ctx.caller, decodeGlobalId(id, 'AccessGrant')));
  }

  @Mutation(() => AccessGrantDeclinePayload, { description: 'The grantee declines a PENDING grant.' })
  async accessGrantDecline(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<GrantPayload> {
    return payload(ctx, await ctx.services.grants.decline(ctx.caller, decodeGlobalId(id, 'AccessGrant')));
  }

  @Mutation(() => AccessGrantRevokePayload, {
    description: 'Either side ends a PENDING or ACTIVE grant, at once: the next read through it is refused and none of its events is copied any more.',
  })
  async accessGrantRevoke(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<GrantPayload> {
    return payload(ctx, await ctx.services.grants.revoke(ctx.caller, decodeGlobalId(id, 'AccessGrant')));
  }

  @FieldResolver(() => [SharedAccountType], {
    description: 'For the grantee of an ACTIVE grant: the granted accounts, with grant-scoped ids. Empty for the owner and for a grant that is not ACTIVE.',
  })
  async accounts(@Root() grant: AccessGrantType, @Ctx() ctx: GraphQLContext): Promise<SharedAccountType[]> {
    const shares = await ctx.services.grants.shares(ctx.caller, grant.internalId);
    return Promise.all(shares.map(async (s) => SharedAccountType.from(s, await ctx.services.grants.account(ctx.caller, s.sharedId))));
  }

  @FieldResolver(() => [AccountType], { nullable: true, description: 'For the owner: its own accounts the grant names. Null for the grantee.' })
  async grantedAccounts(@Root() grant: AccessGrantType, @Ctx() ctx: GraphQLContext): Promise<AccountType[] | null> {
    if (grant.viewerSide !== 'OWNER') return null;
    const records = await Promise.all(grant.accountInternalIds.map((id) => ctx.services.accounts.record(ctx.caller, id)));
    return records.filter((a) => a !== null).map(AccountType.fromRecord);
  }

  @FieldResolver(() => EndUserType, { nullable: true, description: 'For the owner: the end user whose accounts are shared. Null for the grantee.' })
  async endUser(@Root() grant: AccessGrantType, @Ctx() ctx: GraphQLContext): Promise<EndUserType | null> {
    if (grant.viewerSide !== 'OWNER') return null;
    const u = await ctx.services.tenancy.endUser(ctx.em, ctx.caller, grant.endUserInternalId);
    return u && EndUserType.from(u);
  }
}

@Resolver(() => SharedAccountType)
export class SharedAccountsResolver {
  @FieldResolver(() => AccessGrantType)
  async accessGrant(@Root() account: SharedAccountType, @Ctx() ctx: GraphQLContext): Promise<AccessGrantType> {
    const g = await ctx.services.grants.get(ctx.caller, account.grantInternalId);
    if (!g) throw new ApiError(ErrorCode.NOT_FOUND, 'The access grant no longer exists.');
    return AccessGrantType.from(ctx.caller, g);
  }

  @FieldResolver(() => [BalanceType], { description: "Balances as of the owner's last sync (needs BALANCES_READ)." })
  async balances(@Root() account: SharedAccountType, @Ctx() ctx: GraphQLContext): Promise<BalanceType[]> {
    return (await ctx.services.grants.balances(ctx.caller, account.sharedId)).map(BalanceType.from);
  }

  @FieldResolver(() => SharedTransactionConnection, {
    description: "Stored transactions in the owner's page order (needs TRANSACTIONS_READ). Never calls the bank.",
  })
  async transactions(
    @Root() account: SharedAccountType,
    @Args(() => TransactionsArgs) args: TransactionsArgs,
    @Ctx() ctx: GraphQLContext,
  ): Promise<ConnectionShape<SharedTransactionType>> {
    const first = args.first ?? 50;
    if (!Number.isInteger(first) || first < 1 || first > MAX_TRANSACTION_PAGE) {
      throw new ApiError(ErrorCode.BAD_USER_INPUT, `Argument "first" must be between 1 and ${MAX_TRANSACTION_PAGE}.`, { argument: 'first' });
    }
    const { rows } = await ctx.services.grants.transactions(ctx.caller, account.sharedId, first, args.after, args.filter);
    const page = rows.length > first ? rows.slice(0, first) : rows;
    const edges = page.map((r) => ({
      cursor: wrapCursor(
        account.sharedId,
        encodeTransactionCursor(r.accountId, { pending: r.status === 'PENDING', sortDate: r.sortDate, createdVersion: r.createdVersion, id: r.id }),
      ),
      node: SharedTransactionType.fromShared(account.sharedId, r),
    }));
    return {
      edges,
      nodes: edges.map((e) => e.node),
      pageInfo: {
        hasNextPage: rows.length > first,
        hasPreviousPage: !!args.after,
        startCursor: edges[0]?.cursor ?? null,
        endCursor: edges.at(-1)?.cursor ?? null,
      },
    };
  }

  @FieldResolver(() => SharedPaymentConnection, {
    description:
      "Payments the owner made from this account (its end user's payments whose debtor IBAN is the account's), oldest first (needs PAYMENTS_READ). Read-only: a grant never initiates.",
  })
  async payments(
    @Root() account: SharedAccountType,
    @Args(() => ConnectionArgs) args: ConnectionArgs,
    @Ctx() ctx: GraphQLContext,
  ): Promise<ConnectionShape<SharedPaymentType>> {
    const limit = pageSize(args.first);
    const after = args.after ? decodeCursor('SharedPayment', args.after) : undefined;
    const rows = await ctx.services.grants.payments(ctx.caller, account.sharedId, limit + 1, after);
    return toConnection('SharedPayment', rows, limit, !!after, SharedPaymentType.fromShared);
  }
}

@Resolver(() => SharedPaymentType)
export class SharedPaymentsResolver {
  @FieldResolver(() => SharedAccountType, { description: 'The shared account the payment was made from.' })
  async account(@Root() payment: SharedPaymentType, @Ctx() ctx: GraphQLContext): Promise<SharedAccountType> {
    const share = await ctx.services.grants.share(ctx.caller, payment.sharedAccountId);
    if (!share) throw new ApiError(ErrorCode.NOT_FOUND, 'No shared account with this id.');
    return SharedAccountType.from(share, await ctx.services.grants.account(ctx.caller, payment.sharedAccountId));
  }
}

function payload(ctx: GraphQLContext, r: Awaited<ReturnType<GraphQLContext['services']['grants']['accept']>>): GrantPayload {
  return r.ok ? { accessGrant: AccessGrantType.from(ctx.caller, r.value), userErrors: [] } : { accessGrant: null, userErrors: r.userErrors };
}

/** Live reads through a grant, over graphql-ws. */
@Resolver()
export class SharedSubscriptionsResolver {
  @Subscription(() => [SharedTransactionType], {
    description:
      "New transactions of a shared account as the owner's syncs store them (each TRANSACTIONS_ADDED copied to the grantee, up to 100 transactions), with grant-scoped ids; needs TRANSACTIONS_READ. Each is a read in the owner's journal. Completes when the grant is revoked.",
    subscribe: async function* ({ args, context }) {
      const ctx = context as GraphQLContext;
      const sharedId = decodeGlobalId(args.sharedAccountId as string, 'SharedAccount');
      const share = sharedId ? await ctx.services.grants.share(ctx.caller, sharedId) : null;
      if (!sharedId || !share) throw new ApiError(ErrorCode.NOT_FOUND, 'No shared account with this id.', { argument: 'sharedAccountId' });
      await ctx.services.grants.readable(ctx.caller, sharedId, AccessGrantScope.TRANSACTIONS_READ);
      const grantGid = toGlobalId('AccessGrant', share.grantId);
      for await (const e of ctx.services.eventStream.follow(ctx.caller, null, [EventType.TRANSACTIONS_ADDED, EventType.ACCESS_GRANT_REVOKED], ctx.signal)) {
        // The copy trigger sends nothing after a revocation; the subscription ends with it.
        if (e.type === EventType.ACCESS_GRANT_REVOKED) {
          if (e.payload.accessGrantId === grantGid) return;
          continue;
        }
        if (e.resourceType === 'SharedAccount' && e.resourceId === sharedId) yield e;
      }
    },
  })
  async sharedTransactionsAdded(
    @Root() e: EventEntry,
    @Arg('sharedAccountId', () => ID) sharedAccountId: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<SharedTransactionType[]> {
    const sharedId = decodeGlobalId(sharedAccountId, 'SharedAccount')!;
    const ids = ((e.payload.transactionIds as string[] | undefined) ?? []).map((g) => decodeGlobalId(g, 'SharedTransaction')).filter((x): x is string => !!x);
    return (await ctx.services.grants.transactionsBySharedIds(ctx.caller, sharedId, ids)).map((r) => SharedTransactionType.fromShared(sharedId, r));
  }
}
