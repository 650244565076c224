/**
 * The sandbox's registry of standards: the one list of the standards its banks speak (the
 * upstream aggregator lives apart, in sandbox/upstreams/). Shared sandbox code asks it; adding a
 * standard: docs/adding-a-standard.md.
 */
import type { SandboxStandard } from '../core/standard';
import { berlinGroupSandbox } from './berlin-group/berlin-group.standard';
import { stetSandbox } from './stet/stet.standard';
import { ukObieSandbox } from './uk-obie/uk-obie.standard';

export type { SandboxStandard } from '../core/standard';

/** The standards of the sandbox's banks, in the order their banks are listed. */
export const SANDBOX_STANDARDS: readonly SandboxStandard[] = Object.freeze([berlinGroupSandbox, stetSandbox, ukObieSandbox]);

/** The sandbox standard `id`; a bank of a standard the sandbox does not have is a programming error, never another standard. */
export function sandboxStandard(id: string): SandboxStandard {
  const found = SANDBOX_STANDARDS.find((s) => s.id === id);
  if (!found) throw new Error(`The sandbox has no standard ${JSON.stringify(id)} (sandbox/standards/index.ts)`);
  return found;
}
