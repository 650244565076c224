import type { GatewayExecutor, GatewayInterface } from '@apollo/server-gateway-interface';
import { execute, GraphQLError, type GraphQLSchema } from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';

/** Compiled operations kept per process; clients send a handful of distinct documents. */
const MAX_COMPILED = 500;

/**
 * Executes operations with graphql-jit: each distinct document is compiled once into plain
 * JavaScript and then only run, which removes most of graphql-js's per-field work on large pages
 * (100 transactions × 15 fields). Plugged into Apollo Server through its documented executor hook
 * (the gateway interface), so parsing, validation, limits, plugins and error formatting stay
 * Apollo's. A document graphql-jit cannot compile runs on graphql-js's `execute` instead.
 */
export function jitExecutor(schema: GraphQLSchema): GatewayInterface {
  const compiled = new Map<string, CompiledQuery | null>();
  let notify: ((s: { apiSchema: GraphQLSchema; coreSupergraphSdl: string }) => void) | undefined;

  const executor: GatewayExecutor = async (rc) => {
    const key = `${rc.queryHash}\u0000${rc.operationName ?? ''}`;
    let query = compiled.get(key);
    if (query === undefined) {
      const c = compileQuery(schema, rc.document, rc.operationName ?? undefined);
      query = isCompiledQuery(c) ? c : null;
      compiled.set(key, query);
      if (compiled.size > MAX_COMPILED) compiled.delete(compiled.keys().next().value!);
    }
    if (!query) {
      return execute({ schema, document: rc.document, operationName: rc.operationName, variableValues: rc.request.variables, contextValue: rc.context });
    }
    const result = await query.query(undefined, rc.context, rc.request.variables ?? {});
    if (!result.errors) return result;
    // No `data` at all means the variables were refused before execution: the caller's mistake.
    const refused = !('data' in result);
    // graphql-jit's errors may lack `extensions`; Apollo and our formatter expect graphql's shape.
    const errors = result.errors.map(
      (e) =>
        new GraphQLError(e.message, {
          nodes: e.nodes,
          path: e.path,
          originalError: e.originalError ?? undefined,
          extensions: refused ? { ...e.extensions, code: 'BAD_USER_INPUT' } : { ...e.extensions },
        }),
    );
    return refused ? { errors } : { ...result, errors };
  };

  return {
    onSchemaLoadOrUpdate(callback) {
      notify = callback;
      return () => (notify = undefined);
    },
    async load() {
      notify?.({ apiSchema: schema, coreSupergraphSdl: '' });
      return { executor };
    },
    async stop() {
      compiled.clear();
    },
  };
}
