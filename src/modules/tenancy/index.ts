/** The public entry of the tenancy module: what other modules may use of it (DESIGN.md §2). */
export * from './tenancy.service';
