/** The public entry of the consents module: what other modules may use of it (DESIGN.md §2). */
export * from './consent.state';
export * from './consents.service';
