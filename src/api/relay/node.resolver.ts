import { Arg, Ctx, ID, Query, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../context';
import { ApiError, ErrorCode } from '../errors';
import { parseGlobalId } from './global-id';
import { Node, nodeLoader } from './node';

const MAX_NODES = 100;

@Resolver()
export class NodeResolver {
  @Query(() => Node, { nullable: true, description: "Fetches any object by its global id; null when it doesn't exist for the caller's tenant." })
  async node(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<Node | null> {
    return load(ctx, id);
  }

  @Query(() => [Node], { nullable: 'items', description: `Fetches up to ${MAX_NODES} objects by global id, in order; null for each one not found.` })
  async nodes(@Arg('ids', () => [ID]) ids: string[], @Ctx() ctx: GraphQLContext): Promise<(Node | null)[]> {
    if (ids.length > MAX_NODES) throw new ApiError(ErrorCode.BAD_USER_INPUT, `At most ${MAX_NODES} ids per call.`, { argument: 'ids' });
    return Promise.all(ids.map((id) => load(ctx, id)));
  }
}

// Unknown, malformed and foreign ids all answer null: a caller can't tell another tenant's id exists.
async function load(ctx: GraphQLContext, globalId: string): Promise<Node | null> {
  const parsed = parseGlobalId(globalId);
  const loader = parsed && nodeLoader(parsed.type);
  return loader ? loader(ctx, parsed.id) : null;
}
