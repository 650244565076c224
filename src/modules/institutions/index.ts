/** The public entry of the institutions module: what other modules may use of it (DESIGN.md §2). */
export * from './bank-failure';
export * from './institutions.service';
