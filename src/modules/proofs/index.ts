/** The public entry of the proofs module: what other modules may use of it (DESIGN.md §2). */
export * from './proof';
export * from './proofs.service';
