import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { BANK_DEFINITIONS } from './banks';
import { Bank, type BankContext, type BankDefinition, type SandboxBankInfo, type SandboxClientCredentials } from './core/bank';
import { describePartition } from './describe';
import { isPartitionName } from './partition-name';
import { controlRouter, type ControlAddresses } from './control';
import { buildLedgerAsync, type Ledger } from './core/ledger';
import { SANDBOX_STANDARDS } from './standards';
import type { Lenience } from './standards/strict';
import { createGoCardlessUpstream, type SandboxUpstream } from './upstreams/gocardless';

/** What every bank of a partition is built with; `lenient`: per bank id, a real bank's known leniency to reproduce. */
type PartitionContext = Omit<BankContext, 'mountPath'> & { lenient?: Record<string, Lenience> };

export { partitionName } from './partition-name';

/** Each standard's mount, loaded once by `Partition.loadStandards()` before the first bank is built. */
const mounts = new Map<string, (bank: Bank) => void>();

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
    return describePartition(ctx, base);
  }

  /** Loads every standard's routes (once per process); building a bank needs them. */
  static async loadStandards(): Promise<void> {
    if (mounts.size === SANDBOX_STANDARDS.length) return;
    for (const [id, mount] of await Promise.all(SANDBOX_STANDARDS.map(async (s) => [s.id, await s.loadMount()] as const))) mounts.set(id, mount);
  }

  /**
   * Builds the banks a little at a time (seeded ledgers one test user per turn of the event loop,
   * then each bank), so a partition created on a tenant's request does not stall the process.
   */
  /** Builds every bank at once (the default partition of a sandbox that is not lazy), once `loadStandards()` has run. */
  static createNow(ctx: PartitionContext, base: string, addresses: ControlAddresses, upstream?: SandboxUpstream): Partition {
    const p = new Partition();
    for (const def of BANK_DEFINITIONS) p.add(def, ctx, base);
    return p.finish(ctx, base, addresses, upstream);
  }

  static async create(ctx: PartitionContext, base: string, addresses: ControlAddresses, upstream?: SandboxUpstream): Promise<Partition> {
    await Partition.loadStandards();
    const p = new Partition();
    for (const def of BANK_DEFINITIONS) {
      const ledger = await buildLedgerAsync(def, ctx.seed, new Date(ctx.startMs).toISOString().slice(0, 10));
      await yieldToEventLoop();
      p.add(def, ctx, base, ledger);
    }
    return p.finish(ctx, base, addresses, upstream);
  }

  private add(def: BankDefinition, ctx: PartitionContext, base: string, ledger?: Ledger): void {
    const mount = mounts.get(def.standard);
    if (!mount) throw new Error(`The routes of ${def.standard} are not loaded: await Partition.loadStandards() first`);
    const { lenient: lenientByBank, ...bankCtx } = ctx;
    const lenient = lenientByBank?.[def.id] ?? def.lenient;
    const bank = new Bank(lenient ? { ...def, lenient } : def, { ...bankCtx, mountPath: base }, ledger);
    mount(bank);
    this.banks.set(def.id, bank);
  }

  /** The upstream aggregator of the partition at `base`. Its ledgers and OpenAPI validator are built on first use: a copy that never calls it pays nothing. */
  static upstream(ctx: PartitionContext, base: string): SandboxUpstream {
    return createGoCardlessUpstream({
      publicUrl: ctx.publicUrl,
      mountPath: base,
      seed: ctx.seed,
      startMs: ctx.startMs,
      adminToken: ctx.adminToken,
      logger: ctx.logger,
    });
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
      // A live partition's name was checked when it was opened: no MAC to compute again on every call.
      if (!this.live.has(name) && !isPartitionName(this.adminToken, name))
        return res.status(404).json({ error: { code: 'PARTITION_NOT_FOUND', message: 'No such sandbox partition (names come from partitionName).' } });
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
