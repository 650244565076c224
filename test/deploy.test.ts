import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { ConfigError, loadConfig, settings } from '../src/config';
import { entries as buildEntries } from '../scripts/build.mjs';

// No Docker engine runs on these machines: the checks read what `docker compose up` and
// `docker build` would read, and fail where those would fail or the stack would misbehave.
const root = path.resolve(import.meta.dirname, '..');
const read = (file: string) => fs.readFileSync(path.join(root, file), 'utf8');
const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string> };

// ---------------------------------------------------------------------------------------------
// docker-compose.yml: YAML with merge keys (`<<:`), then Compose interpolation.

type Env = Record<string, string | undefined>;
interface Healthcheck {
  test: string[] | string;
  interval?: string;
  timeout?: string;
  retries?: number;
  start_period?: string;
  disable?: boolean;
}
interface Service {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: Healthcheck;
  networks?: Record<string, { aliases?: string[] } | null>;
  restart?: string;
  stop_grace_period?: string;
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

/**
 * Compose interpolation: `$$`, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
 * `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}`. A variable with no default that
 * is unset is an error here (Compose would substitute an empty string with a warning): the stack
 * must come up with no .env at all.
 */
function interpolate(value: string, env: Env): string {
  return value.replace(
    /\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g,
    (_m, dollar: string, name?: string, colon?: string, op?: string, arg?: string, bare?: string) => {
      if (dollar === '$') return '$';
      const key = (name ?? bare)!;
      const v = env[key];
      const missing = colon ? v === undefined || v === '' : v === undefined;
      if (op === '-') return missing ? arg! : v!;
      if (op === '+') return missing ? '' : arg!;
      if (op === '?' && missing) throw new Error(`${key}: ${arg}`);
      if (v === undefined) throw new Error(`\${${key}} has no default: docker compose up would need a .env`);
      return v;
    },
  );
}

function interpolateAll<T>(node: T, env: Env): T {
  if (typeof node === 'string') return interpolate(node, env) as T;
  if (Array.isArray(node)) return node.map((n: unknown) => interpolateAll(n, env)) as T;
  if (node && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, interpolateAll(v, env)])) as T;
  return node;
}

const composeSource = read('docker-compose.yml');
const rawCompose = parse(composeSource, { merge: true }) as Compose;
const loadCompose = (env: Env = {}) => interpolateAll(rawCompose, env);
const compose = loadCompose();
const services = compose.services;

// Roles, told apart the way the processes tell them apart.
const gatewayServices = Object.entries(services)
  .filter(([, s]) => s.build !== undefined && !s.command)
  .map(([n]) => n);
const apiServices = gatewayServices.filter((n) => services[n]!.environment?.SYNC_CONCURRENCY === '0');
const workerServices = gatewayServices.filter((n) => !apiServices.includes(n));

// ---------------------------------------------------------------------------------------------
// deploy/nginx.conf: a small parser for nginx's grammar (directives, blocks, quotes, comments).

interface Directive {
  name: string;
  args: string[];
  block?: Directive[];
}

function parseNginx(source: string): Directive[] {
  const tokens = [...source.replace(/#[^\n]*/g, '').matchAll(/"((?:[^"\\]|\\.)*)"|'([^']*)'|([{};])|([^\s{};"']+)/g)].map((m) => ({
    text: m[1] ?? m[2] ?? m[3] ?? m[4]!,
    punct: m[3] !== undefined,
  }));
  let i = 0;
  const block = (): Directive[] => {
    const out: Directive[] = [];
    while (i < tokens.length) {
      if (tokens[i]!.punct && tokens[i]!.text === '}') {
        i++;
        return out;
      }
      const words: string[] = [];
      while (i < tokens.length && !tokens[i]!.punct) words.push(tokens[i++]!.text);
      const end = tokens[i++];
      if (!end || words.length === 0) throw new Error(`nginx.conf: unexpected ${end?.text ?? 'end of file'} after ${words.join(' ')}`);
      out.push(end.text === '{' ? { name: words[0]!, args: words.slice(1), block: block() } : { name: words[0]!, args: words.slice(1) });
    }
    return out;
  };
  return block();
}

