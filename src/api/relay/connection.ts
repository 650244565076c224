import { ArgsType, Field, Int, ObjectType, type ClassType } from 'type-graphql';
import type { KeysetPosition } from '../../kernel/keyset';
import { ApiError, ErrorCode } from '../errors';

/** Paging state of a connection, as in the Relay cursor connections specification. */
@ObjectType({ simpleResolvers: true, description: 'Paging state of a connection (Relay cursor connections).' })
export class PageInfo {
  @Field(() => Boolean)
  hasNextPage!: boolean;

  @Field(() => Boolean)
  hasPreviousPage!: boolean;

  @Field(() => String, { nullable: true })
  startCursor!: string | null;

  @Field(() => String, { nullable: true })
  endCursor!: string | null;
}

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

/** Forward paging arguments shared by every connection field. */
@ArgsType()
export class ConnectionArgs {
  @Field(() => Int, { nullable: true, description: `How many items to return (1–${MAX_PAGE_SIZE}, default ${DEFAULT_PAGE_SIZE}).` })
  first?: number | null;

  @Field(() => String, { nullable: true, description: 'Return items after this cursor (an `endCursor` or edge `cursor`).' })
  after?: string | null;
}

export interface Edge<T> {
  cursor: string;
  node: T;
}

export interface ConnectionShape<T> {
  edges: Edge<T>[];
  nodes: T[];
  pageInfo: PageInfo;
}

/** Builds `<Name>Connection` and `<Name>Edge` object types for a node type. */
export function connectionType<T extends object>(name: string, nodeType: ClassType<T>, description?: string) {
  @ObjectType(`${name}Edge`, { simpleResolvers: true, description: `An edge in a ${name} connection.` })
  class EdgeType {
    @Field(() => String, { description: 'Cursor of this edge, for `after`.' })
    cursor!: string;

    @Field(() => nodeType)
    node!: T;
  }

  @ObjectType(`${name}Connection`, { simpleResolvers: true, description: description ?? `A page of ${name} objects.` })
  class ConnectionType implements ConnectionShape<T> {
    @Field(() => [EdgeType])
    edges!: Edge<T>[];

    @Field(() => [nodeType], { description: 'The nodes of `edges`, for callers that need no cursors.' })
    nodes!: T[];

    @Field(() => PageInfo)
    pageInfo!: PageInfo;
  }
  return ConnectionType;
}

export { afterPosition, type KeysetPosition } from '../../kernel/keyset';

/** Cursor of a keyset position; `scope` ties it to one list, so a cursor from another list is refused. */
export function encodeCursor(scope: string, pos: KeysetPosition): string {
  return Buffer.from(JSON.stringify([scope, pos.createdAt.toISOString(), pos.id]), 'utf8').toString('base64url');
}

export function decodeCursor(scope: string, cursor: string): KeysetPosition {
  const bad = () => new ApiError(ErrorCode.BAD_USER_INPUT, 'Argument "after" is not a valid cursor for this list.', { argument: 'after' });
  if (cursor.length > 300 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw bad();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (!Array.isArray(parsed) || parsed.length !== 3 || parsed[0] !== scope) throw bad();
  const [, at, id] = parsed as [string, unknown, unknown];
  const createdAt = new Date(typeof at === 'string' ? at : NaN);
  if (Number.isNaN(createdAt.getTime()) || typeof id !== 'string' || id.length > 64) throw bad();
  return { createdAt, id };
}

/** Validates `first`; out of range is a coded BAD_USER_INPUT, never silently clamped. */
export function pageSize(first: number | null | undefined): number {
  if (first === null || first === undefined) return DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) {
    throw new ApiError(ErrorCode.BAD_USER_INPUT, `Argument "first" must be between 1 and ${MAX_PAGE_SIZE}.`, { argument: 'first' });
  }
  return first;
}

/**
 * Turns `limit + 1` rows fetched in keyset order into a connection: the extra row only tells
 * whether another page exists.
 */
export function toConnection<R extends KeysetPosition, T>(
  scope: string,
  rows: R[],
  limit: number,
  hadCursor: boolean,
  toNode: (row: R) => T,
): ConnectionShape<T> {
  const page = rows.slice(0, limit);
  const edges = page.map((row) => ({ cursor: encodeCursor(scope, row), node: toNode(row) }));
  return {
    edges,
    nodes: edges.map((e) => e.node),
    pageInfo: {
      hasNextPage: rows.length > limit,
      hasPreviousPage: hadCursor,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
  };
}

/**
 * Pages an in-memory list (already filtered and ordered) by item key: the cursor names the last
 * item seen, so it stays valid when items are added elsewhere in the list.
 */
export function paginateList<T, N>(
  scope: string,
  items: T[],
  keyOf: (item: T) => string,
  args: { first?: number | null; after?: string | null },
  toNode: (item: T) => N,
): ConnectionShape<N> {
  const limit = pageSize(args.first);
  let start = 0;
  if (args.after) {
    const key = decodeKeyCursor(scope, args.after);
    const index = items.findIndex((i) => keyOf(i) === key);
    if (index < 0) throw new ApiError(ErrorCode.BAD_USER_INPUT, 'Argument "after" is not a valid cursor for this list.', { argument: 'after' });
    start = index + 1;
  }
  const page = items.slice(start, start + limit);
  const edges = page.map((item) => ({ cursor: encodeKeyCursor(scope, keyOf(item)), node: toNode(item) }));
  return {
    edges,
    nodes: edges.map((e) => e.node),
    pageInfo: {
      hasNextPage: start + limit < items.length,
      hasPreviousPage: start > 0,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
  };
}

function encodeKeyCursor(scope: string, key: string): string {
  return Buffer.from(JSON.stringify([scope, key]), 'utf8').toString('base64url');
}

function decodeKeyCursor(scope: string, cursor: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(parsed) && parsed.length === 2 && parsed[0] === scope && typeof parsed[1] === 'string') return parsed[1];
  } catch {
    // fall through to the coded error
  }
  throw new ApiError(ErrorCode.BAD_USER_INPUT, 'Argument "after" is not a valid cursor for this list.', { argument: 'after' });
}
