/**
 * The only reader of `process.env`. Every setting is validated here, typed, and frozen; a bad value
 * stops start-up with a message naming the variable. Settings marked `secret` are redacted wherever
 * the configuration is logged.
 */
import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';

import type { Environment } from './kernel/caller';

export type { Environment } from './kernel/caller';

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' }).transform((v) => v === 'true' || v === '1' || v === 'yes');

const int = (min: number, max: number) =>
  z.string().regex(/^\d+$/, { message: 'must be a whole number' }).transform(Number).pipe(z.number().int().min(min).max(max));

const url = (protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL (${protocols.join(' or ')})` },
  );

/** Express's named address ranges for `trust proxy`. */
const proxyPresets = new Set(['loopback', 'linklocal', 'uniquelocal']);
const isProxyAddress = (v: string) => {
  if (proxyPresets.has(v)) return true;
  const [ip, bits, ...rest] = v.split('/');
  const family = isIP(ip ?? '');
  if (!family || rest.length) return false;
  return bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
};
/** `false`, a hop count, or addresses/subnets/presets of the proxies whose X-Forwarded-For is believed. */
const trustProxy = z.string().transform((v, ctx): false | number | string[] => {
  const t = v.trim();
  if (t === 'false' || t === '0' || t === '') return false;
  if (/^\d+$/.test(t)) {
    if (Number(t) <= 10) return Number(t);
    ctx.addIssue({ code: 'custom', message: 'a hop count must be at most 10' });
    return z.NEVER;
  }
  const list = t.split(',').map((x) => x.trim());
  const bad = list.filter((x) => !isProxyAddress(x));
  if (bad.length) {
    ctx.addIssue({
      code: 'custom',
      message: `must be false, a hop count, or proxy addresses/subnets (or loopback, linklocal, uniquelocal); not ${bad.join(', ')}`,
    });
    return z.NEVER;
  }
  return list;
});

/**
 * Every environment variable Passerelle reads, with its default. The configuration table in docs/configuration.md
 * mirrors this list; `secret: true` entries never appear in logs.
 */
export const settings = {
  PASSERELLE_ENV: {
    schema: z.enum(['sandbox', 'live']),
    default: 'sandbox',
    doc: 'sandbox: development and sandbox banks; live: real banks, which requires a real KMS key.',
  },
  PORT: { schema: int(0, 65535), default: '4000', doc: 'HTTP port of the gateway (GraphQL, graphql-ws, callbacks, sandbox).' },
  HOST: { schema: z.string().min(1), default: '127.0.0.1', doc: 'Interface to bind; use 0.0.0.0 in a container.' },
  PUBLIC_URL: {
    schema: url(['http:', 'https:']).optional(),
    doc: 'URL the outside world reaches the gateway at (bank redirects come back here). Default http://localhost:<bound port>.',
  },
  DATA_DIR: { schema: z.string().min(1), default: '.data', doc: 'Directory for embedded data: PGlite files, the demo API key, the local KMS key file.' },
  DATABASE_URL: { schema: url(['postgres:', 'postgresql:']).optional(), secret: true, doc: 'External PostgreSQL. Unset: embedded PGlite under DATA_DIR.' },
  DB_POOL_SIZE: { schema: int(1, 200), default: '10', doc: 'Connections per gateway process.' },
  EMBEDDED_PG_PORT: {
    schema: int(0, 65535),
    default: '54329',
    doc: 'Loopback port where the embedded PGlite is served (operator commands connect here while the gateway runs).',
  },
  REDIS_URL: {
    schema: url(['redis:', 'rediss:']).optional(),
    secret: true,
    doc: 'Redis for cross-instance event fan-out and rate-limit counters. Unset: in-process.',
  },
  KMS_KEY_NAME: {
    schema: z
      .string()
      .regex(/^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+$/, {
        message: 'must be projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>',
      })
      .optional(),
    doc: 'Google Cloud KMS key that wraps the vault master key. Unset: a local key file under DATA_DIR.',
  },
  KMS_API_ENDPOINT: {
    schema: z
      .string()
      .regex(/^[\w.-]+:\d+$/, { message: 'must be host:port' })
      .optional(),
    doc: 'Override of the Cloud KMS endpoint (host:port), for a KMS-compatible emulator.',
  },
  ALLOW_LOCAL_KMS_IN_LIVE: {
    schema: bool,
    default: 'false',
    doc: 'Lets a live deployment run on the local key file. Insecure: bank tokens are then only as safe as that file.',
  },
  VAULT_KEY_CACHE_MAX: {
    schema: int(0, 100_000),
    default: '1000',
    doc: 'Unwrapped vault data keys kept in memory per process (least recently used dropped first, zeroed when dropped); 0 reads and unwraps the key from the database on every seal and open.',
  },
  VAULT_KEY_CACHE_TTL_MS: {
    schema: int(1000, 86_400_000),
    default: '300000',
    doc: 'How long an unwrapped data key stays in memory after it was read, however often it is used.',
  },
  VAULT_KEY_CACHE_CHECK_MS: {
    schema: int(10, 60_000),
    default: '200',
    doc: "Longest time a process uses cached data keys without re-reading the vault's change counter; a shred waits this long before it returns, so that afterwards no process opens with the shredded key (even one that missed the bus message). Same value on every instance.",
  },
  ALLOW_HTTP_PUBLIC_URL_IN_LIVE: {
    schema: bool,
    default: 'false',
    doc: 'Lets a live deployment run without an https PUBLIC_URL. Insecure: bank redirects and end users would come back over plain http (tests and local trials only).',
  },
  INSTITUTIONS_FILE: {
    schema: z.string().min(1),
    default: 'data/institutions.json',
    doc: 'JSON file listing the live banks this operator has contracts with (its format: docs/real-banks.md).',
  },
  GOCARDLESS_SECRET_ID: {
    schema: z
      .string()
      .regex(/^[\x21-\x7e]{8,200}$/, { message: 'must be the secret id from the GoCardless Bank Account Data portal' })
      .optional(),
    secret: true,
    doc: "Secret id of the operator's GoCardless Bank Account Data account: its institutions are then offered to live tenants beside the direct banks (see docs/upstream-aggregators.md). Needs GOCARDLESS_SECRET_KEY.",
  },
  GOCARDLESS_SECRET_KEY: {
    schema: z
      .string()
      .regex(/^[\x21-\x7e]{8,500}$/, { message: 'must be the secret key from the GoCardless Bank Account Data portal' })
      .optional(),
    secret: true,
    doc: 'Secret key going with GOCARDLESS_SECRET_ID.',
  },
  GOCARDLESS_BASE_URL: { schema: url(['https:']), default: 'https://bankaccountdata.gocardless.com', doc: 'Root of the GoCardless Bank Account Data API.' },
  GOCARDLESS_COUNTRIES: {
    schema: z
      .string()
      .regex(/^([A-Za-z]{2}(,[A-Za-z]{2})*)?$/, { message: 'must be comma-separated ISO 3166-1 alpha-2 codes, e.g. DE,FR' })
      .transform((v) => (v ? v.toUpperCase().split(',') : [])),
    default: '',
    doc: 'Countries whose GoCardless institutions are listed (comma-separated, e.g. DE,FR,GB). Empty: all.',
  },
  SANDBOX_BANKS: { schema: bool, default: 'true', doc: 'Mount the sandbox banks under /sandbox (only when PASSERELLE_ENV=sandbox).' },
  SANDBOX_URL: {
    schema: url(['http:', 'https:']).optional(),
    doc: 'Use a standalone sandbox (`npm run sandbox`, e.g. http://127.0.0.1:4010/sandbox) instead of mounting one in this process; needs SANDBOX_ADMIN_TOKEN. The banks then survive gateway restarts.',
  },
  SANDBOX_PARTITIONS: {
    schema: int(1, 1000),
    default: '16',
    doc: 'How many sandbox tenants have their own copy of the in-process sandbox banks at once (a few MB each); past it the least recently used copy is dropped and comes back seeded.',
  },
  SANDBOX_ADMIN_TOKEN: {
    schema: z.string().min(16, { message: 'must have at least 16 characters' }).optional(),
    secret: true,
    doc: 'Bearer token of the sandbox control API. Default: generated once and kept in DATA_DIR/sandbox-admin-token.',
  },
  LOG_LEVEL: { schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), default: 'info', doc: 'pino log level.' },
  DEMO_TENANT: { schema: bool, default: 'true', doc: 'On first start with an empty database, create a sandbox demo tenant and print its API key.' },
  RATE_LIMIT_PER_MINUTE: { schema: int(1, 1_000_000), default: '600', doc: 'GraphQL requests per API key per minute.' },
  WS_MAX_CONNECTIONS_PER_KEY: { schema: int(1, 100_000), default: '10', doc: 'Open graphql-ws connections one API key may hold (per gateway process).' },
  WS_MAX_SUBSCRIPTIONS_PER_KEY: {
    schema: int(1, 1_000_000),
    default: '50',
    doc: 'Active graphql-ws subscriptions one API key may hold across its connections (per gateway process).',
  },
  WS_MAX_BUFFERED_BYTES: {
    schema: int(16_384, 1_073_741_824),
    default: '4194304',
    doc: 'Bytes a graphql-ws connection may have waiting to be sent; a subscriber that falls further behind is closed with 1013 (Try Again Later) and resumes from its last cursor, so it never slows the others.',
  },
  GRAPHQL_MAX_DEPTH: { schema: int(2, 100), default: '12', doc: 'Deepest selection nesting a query may have.' },
  GRAPHQL_MAX_COST: {
    schema: int(10, 10_000_000),
    default: '20000',
    doc: 'Highest estimated cost of one operation (list fields multiply by their page size).',
  },
  GRAPHQL_MAX_TOKENS: { schema: int(100, 1_000_000), default: '5000', doc: 'Most lexical tokens a GraphQL document may have.' },
  HTTP_BODY_LIMIT_BYTES: { schema: int(1024, 50_000_000), default: '262144', doc: 'Largest request body accepted.' },
  SHUTDOWN_TIMEOUT_MS: { schema: int(0, 600_000), default: '10000', doc: 'How long in-flight requests may take to finish on SIGINT/SIGTERM.' },
  CONSENT_EXPIRY_WARNING_DAYS: {
    schema: int(1, 90),
    default: '7',
    doc: 'How many days before a consent ends it turns EXPIRING (and CONSENT_EXPIRING is emitted), so the end user can renew in time.',
  },
  PROOF_RETENTION_YEARS: {
    schema: int(1, 100),
    default: '10',
    doc: 'How many years proof records (who authorised or approved what, and every payment status change) are kept; the daily purge deletes only records older than this was when they were written.',
  },
  APPROVAL_LINK_TTL_MINUTES: {
    schema: int(5, 10_080),
    default: '1440',
    doc: 'How long a hosted approvals page link (passkey registration, passkey approval of a payment) stays usable; each is also one-use.',
  },
  APPROVAL_PENDING_TTL_HOURS: {
    schema: int(1, 8_760),
    default: '168',
    doc: 'How long a payment may wait AWAITING_APPROVAL (counted from its creation): past it, a job fails it (FAILED, with an event and a proof record) without calling the bank, so a stale payment cannot be approved and sent weeks later.',
  },
  SYNC_CONCURRENCY: {
    schema: int(0, 64),
    default: '2',
    doc: 'Account syncs this process runs at once; 0 runs none here (an API-only instance: other processes do the work).',
  },
  WEBHOOK_CONCURRENCY: {
    schema: int(0, 256),
    default: '32',
    doc: "Webhook requests this process sends at once (one per lane: a resource's deliveries to an endpoint go one after the other); 0 sends none here (other processes deliver).",
  },
  WEBHOOK_ENDPOINT_CONCURRENCY: {
    schema: int(1, 256),
    default: '8',
    doc: 'Webhook requests this process sends to one endpoint at once, over that many kept-alive connections at most.',
  },
  WEBHOOK_TIMEOUT_MS: { schema: int(100, 60_000), default: '10000', doc: 'How long a webhook receiver has to answer 2xx before the attempt counts as failed.' },
  WEBHOOK_RETRY_BASE_MS: {
    schema: int(10, 3_600_000),
    default: '5000',
    doc: 'First retry delay of a failed webhook delivery; each next one doubles (with jitter), up to 6 hours.',
  },
  WEBHOOK_RETRY_WINDOW_SECONDS: {
    schema: int(1, 2_592_000),
    default: '259200',
    doc: 'How long a failing delivery is retried before it is dead-lettered (default 72 hours; at least that in live).',
  },
  TRUST_PROXY: {
    schema: trustProxy,
    default: 'false',
    doc: 'Reverse proxies whose X-Forwarded-For names the client: false (default: the socket address is the client), a hop count, or addresses/subnets (e.g. 10.0.0.0/8, uniquelocal). The client address becomes the PSU IP sent to banks at the callback and the rate-limit key of requests without an API key.',
  },
  TPP_IP_ADDRESS: {
    schema: z
      .string()
      .refine((v) => isIP(v) === 4, { message: 'must be an IPv4 address' })
      .optional(),
    doc: "The gateway's own public IPv4 address as banks see it: sent as PSU-IP-Address where the Berlin Group file requires one and the end user's is unknown. Default 127.0.0.1 in sandbox; unset in live, such calls fail before they are sent unless the bank's registry entry sets psuIpAddressOptional.",
  },
  METRICS_TOKEN: {
    schema: z
      .string()
      .regex(/^[\x21-\x7e]{16,512}$/, { message: 'must have at least 16 printable characters and no spaces' })
      .optional(),
    secret: true,
    doc: 'Bearer token Prometheus must send to read GET /metrics. Unset: /metrics is open in sandbox and refused (403) in live.',
  },
} as const satisfies Record<string, { schema: z.ZodType; default?: string; secret?: boolean; doc: string }>;

type Settings = typeof settings;
type Raw = { [K in keyof Settings]: z.output<Settings[K]['schema']> };

/** The validated, frozen configuration of one Passerelle process. */
export interface Config {
  /** Deployment environment: `live` refuses insecure defaults such as the local KMS key file. */
  readonly environment: Environment;
  readonly port: number;
  readonly host: string;
  /** Explicit public URL; when unset the gateway uses http://localhost:<bound port>. */
  readonly publicUrl: string | undefined;
  readonly dataDir: string;
  /** External Postgres URL; undefined means embedded PGlite. */
  readonly databaseUrl: string | undefined;
  readonly dbPoolSize: number;
  readonly embeddedPgPort: number;
  /** Redis URL; undefined means in-process bus and in-memory rate limits. */
  readonly redisUrl: string | undefined;
  readonly logLevel: Raw['LOG_LEVEL'];
  /** Key-management service wrapping the vault master key. */
  readonly kms: {
    readonly provider: 'local' | 'gcp';
    /** Cloud KMS cryptoKey resource name (gcp provider). */
    readonly keyName: string | undefined;
    /** host:port override of the Cloud KMS endpoint. */
    readonly apiEndpoint: string | undefined;
    readonly allowLocalInLive: boolean;
  };
  /** Unwrapped data keys kept in memory: how many, for how long, and how stale the shred/rotation check may be. */
  readonly vaultKeyCache: { readonly max: number; readonly ttlMs: number; readonly checkMs: number };
  readonly demoTenant: boolean;
  readonly rateLimitPerMinute: number;
  /** graphql-ws caps per API key: open connections and active subscriptions (each subscribe also counts against the rate limit). */
  readonly ws: { readonly maxConnectionsPerKey: number; readonly maxSubscriptionsPerKey: number; readonly maxBufferedBytes: number };
  readonly graphql: { readonly maxDepth: number; readonly maxCost: number; readonly maxTokens: number };
  readonly httpBodyLimitBytes: number;
  /** Express `trust proxy`: which hops' X-Forwarded-For to believe (false: none). */
  readonly trustProxy: false | number | readonly string[];
  /** The live institutions registry file. */
  readonly institutionsFile: string;
  /** Upstream aggregators reaching banks under their licence (GoCardless Bank Account Data); undefined when not configured. */
  readonly upstreams: {
    readonly gocardless: { readonly baseUrl: string; readonly secretId: string; readonly secretKey: string; readonly countries: readonly string[] } | undefined;
  };
  /** Sandbox banks mounted in-process; never in live. */
  /** `enabled`: sandbox banks are offered; `url`: they run in a standalone sandbox there instead of in this process. */
  readonly sandbox: { readonly enabled: boolean; readonly url: string | undefined; readonly adminToken: string | undefined; readonly partitions: number };
  readonly shutdownTimeoutMs: number;
  /** Account syncs this process runs at once (0: none, it only queues them). */
  readonly syncConcurrency: number;
  /** Days before a consent's end at which it turns EXPIRING. */
  readonly consentExpiryWarningDays: number;
  /** Years a proof record is kept (its `retainUntil` is fixed when it is written). */
  readonly proofRetentionYears: number;
  /** Minutes a hosted approvals page link (passkey registration or approval) stays usable. */
  readonly approvalLinkTtlMinutes: number;
  /** Hours a payment may stay AWAITING_APPROVAL after its creation before the expiry job fails it (no bank call). */
  readonly approvalPendingTtlHours: number;
  /** Webhook delivery: concurrency of this process (0: none), receiver timeout, retry schedule. */
  readonly webhooks: {
    readonly concurrency: number;
    readonly endpointConcurrency: number;
    readonly timeoutMs: number;
    readonly retryBaseMs: number;
    readonly retryWindowSeconds: number;
  };
  /** `GET /metrics`: the scrapers' bearer token (unset: open in sandbox, refused in live). */
  readonly metrics: { readonly token: string | undefined };
  /** The gateway's own IPv4 address, sent as PSU-IP-Address where required and the end user's is unknown. */
  readonly tppIpAddress: string | undefined;
}

/** Raised when the environment holds an invalid value; names every offending variable. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Reads and validates the given environment (default `process.env`). */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const problems: string[] = [];
  const raw: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(settings) as [keyof Settings, Settings[keyof Settings]][]) {
    const given = env[name];
    const value = given === undefined || given === '' ? ('default' in spec ? spec.default : undefined) : given;
    const parsed = spec.schema.safeParse(value);
    if (parsed.success) raw[name] = parsed.data;
    else problems.push(`${name}: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const r = raw as Raw;
  if (r.SANDBOX_URL && !r.SANDBOX_ADMIN_TOKEN) {
    throw new ConfigError([
      "SANDBOX_ADMIN_TOKEN: required with SANDBOX_URL (the gateway reads the standalone sandbox's banks and OAuth clients through its control API)",
    ]);
  }
  if (!r.GOCARDLESS_SECRET_ID !== !r.GOCARDLESS_SECRET_KEY) {
    throw new ConfigError([
      `${r.GOCARDLESS_SECRET_ID ? 'GOCARDLESS_SECRET_KEY' : 'GOCARDLESS_SECRET_ID'}: required with ${r.GOCARDLESS_SECRET_ID ? 'GOCARDLESS_SECRET_ID' : 'GOCARDLESS_SECRET_KEY'} (the pair is the operator's GoCardless Bank Account Data secret)`,
    ]);
  }
  if (r.PASSERELLE_ENV === 'live' && !r.KMS_KEY_NAME && !r.ALLOW_LOCAL_KMS_IN_LIVE) {
    throw new ConfigError(['KMS_KEY_NAME: required when PASSERELLE_ENV=live (the local key file is refused in live unless ALLOW_LOCAL_KMS_IN_LIVE=true)']);
  }
  // Banks send end users (with authorisation codes) back to PUBLIC_URL/callback: in live that must be https.
  if (r.PASSERELLE_ENV === 'live' && !r.ALLOW_HTTP_PUBLIC_URL_IN_LIVE && !r.PUBLIC_URL?.startsWith('https:')) {
    throw new ConfigError([
      'PUBLIC_URL: an https URL is required when PASSERELLE_ENV=live (banks redirect end users to PUBLIC_URL/callback; ALLOW_HTTP_PUBLIC_URL_IN_LIVE=true allows http, insecurely)',
    ]);
  }
  if (r.PASSERELLE_ENV === 'live' && r.WEBHOOK_RETRY_WINDOW_SECONDS < 259_200) {
    throw new ConfigError(['WEBHOOK_RETRY_WINDOW_SECONDS: must be at least 259200 (72 hours) when PASSERELLE_ENV=live']);
  }
  return Object.freeze({
    environment: r.PASSERELLE_ENV,
    port: r.PORT,
    host: r.HOST,
    publicUrl: r.PUBLIC_URL?.replace(/\/+$/, ''),
    dataDir: path.resolve(r.DATA_DIR),
    databaseUrl: r.DATABASE_URL,
    dbPoolSize: r.DB_POOL_SIZE,
    embeddedPgPort: r.EMBEDDED_PG_PORT,
    redisUrl: r.REDIS_URL,
    logLevel: r.LOG_LEVEL,
    kms: Object.freeze({
      provider: r.KMS_KEY_NAME ? ('gcp' as const) : ('local' as const),
      keyName: r.KMS_KEY_NAME,
      apiEndpoint: r.KMS_API_ENDPOINT,
      allowLocalInLive: r.ALLOW_LOCAL_KMS_IN_LIVE,
    }),
    vaultKeyCache: Object.freeze({ max: r.VAULT_KEY_CACHE_MAX, ttlMs: r.VAULT_KEY_CACHE_TTL_MS, checkMs: r.VAULT_KEY_CACHE_CHECK_MS }),
    demoTenant: r.DEMO_TENANT,
    rateLimitPerMinute: r.RATE_LIMIT_PER_MINUTE,
    ws: Object.freeze({
      maxConnectionsPerKey: r.WS_MAX_CONNECTIONS_PER_KEY,
      maxSubscriptionsPerKey: r.WS_MAX_SUBSCRIPTIONS_PER_KEY,
      maxBufferedBytes: r.WS_MAX_BUFFERED_BYTES,
    }),
    graphql: Object.freeze({ maxDepth: r.GRAPHQL_MAX_DEPTH, maxCost: r.GRAPHQL_MAX_COST, maxTokens: r.GRAPHQL_MAX_TOKENS }),
    httpBodyLimitBytes: r.HTTP_BODY_LIMIT_BYTES,
    trustProxy: Array.isArray(r.TRUST_PROXY) ? Object.freeze([...r.TRUST_PROXY]) : r.TRUST_PROXY,
    institutionsFile: path.resolve(r.INSTITUTIONS_FILE),
    upstreams: Object.freeze({
      gocardless:
        r.GOCARDLESS_SECRET_ID && r.GOCARDLESS_SECRET_KEY
          ? Object.freeze({
              baseUrl: r.GOCARDLESS_BASE_URL.replace(/\/+$/, ''),
              secretId: r.GOCARDLESS_SECRET_ID,
              secretKey: r.GOCARDLESS_SECRET_KEY,
              countries: Object.freeze([...r.GOCARDLESS_COUNTRIES]),
            })
          : undefined,
    }),
    sandbox: Object.freeze({
      enabled: r.PASSERELLE_ENV === 'sandbox' && r.SANDBOX_BANKS,
      url: r.SANDBOX_URL?.replace(/\/+$/, ''),
      adminToken: r.SANDBOX_ADMIN_TOKEN,
      partitions: r.SANDBOX_PARTITIONS,
    }),
    shutdownTimeoutMs: r.SHUTDOWN_TIMEOUT_MS,
    syncConcurrency: r.SYNC_CONCURRENCY,
    consentExpiryWarningDays: r.CONSENT_EXPIRY_WARNING_DAYS,
    proofRetentionYears: r.PROOF_RETENTION_YEARS,
    approvalLinkTtlMinutes: r.APPROVAL_LINK_TTL_MINUTES,
    approvalPendingTtlHours: r.APPROVAL_PENDING_TTL_HOURS,
    webhooks: Object.freeze({
      concurrency: r.WEBHOOK_CONCURRENCY,
      endpointConcurrency: r.WEBHOOK_ENDPOINT_CONCURRENCY,
      timeoutMs: r.WEBHOOK_TIMEOUT_MS,
      retryBaseMs: r.WEBHOOK_RETRY_BASE_MS,
      retryWindowSeconds: r.WEBHOOK_RETRY_WINDOW_SECONDS,
    }),
    metrics: Object.freeze({ token: r.METRICS_TOKEN }),
    tppIpAddress: r.TPP_IP_ADDRESS ?? (r.PASSERELLE_ENV === 'sandbox' ? '127.0.0.1' : undefined),
  });
}

/** The configuration with secrets replaced, safe to log. */
export function redactedConfig(config: Config): Record<string, unknown> {
  return {
    ...config,
    databaseUrl: config.databaseUrl ? redactUrl(config.databaseUrl) : undefined,
    redisUrl: config.redisUrl ? redactUrl(config.redisUrl) : undefined,
    sandbox: { ...config.sandbox, adminToken: config.sandbox.adminToken ? '[redacted]' : undefined },
    metrics: { token: config.metrics.token ? '[redacted]' : undefined },
    upstreams: { gocardless: config.upstreams.gocardless ? { ...config.upstreams.gocardless, secretId: '[redacted]', secretKey: '[redacted]' } : undefined },
  };
}

function redactUrl(value: string): string {
  const u = new URL(value);
  if (u.password) u.password = '[redacted]';
  return u.toString();
}
