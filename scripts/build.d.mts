// Types for scripts/build.mjs (plain JavaScript so that `npm start` can run it before anything is compiled).
/** Output name (dist/<name>.js) → its TypeScript entry point. */
export const entries: Record<string, string>;
export function isStale(): boolean;
/** Builds dist/; resolves to the milliseconds it took. */
export function build(): Promise<number>;
