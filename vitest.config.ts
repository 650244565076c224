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
    // Two cores: more workers only add contention on the shared Postgres.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
