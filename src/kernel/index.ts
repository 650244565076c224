/**
 * The shared kernel: what every layer may import (the caller, business problems and outcomes,
 * domain errors and their codes, ids, money helpers, list positions). It imports nothing else
 * from src/ and knows no GraphQL, HTTP framework or database.
 */
export * from './caller';
export * from './errors';
export * from './ids';
export * from './keyset';
export * from './money';
export * from './problems';
