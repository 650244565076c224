import {
  execute,
  getOperationAST,
  GraphQLError,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type ExecutionResult,
  type GraphQLSchema,
  type ValidationRule,
} from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';

/** Compiled operations kept per process; clients send a handful of distinct documents. */
const MAX_COMPILED = 500;

interface Entry {
  document: DocumentNode;
  /** Null when graphql-jit cannot compile the operation (graphql-js then runs it); undefined until a path needs it. */
  compiled?: CompiledQuery | null;
  /** Whether the compiled read path may answer it; worked out the first time that path asks. */
  readQuery?: boolean;
}

/** A query the compiled read path answers: parsed, validated and compiled once. */
export interface ReadQuery {
  document: DocumentNode;
  compiled: CompiledQuery;
  /** The operation's name; null when unnamed. */
  name: string | null;
}

/**
 * The one cache of compiled operations, keyed by document text and operation name, shared by
 * Apollo Server's executor and the compiled read path: a document is compiled by graphql-jit once,
 * whichever of the two sees it first.
 */
export class CompiledOperations {
  readonly #entries = new Map<string, Entry>();

  constructor(
    private readonly schema: GraphQLSchema,
    /** Apollo's validation rules besides graphql's own: the read path validates with the same ones. */
    private readonly rules: readonly ValidationRule[],
    private readonly maxTokens: number,
  ) {}

  /** Runs an operation Apollo parsed and validated: compiled, or by graphql-js when graphql-jit cannot compile it. */
  async execute(
    source: string,
    document: DocumentNode,
    operationName: string | null | undefined,
    context: unknown,
    variables: Record<string, unknown> | undefined,
  ): Promise<ExecutionResult> {
    const entry = this.#entry(source, operationName, () => document);
    if (entry.compiled === undefined) entry.compiled = compile(this.schema, entry.document, operationName ?? undefined);
    if (!entry.compiled) return execute({ schema: this.schema, document, operationName, variableValues: variables, contextValue: context });
    return runCompiled(entry.compiled, context, variables ?? {});
  }

  /**
   * The compiled form of a query the read path may answer, decided before anything runs: a valid
   * query (same rules and token limit as Apollo's), no introspection, compilable. Null for any
   * other document, which Apollo then answers (and runs) alone.
   */
  readQuery(source: string, operationName: string | undefined): ReadQuery | null {
    let entry: Entry;
    try {
      entry = this.#entry(source, operationName, () => parse(source, { maxTokens: this.maxTokens }));
    } catch (err) {
      if (err instanceof GraphQLError) return null; // a syntax error or the token limit: Apollo reports it
      throw err;
    }
    const operation = getOperationAST(entry.document, operationName);
    if (entry.readQuery === undefined) {
      // Validated before compiling: graphql-jit expects a valid document.
      const valid =
        operation?.operation === 'query' &&
        !/\b__(schema|type)\b/.test(source) &&
        validate(this.schema, entry.document, [...specifiedRules, ...this.rules]).length === 0;
      if (valid && entry.compiled === undefined) entry.compiled = compile(this.schema, entry.document, operationName);
      entry.readQuery = valid && entry.compiled !== null;
    }
    return entry.readQuery && operation ? { document: entry.document, compiled: entry.compiled!, name: operation.name?.value ?? null } : null;
  }

  clear(): void {
    this.#entries.clear();
  }

  #entry(source: string, operationName: string | null | undefined, document: () => DocumentNode): Entry {
    // No name and an empty name are different requests: only the first picks a document's single operation.
    const key = `${operationName == null ? '' : `=${operationName}`}\u0000${source}`;
    let entry = this.#entries.get(key);
    if (entry) return entry;
    entry = { document: document() };
    this.#entries.set(key, entry);
    if (this.#entries.size > MAX_COMPILED) this.#entries.delete(this.#entries.keys().next().value!);
    return entry;
  }
}

/**
 * Compiles without graphql-jit's generated serializer (`customJSONSerializer`): on a 100-row page
 * V8's own JSON.stringify was faster and allocated a fraction of it (docs/measurements.md).
 */
function compile(schema: GraphQLSchema, document: DocumentNode, operationName: string | undefined): CompiledQuery | null {
  const compiled = compileQuery(schema, document, operationName);
  return isCompiledQuery(compiled) ? compiled : null;
}

/**
 * Runs a compiled operation once. Its errors are made graphql's own shape (graphql-jit's may lack
 * `extensions`); a result without `data` means the variables were refused before any resolver
 * ran — the caller's mistake, coded BAD_USER_INPUT as Apollo codes it.
 */
export async function runCompiled(compiled: CompiledQuery, context: unknown, variables: Record<string, unknown>): Promise<ExecutionResult> {
  const result = await compiled.query(undefined, context, variables);
  if (!result.errors) return result;
  const refused = !('data' in result);
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
}
