/** The public entry of the audit module: what other modules may use of it (DESIGN.md §2). */
export * from './audit.service';
