import { createHmac, timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { BANK_DEFINITIONS } from './banks';
import { Bank, bankIdentity, type BankContext, type BankDefinition, type SandboxBankInfo, type SandboxClientCredentials } from './core/bank';
import { controlRouter, type ControlAddresses } from './control';
import { buildLedgerAsync, type Ledger } from './core/ledger';
import { sandboxStandard } from './standards';
import type { Lenience } from './standards/strict';
import { createGoCardlessUpstream, type SandboxUpstream } from './upstreams/gocardless';

/** What every bank of a partition is built with; `lenient`: per bank id, a real bank's known leniency to reproduce. */
type PartitionContext = Omit<BankContext, 'mountPath'> & { lenient?: Record<string, Lenience> };

/** A partition name as it appears in URLs (`/t/<name>/banks/<bank>/…`): `<label>.<mac>`. */
const PARTITION_NAME = /^([A-Za-z0-9_-]{1,40})\.([A-Za-z0-9_-]{22})$/;
const LABEL = /^[A-Za-z0-9_-]{1,40}$/;

const macOf = (adminToken: string, label: string) => createHmac('sha256', adminToken).update(`sandbox-partition/${label}`).digest('base64url').slice(0, 22);

/**
 * The name of the partition `label` (1–40 letters, digits, - or _). Only holders of the admin
 * token can make one, so nobody else can make the sandbox create partitions (and push the
 * least recently used ones out); the name itself is no secret.
 */
export function partitionName(adminToken: string, label: string): string {
  if (!LABEL.test(label)) throw new Error('partitionName: a label is 1–40 letters, digits, - or _');
  return `${label}.${macOf(adminToken, label)}`;
}

function isPartitionName(adminToken: string, name: string): boolean {
  const m = PARTITION_NAME.exec(name);
  if (!m) return false;
  const expected = Buffer.from(macOf(adminToken, m[1]));
  const got = Buffer.from(m[2]);
  return got.length === expected.length && timingSafeEqual(got, expected);
}

/** Lets other work run between two slices of synchronous work (ledger builds), so none holds the event loop long. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * One copy of every sandbox bank (ledgers, consents, payments, faults, clocks, quotas, OAuth
 * server) with its control API, mounted under `base` (`${mountPath}` for the default partition,
 * `${mountPath}/t/<name>` for the others).
 */
export class Partition {
  readonly banks = new Map<string, Bank>();
  readonly router: Router = express.Router();
  /** The upstream aggregator (GoCardless Bank Account Data) of this copy: its own requisitions, tokens and switches. */
  upstream!: SandboxUpstream;

  private constructor() {}

  /** The banks a partition at `base` serves and the OAuth clients it knows, without building any bank. */
  static describe(ctx: PartitionContext, base: string): { banks: SandboxBankInfo[]; clients: Record<string, SandboxClientCredentials> } {
    const ids = BANK_DEFINITIONS.map((def) => {
      const id = bankIdentity(def, { ...ctx, mountPath: base });
      // What mounting adds to the identity (the UK banks' message-signing keys), the same as the built bank's.
      sandboxStandard(def.standard).extendIdentity?.(id.info, id.client, `${ctx.publicUrl}${base}/banks/${def.id}`);
      return id;
    });
    return { banks: ids.map((i) => i.info), clients: Object.fromEntries(ids.map((i) => [i.info.id, i.client])) };
  }

  /**
   * Builds the banks a little at a time (seeded ledgers one test user per turn of the event loop,
   * then each bank), so a partition created on a tenant's request does not stall the process.
   */
  /** Builds every bank at once (the default partition of a sandbox that is not lazy). */
  static createNow(ctx: PartitionContext, base: string, addresses: ControlAddresses, upstream?: SandboxUpstream): Partition {
    const p = new Partition();
    for (const def of BANK_DEFINITIONS) p.add(def, ctx, base);
    return p.finish(ctx, base, addresses, upstream);
  }

  static async create(ctx: PartitionContext, base: string, addresses: ControlAddresses, upstream?: SandboxUpstream): Promise<Partition> {
    const p = new Partition();
    for (const def of BANK_DEFINITIONS) {
      const ledger = await buildLedgerAsync(def, ctx.seed, new Date(ctx.startMs).toISOString().slice(0, 10));
      await yieldToEventLoop();
      p.add(def, ctx, base, ledger);
    }
    return p.finish(ctx, base, addresses, upstream);
  }

  private add(def: BankDefinition, ctx: PartitionContext, base: string, ledger?: Ledger): void {
    const { mount } = sandboxStandard(def.standard);
    const { lenient: lenientByBank, ...bankCtx } = ctx;
    const lenient = lenientByBank?.[def.id] ?? def.lenient;
    const bank = new Bank(lenient ? { ...def, lenient } : def, { ...bankCtx, mountPath: base }, ledger);
    mount(bank);
    this.banks.set(def.id, bank);
  }

  /** The upstream aggregator of the partition at `base`. Its ledgers and OpenAPI validator are built on first use: a copy that never calls it pays nothing. */
  static upstream(ctx: PartitionContext, base: string): SandboxUpstream {
    return createGoCardlessUpstream({ publicUrl: ctx.publicUrl, mountPath: base, seed: ctx.seed, startMs: ctx.startMs, adminToken: ctx.adminToken, logger: ctx.logger });
  }

  private finish(ctx: PartitionContext, base: string, addresses: ControlAddresses, upstream?: SandboxUpstream): Partition {
    this.router.use('/control', controlRouter(this.banks, ctx.adminToken, addresses));
    for (const bank of this.banks.values()) this.router.use(`/banks/${bank.def.id}`, bank.router());
    this.upstream = upstream ?? Partition.upstream(ctx, base);
    this.router.use('/upstreams/gocardless', this.upstream.router);
    return this;
  }

  async close(): Promise<void> {
    await Promise.all([...this.banks.values()].map((b) => b.close()));
  }
}

/**
 * The tenants' partitions, created on first use and bounded in number: past `max`, the least
 * recently used one is dropped (its state is lost; it comes back seeded on its next use).
 */
export class Partitions {
  private readonly live = new Map<string, Promise<Partition>>();

  constructor(
    private readonly adminToken: string,
    private readonly max: number,
    private readonly make: (name: string) => Promise<Partition>,
  ) {}

  get size(): number {
    return this.live.size;
  }

  async get(name: string): Promise<Partition> {
    let p = this.live.get(name);
    if (p) {
      // Map order is recency order: move it to the end.
      this.live.delete(name);
      this.live.set(name, p);
    } else {
      p = this.make(name);
      this.live.set(name, p);
      p.catch(() => this.live.delete(name));
      while (this.live.size > this.max) {
        const [oldest, evicted] = this.live.entries().next().value as [string, Promise<Partition>];
        this.live.delete(oldest);
        void evicted.then((e) => e.close()).catch(() => undefined);
      }
    }
    return p;
  }

  /** Routes `/:partition/…` to that partition's banks and control API. */
  router(): Router {
    const router = express.Router();
    router.use('/:partition', async (req: Request, res: Response, next: NextFunction) => {
      const name = String(req.params.partition);
      if (!isPartitionName(this.adminToken, name)) return res.status(404).json({ error: { code: 'PARTITION_NOT_FOUND', message: 'No such sandbox partition (names come from partitionName).' } });
      const partition = await this.get(name);
      partition.router(req, res, next);
    });
    return router;
  }

  async close(): Promise<void> {
    const all = [...this.live.values()];
    this.live.clear();
    await Promise.all(all.map((p) => p.then((x) => x.close()).catch(() => undefined)));
  }
}
