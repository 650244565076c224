import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Ajv, ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import OpenAPIBackend, { type Document, type Operation } from 'openapi-backend';
import { parse } from 'yaml';

/**
 * One official OpenAPI 3.0 file, checked with `openapi-backend` (routing, parameters, headers,
 * bodies and responses). Every sandbox upstream validates requests and responses through this
 * class, so there is one validator in the sandbox, not one per standard.
 *
 * The file on disk is never changed; two in-memory normalisations make a 3.0 file readable by a
 * draft-07 validator without changing what it allows: draft-4 boolean `exclusiveMinimum/Maximum`
 * become their numeric form, and a JSON media type with parameters (the UK files declare
 * `application/json; charset=utf-8`) is also registered as `application/json`, the only key the
 * library reads bodies from.
 */

// ajv-formats ships CommonJS; under ESM interop its default export sits one level down.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (ajv: Ajv) => Ajv;

/** Directory of the official files vendored unchanged for the sandbox (see sandbox/specs/README.md). */
export const SANDBOX_SPECS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'specs');

/** A request as the validator sees it (headers in any case; query as raw string or parsed). */
export interface SpecRequest {
  method: string;
  /** Path below the server root, including `apiRoot` when the document was loaded with one. */
  path: string;
  query?: string | Record<string, string | string[]>;
  headers: Record<string, string | string[] | undefined>;
  body?: unknown;
}

/** One thing the file forbids in a request or response. */
export interface SpecIssue {
  in: 'path' | 'query' | 'header' | 'body';
  /** Parameter or header name as the file spells it, or a dotted body path (`instructedAmount.amount`). */
  name: string;
  /** True when the parameter, header or property is required and absent. */
  missing: boolean;
  message: string;
  /**
   * Set on a failure inside one alternative of a `oneOf`/`anyOf` (e.g. the schema path
   * `…/oneOf/0`): the request is good when every issue of one alternative is excused.
   */
  branch?: string;
  /** True on the summary a `oneOf`/`anyOf` adds when no alternative matched. */
  summary?: boolean;
}

/**
 * The issues that still stand once `excused` ones are set aside: every issue outside
 * alternatives, plus those of the alternative that comes closest (fewest standing issues); none of
 * an alternative when one of them is fully excused (then its combinator's summary goes too).
 */
export function standingIssues(issues: SpecIssue[], excused: (issue: SpecIssue) => boolean = () => false): SpecIssue[] {
  const plain = issues.filter((i) => !i.branch && !i.summary && !excused(i));
  const branches = new Map<string, SpecIssue[]>();
  for (const i of issues) if (i.branch) branches.set(i.branch, [...(branches.get(i.branch) ?? []), i]);
  if (branches.size === 0) return [...plain, ...issues.filter((i) => i.summary)];
  const standing = [...branches.values()].map((list) => list.filter((i) => !excused(i)));
  const closest = standing.reduce((best, list) => (list.length < best.length ? list : best));
  const seen = new Set(plain.map((i) => `${i.in}:${i.name}`));
  return [...plain, ...closest.filter((i) => !seen.has(`${i.in}:${i.name}`))];
}

/** The operation a request matched. */
export interface SpecOperation {
  operationId: string;
  method: string;
  /** Path template as the file declares it, e.g. `/v1/accounts/{account-id}/balances`. */
  path: string;
}

type Json = Record<string, unknown>;

/**
 * Rewrites, in place, what the official files say in a way Ajv reads differently: OpenAPI 3.0's
 * draft-4 boolean `exclusiveMinimum`/`exclusiveMaximum`, and JSON media types with parameters.
 */
export function normaliseSpec(node: unknown): void {
  if (Array.isArray(node)) {
    node.forEach(normaliseSpec);
    return;
  }
  if (!node || typeof node !== 'object') return;
  const o = node as Json;
  for (const [flag, bound] of [
    ['exclusiveMinimum', 'minimum'],
    ['exclusiveMaximum', 'maximum'],
  ] as const) {
    if (typeof o[flag] === 'boolean') {
      if (o[flag] === true && typeof o[bound] === 'number') {
        o[flag] = o[bound];
        delete o[bound];
      } else delete o[flag];
    }
  }
  const content = o.content as Json | undefined;
  if (content && typeof content === 'object' && !('application/json' in content)) {
    const json = Object.keys(content).find((m) => /^application\/([\w.+-]+\+)?json\s*(;|$)/i.test(m));
    if (json) content['application/json'] = content[json];
  }
  Object.values(o).forEach(normaliseSpec);
}

