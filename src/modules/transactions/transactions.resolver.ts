import { GraphQLJSONObject } from 'graphql-scalars';
import { Arg, Ctx, FieldResolver, ID, Int, Query, Resolver, Root } from 'type-graphql';
import type { GraphQLContext } from '../../api/context';
import { decodeGlobalId, toGlobalId } from '../../api/relay/global-id';
import { registerNodeType } from '../../api/relay/node';
import { TransactionType, TransactionsSyncResult } from './transactions.types';

registerNodeType('Transaction', async (ctx, id) => {
  const [r] = await ctx.services.accounts.transactionsByIds(ctx.caller, [id]);
  return r ? TransactionType.from(r) : null;
});

/** Raw payloads asked for in one request are read in one query. */
const rawBatches = new WeakMap<GraphQLContext, Promise<Map<string, unknown>> & { ids?: string[] }>();

function loadRaw(ctx: GraphQLContext, id: string): Promise<unknown> {
  let batch = rawBatches.get(ctx);
  if (!batch) {
    const ids: string[] = [];
    batch = Object.assign(
      new Promise<Map<string, unknown>>((resolve, reject) => {
        setImmediate(() => {
          rawBatches.delete(ctx);
          ctx.services.accounts.rawPayloads(ctx.caller, ids).then(resolve, reject);
        });
      }),
      { ids },
    );
    rawBatches.set(ctx, batch);
  }
  batch.ids!.push(id);
  return batch.then((m) => m.get(id) ?? null);
}

@Resolver(() => TransactionType)
export class TransactionsResolver {
  @Query(() => TransactionsSyncResult, {
    description:
      'The change feed of one account: transactions added, modified and removed after `cursor` (from the start when absent), at most `count` (1–500, default 100). A cursor stays valid while new syncs land, and never skips or repeats a change.',
  })
  async transactionsSync(
    @Arg('accountId', () => ID) accountId: string,
    @Arg('cursor', () => String, { nullable: true }) cursor: string | null,
    @Arg('count', () => Int, { nullable: true }) count: number | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<TransactionsSyncResult> {
    const page = await ctx.services.accounts.changes(ctx.em, ctx.caller, decodeGlobalId(accountId, 'Account'), cursor, count);
    return {
      added: page.added.map(TransactionType.from),
      modified: page.modified.map(TransactionType.from),
      removed: page.removed.map((id) => toGlobalId('Transaction', id)),
      nextCursor: page.nextCursor,
      hasMore: page.hasMore,
    };
  }

  @FieldResolver(() => GraphQLJSONObject, {
    nullable: true,
    description: "The bank's own payload of the entry, as last received (for support and reconciliation).",
  })
  async raw(@Root() t: TransactionType, @Ctx() ctx: GraphQLContext): Promise<unknown> {
    return loadRaw(ctx, t.internalId);
  }
}
