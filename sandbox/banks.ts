import type { BankDefinition } from './core/bank';
import { SANDBOX_STANDARDS } from './standards';

/** The sandbox's banks: those of every standard of the registry (each standard's folder lists its own). */
export const BANK_DEFINITIONS: readonly BankDefinition[] = Object.freeze(SANDBOX_STANDARDS.flatMap((s) => s.banks));