const nginxSource = read('deploy/nginx.conf');
const nginx = parseNginx(nginxSource);
const all = (ds: Directive[], name: string) => ds.filter((d) => d.name === name);
const one = (ds: Directive[], name: string) => {
  const found = all(ds, name);
  expect(found, name).toHaveLength(1);
  return found[0]!;
};
const upstreams = new Map(all(nginx, 'upstream').map((u) => [u.args[0]!, all(u.block!, 'server').map((s) => s.args[0]!)]));
const server = one(nginx, 'server').block!;
const location = (match: string) => {
  const found = all(server, 'location').find((l) => l.args.join(' ') === match);
  expect(found, `location ${match}`).toBeDefined();
  return found!.block!;
};
/** Where a location sends requests: the upstream's servers (host:port). */
const upstreamOf = (loc: Directive[]) => {
  const target = new URL(one(loc, 'proxy_pass').args[0]!);
  expect(target.pathname, 'proxy_pass keeps the request path').toBe('/');
  return upstreams.get(target.host) ?? [target.host];
};
/** proxy_set_header as nginx applies them: a location's own list replaces the server's. */
const headersOf = (loc: Directive[]) =>
  Object.fromEntries(
    (all(loc, 'proxy_set_header').length ? all(loc, 'proxy_set_header') : all(server, 'proxy_set_header')).map((d) => [d.args[0]!.toLowerCase(), d.args[1]!]),
  );
/** An nginx or Compose duration (`90s`, `1m`, `1h`, `3600`) in seconds. */
const seconds = (v: string) => {
  const m = /^(\d+)(s|m|h)?$/.exec(v);
  if (!m) throw new Error(`not a duration: ${v}`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600 }[(m[2] ?? 's') as 's' | 'm' | 'h'];
};

// ---------------------------------------------------------------------------------------------
// Dockerfile: instructions with line continuations and comments, the way BuildKit reads them.

