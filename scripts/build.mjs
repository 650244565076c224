// The production build: compiles the gateway, the standalone sandbox and the CLIs to dist/ with
// esbuild (one ESM bundle per entry point; packages stay in node_modules), so production runs
// plain JavaScript and transpiles nothing at start. tsx stays for development and tests.
//   node scripts/build.mjs            build now
//   node scripts/build.mjs --if-stale build only when dist/ is missing or older than a source it was built from
// Plain JavaScript (not TypeScript) so that `npm start` can run it before anything is compiled.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outdir = path.join(root, 'dist');
const metaFile = path.join(outdir, 'meta.json');

/** Entry point → output name (dist/<name>.js). */
export const entries = {
  main: 'src/main.ts',
  sandbox: 'sandbox/main.ts',
  'tenant-create': 'src/cli/tenant-create.ts',
  'vault-rotate': 'src/cli/vault-rotate.ts',
};

/**
 * True when dist/ lacks an entry, or any file the last build read (listed in its metafile) is
 * newer than that build, or this script or the lock file changed. A new source file only matters
 * once an existing one imports it, and that import changes an input's mtime.
 */
export function isStale() {
  let meta;
  try {
    meta = JSON.parse(fs.readFileSync(metaFile, 'utf8'));
  } catch {
    return true;
  }
  const built = fs.statSync(metaFile).mtimeMs;
  const inputs = [
    ...Object.keys(meta.inputs).map((f) => path.join(root, f)),
    fileURLToPath(import.meta.url),
    path.join(root, 'tsconfig.json'),
    path.join(root, 'package-lock.json'),
  ];
  for (const name of Object.keys(entries)) inputs.push(path.join(outdir, `${name}.js`));
  for (const file of inputs) {
    let stat;
    try {
      stat = fs.statSync(file);
    } catch {
      return true; // an input was deleted or renamed, or an output is missing
    }
    if (!file.startsWith(outdir) && stat.mtimeMs > built) return true;
  }
  return false;
}

/**
 * In one bundle every module shares the bundle's `import.meta`; the few modules that find files
 * next to their source (GraphiQL examples, the sandbox's OpenAPI specs, createRequire) get their
 * own source location back, as a URL relative to the bundle in dist/, so they resolve the same
 * paths as under tsx.
 */
const sourceLocation = {
  name: 'source-location',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, async (args) => {
      const text = await fs.promises.readFile(args.path, 'utf8');
      if (!text.includes('import.meta.')) return { contents: text, loader: 'ts' };
      const rel = path.relative(outdir, args.path).split(path.sep).join('/');
      const url = `new URL(${JSON.stringify(rel)}, import.meta.url)`;
      const contents = text
        .replaceAll('import.meta.url', `${url}.href`)
        .replaceAll('import.meta.dirname', `__passerelleDirname(${url})`)
        .replaceAll('import.meta.filename', `__passerelleFilename(${url})`);
      return { contents, loader: 'ts' };
    });
  },
};

/**
 * esbuild writes strings ASCII-only but copies the comments it keeps as they are; one non-ASCII
 * character in them (an arrow, a dash) makes V8 hold the whole bundle's source as a two-byte
 * string, twice its size (main.js: 2 MiB of heap instead of 1). Only comments still hold such
 * characters, so escaping them changes no code.
 */
function asciiOnly(text) {
  return text.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function writeAtomically(file, contents) {
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, contents);
  fs.renameSync(temp, file);
}

export async function build() {
  const started = performance.now();
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: Object.entries(entries).map(([out, entry]) => ({ in: entry, out })),
    outdir,
    bundle: true,
    packages: 'external', // dependencies load from node_modules as they are: nothing is downloaded or vendored
    platform: 'node',
    format: 'esm',
    // Code a module imports dynamically (the GCP KMS client, with its gRPC stack) stays in its own
    // chunk, loaded only when used, as under tsx; code two entries share goes to a chunk too.
    splitting: true,
    chunkNames: '[name]-[hash]', // beside the entries: source locations below are relative to dist/
    target: 'node20.19',
    // MikroORM entities and type-graphql types are known by their class names: a bundle must not rename them.
    keepNames: true,
    sourcemap: 'linked',
    metafile: true,
    write: false, // written below, each file atomically: a concurrent `npm start` never imports half a file
    tsconfig: path.join(root, 'tsconfig.json'), // experimentalDecorators, useDefineForClassFields: false (legacy decorators, as tsx runs them)
    banner: {
      js: [
        "import { fileURLToPath as __passerelleFileURLToPath } from 'node:url';",
        'const __passerelleFilename = (u) => __passerelleFileURLToPath(u);',
        "const __passerelleDirname = (u) => __passerelleFileURLToPath(new URL('.', u)).replace(/[\\\\/]$/, '');",
      ].join('\n'),
    },
    plugins: [sourceLocation],
    logLevel: 'warning',
  });
  fs.mkdirSync(outdir, { recursive: true });
  let previous = [];
  try {
    previous = JSON.parse(fs.readFileSync(metaFile, 'utf8')).outputs ?? [];
  } catch {
    // first build
  }
  for (const file of result.outputFiles) writeAtomically(file.path, file.path.endsWith('.js') ? asciiOnly(file.text) : file.contents);
  const outputs = result.outputFiles.map((f) => path.relative(outdir, f.path));
  // Last: its mtime is the build's time, and its presence says every output is complete.
  writeAtomically(metaFile, JSON.stringify({ inputs: result.metafile.inputs, outputs }));
  // Chunks of the previous build that this one no longer writes (their names carry a hash).
  for (const old of previous) if (!outputs.includes(old)) fs.rmSync(path.join(outdir, old), { force: true });
  return Math.round(performance.now() - started);
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  if (process.argv.includes('--if-stale') && !isStale()) process.exit(0);
  const ms = await build();
  console.error(`built dist/ in ${ms} ms`);
}
