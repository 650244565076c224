/** The public entry of the events module: what other modules may use of it (DESIGN.md §2). */
export * from './event-stream';
export * from './events.service';
export * from './events';
