import { Ajv } from 'ajv';
import { z } from 'zod';
import { summariseZodIssues, type BankSchemaIssue } from './errors';

/** One entry of a bank's list that broke its schema and was set aside. */
export interface SkippedEntry {
  /** Position in the bank's list. */
  index: number;
  /** What was wrong, by path and kind, never by value. */
  issues: BankSchemaIssue[];
}

// Keyed by the parsed array itself, so a schema's output type stays a plain array.
const skippedByList = new WeakMap<readonly unknown[], SkippedEntry[]>();

/**
 * A list of independent entries (balances, transactions) parsed one by one: an entry that breaks
 * `item` is set aside instead of failing the whole answer, which stays usable. A list whose every
 * entry is malformed is not an "otherwise good answer" and fails the parse as a whole.
 * Read what was set aside with {@link skippedEntriesOf}.
 */
export function skippableEntries<T extends z.ZodType>(item: T) {
  const whole = z.array(item);
  return z.array(z.unknown()).transform((raw, ctx): z.output<T>[] => {
    // Nearly every list is good throughout: checked at once, and given back as zod would give it.
    if (listCheck(item)?.(raw)) return raw as z.output<T>[];
    // One parse of the list costs less than one per entry.
    const all = whole.safeParse(raw);
    if (all.success) return all.data;
    const kept: z.output<T>[] = [];
    const skipped: SkippedEntry[] = [];
    const errors: { index: number; error: z.ZodError }[] = [];
    raw.forEach((entry, index) => {
      const parsed = item.safeParse(entry);
      if (parsed.success) kept.push(parsed.data);
      else {
        skipped.push({ index, issues: summariseZodIssues(parsed.error) });
        errors.push({ index, error: parsed.error });
      }
    });
    if (raw.length > 0 && kept.length === 0) {
      // Each entry's own problems, under its index, so the refusal names the fields.
      for (const { index, error } of errors.slice(0, 5)) {
        for (const issue of error.issues) ctx.addIssue({ code: 'custom', path: [index, ...issue.path], message: issue.message });
      }
      return z.NEVER;
    }
    if (skipped.length > 0) skippedByList.set(kept, skipped);
    return kept;
  });
}

/** The entries set aside while parsing this list (empty when none, or for a list not parsed by {@link skippableEntries}). */
export function skippedEntriesOf(list: readonly unknown[] | null | undefined): SkippedEntry[] {
  return (list && skippedByList.get(list)) ?? [];
}

/**
 * Lengths in code points, as zod counts them; unknown keywords (zod's own annotations) ignored. No
 * formats: a schema that names one is left to zod (see answeredAsGiven). Made on first use.
 */
let ajv: Ajv | undefined;

/**
 * Each entry schema's list check, compiled on first use (start-up does not pay for the lists it
 * never reads) and once per schema (a bank's booked and pending lists share one).
 */
const listChecks = new WeakMap<z.ZodType, ((value: unknown) => boolean) | null>();
function listCheck(item: z.ZodType): ((value: unknown) => boolean) | null {
  let check = listChecks.get(item);
  if (check === undefined) listChecks.set(item, (check = answeredAsGiven(z.array(item))));
  return check;
}

/**
 * A compiled JSON Schema check (Ajv) of `schema`, when zod's answer for an input it accepts is
 * always that input (same values; key order aside): loose objects, strings with patterns and
 * lengths, numbers, booleans, enums and literals, optional, nullable, arrays and unions. Null for
 * any schema zod would change or check beyond JSON Schema (transforms, defaults, refinements,
 * trimming, stripped keys, formats): those are parsed by zod alone. A bank's list checked this way
 * is not copied field by field: zod's copy cost a 100,000-transaction sync 400 MB of garbage.
 */
export function answeredAsGiven(schema: z.ZodType): ((value: unknown) => boolean) | null {
  if (!checksOnly(schema, new Set())) return null;
  try {
    ajv ??= new Ajv({ strict: false, allErrors: false, validateFormats: false });
    return ajv.compile(z.toJSONSchema(schema, { target: 'draft-7', unrepresentable: 'throw' })) as (value: unknown) => boolean;
  } catch {
    return null;
  }
}

/** The checks zod and JSON Schema make alike; any other check (a refinement, a trim, a format) is zod's alone. */
const PLAIN_CHECKS = new Set(['min_length', 'max_length', 'length_equals', 'greater_than', 'less_than', 'multiple_of']);

/** Whether parsing with `schema` only checks: its answer is its input. */
function checksOnly(schema: z.ZodType, seen: Set<z.ZodType>): boolean {
  if (seen.has(schema)) return true;
  seen.add(schema);
  const def = schema._zod.def as z.core.$ZodTypeDef & {
    checks?: { _zod: { def: { check: string; format?: string } } }[];
    innerType?: z.ZodType;
    element?: z.ZodType;
    options?: z.ZodType[];
    shape?: Record<string, z.ZodType>;
    catchall?: z.ZodType;
    format?: string;
  };
  // A string or number format (an email, a UUID, an integer) is zod's check.
  if (def.format !== undefined) return false;
  for (const check of def.checks ?? []) {
    const c = check._zod.def;
    if (!PLAIN_CHECKS.has(c.check) && !(c.check === 'string_format' && c.format === 'regex')) return false;
  }
  switch (def.type) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'null':
    case 'enum':
    case 'literal':
    case 'unknown':
      return true;
    case 'optional':
    case 'nullable':
      return checksOnly(def.innerType!, seen);
    case 'array':
      return checksOnly(def.element!, seen);
    case 'union':
      return def.options!.every((o) => checksOnly(o, seen));
    case 'object':
      // Only a loose object gives back the keys it does not know; zod's plain object drops them.
      return def.catchall?._zod.def.type === 'unknown' && Object.values(def.shape!).every((s) => checksOnly(s, seen));
    default:
      return false;
  }
}
