import type { NextFunction, Request, Response } from 'express';
import { getOperationAST, parse, specifiedRules, validate, type DocumentNode, type GraphQLSchema, type ValidationRule } from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import type { GraphQLContext } from './context';
import { operationCost } from './limits';
import { hasUnstorableString } from './input-guard';

/** Documents kept prepared per process. */
const MAX_PREPARED = 500;

interface Prepared {
  document: DocumentNode;
  compiled: CompiledQuery;
  /** The operation's name; null when unnamed. */
  name: string | null;
}

export interface FastPathOptions {
  schema: GraphQLSchema;
  validationRules: ValidationRule[];
  maxTokens: number;
  maxCost: number;
  /** Called for each query answered here (the others are Apollo's to measure), with the time it took. */
  onServed?: (operationName: string | null, seconds: number) => void;
  /** Builds the resolver context; null when the caller is not authenticated (Apollo then answers). */
  context(req: Request, res: Response): Promise<GraphQLContext | null>;
}

/**
 * The read path for successful queries, in front of Apollo Server: a query document is parsed,
 * validated (the same rules and limits as Apollo's) and compiled by graphql-jit once, with a
 * serializer generated from its selection; each request then only authenticates, runs the
 * compiled query and writes the JSON. Anything else — mutations, introspection, batches,
 * extensions, invalid or over-cost documents, unauthenticated callers, or any error in the result —
 * goes to Apollo, which answers exactly as it always does (queries have no side effects, so
 * re-running one there is safe). Pages of 100 transactions are where this matters.
 */
export function fastQueryPath(options: FastPathOptions) {
  const prepared = new Map<string, Prepared | null>();
  const rules = [...specifiedRules, ...options.validationRules];

  const prepare = (query: string, operationName: string | undefined): Prepared | null => {
    const key = `${operationName ?? ''}\u0000${query}`;
    const hit = prepared.get(key);
    if (hit !== undefined) return hit;
    let result: Prepared | null = null;
    try {
      const document = parse(query, { maxTokens: options.maxTokens });
      const operation = getOperationAST(document, operationName);
      const introspection = /\b__(schema|type)\b/.test(query);
      if (operation?.operation === 'query' && !introspection && validate(options.schema, document, rules).length === 0) {
        // A serializer generated from the selection when graphql-jit can (not with custom scalars), else JSON.stringify.
        const fast = compileQuery(options.schema, document, operationName, { customJSONSerializer: true });
        const compiled = isCompiledQuery(fast) ? fast : compileQuery(options.schema, document, operationName);
        if (isCompiledQuery(compiled)) result = { document, compiled, name: operation.name?.value ?? null };
      }
    } catch {
      result = null; // a syntax error or token limit: Apollo reports it
    }
    prepared.set(key, result);
    if (prepared.size > MAX_PREPARED) prepared.delete(prepared.keys().next().value!);
    return result;
  };

  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const started = performance.now();
    let served: Prepared;
    try {
      const body = req.body as { query?: unknown; operationName?: unknown; variables?: unknown; extensions?: unknown } | undefined;
      if (req.method !== 'POST' || !body || typeof body.query !== 'string' || body.extensions !== undefined) return next();
      const operationName = typeof body.operationName === 'string' ? body.operationName : undefined;
      if (body.operationName != null && operationName === undefined) return next();
      const variables = body.variables ?? {};
      if (typeof variables !== 'object' || Array.isArray(variables) || variables === null) return next();
      const p = prepare(body.query, operationName);
      if (!p || hasUnstorableString(p.document, variables) || operationCost(options.schema, p.document, operationName, variables as Record<string, unknown>) > options.maxCost) return next();
      const context = await options.context(req, res);
      if (!context) return next();
      const result = await p.compiled.query(undefined, context, variables as Record<string, unknown>);
      if (result.errors?.length || !('data' in result)) return next();
      res.status(200).type('application/json; charset=utf-8').send(`${p.compiled.stringify(result)}\n`);
      served = p;
    } catch {
      return next();
    }
    // Outside the try: the answer is sent, so nothing here may hand the request to Apollo.
    options.onServed?.(served.name, (performance.now() - started) / 1000);
  };
}