const loaded = new Map<string, Promise<OpenApiSpec>>();

const unescapePointer = (s: string) => s.replace(/~1/g, '/').replace(/~0/g, '~');

/** Distinct method-and-path pairs whose operation is remembered (account and payment ids make paths many). */
const MATCHES_KEPT = 10_000;

export class OpenApiSpec {
  /**
   * The document's operations by id, and the operation each method and path seen matched: the
   * library rebuilds its operation list on every lookup and recompiles every path template on
   * every match, which cost a sandbox bank half a millisecond per request.
   */
  readonly #operations: Map<string, Operation>;
  readonly #matched = new Map<string, Operation | undefined>();

  private constructor(
    /** Where the document came from (a file name or an id), for messages. */
    readonly id: string,
    private readonly api: OpenAPIBackend,
  ) {
    this.#operations = new Map(api.router.getOperations().flatMap((o) => (o.operationId ? [[o.operationId, o] as const] : [])));
  }

  /**
   * Loads (once per process and `apiRoot`) an OpenAPI file: an absolute path, or a name in
   * sandbox/specs. `apiRoot` is the path prefix requests carry before the file's paths.
   */
  static load(file: string, options: { apiRoot?: string } = {}): Promise<OpenApiSpec> {
    const full = path.isAbsolute(file) ? file : path.join(SANDBOX_SPECS_DIR, file);
    const key = `${full}|${options.apiRoot ?? '/'}`;
    let spec = loaded.get(key);
    if (!spec) {
      spec = readFile(full, 'utf8').then((text) => OpenApiSpec.fromDocument(path.basename(full), parse(text) as Json, options));
      // A failed load is not cached: the next caller tries again and sees the error itself.
      spec.catch(() => loaded.delete(key));
      loaded.set(key, spec);
    }
    return spec;
  }

  /** Builds a validator from a document object (copied; the caller's object is not changed). */
  static async fromDocument(id: string, document: Json, options: { apiRoot?: string } = {}): Promise<OpenApiSpec> {
    const doc = structuredClone(document);
    normaliseSpec(doc);
    const api = new OpenAPIBackend({
      definition: doc as unknown as Document,
      apiRoot: options.apiRoot ?? '/',
      // quick: no meta-validation of the document (the official files carry draft-4 leftovers it
      // rejects) and validators compiled per operation on first use instead of all at start.
      quick: true,
      strict: true,
      coerceTypes: true,
      // unicodeRegExp off: some spec patterns (`\-` in classes) are invalid under the u flag.
      ajvOpts: { strict: false, allErrors: true, unicodeRegExp: false },
      customizeAjv: (ajv) => {
        addFormats(ajv);
        for (const f of ['float', 'double', 'int32', 'int64', 'byte', 'binary', 'url', 'password']) ajv.addFormat(f, true);
        return ajv;
      },
    });
    await api.init();
    return new OpenApiSpec(id, api);
  }

  /** The operation a request is for, or undefined when the file declares none. */
  match(req: SpecRequest): SpecOperation | undefined {
    const op = this.matched(req);
    return op?.operationId ? { operationId: op.operationId, method: op.method, path: op.path } : undefined;
  }

