import {
  Kind,
  type ASTVisitor,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLSchema,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';
import { getComplexity, simpleEstimator, type ComplexityEstimator } from 'graphql-query-complexity';
import { ApiError, ErrorCode } from './errors';
import { DEFAULT_PAGE_SIZE } from './relay/connection';

/** Refuses operations nested deeper than `max` fields (fragments are followed, cycles cut). */
export function depthLimit(max: number): ValidationRule {
  return (context: ValidationContext): ASTVisitor => {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const def of context.getDocument().definitions) {
      if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
    }
    const depthOf = (set: SelectionSetNode | undefined, seen: Set<string>): number => {
      if (!set) return 0;
      let deepest = 0;
      for (const sel of set.selections) {
        if (sel.kind === Kind.FIELD) {
          if (sel.name.value.startsWith('__')) continue;
          deepest = Math.max(deepest, 1 + depthOf(sel.selectionSet, seen));
        } else if (sel.kind === Kind.INLINE_FRAGMENT) {
          deepest = Math.max(deepest, depthOf(sel.selectionSet, seen));
        } else {
          const name = sel.name.value;
          const frag = fragments.get(name);
          if (!frag || seen.has(name)) continue;
          deepest = Math.max(deepest, depthOf(frag.selectionSet, new Set([...seen, name])));
        }
        if (deepest > max) return deepest;
      }
      return deepest;
    };
    return {
      OperationDefinition(node) {
        const depth = depthOf(node.selectionSet, new Set());
        if (depth > max) {
          context.reportError(
            new ApiError(ErrorCode.QUERY_TOO_DEEP, `Query is nested ${depth > max + 1 ? 'more than ' + max : depth} levels deep; the limit is ${max}.`, {
              maxDepth: max,
            }),
          );
        }
      },
    };
  };
}

/** A list field costs its page size (`first`, or the default) times its children. */
const pagedEstimator: ComplexityEstimator = ({ args, childComplexity }) => {
  if (typeof args.first === 'number') return 1 + Math.max(args.first, 0) * Math.max(childComplexity, 1);
  if (Array.isArray(args.ids)) return 1 + args.ids.length * Math.max(childComplexity, 1);
  return undefined;
};

/**
 * Refuses an operation whose estimated cost exceeds `max`, before anything executes. Connection
 * fields without `first` count as a default page. Runs after validation (it needs the variables).
 */
export function assertCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | undefined | null,
  variables: Record<string, unknown> | undefined | null,
  max: number,
): void {
  let cost: number;
  try {
    cost = getComplexity({
      schema,
      query: document,
      operationName: operationName ?? undefined,
      variables: variables ?? {},
      estimators: [
        pagedEstimator,
        ({ field, childComplexity }) =>
          /Connection!?$/.test(String(field.type)) ? 1 + DEFAULT_PAGE_SIZE * Math.max(childComplexity, 1) : undefined,
        simpleEstimator({ defaultComplexity: 1 }),
      ],
    });
  } catch {
    // Bad variables are reported by execution with their own coded error.
    return;
  }
  if (cost > max) {
    throw new ApiError(ErrorCode.QUERY_TOO_COMPLEX, `Query cost ${cost} exceeds the limit of ${max}.`, { cost, maxCost: max });
  }
}
