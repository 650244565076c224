import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/helpers/database';
import { startJobs, type Jobs } from './jobs';
import { createLogger } from './logger';

const logger = createLogger('silent');
const hasPostgres = Boolean(process.env.DATABASE_URL);

/** A fresh database: Postgres from DATABASE_URL, or embedded PGlite even when DATABASE_URL is set. */
async function openBackend(embedded: boolean): Promise<TestDatabase> {
  if (!embedded) return createTestDatabase({ prefix: 'jobs', logLevel: 'silent' });
  const saved = process.env.DATABASE_URL;
  delete process.env.DATABASE_URL;
  try {
    return await createTestDatabase({ prefix: 'jobs', logLevel: 'silent' });
  } finally {
    if (saved !== undefined) process.env.DATABASE_URL = saved;
  }
}

const queueName = (label: string) => `test-${label}-${randomBytes(4).toString('hex')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe.each([
  { backend: 'PostgreSQL (DATABASE_URL)', embedded: false, skip: !hasPostgres },
  { backend: 'embedded PGlite', embedded: true, skip: false },
])('durable jobs on $backend', ({ embedded, skip }) => {
  let database: TestDatabase;
  let sql: pg.Client;
  const running: Jobs[] = [];

  async function jobs(maintenanceIntervalSeconds?: number): Promise<Jobs> {
    const j = await startJobs({ url: database.db.url, logger, maintenanceIntervalSeconds });
    running.push(j);
    return j;
  }

  async function jobRow(queue: string, id: string): Promise<{ state: string; retry_count: number } | undefined> {
    const { rows } = await sql.query('select state, retry_count from pgboss.job where name = $1 and id = $2', [queue, id]);
    return rows[0];
  }

  beforeAll(async () => {
    if (skip) return;
    database = await openBackend(embedded);
    sql = new pg.Client({ connectionString: database.db.url });
    await sql.connect();
    // The first start installs pg-boss's schema; later ones find it.
    await (await jobs()).stop(0);
  });

  afterAll(async () => {
    if (skip) return;
    for (const j of running) await j.stop(0);
    await sql?.end();
    await database?.close();
  });

  it.skipIf(skip)('a job sent is run once by a worker, with its data', async () => {
    const j = await jobs();
    const q = queueName('once');
    await j.define(q);
    const id = await j.send(q, { hello: 'world', n: 1 });
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const seen: { id: string; data: unknown; retryCount: number }[] = [];
    await j.work<{ hello: string }>(q, { pollingIntervalSeconds: 0.5 }, async (job) => {
      seen.push(job);
    });
    await until(() => seen.length > 0, 10_000, 'the job to run');
    await sleep(1500);
    expect(seen).toEqual([{ id, data: { hello: 'world', n: 1 }, retryCount: 0 }]);
    await until(async () => (await jobRow(q, id!))?.state === 'completed', 5_000, 'the job to complete');
    await j.stop();
  });

  it.skipIf(skip)('a failing handler is retried with backoff up to retryLimit, then the job ends failed', async () => {
    const j = await jobs();
    const q = queueName('retry');
    await j.define(q, { retryLimit: 2, retryDelay: 1, retryBackoff: true });
    const id = (await j.send(q, { fail: true }))!;
    const attempts: { at: number; retryCount: number }[] = [];
    await j.work(q, { pollingIntervalSeconds: 0.5 }, async (job) => {
      attempts.push({ at: Date.now(), retryCount: job.retryCount });
      throw new Error('bank unavailable');
    });
    await until(async () => (await jobRow(q, id))?.state === 'failed', 20_000, 'the job to fail for good');
    await sleep(1500);
    expect(attempts.map((a) => a.retryCount)).toEqual([0, 1, 2]);
    // Backoff: the first retry waits 1-2 s, the second 2-4 s (retryDelay 1, doubling, with jitter).
    expect(attempts[1].at - attempts[0].at).toBeGreaterThanOrEqual(900);
    expect(attempts[2].at - attempts[1].at).toBeGreaterThanOrEqual(1900);
    expect(await jobRow(q, id)).toEqual({ state: 'failed', retry_count: 2 });
    await j.stop();
  });

  it.skipIf(skip)('two Jobs instances on one database share work: 20 jobs each run exactly once', async () => {
    const a = await jobs();
    const b = await jobs();
    const q = queueName('shared');
    await a.define(q);
    await b.define(q);
    const runs: { instance: string; n: number }[] = [];
    const handler = (instance: string) => async (job: { data: { n: number } }) => {
      runs.push({ instance, n: job.data.n });
      await sleep(150);
    };
    await a.work(q, { concurrency: 2, pollingIntervalSeconds: 0.5 }, handler('a'));
    await b.work(q, { concurrency: 2, pollingIntervalSeconds: 0.5 }, handler('b'));
    for (let n = 0; n < 20; n++) await (n % 2 ? a : b).send(q, { n });
    await until(() => runs.length >= 20, 20_000, '20 runs');
    await sleep(1500);
    expect(runs.map((r) => r.n).sort((x, y) => x - y)).toEqual([...Array(20).keys()]);
    expect(runs.some((r) => r.instance === 'a')).toBe(true);
    expect(runs.some((r) => r.instance === 'b')).toBe(true);
    await Promise.all([a.stop(), b.stop()]);
  });

  it.skipIf(skip)('singletonKey: a second send with the same key while the first is queued returns null', async () => {
    const j = await jobs();
    const q = queueName('single');
    await j.define(q, { policy: 'short' });
    const first = await j.send(q, { account: 'acc-1' }, { singletonKey: 'acc-1' });
    expect(first).not.toBeNull();
    expect(await j.send(q, { account: 'acc-1' }, { singletonKey: 'acc-1' })).toBeNull();
    expect(await j.send(q, { account: 'acc-2' }, { singletonKey: 'acc-2' })).not.toBeNull();
    // Once the first has run, the key is free again.
    const done: string[] = [];
    await j.work(q, { pollingIntervalSeconds: 0.5 }, async (job) => {
      done.push(job.id);
    });
    await until(() => done.includes(first!), 10_000, 'the first job to run');
    expect(await j.send(q, { account: 'acc-1' }, { singletonKey: 'acc-1' })).not.toBeNull();
    // On a standard queue a singletonKey would silently deduplicate nothing: refused.
    const plain = queueName('plain');
    await j.define(plain);
    await expect(j.send(plain, {}, { singletonKey: 'k' })).rejects.toThrow(/standard policy/);
    await j.stop();
  });

  it.skipIf(skip)('a job whose worker crashed is run again by another instance after its expiry', async () => {
    const q = queueName('crash');
    const survivor = await jobs(1);
    await survivor.define(q, { expireInSeconds: 2, retryLimit: 1 });
    const id = (await survivor.send(q, { payment: 'pay-1' }))!;

    // Another process takes the job, its handler never returns, and it is killed (SIGKILL: no
    // graceful stop, nothing failed on the way out).
    const crashed = await startDoomedWorker(database.db.url, q);
    expect(crashed.jobId).toBe(id);
    const takenAt = Date.now();
    crashed.kill();
    expect(await jobRow(q, id)).toMatchObject({ state: 'active' });

    const rerun: { id: string; retryCount: number; at: number }[] = [];
    await survivor.work(q, { pollingIntervalSeconds: 0.5 }, async (job) => {
      rerun.push({ id: job.id, retryCount: job.retryCount, at: Date.now() });
    });
    await until(() => rerun.length > 0, 15_000, 'the expired job to run again');
    expect(rerun[0]).toMatchObject({ id, retryCount: 1 });
    expect(rerun[0].at - takenAt).toBeGreaterThanOrEqual(1500);
    await until(async () => (await jobRow(q, id))?.state === 'completed', 5_000, 'the re-run to complete');
    await survivor.stop();
  });

  it.skipIf(skip)('a schedule is stored once per queue (a second call replaces it) and a bad cron is refused', async () => {
    const j = await jobs();
    const q = queueName('cron');
    await j.define(q);
    await j.schedule(q, '*/5 * * * *', { sweep: 'payments' });
    await j.schedule(q, '0 * * * *', { sweep: 'payments' });
    const { rows } = await sql.query('select cron, timezone, data from pgboss.schedule where name = $1', [q]);
    expect(rows).toEqual([{ cron: '0 * * * *', timezone: 'UTC', data: { sweep: 'payments' } }]);
    await expect(j.schedule(q, 'not a cron')).rejects.toThrow();
    await j.stop();
  });

  it.skipIf(skip)('stop waits for a running handler, and is safe to call twice', async () => {
    const j = await jobs();
    const q = queueName('stop');
    await j.define(q);
    let finished = false;
    let startedRun = false;
    await j.work(q, { pollingIntervalSeconds: 0.5 }, async () => {
      startedRun = true;
      await sleep(700);
      finished = true;
    });
    const id = (await j.send(q, {}))!;
    await until(() => startedRun, 10_000, 'the handler to start');
    await Promise.all([j.stop(5_000), j.stop(5_000)]);
    expect(finished).toBe(true);
    await until(async () => (await jobRow(q, id))?.state === 'completed', 5_000, 'the job to complete');
  });
});

/**
 * Starts a separate Node process (tsx) with its own Jobs, working `queue` with a handler that
 * never returns; resolves once it holds a job. `kill()` SIGKILLs it.
 */
async function startDoomedWorker(url: string, queue: string): Promise<{ jobId: string; kill(): void }> {
  const jobsModule = fileURLToPath(new URL('./jobs.ts', import.meta.url));
  const loggerModule = fileURLToPath(new URL('./logger.ts', import.meta.url));
  const script = `
    const { startJobs } = await import(${JSON.stringify(jobsModule)});
    const { createLogger } = await import(${JSON.stringify(loggerModule)});
    const jobs = await startJobs({ url: process.env.JOBS_URL, logger: createLogger('silent'), maxConnections: 2 });
    await jobs.work(process.env.JOBS_QUEUE, { pollingIntervalSeconds: 0.5 }, async (job) => {
      process.stdout.write('took ' + job.id + '\\n');
      await new Promise(() => {});
    });
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, JOBS_URL: url, JOBS_QUEUE: queue },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const jobId = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the doomed worker took no job: ${stderr}`)), 20_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /took ([0-9a-f-]{36})/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the doomed worker exited (${code}): ${stderr}`));
    });
  });
  return { jobId, kill: () => child.kill('SIGKILL') };
}
