/** The public entry of the accounts module: what other modules may use of it (DESIGN.md §2). */
export * from './accounts.service';
