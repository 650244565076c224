import type { NextFunction, Request, Response } from 'express';
import { GraphQLError, type ExecutionResult, type GraphQLFormattedError, type GraphQLSchema } from 'graphql';
import { runCompiled, type CompiledOperations } from './compiled';
import type { GraphQLContext } from './context';
import { assertCost } from './limits';
import { assertStorableInput } from './input-guard';
import { graphqlOutcome } from '../platform/metrics';

export interface FastPathOptions {
  schema: GraphQLSchema;
  /** The compile cache Apollo's executor uses too. */
  operations: CompiledOperations;
  maxCost: number;
  /** The one error formatter, Apollo's `formatError` (masking, request id, logging). */
  formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError;
  /** Called for each operation answered here (Apollo's plugin times the others), with its outcome and the time it took. */
  onServed?: (operationName: string | null, outcome: ReturnType<typeof graphqlOutcome>, seconds: number) => void;
  /** Builds the resolver context, as Apollo's context function does: throws UNAUTHENTICATED for a missing or bad key. */
  context(req: Request, res: Response): Promise<GraphQLContext>;
}

/**
 * The compiled read path for queries, in front of Apollo Server. Whether it answers a request is
 * decided before anything runs: a POST of one query document (no extensions, answered as
 * application/json) that parses, validates with Apollo's rules and compiles — the same compiled
 * operation Apollo's executor would run, from the same cache. Anything else (mutations, introspection, batches, invalid documents)
 * goes to Apollo untouched. A request this path takes is answered here and only here, errors
 * included: the caller's key, the input guard and the cost limit as Apollo's plugin checks them,
 * one execution, then every error through the one formatter with the HTTP status Apollo Server
 * would give. What it saves is Apollo's per-request pipeline, and on success Express's ETag over
 * the whole page.
 */
export function fastQueryPath(options: FastPathOptions) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const body = req.body as { query?: unknown; operationName?: unknown; variables?: unknown; extensions?: unknown } | undefined;
    if (req.method !== 'POST' || !body || typeof body.query !== 'string' || body.extensions !== undefined) return next();
    // Apollo answers in the media type the client prefers; this path writes application/json only.
    if (req.headers.accept && req.accepts(['application/json', 'application/graphql-response+json']) !== 'application/json') return next();
    const operationName = typeof body.operationName === 'string' ? body.operationName : undefined;
    if (body.operationName != null && operationName === undefined) return next();
    const variables = (body.variables ?? {}) as Record<string, unknown>;
    if (typeof variables !== 'object' || Array.isArray(variables) || variables === null) return next();
    const query = options.operations.readQuery(body.query, operationName);
    if (!query) return next();

    // From here on the request is this path's: nothing below hands it to Apollo.
    let context: GraphQLContext;
    try {
      context = await options.context(req, res);
    } catch (err) {
      // As Apollo answers a failed context function: the error alone, its own status or 500.
      return void send(res, requestFailure(err, 'Context creation failed: ', options.formatError));
    }
    const started = performance.now();
    let answer: Answer;
    try {
      // The checks Apollo's didResolveOperation plugin makes, in the same order.
      assertStorableInput(query.document, variables);
      assertCost(options.schema, query.document, operationName, variables, options.maxCost);
    } catch (err) {
      answer = requestFailure(err, '', options.formatError);
      send(res, answer);
      return void options.onServed?.(query.name, graphqlOutcome(answer.result), (performance.now() - started) / 1000);
    }
    const result = await runCompiled(query.compiled, context, variables);
    if (result.errors?.length) {
      answer = executionAnswer(result, options.formatError);
      send(res, answer);
    } else {
      answer = { status: 200, result };
      // Written as Apollo Server writes it, without Express's res.send: a POST answer is never
      // conditional, so the ETag res.send would hash over the whole page is never used.
      const json = `${JSON.stringify(result)}\n`;
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json) }).end(json);
    }
    options.onServed?.(query.name, graphqlOutcome(answer.result), (performance.now() - started) / 1000);
  };
}

interface Answer {
  status: number;
  result: { data?: unknown; errors?: readonly GraphQLFormattedError[]; extensions?: unknown };
}

type Formatter = FastPathOptions['formatError'];

/** Written as Apollo Server writes a result: errors, data, extensions, in that order. */
function send(res: Response, answer: Answer): void {
  const { errors, data, extensions } = answer.result;
  res
    .status(answer.status)
    .type('application/json; charset=utf-8')
    .send(`${JSON.stringify({ errors, data, extensions })}\n`);
}

/**
 * Each error as Apollo Server hands it to `formatError`: coded INTERNAL_SERVER_ERROR when it has no
 * code, its `extensions.http` taken off and kept as the response's status (the last one wins).
 */
function formatErrors(errors: readonly GraphQLError[], formatError: Formatter): { formatted: GraphQLFormattedError[]; status: number | undefined } {
  let status: number | undefined;
  const formatted = errors.map((error) => {
    const { http, ...rest } = error.extensions as { http?: { status?: unknown } } & Record<string, unknown>;
    if (typeof http?.status === 'number') status = http.status;
    return formatError({ ...error.toJSON(), extensions: { ...rest, code: rest.code ?? 'INTERNAL_SERVER_ERROR' } }, error);
  });
  return { formatted, status };
}

/** A request refused before execution: the error alone, with its status or 500. */
function requestFailure(err: unknown, prefix: string, formatError: Formatter): Answer {
  const error =
    err instanceof GraphQLError
      ? err
      : new GraphQLError(prefix + (err instanceof Error ? err.message : String(err)), { originalError: err instanceof Error ? err : undefined });
  const { formatted, status } = formatErrors([error], formatError);
  return { status: status ?? 500, result: { errors: formatted } };
}

/** An executed operation with errors: 200 with its data, 400 when the variables were refused (no data), unless an error carries its own status. */
function executionAnswer(result: ExecutionResult, formatError: Formatter): Answer {
  const { formatted, status } = formatErrors(result.errors ?? [], formatError);
  return { status: status ?? (result.data === undefined ? 400 : 200), result: { ...result, errors: formatted } };
}
