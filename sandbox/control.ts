import { timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import type { Bank } from './core/bank';
import { formatCents, parseAmount, TransactionView, type LedgerTransaction } from './core/ledger';
import { completeScaHeadless, HeadlessScaError } from './core/headless';
import { MAX_ROUTE_LENGTH, ROUTE_CHARS } from './core/route-pattern';
import { applyOutcome } from './core/sca';
import { findUser, TEST_USERS } from './core/users';
import { NOISE_KINDS, planCustomerPayments } from './customer-payments';
import { sandboxStandard } from './standards';

class ControlError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const amountSchema = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const cents = parseAmount(v);
  if (cents === undefined || cents === 0) {
    ctx.addIssue({ code: 'custom', message: 'amount must be a non-zero decimal with at most 2 decimals' });
    return z.NEVER;
  }
  return cents;
});
const dateSchema = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD');

const addTransactionSchema = z.object({
  /** Signed: negative is a debit. */
  amount: amountSchema,
  status: z.enum(['booked', 'pending']).default('booked'),
  bookingDate: dateSchema.optional(),
  valueDate: dateSchema.optional(),
  counterpartyName: z.string().max(70).optional(),
  counterpartyIban: z.string().max(34).optional(),
  remittance: z.string().max(140).optional(),
  structuredReference: z.string().max(35).optional(),
  id: z.string().min(1).max(64).optional(),
});

const customerPaymentsSchema = z.object({
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31),
  expectedPayments: z
    .array(
      z.object({
        id: z.string().min(1).max(100),
        direction: z.enum(['INCOMING', 'OUTGOING']),
        amount: z.string().regex(/^\d{1,12}(\.\d{1,2})?$/),
        dueDate: dateSchema,
        creditorReference: z.string().max(35).nullable(),
        invoiceReference: z.string().max(140).nullable(),
        counterpartyName: z.string().max(70).nullable(),
        counterpartyIban: z.string().max(34).nullable(),
      }),
    )
    .min(1)
    .max(1_000),
  bookFrom: dateSchema.optional(),
  distractorRatio: z.number().min(0).max(5).optional(),
  mix: z.partialRecord(z.enum(NOISE_KINDS), z.number().min(0).max(1_000)).optional(),
});

const bookSchema = z.object({
  amount: amountSchema.optional(),
  newId: z.string().min(1).max(64).optional(),
  bookingDate: dateSchema.optional(),
});

const faultSchema = z.object({
  kind: z.enum(['status', 'rate-limit', 'latency', 'timeout', 'malformed-json', 'missing-ids', 'churn-ids', 'duplicates']),
  route: z.string().max(MAX_ROUTE_LENGTH).regex(ROUTE_CHARS, 'a path pattern: URL path characters, `*` for any run of them').optional(),
  method: z.string().max(10).optional(),
  status: z.number().int().min(400).max(599).optional(),
  retryAfterSeconds: z.number().int().min(0).max(86_400).optional(),
  latencyMs: z.number().int().min(0).max(600_000).optional(),
  times: z.number().int().min(1).optional(),
});

const clockSchema = z
  .object({
    seconds: z.number().min(0).optional(),
    minutes: z.number().min(0).optional(),
    hours: z.number().min(0).optional(),
    days: z.number().min(0).optional(),
  })
  .refine((v) => Object.values(v).some((x) => x !== undefined), 'give seconds, minutes, hours or days');

