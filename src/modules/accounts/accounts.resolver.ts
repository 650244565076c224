import { getArgumentValues, Kind, type FieldNode, type GraphQLObjectType, type GraphQLResolveInfo } from 'graphql';
import { Arg, Args, Ctx, FieldResolver, ID, Info, Query, Resolver, Root } from 'type-graphql';
import type { GraphQLContext } from '../../api/context';
import { ApiError, ErrorCode } from '../../api/errors';
import { ConnectionArgs, decodeCursor, pageSize, toConnection, type ConnectionShape } from '../../api/relay/connection';
import { decodeGlobalId } from '../../api/relay/global-id';
import { registerNodeType } from '../../api/relay/node';
import { ConsentType } from '../consents/consents.types';
import { TransactionConnection, TransactionType } from '../transactions/transactions.types';
import { MAX_TRANSACTION_PAGE, encodeTransactionCursor } from './accounts.service';
import { AccountConnection, AccountType, BalanceType, SyncBudgetType, TransactionsArgs } from './accounts.types';

registerNodeType('Account', async (ctx, id) => {
  const a = await ctx.services.accounts.record(ctx.caller, id);
  return a && AccountType.fromRecord(a);
});

@Resolver(() => AccountType)
export class AccountsResolver {
  @Query(() => AccountConnection, { description: "The tenant's accounts, oldest first." })
  async accounts(@Args(() => ConnectionArgs) args: ConnectionArgs, @Ctx() ctx: GraphQLContext) {
    const limit = pageSize(args.first);
    const after = args.after ? decodeCursor('Account', args.after) : undefined;
    const rows = await ctx.services.accounts.list(ctx.em, ctx.caller, limit + 1, after);
    return toConnection('Account', rows, limit, !!after, AccountType.from);
  }

  @Query(() => AccountType, { nullable: true, description: 'One account of the tenant; null when the id names none.' })
  async account(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext, @Info() info: GraphQLResolveInfo): Promise<AccountType | null> {
    const internal = decodeGlobalId(id, 'Account');
    if (!internal) return null;
    // The usual page request asks the account for its transactions and nothing else: one query, not two.
    const page = pageOnlySelection(info);
    const read = page && (await ctx.services.accounts.transactionsFirst(ctx.caller, internal, page.first, page.after));
    if (page && read) {
      if (read.account === null) return null;
      const account = read.account === 'has-rows' ? AccountType.identified(internal) : AccountType.fromRecord(read.account);
      account.prefetchedPage = { ...page, rows: read.rows };
      return account;
    }
    const a = await ctx.services.accounts.record(ctx.caller, internal);
    return a && AccountType.fromRecord(a);
  }

  @FieldResolver(() => ConsentType, { description: 'The consent that currently grants access to this account.' })
  async consent(@Root() account: AccountType, @Ctx() ctx: GraphQLContext): Promise<ConsentType> {
    const c = await ctx.services.consents.get(ctx.em, ctx.caller, account.consentId);
    return ConsentType.from(c!);
  }

  @FieldResolver(() => [BalanceType], { description: 'Balances as of the last sync (empty before the first one, or without the BALANCES scope).' })
  async balances(@Root() account: AccountType, @Ctx() ctx: GraphQLContext): Promise<BalanceType[]> {
    return (await ctx.services.accounts.balances(ctx.caller, account.internalId)).map(BalanceType.from);
  }

  @FieldResolver(() => SyncBudgetType, {
    description: 'Unattended (background) reads left today and when the counter resets. User-present syncs do not count.',
  })
  async syncBudget(@Root() account: AccountType, @Ctx() ctx: GraphQLContext): Promise<SyncBudgetType> {
    const a = await ctx.services.accounts.get(ctx.em, ctx.caller, account.internalId);
    if (!a) throw new ApiError(ErrorCode.NOT_FOUND, 'No account with this id.');
    return ctx.services.sync.budget(a);
  }

  @FieldResolver(() => TransactionConnection, {
    description:
      'Transactions as of the last sync: pending ones on top, then newest date first, then the order the gateway learnt them (latest first) — the same order on every read.',
  })
  async transactions(
    @Root() account: AccountType,
    @Args(() => TransactionsArgs) args: TransactionsArgs,
    @Ctx() ctx: GraphQLContext,
  ): Promise<ConnectionShape<TransactionType>> {
    const first = args.first ?? DEFAULT_PAGE;
    if (!validFirst(first)) {
      throw new ApiError(ErrorCode.BAD_USER_INPUT, `Argument "first" must be between 1 and ${MAX_TRANSACTION_PAGE}.`, { argument: 'first' });
    }
    const pre = account.prefetchedPage;
    const rows =
      pre && !args.filter && pre.first === first && pre.after === (args.after ?? null)
        ? pre.rows
        : await ctx.services.accounts.transactions(ctx.caller, account.internalId, first, args.after, args.filter);
    const page = rows.length > first ? rows.slice(0, first) : rows;
    const edges = page.map((r) => ({
      cursor: encodeTransactionCursor(r.accountId, { pending: r.status === 'PENDING', sortDate: r.sortDate, createdVersion: r.createdVersion, id: r.id }),
      node: TransactionType.from(r),
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
}

const DEFAULT_PAGE = 50;
const validFirst = (first: number) => Number.isInteger(first) && first >= 1 && first <= MAX_TRANSACTION_PAGE;

/**
 * `first` and `after` of `account`'s selection when it is one `transactions` field without a filter,
 * beside `id` or `__typename` at most (no fragment, alias twice or directive); undefined otherwise,
 * and when `first` is out of range (the field's resolver reports that).
 */
function pageOnlySelection(info: GraphQLResolveInfo): { first: number; after: string | null } | undefined {
  if (info.fieldNodes.length !== 1) return undefined;
  let page: FieldNode | undefined;
  for (const s of info.fieldNodes[0]!.selectionSet?.selections ?? []) {
    if (s.kind !== Kind.FIELD || s.directives?.length) return undefined;
    if (s.name.value === 'transactions' && !page) page = s;
    else if (s.name.value !== 'id' && s.name.value !== '__typename') return undefined;
  }
  if (!page) return undefined;
  const field = (info.returnType as GraphQLObjectType).getFields()['transactions']!;
  const args = getArgumentValues(field, page, info.variableValues) as { first?: number | null; after?: string | null; filter?: unknown };
  const first = args.first ?? DEFAULT_PAGE;
  return args.filter == null && validFirst(first) ? { first, after: args.after ?? null } : undefined;
}
