import {
  Kind,
  getNamedType,
  isInterfaceType,
  isObjectType,
  valueFromASTUntyped,
  type ASTVisitor,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
  type ValueNode,
} from 'graphql';
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

/**
 * Estimated cost of an operation: every field costs 1, and a list field multiplies the cost of
 * its children by its page size (`first`, the number of `ids`, or the default page of a
 * connection). Fragments are followed; a fragment spread twice is counted twice, as it executes.
 */
export function operationCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | undefined | null,
  variables: Record<string, unknown> | undefined | null,
): number {
  const fragments = new Map<string, FragmentDefinitionNode>();
  let operation: OperationDefinitionNode | undefined;
  for (const def of document.definitions) {
    if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
    else if (def.kind === Kind.OPERATION_DEFINITION && (!operationName || def.name?.value === operationName)) operation ??= def;
  }
  if (!operation) return 0;
  const root = schema.getRootType(operation.operation);
  const argValue = (node: ValueNode): unknown => valueFromASTUntyped(node, (variables ?? undefined) as never);

  const costOf = (set: SelectionSetNode | undefined, parent: GraphQLNamedType | undefined | null, seen: Set<string>): number => {
    if (!set) return 0;
    let total = 0;
    for (const sel of set.selections) {
      if (sel.kind === Kind.FIELD) {
        const field = parent && (isObjectType(parent) || isInterfaceType(parent)) ? parent.getFields()[sel.name.value] : undefined;
        const type = field ? getNamedType(field.type) : undefined;
        const children = costOf(sel.selectionSet, type, seen);
        const args = new Map((sel.arguments ?? []).map((a) => [a.name.value, argValue(a.value)]));
        const first = args.get('first');
        const ids = args.get('ids');
        const size = typeof first === 'number' ? first : Array.isArray(ids) ? ids.length : type?.name.endsWith('Connection') ? DEFAULT_PAGE_SIZE : 1;
        total += 1 + Math.max(size, 1) * children;
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        total += costOf(sel.selectionSet, sel.typeCondition ? schema.getType(sel.typeCondition.name.value) : parent, seen);
      } else {
        const frag = fragments.get(sel.name.value);
        if (!frag || seen.has(frag.name.value)) continue;
        total += costOf(frag.selectionSet, schema.getType(frag.typeCondition.name.value), new Set([...seen, frag.name.value]));
      }
    }
    return total;
  };
  return costOf(operation.selectionSet, root, new Set());
}

/** Refuses an operation whose estimated cost exceeds `max`, before anything executes. */
export function assertCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | undefined | null,
  variables: Record<string, unknown> | undefined | null,
  max: number,
): void {
  const cost = operationCost(schema, document, operationName, variables);
  if (cost > max) {
    throw new ApiError(ErrorCode.QUERY_TOO_COMPLEX, `Query cost ${cost} exceeds the limit of ${max}.`, { cost, maxCost: max });
  }
}
