/** The public entry of the transactions module: what other modules may use of it (DESIGN.md §2). */
export * from './decimal';
export * from './reconcile';
export * from './transactions.store';
