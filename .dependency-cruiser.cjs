/**
 * Layer and boundary rules of the codebase (DESIGN.md §2), checked in CI by `npm run lint:deps`.
 *
 * Layers, top to bottom: gateway (main.ts, gateway.ts, entities.ts, cli/) → api (src/api/ and every
 * module's GraphQL edge: *.resolver.ts, *.types.ts) → modules (services, entities, stores, domain
 * helpers) → banking → platform → kernel. config.ts is read by every layer and imports only the
 * kernel. sandbox/ stands apart from src/. Type-only imports count (tsPreCompilationDeps).
 * Test files may import what they need, but never make a cycle.
 */

/** Test code and the test support that still lives in src/ (the adapter contract suite runs against the sandbox). */
const TEST = '(\\.test\\.ts$|^test/|^src/banking/adapters/contract\\.ts$|^src/banking/http/test-(certs|server)\\.ts$)';
/** The GraphQL edge of a module: it belongs to the api layer. */
const EDGE = '^src/modules/[^/]+/.+\\.(resolver|types)\\.ts$';
/** The one known cycle, type-only, in the sandbox (see no-circular-sandbox-bank-type). */
const SANDBOX_BANK_TYPE_CYCLE = '^sandbox/core/(bank|sca|oidc)\\.ts$';
const GATEWAY = '^src/(main|gateway|entities)\\.ts$|^src/cli/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No cycles between files, type imports included (tests included).',
      from: { pathNot: SANDBOX_BANK_TYPE_CYCLE },
      to: { circular: true },
    },
    {
      name: 'no-circular-sandbox-bank-type',
      severity: 'warn',
      comment:
        'Known, type-only: sandbox/core/bank.ts builds its OAuth server (oidc) and SCA pages (sca), which take its `Bank` type ' +
        'to call back into it. The plain shapes of a bank live in sandbox/core/bank-types.ts; nothing else may cycle.',
      from: { path: SANDBOX_BANK_TYPE_CYCLE },
      to: { circular: true },
    },
    {
      name: 'kernel-imports-only-kernel',
      severity: 'error',
      comment: 'The kernel is what every layer may import; it imports nothing else from the repository.',
      from: { path: '^src/kernel/' },
      to: { path: '^(src|sandbox|test|migrations|scripts|bench)/', pathNot: '^src/kernel/' },
    },
    {
      name: 'kernel-knows-no-framework',
      severity: 'error',
      comment: 'No GraphQL, no type-graphql, no express, no ORM in the kernel.',
      from: { path: '^src/kernel/' },
      to: { dependencyTypes: ['npm', 'npm-dev', 'npm-peer', 'npm-optional'], pathNot: '^node_modules/zod/' },
    },
    {
      name: 'config-imports-only-kernel',
      severity: 'error',
      from: { path: '^src/config\\.ts$' },
      to: { path: '^(src|sandbox)/', pathNot: '^src/(kernel/|config\\.ts$)' },
    },
    {
      name: 'platform-imports-nothing-above-it',
      severity: 'error',
      comment: 'platform/ sits on the kernel (and config) only.',
      from: { path: '^src/platform/', pathNot: TEST },
      to: { path: '^(src/(api|modules|banking|cli)/|src/(main|gateway|entities)\\.ts$|sandbox/)' },
    },
    {
      name: 'banking-imports-no-module-nor-edge',
      severity: 'error',
      comment: 'banking/ sits on platform and kernel: it never imports modules, the api edge or the gateway.',
      from: { path: '^src/banking/', pathNot: TEST },
      to: { path: `^src/(api|modules|cli)/|${GATEWAY}` },
    },
    {
      name: 'domain-knows-no-graphql',
      severity: 'error',
      comment:
        'Services, entities, stores and domain helpers return kernel problems and throw kernel errors: ' +
        'they never import src/api/, a GraphQL edge file (*.resolver.ts, *.types.ts), or type-graphql.',
      from: { path: '^src/modules/', pathNot: `${EDGE}|${TEST}` },
      to: { path: `^src/api/|${EDGE}|^node_modules/type-graphql/` },
    },
    {
      name: 'modules-import-no-gateway',
      severity: 'error',
      from: { path: '^src/(modules|api)/', pathNot: TEST },
      to: { path: GATEWAY },
    },
    {
      name: 'module-through-its-index',
      severity: 'error',
      comment:
        "A module reaches another only through that module's public entry (its index.ts). Entities " +
        '(*.entity.ts) are the shared persistent model that ORM relations point at; the GraphQL edge of a ' +
        "module may also use another module's GraphQL edge (its object types). Those allowed imports must still never " +
        'make modules cycle: test/module-graph.test.ts collapses this graph to src/modules/<name> and fails on a cycle.',
      from: { path: '^src/modules/([^/]+)/', pathNot: TEST },
      to: { path: '^src/modules/[^/]+/', pathNot: ['^src/modules/$1/', '^src/modules/[^/]+/index\\.ts$', '^src/modules/[^/]+/[^/]+\\.entity\\.ts$', EDGE] },
    },
    {
      name: 'module-domain-not-into-edge',
      severity: 'error',
      from: { path: '^src/modules/([^/]+)/', pathNot: `${EDGE}|${TEST}` },
      to: { path: EDGE, pathNot: '^src/modules/$1/' },
    },
    {
      name: 'no-adapter-to-adapter',
      severity: 'error',
      comment: 'An adapter never imports another adapter: what two standards share belongs in banking/.',
      from: { path: '^src/banking/adapters/([^/]+)/', pathNot: TEST },
      to: { path: '^src/banking/adapters/[^/]+/', pathNot: '^src/banking/adapters/$1/' },
    },
    {
      name: 'sandbox-never-imports-src',
      severity: 'error',
      comment: 'The sandbox banks are separate software: they know nothing of the gateway.',
      from: { path: '^sandbox/', pathNot: TEST },
      to: { path: '^src/' },
    },
    {
      name: 'src-never-imports-sandbox',
      severity: 'error',
      comment:
        'Only the composition root (src/gateway.ts) embeds the sandbox banks, and banking/sandbox-institutions.ts ' +
        'turns the banks it reports (a type) into registry entries.',
      from: { path: '^src/', pathNot: `^src/(gateway|banking/sandbox-institutions)\\.ts$|${TEST}` },
      to: { path: '^sandbox/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^dist/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
