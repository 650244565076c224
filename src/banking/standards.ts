/**
 * The registry of standards: the one list of the standards Passerelle speaks. Each entry comes from
 * its adapter folder; everything generic (institution files, credentials, the adapter registry,
 * the GraphQL enums) asks this registry. Adding a standard: docs/adding-a-standard.md.
 */
import { berlinGroupStandard } from './adapters/berlin-group/berlin-group.standard';
import { goCardlessStandard } from './adapters/gocardless/gocardless.standard';
import { stetStandard } from './adapters/stet/stet.standard';
import { ukObieStandard } from './adapters/uk-obie/uk-obie.standard';
import type { StandardDefinition } from './standard';

export type { LiveCredentialsFacts, StandardDefinition } from './standard';

/** An institution names a standard no entry of the registry has: a configuration fault, never read as another standard. */
export class UnknownStandardError extends Error {
  override readonly name = 'UnknownStandardError';
  constructor(readonly standard: string) {
    super(`Unknown standard ${JSON.stringify(standard)}: not in the registry of standards (src/banking/standards.ts)`);
  }
}

const STANDARD_ID = /^[A-Z][A-Z0-9_]{1,39}$/;

/** A set of standards, looked up by id. */
export class StandardsRegistry {
  private readonly byId = new Map<string, StandardDefinition>();

  constructor(definitions: readonly StandardDefinition[]) {
    for (const d of definitions) {
      if (!STANDARD_ID.test(d.id)) throw new Error(`Standard id ${JSON.stringify(d.id)} must be upper case letters, digits and _ (it is a GraphQL enum value)`);
      if (this.byId.has(d.id)) throw new Error(`Standard ${d.id} is registered twice`);
      this.byId.set(d.id, Object.freeze({ ...d }));
    }
  }

  /** The standard `id`; throws {@link UnknownStandardError} when there is none. */
  get(id: string): StandardDefinition {
    const d = this.byId.get(id);
    if (!d) throw new UnknownStandardError(id);
    return d;
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** Every standard, in registration order. */
  all(): readonly StandardDefinition[] {
    return [...this.byId.values()];
  }

  ids(): string[] {
    return [...this.byId.keys()];
  }

  /** A registry with these standards added (tests, plug-ins); this one is unchanged. */
  with(...more: StandardDefinition[]): StandardsRegistry {
    return new StandardsRegistry([...this.all(), ...more]);
  }
}

/** The standards Passerelle speaks. */
export const standards = new StandardsRegistry([berlinGroupStandard, stetStandard, ukObieStandard, goCardlessStandard]);
