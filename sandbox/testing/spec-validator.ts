import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { parse } from 'yaml';

// ajv-formats ships CommonJS; under ESM interop its default export sits one level down.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ??
  addFormatsModule) as unknown as (ajv: Ajv) => Ajv;

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Directory holding the official OpenAPI files (`../shared/specs` from the repository root). */
export const specsDir = path.resolve(repoRoot, '../shared/specs');

type Json = Record<string, unknown>;

/** OpenAPI 3.0 uses draft-4 boolean exclusiveMinimum/Maximum; Ajv speaks the later numeric form. */
function draft4ExclusiveBounds(node: unknown): void {
  if (Array.isArray(node)) {
    node.forEach(draft4ExclusiveBounds);
    return;
  }
  if (!node || typeof node !== 'object') return;
  const o = node as Json;
  for (const [flag, bound] of [['exclusiveMinimum', 'minimum'], ['exclusiveMaximum', 'maximum']] as const) {
    if (typeof o[flag] === 'boolean') {
      if (o[flag] === true && typeof o[bound] === 'number') {
        o[flag] = o[bound];
        delete o[bound];
      } else delete o[flag];
    }
  }
  Object.values(o).forEach(draft4ExclusiveBounds);
}

const escapePointer = (segment: string) => segment.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * Validates sandbox responses against one official OpenAPI 3.0 file, looking the response schema
 * up by path template, method and status exactly as the spec declares it.
 */
export class SpecValidator {
  private readonly ajv: Ajv;
  private readonly doc: Json;
  private readonly id: string;
  private readonly cache = new Map<string, ValidateFunction>();

  constructor(file: string) {
    this.id = `spec:${file}`;
    this.doc = parse(readFileSync(path.join(specsDir, file), 'utf8')) as Json;
    draft4ExclusiveBounds(this.doc);
    // unicodeRegExp off: some spec patterns (\- in classes) are invalid under the u flag.
    this.ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false, unicodeRegExp: false });
    addFormats(this.ajv);
    this.ajv.addFormat('float', true);
    this.ajv.addFormat('int32', true);
    this.ajv.addFormat('int64', true);
    this.ajv.addFormat('byte', true);
    this.ajv.addFormat('url', true);
    this.ajv.addSchema({ ...this.doc, $id: this.id });
  }

  private resolve(pointer: string): { pointer: string; node: Json } {
    let current = pointer;
    for (let hops = 0; hops < 10; hops++) {
      const node = current
        .slice(2)
        .split('/')
        .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
        .reduce<unknown>((acc, key) => (acc as Json | undefined)?.[key], this.doc) as Json | undefined;
      if (!node) throw new Error(`spec ${this.id}: nothing at ${current}`);
      if (typeof node.$ref === 'string') {
        current = node.$ref;
        continue;
      }
      return { pointer: current, node };
    }
    throw new Error(`spec ${this.id}: $ref loop at ${pointer}`);
  }

  /** Returns the list of validation errors (empty when the body conforms). */
  validate(method: string, pathTemplate: string, status: number, body: unknown): string[] {
    const key = `${method} ${pathTemplate} ${status}`;
    let fn = this.cache.get(key);
    if (!fn) {
      const op = `#/paths/${escapePointer(pathTemplate)}/${method.toLowerCase()}`;
      const responses = this.resolve(`${op}/responses`).node;
      const code = String(status) in responses ? String(status) : 'default';
      if (!(code in responses)) throw new Error(`spec ${this.id}: ${key} is not a declared response`);
      const response = this.resolve(`${this.resolve(`${op}/responses`).pointer}/${code}`);
      const content = response.node.content as Json | undefined;
      if (!content) throw new Error(`spec ${this.id}: ${key} declares no body`);
      const mediaType = Object.keys(content).find((m) => m.includes('json'));
      if (!mediaType) throw new Error(`spec ${this.id}: ${key} declares no JSON body`);
      const schema = this.resolve(`${response.pointer}/content/${escapePointer(mediaType)}/schema`);
      fn = this.ajv.compile({ $ref: `${this.id}${schema.pointer}` });
      this.cache.set(key, fn);
    }
    if (fn(body)) return [];
    return (fn.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
  }

  /** Throws with readable details when the body does not conform. */
  assert(method: string, pathTemplate: string, status: number, body: unknown): void {
    const errors = this.validate(method, pathTemplate, status, body);
    if (errors.length) {
      throw new Error(
        `${method} ${pathTemplate} ${status} does not conform to ${this.id}:\n${errors.slice(0, 20).join('\n')}\n${JSON.stringify(body).slice(0, 2000)}`,
      );
    }
  }
}
