import { Field, ID, InterfaceType } from 'type-graphql';
import type { GraphQLContext } from '../context';

/** An object with a stable, opaque global id, refetchable through `node(id:)`. */
@InterfaceType({ description: 'An object with a stable, opaque global id, refetchable through `node(id:)`.' })
export abstract class Node {
  /** Opaque global id. */
  @Field(() => ID, { description: 'Opaque global id.' })
  id!: string;
}

/** Loads one object of a type by its internal id, within the caller's tenant; null when absent. */
export type NodeLoader = (ctx: GraphQLContext, id: string) => Promise<Node | null>;

const loaders = new Map<string, NodeLoader>();

/** Each module registers how to refetch its node types; `node(id:)` looks them up here. */
export function registerNodeType(type: string, loader: NodeLoader): void {
  loaders.set(type, loader);
}

export function nodeLoader(type: string): NodeLoader | undefined {
  return loaders.get(type);
}
