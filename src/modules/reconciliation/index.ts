/** The public entry of the reconciliation module: what other modules may use of it (DESIGN.md §2). */
export * from './reconciliation.service';
