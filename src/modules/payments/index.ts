/** The public entry of the payments module: what other modules may use of it (DESIGN.md §2). */
export * from './payments.service';
export * from './validation';