const parse = <T>(schema: z.ZodType<T>, body: unknown): T => {
  const r = schema.safeParse(body ?? {});
  if (!r.success) throw new ControlError(400, 'INVALID_INPUT', r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
  return r.data;
};

const scaCompleteSchema = z.object({
  url: z.string().url().max(8_000),
  username: z.string().min(1).max(100),
  decision: z.enum(['approve', 'reject']).default('approve'),
});

/** Where the sandbox is: `publicBase` as browsers see it, `selfBase` as this process reaches it (both include the mount path). */
export interface ControlAddresses {
  publicBase: string;
  selfBase: string;
}

/**
 * The sandbox control API: lets tests and sandbox users move clocks, add and book transactions,
 * expire or revoke consents, set quotas, inject faults and complete SCA without a browser.
 * Bearer-protected by the admin token.
 */
export function controlRouter(banks: Map<string, Bank>, adminToken: string, addresses: ControlAddresses): Router {
  const router = express.Router();
  const expected = Buffer.from(`Bearer ${adminToken}`);
  router.use((req: Request, _res: Response, next: NextFunction) => {
    const got = Buffer.from(req.get('authorization') ?? '');
    if (got.length !== expected.length || !timingSafeEqual(got, expected))
      throw new ControlError(401, 'UNAUTHENTICATED', 'Send Authorization: Bearer <sandbox admin token>.');
    next();
  });
  router.use(express.json());

  const bankOf = (req: Request): Bank => {
    const bank = banks.get(String(req.params.bankId));
    if (!bank) throw new ControlError(404, 'BANK_NOT_FOUND', `No sandbox bank ${req.params.bankId}.`);
    return bank;
  };
  const clockBody = (bank: Bank) => ({ bankId: bank.def.id, now: bank.clock.now().toISOString(), today: bank.clock.today() });

  router.get('/users', (_req, res) => {
    res.json({
      users: TEST_USERS.map(({ username, password, otp, profile, behaviour, description }) => ({ username, password, otp, profile, behaviour, description })),
    });
  });
  router.get('/banks', (_req, res) => {
    res.json({ banks: [...banks.values()].map((b) => ({ ...b.info, clock: clockBody(b) })) });
  });
  // OAuth client registrations, so a gateway in another process can use these banks (SANDBOX_URL).
  router.get('/clients', (_req, res) => {
    res.json({ clients: Object.fromEntries([...banks.values()].map((b) => [b.def.id, { ...b.client }])) });
  });
  router.post('/reset', async (_req, res) => {
    // A little at a time: rebuilding the seeded ledgers takes a while, other requests go on meanwhile.
    for (const b of banks.values()) await b.resetAsync();
    res.json({ reset: [...banks.keys()] });
  });
  router.post('/banks/:bankId/reset', async (req, res) => {
    const bank = bankOf(req);
    await bank.resetAsync();
    res.json({ reset: [bank.def.id] });
  });

  router.get('/banks/:bankId/clock', (req, res) => {
    res.json(clockBody(bankOf(req)));
  });
  router.post('/banks/:bankId/clock/advance', (req, res) => {
    const bank = bankOf(req);
    const b = parse(clockSchema, req.body);
    bank.clock.advance(((b.days ?? 0) * 86_400 + (b.hours ?? 0) * 3_600 + (b.minutes ?? 0) * 60 + (b.seconds ?? 0)) * 1000);
    res.json(clockBody(bank));
  });

  router.get('/banks/:bankId/users/:username/accounts', (req, res) => {
    const bank = bankOf(req);
    res.json({
      accounts: bank.accountsOf(String(req.params.username)).map((a) => ({
        id: a.id,
        iban: a.iban,
        currency: a.currency,
        kind: a.kind,
        name: a.name,
        ownerName: a.ownerName,
        transactionCount: a.transactions.length + (a.lazy?.count ?? 0),
        ...(a.sortCode ? { sortCode: a.sortCode, accountNumber: a.accountNumber } : {}),
      })),
    });
  });

  const accountOf = (bank: Bank, req: Request) => {
    const account = bank.findAccount(String(req.params.accountId));
    if (!account) throw new ControlError(404, 'ACCOUNT_NOT_FOUND', `No account ${req.params.accountId} at ${bank.def.id}.`);
    return account;
  };
  const txBody = (t: LedgerTransaction) => ({ ...t, amount: formatCents(t.amountCents) });

  // The bank's whole ledger of one account (booked and pending, newest first), for reconciliation
  // tests: what a gateway stored must equal this exactly.
  router.get('/banks/:bankId/accounts/:accountId/ledger', (req, res) => {
    const bank = bankOf(req);
    const account = accountOf(bank, req);
    const dateFrom = req.query.dateFrom === undefined ? undefined : parse(dateSchema, req.query.dateFrom);
    const view = new TransactionView(account, { dateFrom, status: 'both' });
    res.json({ accountId: account.id, currency: account.currency, transactions: view.slice(0, view.total).map(txBody) });
  });

  type Account = ReturnType<typeof accountOf>;
  const insertNewestFirst = (account: Account, tx: LedgerTransaction) => {
    // Newest first: insert before the first entry with an earlier (or the same) booking date.
    const at = account.transactions.findIndex((t) => t.bookingDate <= tx.bookingDate);
    account.transactions.splice(at === -1 ? account.transactions.length : at, 0, tx);
  };
  const newTransaction = (bank: Bank, account: Account, b: z.infer<typeof addTransactionSchema>): LedgerTransaction => {
    const day = b.bookingDate ?? bank.clock.today();
    return {
      id: b.id ?? `ctl-${bank.newId()}`,
      accountId: account.id,
      status: b.status,
      bookingDate: day,
      valueDate: b.valueDate ?? day,
      amountCents: b.amount,
      currency: account.currency,
      counterpartyName: b.counterpartyName,
      counterpartyIban: b.counterpartyIban,
      remittance: b.remittance,
      structuredReference: b.structuredReference,
      bankTransactionCode: b.amount < 0 ? 'PMNT-ICDT-ESCT' : 'PMNT-RCDT-ESCT',
    };
  };

  router.post('/banks/:bankId/accounts/:accountId/transactions', (req, res) => {
    const bank = bankOf(req);
    const account = accountOf(bank, req);
    const b = parse(addTransactionSchema, req.body);
    if (b.id && account.transactions.some((t) => t.id === b.id)) throw new ControlError(409, 'DUPLICATE_ID', `Transaction ${b.id} exists.`);
    const tx = newTransaction(bank, account, b);
    insertNewestFirst(account, tx);
    res.status(201).json({ transaction: txBody(tx) });
  });

  // 1–100 transactions at once, all or none (a bad entry or a taken id adds nothing).
  router.post('/banks/:bankId/accounts/:accountId/transactions/batch', (req, res) => {
    const bank = bankOf(req);
    const account = accountOf(bank, req);
    const { transactions } = parse(z.object({ transactions: z.array(addTransactionSchema).min(1).max(100) }), req.body);
    const ids = transactions.flatMap((t) => (t.id ? [t.id] : []));
    const taken = ids.find((id, i) => ids.indexOf(id) !== i || account.transactions.some((t) => t.id === id));
    if (taken) throw new ControlError(409, 'DUPLICATE_ID', `Transaction ${taken} exists (or is given twice).`);
    const added = transactions.map((b) => newTransaction(bank, account, b));
    for (const tx of added) insertNewestFirst(account, tx);
    res.status(201).json({ transactions: added.map(txBody) });
  });

  // Customers paying a set of expected payments with realistic noise (see customer-payments.ts): books
  // the entries in the account's ledger and answers the truth, so a matcher can be scored.
  router.post('/banks/:bankId/accounts/:accountId/customer-payments', (req, res) => {
    const bank = bankOf(req);
    const account = accountOf(bank, req);
    const b = parse(customerPaymentsSchema, req.body);
    const plan = planCustomerPayments(b.expectedPayments, {
      seed: b.seed,
      today: bank.clock.today(),
      bookFrom: b.bookFrom,
      distractorRatio: b.distractorRatio,
      mix: b.mix,
    });
    const taken = plan.entries.find((e) => account.transactions.some((t) => t.id === e.id));
    if (taken) throw new ControlError(409, 'DUPLICATE_ID', `Transaction ${taken.id} exists: use another seed.`);
    const added = plan.entries.map((e) =>
      newTransaction(bank, account, {
        id: e.id,
        amount: parseAmount(e.amount)!,
        status: 'booked',
        bookingDate: e.bookingDate,
        counterpartyName: e.counterpartyName ?? undefined,
        counterpartyIban: e.counterpartyIban ?? undefined,
        remittance: e.remittance ?? undefined,
      }),
    );
    for (const tx of added) insertNewestFirst(account, tx);
    res.status(201).json({ transactions: added.map(txBody), truth: plan.truth, unpaid: plan.unpaid });
  });

  router.post('/banks/:bankId/accounts/:accountId/transactions/:transactionId/book', (req, res) => {
    const bank = bankOf(req);
    const account = accountOf(bank, req);
    const tx = account.transactions.find((t) => t.id === req.params.transactionId);
    if (!tx) throw new ControlError(404, 'TRANSACTION_NOT_FOUND', `No transaction ${req.params.transactionId}.`);
    if (tx.status !== 'pending') throw new ControlError(409, 'NOT_PENDING', 'Only a pending transaction can be booked.');
    const b = parse(bookSchema, req.body);
    if (b.newId && account.transactions.some((t) => t.id === b.newId)) throw new ControlError(409, 'DUPLICATE_ID', `Transaction ${b.newId} exists.`);
    tx.status = 'booked';
    tx.bookingDate = b.bookingDate ?? bank.clock.today();
    if (b.amount !== undefined) tx.amountCents = b.amount;
    if (b.newId) tx.id = b.newId;
    // Keep newest-first order by booking date.
    account.transactions.splice(account.transactions.indexOf(tx), 1);
    insertNewestFirst(account, tx);
    res.json({ transaction: txBody(tx) });
  });

  const consentOf = (bank: Bank, req: Request) => {
    const c = bank.consents.get(String(req.params.consentId));
    if (!c) throw new ControlError(404, 'CONSENT_NOT_FOUND', `No consent ${req.params.consentId} at ${bank.def.id}.`);
    return bank.refreshConsent(c);
  };
  const consentBody = (bank: Bank, c: ReturnType<typeof consentOf>) => ({
    id: c.id,
    status: c.status,
    userId: c.userId,
    validUntil: c.validUntil,
    frequencyPerDay: c.frequencyPerDay,
    approach: c.approach,
    usage: bank.usageOf(c.id),
  });
  router.get('/banks/:bankId/consents', (req, res) => {
    const bank = bankOf(req);
    res.json({ consents: [...bank.consents.values()].map((c) => consentBody(bank, bank.refreshConsent(c))) });
  });
  router.get('/banks/:bankId/consents/:consentId', (req, res) => {
    const bank = bankOf(req);
    res.json({ consent: consentBody(bank, consentOf(bank, req)) });
  });
  router.post('/banks/:bankId/consents/:consentId/expire', (req, res) => {
    const bank = bankOf(req);
    const c = consentOf(bank, req);
    c.status = 'expired';
    c.validUntil = bank.clock.today() > c.validUntil ? c.validUntil : new Date(bank.clock.nowMs() - 86_400_000).toISOString().slice(0, 10);
    c.statusUpdatedAtMs = bank.clock.nowMs();
    res.json({ consent: consentBody(bank, c) });
  });
  router.post('/banks/:bankId/consents/:consentId/revoke', (req, res) => {
    const bank = bankOf(req);
    const c = consentOf(bank, req);
    c.status = 'revoked';
    c.statusUpdatedAtMs = bank.clock.nowMs();
    res.json({ consent: consentBody(bank, c) });
  });
  router.put('/banks/:bankId/consents/:consentId/usage', (req, res) => {
    const bank = bankOf(req);
    const c = consentOf(bank, req);
    const { used } = parse(z.object({ used: z.number().int().min(0).max(1000) }), req.body);
    bank.setUsage(c.id, used);
    res.json({ consent: consentBody(bank, c) });
  });

  router.get('/banks/:bankId/faults', (req, res) => {
    res.json({ faults: bankOf(req).faults });
  });
  router.post('/banks/:bankId/faults', (req, res) => {
    const bank = bankOf(req);
    const { times, ...rule } = parse(faultSchema, req.body);
    res.status(201).json({ fault: bank.addFault({ ...rule, remaining: times }) });
  });
  // Replaces the whole fault list at once (an empty list clears it); nothing changes when one rule is invalid.
  router.put('/banks/:bankId/faults', (req, res) => {
    const bank = bankOf(req);
    const { faults } = parse(z.object({ faults: z.array(faultSchema).max(50) }), req.body);
    bank.faults = [];
    res.json({ faults: faults.map(({ times, ...rule }) => bank.addFault({ ...rule, remaining: times })) });
  });
  router.delete('/banks/:bankId/faults', (req, res) => {
    bankOf(req).faults = [];
    res.status(204).end();
  });
  router.delete('/banks/:bankId/faults/:faultId', (req, res) => {
    const bank = bankOf(req);
    const before = bank.faults.length;
    bank.faults = bank.faults.filter((f) => f.id !== req.params.faultId);
    if (bank.faults.length === before) throw new ControlError(404, 'FAULT_NOT_FOUND', `No fault ${req.params.faultId}.`);
    res.status(204).end();
  });

  // Every payment the bank holds, oldest first, so tests can count what a TPP created (idempotency).
  router.get('/banks/:bankId/payments', (req, res) => {
    const bank = bankOf(req);
    const payments = [...bank.payments.values()].sort((a, b) => a.createdAtMs - b.createdAtMs);
    res.json({
      payments: payments.map((p) => ({
        id: p.id,
        product: p.product,
        status: bank.paymentStatus(p),
        ...(p.rejected && bank.paymentStatus(p) === 'RJCT' ? { reasonCode: p.rejected.reason } : {}),
        amount: { amount: formatCents(p.amountCents), currency: p.currency },
        creditor: { name: p.creditorName, ...(p.creditorIban ? { iban: p.creditorIban } : {}), ...(p.creditorAccount ? { account: p.creditorAccount } : {}) },
        ...(p.userId ? { userId: p.userId } : {}),
        created: new Date(p.createdAtMs).toISOString(),
      })),
    });
  });

  router.get('/banks/:bankId/payment-schedule', (req, res) => {
    res.json(bankOf(req).paymentSchedule);
  });
  router.put('/banks/:bankId/payment-schedule', (req, res) => {
    const bank = bankOf(req);
    const b = parse(
      z
        .object({ acceptAfterSeconds: z.number().int().min(0).max(864_000), settleAfterSeconds: z.number().int().min(0).max(864_000) })
        .refine((v) => v.settleAfterSeconds >= v.acceptAfterSeconds, 'settleAfterSeconds must not be before acceptAfterSeconds'),
      req.body,
    );
    bank.paymentSchedule = b;
    res.json(bank.paymentSchedule);
  });

  // Berlin Group: transaction reports as a paged list (default) or only as a download (JSON or camt.052).
  router.get('/banks/:bankId/transaction-reports', (req, res) => {
    res.json({ mode: bankOf(req).transactionReports });
  });
  router.put('/banks/:bankId/transaction-reports', (req, res) => {
    const bank = bankOf(req);
    if (!sandboxStandard(bank.def.standard).transactionReportDownloads)
      throw new ControlError(400, 'NOT_SUPPORTED', 'Only Berlin Group banks offer transaction reports as downloads.');
    bank.transactionReports = parse(z.object({ mode: z.enum(['list', 'download', 'camt']) }), req.body).mode;
    res.json({ mode: bank.transactionReports });
  });

  router.get('/banks/:bankId/sca-sessions', (req, res) => {
    const bank = bankOf(req);
    const user = typeof req.query.user === 'string' ? req.query.user : undefined;
    res.json({
      sessions: [...bank.scaSessions.values()]
        .filter((s) => !user || s.expectedUser === user || s.username === user)
        .map((s) => ({
          id: s.id,
          mode: s.mode,
          stage: s.stage,
          outcome: s.outcome,
          expectedUser: s.expectedUser,
          target: s.target,
          url: `${bank.baseUrl}/sca/s/${s.id}`,
        })),
    });
  });

  // Completes a redirect or decoupled SCA session without a browser (OAuth sessions need the browser's cookies).
  router.post('/banks/:bankId/sca-sessions/:sessionId/:decision', (req, res) => {
    const bank = bankOf(req);
    const s = bank.scaSessions.get(String(req.params.sessionId));
    if (!s) throw new ControlError(404, 'SESSION_NOT_FOUND', `No SCA session ${req.params.sessionId}.`);
    if (s.mode === 'oidc') throw new ControlError(409, 'BROWSER_REQUIRED', 'OAuth sessions are completed in the browser.');
    if (s.stage === 'done') throw new ControlError(409, 'SESSION_FINISHED', `The session already ended (${s.outcome}).`);
    const decision = String(req.params.decision);
    if (decision !== 'approve' && decision !== 'reject') throw new ControlError(404, 'NOT_FOUND', 'Use /approve or /reject.');
    const { username } = parse(z.object({ username: z.string().min(1).optional() }), req.body);
    const user = findUser(username ?? s.expectedUser ?? '');
    if (decision === 'approve') {
      if (!user || user.profile === 'none') throw new ControlError(400, 'INVALID_INPUT', 'username: give a test user (or create the request with PSU-ID).');
      if (s.expectedUser && s.expectedUser !== user.username) throw new ControlError(409, 'WRONG_USER', 'This request was made for another user.');
      s.username = user.username;
    }
    applyOutcome(bank, s, decision === 'approve' ? 'approved' : 'rejected');
    res.json({ session: { id: s.id, mode: s.mode, stage: s.stage, outcome: s.outcome, target: s.target } });
  });

  // Completes an authorisation without a browser: walks the bank's own login and code pages as the
  // test user (over HTTP at selfBase) and answers where the bank then sends the browser.
  const under = (base: string, url: string) => url === base || url.startsWith(`${base}/`);
  // The OAuth servers build some links from the Host they were called at: selfBase counts as the sandbox too.
  const isOwn = (url: string) => under(addresses.publicBase, url) || under(addresses.selfBase, url);
  router.post('/sca/complete', async (req, res) => {
    const b = parse(scaCompleteSchema, req.body);
    if (!isOwn(b.url)) throw new ControlError(400, 'INVALID_INPUT', `url: must be a page of this sandbox (${addresses.publicBase}/…).`);
    try {
      const redirectTo = await completeScaHeadless({
        ...b,
        isOwn,
        rewrite: (u) => (under(addresses.publicBase, u.href) ? new URL(`${addresses.selfBase}${u.href.slice(addresses.publicBase.length)}`) : u),
      });
      res.json({ redirectTo });
    } catch (err) {
      if (err instanceof HeadlessScaError) throw new ControlError(err.code === 'UNKNOWN_USER' ? 400 : 409, err.code, err.message);
      throw err;
    }
  });

  router.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof ControlError) return res.status(err.status).json({ error: { code: err.code, message: err.message } });
    const status = (err as { status?: number }).status;
    if (status && status < 500) return res.status(400).json({ error: { code: 'INVALID_INPUT', message: 'The body is not valid JSON.' } });
    return res.status(500).json({ error: { code: 'INTERNAL', message: 'Unexpected sandbox error.' } });
  });
  return router;
}