interface Instruction {
  op: string;
  args: string;
}
const dockerfile: Instruction[] = read('Dockerfile')
  .replace(/\\\r?\n(\s*#[^\n]*\n)*/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'))
  .map((l) => {
    const [, op, args] = /^(\w+)\s+([\s\S]*)$/.exec(l) ?? [];
    if (!op) throw new Error(`Dockerfile: cannot read "${l}"`);
    return { op: op.toUpperCase(), args: args!.trim() };
  });
const instructions = (op: string) => dockerfile.filter((i) => i.op === op);
const execForm = (args: string) => {
  expect(args, 'exec form (a JSON array), so signals reach node and no shell is needed').toMatch(/^\[/);
  return JSON.parse(args) as string[];
};
/** [source, destination] of each COPY, sources relative to the build context. */
const copies = instructions('COPY').map((c) => {
  const parts = c.args.split(/\s+/).filter((p) => !p.startsWith('--'));
  return { sources: parts.slice(0, -1), dest: parts.at(-1)! };
});
const imageEnv = Object.fromEntries(
  instructions('ENV').flatMap((e) => [...e.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)].map((m) => [m[1]!, m[2]!.replace(/^"|"$/g, '')])),
);
const workdir = instructions('WORKDIR').at(-1)?.args ?? '/';
const imageCmd = execForm(instructions('CMD').at(-1)!.args);
const dockerignore = read('.dockerignore')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

/** The TypeScript entry point the production build (scripts/build.mjs) compiles to a dist/ file. */
const builtFrom = (file: string) => (/^dist\/([\w-]+)\.js$/.test(file) ? buildEntries[file.slice('dist/'.length, -'.js'.length)] : undefined);

/** The argv a service's container runs: its command, else the image's CMD. */
const argvOf = (name: string) => services[name]!.command ?? imageCmd;
/** What a gateway process sees: the image's ENV overlaid by the service's environment. */
const processEnv = (svc: Service) => ({ ...imageEnv, ...svc.environment });
const flag = (argv: string[], name: string) => {
  const i = argv.indexOf(name);
  expect(i, `${name} in ${argv.join(' ')}`).toBeGreaterThan(-1);
  return argv[i + 1]!;
};
const hostOf = (u: string) => new URL(u).hostname;

describe('docker-compose.yml', () => {
  it('is a valid Compose file by the Compose Specification JSON schema', () => {
    const require = createRequire(import.meta.url);
    const { $schema, ...schema } = JSON.parse(
      fs.readFileSync(path.join(path.dirname(require.resolve('dclint/package.json')), 'schemas/compose.schema.json'), 'utf8'),
    ) as { $schema: string };
    // Draft-07, Ajv's default dialect; the spec names it by an https URL Ajv does not register.
    expect($schema).toMatch(/draft-07/);
    const validate = new Ajv({ allErrors: true, strict: false, allowUnionTypes: true }).compile(schema);
    expect(validate(compose), JSON.stringify(validate.errors, null, 2)).toBe(true);
    // The schema is strict enough to catch a misspelt key, so passing it means something.
    const typo = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
    typo.services.proxy!.healtcheck = typo.services.proxy!.healthcheck;
    expect(validate(typo)).toBe(false);
  });

  it('runs postgres, redis, the sandbox, a worker and two API instances behind one proxy', () => {
    expect(Object.keys(services).sort()).toEqual(['api-1', 'api-2', 'postgres', 'proxy', 'redis', 'sandbox', 'worker']);
    expect(apiServices.sort()).toEqual(['api-1', 'api-2']);
    expect(workerServices).toEqual(['worker']);
    expect(services.proxy!.image).toMatch(/^nginx:1\.(2[89]|[3-9]\d)(\.\d+)?-alpine$/); // `resolve` in upstreams needs 1.27.3+
  });

  it("publishes exactly one port, the proxy's, on loopback", () => {
    const published = Object.entries(services).flatMap(([name, s]) => (s.ports ?? []).map((p) => ({ name, p })));
    expect(published).toEqual([{ name: 'proxy', p: '127.0.0.1:4000:4000' }]);
  });

  it('gives every service a health check, a restart policy and time to stop', () => {
    for (const [name, s] of Object.entries(services)) {
      expect(s.healthcheck?.disable, name).not.toBe(true);
      expect(s.healthcheck?.test, name).toBeInstanceOf(Array);
      expect((s.healthcheck!.test as string[]).length, name).toBeGreaterThan(1);
      expect(s.restart, name).toBe('unless-stopped');
      expect(s.stop_grace_period, name).toMatch(/^\d+s$/);
    }
    for (const name of gatewayServices) {
      const test = (services[name]!.healthcheck!.test as string[]).join(' ');
      expect(test, name).toContain(`http://127.0.0.1:${services[name]!.environment!.PORT}/readyz`);
      // A gateway needs SHUTDOWN_TIMEOUT_MS to drain; Compose must not kill it first.
      const shutdownMs = loadConfig(processEnv(services[name]!)).shutdownTimeoutMs;
      expect(seconds(services[name]!.stop_grace_period!) * 1000, name).toBeGreaterThan(shutdownMs);
    }
    const sandboxPort = flag(argvOf('sandbox'), '--port');
    expect((services.sandbox!.healthcheck!.test as string[]).join(' ')).toContain(`http://127.0.0.1:${sandboxPort}/sandbox/`);
    const listen = one(server, 'listen').args[0]!;
    expect((services.proxy!.healthcheck!.test as string[]).join(' ')).toContain(`http://127.0.0.1:${listen}/nginx-health`);
    expect(all(server, 'location').some((l) => l.args.join(' ') === '= /nginx-health')).toBe(true);
  });

  it('starts each service only after everything it talks to is healthy, in an order without cycles', () => {
    const deps = (name: string) => Object.keys(services[name]!.depends_on ?? {});
    for (const [name, s] of Object.entries(services)) {
      for (const [dep, d] of Object.entries(s.depends_on ?? {})) {
        expect(Object.keys(services), `${name} depends on ${dep}`).toContain(dep);
        expect(d.condition, `${name} → ${dep}`).toBe('service_healthy');
      }
    }
    // Topological order (Kahn): every service gets a place, or there is a cycle.
    const order: string[] = [];
    const left = new Set(Object.keys(services));
    while (left.size) {
      const ready = [...left].filter((n) => deps(n).every((d) => order.includes(d)));
      expect(ready, `cycle among ${[...left].join(', ')}`).not.toEqual([]);
      for (const n of ready.sort()) {
        order.push(n);
        left.delete(n);
      }
    }
    const closure = (name: string): Set<string> => new Set(deps(name).flatMap((d) => [d, ...closure(d)]));
    // What each gateway process connects to at start-up, read from its own settings.
    for (const name of gatewayServices) {
      const env = services[name]!.environment!;
      for (const needed of [hostOf(env.DATABASE_URL!), hostOf(env.REDIS_URL!), hostOf(env.SANDBOX_URL!)])
        expect(closure(name), `${name} needs ${needed}`).toContain(needed);
    }
    // The proxy's upstreams.
    for (const target of [...upstreams.values()].flat()) expect(closure('proxy'), `proxy needs ${target}`).toContain(target.split(':')[0]);
    // Migrations and the Demo tenant happen once: the worker starts alone, the API instances after it.
    for (const api of apiServices) expect(deps(api), api).toContain('worker');
    expect(services.worker!.environment!.DEMO_TENANT).toBe('true');
    for (const api of apiServices) expect(loadConfig(processEnv(services[api]!)).demoTenant, api).toBe(false);
  });

  it('gives the gateway processes only settings Passerelle knows, with values its configuration accepts', () => {
    for (const name of gatewayServices) {
      for (const key of Object.keys(services[name]!.environment!)) expect(Object.keys(settings), `${name}: ${key}`).toContain(key);
      const config = loadConfig(processEnv(services[name]!));
      expect(config.environment, name).toBe('sandbox');
      expect(config.host, name).toBe('0.0.0.0');
      expect(config.databaseUrl, name).toBeDefined();
      expect(config.redisUrl, name).toBeDefined();
      expect(config.sandbox, name).toMatchObject({ enabled: true, url: services[name]!.environment!.SANDBOX_URL });
    }
  });

  it('refuses a SANDBOX_ADMIN_TOKEN the gateway would refuse, taken from the environment', () => {
    const withShortToken = loadCompose({ SANDBOX_ADMIN_TOKEN: 'too-short' });
    for (const name of gatewayServices) {
      expect(withShortToken.services[name]!.environment!.SANDBOX_ADMIN_TOKEN).toBe('too-short');
      expect(() => loadConfig(processEnv(withShortToken.services[name]!)), name).toThrow(ConfigError);
    }
    expect(flag(withShortToken.services.sandbox!.command!, '--admin-token')).toBe('too-short');
    const custom = loadCompose({ SANDBOX_ADMIN_TOKEN: 'a-long-enough-operator-token' });
    expect(loadConfig(processEnv(custom.services.worker!)).sandbox.adminToken).toBe('a-long-enough-operator-token');
  });

  it('runs syncs and webhook deliveries on the worker only', () => {
    for (const name of apiServices) {
      const config = loadConfig(processEnv(services[name]!));
      expect(config.syncConcurrency, name).toBe(0);
      expect(config.webhooks.concurrency, name).toBe(0);
    }
    const worker = loadConfig(processEnv(services.worker!));
    expect(worker.syncConcurrency).toBeGreaterThan(0);
    expect(worker.webhooks.concurrency).toBeGreaterThan(0);
    expect(services.worker!.ports).toBeUndefined();
  });

  it('shares the database, Redis, the sandbox, the public URL and the data volume between all gateway processes', () => {
    const shared = ['DATABASE_URL', 'REDIS_URL', 'SANDBOX_URL', 'SANDBOX_ADMIN_TOKEN', 'PUBLIC_URL', 'DATA_DIR', 'PASSERELLE_ENV'] as const;
    for (const key of shared) expect(new Set(gatewayServices.map((n) => processEnv(services[n]!)[key])), key).toHaveLength(1);
    // The vault's local KMS key file and the demo key live in DATA_DIR: one named volume there.
    const dataDir = processEnv(services.worker!).DATA_DIR!;
    const mounts = gatewayServices.map((n) => (services[n]!.volumes ?? []).find((v) => v.split(':')[1] === dataDir));
    expect(new Set(mounts).size, mounts.join(', ')).toBe(1);
    const volume = mounts[0]!.split(':')[0]!;
    expect(Object.keys(compose.volumes ?? {})).toContain(volume);
    expect(mounts[0]!.split(':')[2], 'read-write').toBeUndefined();
    // The database the URL names is the one Postgres creates.
    const db = new URL(services.worker!.environment!.DATABASE_URL!);
    const pg = services.postgres!.environment!;
    expect([db.username, db.password, db.pathname]).toEqual([pg.POSTGRES_USER, pg.POSTGRES_PASSWORD, `/${pg.POSTGRES_DB}`]);
  });

  it('runs one standalone sandbox that every gateway process uses, reachable at one public URL from the host and from the containers', () => {
    const argv = argvOf('sandbox');
    expect(argv.slice(0, 2)).toEqual(['node', 'dist/sandbox.js']);
    expect(builtFrom(argv[1]!)).toBe('sandbox/main.ts');
    const env = services.worker!.environment!;
    expect(flag(argv, '--host')).toBe('0.0.0.0');
    expect(flag(argv, '--admin-token')).toBe(env.SANDBOX_ADMIN_TOKEN);
    // The gateways read the banks through the control API inside the network…
    const sandboxUrl = new URL(env.SANDBOX_URL!);
    expect([sandboxUrl.hostname, sandboxUrl.port, sandboxUrl.pathname]).toEqual(['sandbox', flag(argv, '--port'), flag(argv, '--mount-path')]);
    // …and call the banks, their issuers and login pages at the public URL: the gateways' own.
    const publicUrl = new URL(env.PUBLIC_URL!);
    expect(flag(argv, '--public-url')).toBe(env.PUBLIC_URL);
    // Browsers and curl resolve *.localhost to loopback, where the proxy's port is published;
    // containers resolve it through Docker's DNS to the proxy, which carries it as an alias.
    expect(publicUrl.hostname).toMatch(/\.localhost$/);
    expect(services.proxy!.networks?.default?.aliases).toContain(publicUrl.hostname);
    const [, hostPort, containerPort] = services.proxy!.ports![0]!.split(':');
    expect([hostPort, containerPort]).toEqual([publicUrl.port, publicUrl.port]);
    expect(one(server, 'listen').args[0]).toBe(publicUrl.port);
    expect(upstreamOf(location('/sandbox/'))).toEqual([`${sandboxUrl.hostname}:${sandboxUrl.port}`]);
    // The header comment tells how to get the demo key, from a service that has the volume.
    const [, svc, file] = /docker compose exec (\S+) cat (\S+)/.exec(composeSource) ?? [];
    expect(gatewayServices).toContain(svc);
    expect(path.posix.dirname(file!)).toBe(processEnv(services[svc!]!).DATA_DIR);
    expect(path.posix.basename(file!)).toBe('demo-api-key');
  });

  it('declares every named volume it mounts', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const v of s.volumes ?? []) {
        const source = v.split(':')[0]!;
        if (source.startsWith('.') || source.startsWith('/')) expect(fs.existsSync(path.join(root, source)), `${name}: ${source}`).toBe(true);
        else expect(Object.keys(compose.volumes ?? {}), `${name}: ${source}`).toContain(source);
      }
    }
  });
});