  /** The library's match, which depends on the method and path alone, remembered for them. */
  private matched(req: SpecRequest): Operation | undefined {
    const key = `${req.method.toLowerCase()} ${req.path}`;
    if (this.#matched.has(key)) return this.#matched.get(key);
    const op = this.api.router.matchOperation(this.toLib(req)) as Operation | undefined;
    if (this.#matched.size >= MATCHES_KEPT) this.#matched.clear();
    this.#matched.set(key, op);
    return op;
  }

  /** The operation declared at this method and path template. */
  operation(method: string, pathTemplate: string): SpecOperation | undefined {
    const op = [...this.#operations.values()].find((o) => o.method === method.toLowerCase() && o.path === pathTemplate);
    return op?.operationId ? { operationId: op.operationId, method: op.method, path: op.path } : undefined;
  }

  /**
   * Checks path, query, headers and body against the operation the request matches. `operation`
   * is undefined (and `issues` empty) when the file declares no such operation.
   */
  checkRequest(req: SpecRequest): { operation?: SpecOperation; issues: SpecIssue[] } {
    const operation = this.match(req);
    if (!operation) return { issues: [] };
    const result = this.api.validator.validateRequest(this.toLib(req), this.#operations.get(operation.operationId)!);
    return { operation, issues: this.issues(operation, result.errors ?? [], 'request') };
  }

  /**
   * Checks a JSON response body against the response the file declares for this status (or its
   * `default`). Throws when the file declares no JSON body for it: a caller validating a response
   * the spec does not describe is a bug in the caller.
   */
  checkResponse(operation: SpecOperation | { method: string; path: string }, status: number, body: unknown): SpecIssue[] {
    const op = 'operationId' in operation ? operation : this.operation(operation.method, operation.path);
    if (!op) throw new Error(`spec ${this.id}: no operation ${operation.method.toUpperCase()} ${operation.path}`);
    const declaredOp = this.#operations.get(op.operationId);
    const declared = declaredOp?.responses as Json | undefined;
    const response = (declared?.[String(status)] ?? declared?.[`${Math.floor(status / 100)}XX`] ?? declared?.default) as { content?: Json } | undefined;
    if (!response?.content?.['application/json']) throw new Error(`spec ${this.id}: ${op.operationId} ${status} declares no JSON body`);
    const result = this.api.validator.validateResponse(body, declaredOp!, status);
    return this.issues(op, result.errors ?? [], 'response');
  }

  private toLib(req: SpecRequest) {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k.toLowerCase()] = v;
    return { method: req.method.toLowerCase(), path: req.path, query: req.query ?? {}, headers, body: req.body };
  }

  /** Turns Ajv errors into issues, the most specific first, one per field. */
  private issues(op: SpecOperation, errors: ErrorObject[], side: 'request' | 'response'): SpecIssue[] {
    const declaredNames = new Map<string, string>();
    const params = (this.#operations.get(op.operationId)?.parameters ?? []) as { name?: string }[];
    for (const p of params) if (p.name) declaredNames.set(p.name.toLowerCase(), p.name);
    const out = new Map<string, SpecIssue>();
    // Errors on a combinator are summaries of their branches' errors: report those first.
    const combinator = (e: ErrorObject) => Number(['oneOf', 'anyOf'].includes(e.keyword));
    for (const e of [...errors].sort((a, b) => combinator(a) - combinator(b))) {
      const segments = e.instancePath.split('/').slice(1).map(unescapePointer);
      if (e.keyword === 'required') segments.push((e.params as { missingProperty: string }).missingProperty);
      if (e.keyword === 'additionalProperties') segments.push((e.params as { additionalProperty: string }).additionalProperty);
      let kind: SpecIssue['in'] = 'body';
      let name: string;
      if (side === 'request' && ['header', 'query', 'path'].includes(segments[0] ?? '')) {
        kind = segments[0] as SpecIssue['in'];
        name = declaredNames.get((segments[1] ?? '').toLowerCase()) ?? segments[1] ?? '';
      } else {
        name = (side === 'request' && segments[0] === 'requestBody' ? segments.slice(1) : segments).join('.') || '(body)';
      }
      const branch = /^(.*?\/(?:oneOf|anyOf)\/\d+)/.exec(e.schemaPath)?.[1];
      const summary = ['oneOf', 'anyOf'].includes(e.keyword) || undefined;
      const key = `${kind}:${name}:${branch ?? ''}:${summary ? 's' : ''}`;
      if (out.has(key)) continue;
      const message = e.keyword === 'additionalProperties' ? 'is not allowed here' : e.keyword === 'required' ? 'is required' : (e.message ?? 'is invalid');
      out.set(key, { in: kind, name, missing: e.keyword === 'required', message, ...(branch ? { branch } : {}), ...(summary ? { summary } : {}) });
    }
    return [...out.values()];
  }
}

/** One line per issue, e.g. `header PSU-IP-Address is required`. */
export const describeIssue = (i: SpecIssue): string => `${i.in} ${i.name} ${i.message}`;
