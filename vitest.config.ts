import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  esbuild: { target: 'es2022' },
  resolve: {
    // Node resolves `graphql` to its CommonJS build (the package has no "exports"), and so do
    // type-graphql and Apollo. Vite would pick the ESM build for our sources: two copies of
    // graphql, whose schema objects fail each other's instanceof checks. Use Node's choice.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: ['src/**/*.test.ts', 'sandbox/**/*.test.ts', 'test/**/*.test.ts'],
    setupFiles: ['./test/setup.ts'],
    globalSetup: ['./test/global-setup.ts'],
    pool: 'forks',
    // Test files share their worker's module graph instead of importing the gateway again each:
    // importing was 130–210 s of each run's work. Every test starts its own gateway, database and
    // sandbox and closes them; no test mocks modules, stubs globals or leaves the environment
    // changed, which a shared process would carry into the next file.
    isolate: false,
    // Two cores: more workers only add contention on the shared Postgres.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