describe('deploy/nginx.conf', () => {
  it('balances exactly the two API instances, and nothing else, for GraphQL and callbacks', () => {
    const apis = apiServices.map((n) => `${n}:${services[n]!.environment!.PORT}`).sort();
    expect([...upstreamOf(location('/graphql'))].sort()).toEqual(apis);
    expect([...upstreamOf(location('/'))].sort()).toEqual(apis);
    for (const [name, servers] of upstreams) {
      const block = all(nginx, 'upstream').find((u) => u.args[0] === name)!.block!;
      expect(all(block, 'zone'), `${name}: a shared zone, needed by resolve`).toHaveLength(1);
      for (const s of all(block, 'server')) expect(s.args, `${name}: ${s.args[0]} follows DNS`).toContain('resolve');
      expect(servers.length).toBeGreaterThan(0);
    }
    expect(one(nginx, 'resolver').args[0]).toBe('127.0.0.11');
  });

  it('does not balance /metrics, which describe one process each', () => {
    const metrics = location('= /metrics');
    expect(all(metrics, 'proxy_pass')).toEqual([]);
    expect(one(metrics, 'return').args).toEqual(['404']);
  });

  it('upgrades graphql-ws WebSockets on /graphql and keeps them open long enough', () => {
    const graphql = location('/graphql');
    const http = [...all(graphql, 'proxy_http_version'), ...all(server, 'proxy_http_version')][0]!;
    expect(http.args).toEqual(['1.1']);
    const headers = headersOf(graphql);
    expect(headers.upgrade).toBe('$http_upgrade');
    const map = all(nginx, 'map').find((m) => m.args[0] === '$http_upgrade' && m.args[1] === headers.connection);
    expect(map, 'Connection comes from a map over $http_upgrade').toBeDefined();
    expect(map!.block!.find((d) => d.name === 'default')!.args).toEqual(['upgrade']);
    expect(seconds(one(graphql, 'proxy_read_timeout').args[0]!)).toBeGreaterThanOrEqual(300);
    expect(seconds(one(graphql, 'proxy_send_timeout').args[0]!)).toBeGreaterThanOrEqual(300);
  });

  it('passes the Host, the client address, scheme and a request id to every upstream', () => {
    for (const loc of ['/graphql', '/', '/sandbox/']) {
      const headers = headersOf(location(loc));
      expect(headers, loc).toMatchObject({
        host: '$http_host',
        'x-forwarded-for': '$remote_addr',
        'x-forwarded-proto': '$scheme',
        'x-forwarded-host': '$http_host',
      });
      // The caller's X-Request-ID when it sent one, else nginx's own $request_id.
      const rid = all(nginx, 'map').find((m) => m.args[1] === headers['x-request-id']);
      expect(rid?.args[0], loc).toBe('$http_x_request_id');
      expect(rid!.block, loc).toEqual([
        { name: 'default', args: ['$http_x_request_id'] },
        { name: '', args: ['$request_id'] },
      ]);
    }
  });

  it('is accepted by `nginx -t` when nginx is installed here', ({ skip }) => {
    const bin = process.env.NGINX_BIN ?? ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx'].find((p) => fs.existsSync(p));
    if (!bin) return skip('nginx is not installed (optional: apt-get install nginx-light, or NGINX_BIN=...)');
    // `nginx -v` writes to stderr.
    const version = /nginx\/(\d+)\.(\d+)\.(\d+)/.exec(spawnSync(bin, ['-v'], { encoding: 'utf8' }).stderr);
    const [major, minor, patch] = version!.slice(1).map(Number) as [number, number, number];
    const hasResolve = major > 1 || minor > 27 || (minor === 27 && patch >= 3);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'passerelle-nginx-'));
    try {
      // Service names resolve only inside the compose network; the syntax is what is checked.
      let conf = nginxSource;
      for (const name of Object.keys(services)) conf = conf.replaceAll(new RegExp(`\\b${name}:(\\d+)`, 'g'), '127.0.0.1:$1');
      conf = conf.replaceAll('/var/log/nginx/', `${dir}/`);
      if (!hasResolve) conf = conf.replaceAll(/ resolve\b/g, ''); // older than the image's nginx
      fs.writeFileSync(path.join(dir, 'default.conf'), conf);
      // Temporary files under the scratch directory: the packaged paths need not exist here.
      const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/${t};`).join('\n');
      fs.writeFileSync(
        path.join(dir, 'nginx.conf'),
        `pid ${dir}/nginx.pid;\nerror_log stderr;\nevents {}\nhttp {\n${temp}\n  include ${dir}/default.conf;\n}\n`,
      );
      const check = spawnSync(bin, ['-t', '-q', '-p', dir, '-c', path.join(dir, 'nginx.conf')], { encoding: 'utf8' });
      expect(check.status, check.stderr).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Dockerfile and .dockerignore', () => {
  it('builds on node:24-slim and copies only sources that exist and are in the build context', () => {
    expect(instructions('FROM').map((f) => f.args)).toEqual(['node:24-slim']);
    const ignored = (p: string) => dockerignore.some((pattern) => p === pattern || p.startsWith(`${pattern}/`));
    for (const { sources } of copies) {
      for (const s of sources) {
        expect(fs.existsSync(path.join(root, s)), s).toBe(true);
        expect(ignored(s), `${s} is excluded by .dockerignore`).toBe(false);
      }
    }
    expect(instructions('RUN').map((r) => r.args)).toContainEqual(expect.stringMatching(/^npm ci --omit=dev\b/));
  });

  it('keeps node_modules, local data, the git history and .env files out of the build context', () => {
    for (const p of ['node_modules', '.data', '.git', '.env', 'dist']) expect(dockerignore, p).toContain(p);
  });

  it('runs as a non-root user with a health check and a CMD that exists in the image', () => {
    const user = instructions('USER').at(-1)?.args;
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user!.split(':')[0]);
    // Nothing runs as root after the switch.
    expect(dockerfile.findIndex((i) => i.op === 'USER')).toBeGreaterThan(dockerfile.findLastIndex((i) => i.op === 'RUN'));
    const health = instructions('HEALTHCHECK').at(-1)!.args;
    expect(execForm(health.slice(health.indexOf('CMD') + 3).trim())[0]).toBe('node');
    expect(health).toContain(`http://127.0.0.1:${imageEnv.PORT}/readyz`);
    expect(imageCmd).toEqual(['node', 'dist/main.js']);
    expect(builtFrom(imageCmd[1]!)).toBe('src/main.ts');
    expect(imageEnv).toMatchObject({ HOST: '0.0.0.0', DATA_DIR: '/data' });
    expect(workdir).toBe('/app');
  });

  it('has in the image every file each service runs and every package it imports at run time', () => {
    const inImage = (file: string) => copies.some(({ sources }) => sources.some((s) => file === s || file.startsWith(`${s}/`)));
    // node_modules comes from `npm ci --omit=dev`: runtime packages must be dependencies, not devDependencies.
    const runtimePackage = (spec: string) => (spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    const builtins = new Set(builtinModules);
    const entries = new Set<string>();
    // Each service runs a file the image's build writes (dist/<name>.js), compiled from a source in the image.
    const build = instructions('RUN').findIndex((r) => r.args === 'node scripts/build.mjs');
    expect(build, 'the image runs the production build').toBeGreaterThan(-1);
    expect(inImage('scripts/build.mjs')).toBe(true);
    expect(Object.keys(pkg.dependencies)).toContain('esbuild');
    for (const name of Object.keys(services).filter((n) => services[n]!.build !== undefined)) {
      const argv = argvOf(name);
      expect(argv[0], name).toBe('node');
      const source = builtFrom(argv[1]!);
      expect(source, `${name} runs ${argv[1]}, which the build does not write`).toBeDefined();
      entries.add(source!);
    }
    for (const f of fs.readdirSync(path.join(root, 'src/cli'))) if (f.endsWith('.ts') && !f.endsWith('.test.ts')) entries.add(`src/cli/${f}`);
    // Walk the import graph from the entry points (type-only imports are erased by esbuild and tsx).
    const seen = new Set<string>();
    const packages = new Set<string>();
    const queue = [...entries];
    while (queue.length) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      expect(inImage(file), `${file} is not copied into the image`).toBe(true);
      const source = read(file);
      const specs = [
        ...[...source.matchAll(/^\s*(?:import|export)\s+(?!type\s)[^'";]*?\sfrom\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]!),
        ...[...source.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]!),
        ...[...source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]!),
      ];
      for (const spec of specs) {
        if (!spec.startsWith('.')) {
          if (!spec.startsWith('node:') && !builtins.has(spec)) packages.add(runtimePackage(spec));
          continue;
        }
        const base = path.posix.join(path.posix.dirname(file), spec);
        const resolved = [base, `${base}.ts`, `${base}/index.ts`, base.replace(/\.js$/, '.ts')].find(
          (c) => fs.existsSync(path.join(root, c)) && fs.statSync(path.join(root, c)).isFile(),
        );
        expect(resolved, `${file} imports ${spec}`).toBeDefined();
        if (resolved!.endsWith('.ts')) queue.push(resolved!);
      }
    }
    expect(seen.size).toBeGreaterThan(50);
    for (const p of packages) expect(Object.keys(pkg.dependencies), `${p} is imported at run time`).toContain(p);
  });
});
