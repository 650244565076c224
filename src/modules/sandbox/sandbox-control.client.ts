import { z } from 'zod';

/** The control API refused a request (its `{ error: { code, message } }`), or could not be reached (`UNREACHABLE`, `INVALID_ANSWER`). */
export class SandboxControlError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'SandboxControlError';
  }
}

const errorAnswer = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

const transaction = z.object({
  id: z.string(),
  status: z.enum(['booked', 'pending']),
  amount: z.string(),
  currency: z.string(),
  bookingDate: z.string(),
  valueDate: z.string().nullish(),
});
export type SandboxLedgerTransaction = z.infer<typeof transaction>;

const faultKinds = ['status', 'rate-limit', 'latency', 'timeout', 'malformed-json', 'missing-ids', 'churn-ids', 'duplicates'] as const;
export type SandboxFaultKindName = (typeof faultKinds)[number];
const fault = z.object({
  id: z.string(),
  kind: z.enum(faultKinds),
  route: z.string().nullish(),
  method: z.string().nullish(),
  status: z.number().int().nullish(),
  retryAfterSeconds: z.number().int().nullish(),
  latencyMs: z.number().int().nullish(),
  remaining: z.number().int().nullish(),
});
export type SandboxFaultRule = z.infer<typeof fault>;

const clock = z.object({ bankId: z.string(), now: z.string().datetime(), today: z.string() });

/** A transaction as the control API takes it (see sandbox/control.ts). */
export interface SandboxTransactionDraft {
  amount: string;
  status: 'booked' | 'pending';
  bookingDate?: string;
  valueDate?: string;
  counterpartyName?: string;
  counterpartyIban?: string;
  remittance?: string;
  id?: string;
}

export interface SandboxFaultDraft {
  kind: SandboxFaultKindName;
  route?: string;
  method?: string;
  status?: number;
  retryAfterSeconds?: number;
  latencyMs?: number;
  times?: number;
}

const customerPayments = z.object({
  transactions: z.array(transaction),
  truth: z.array(z.object({ transactionId: z.string(), expectedPaymentIds: z.array(z.string()), kind: z.string() })),
  unpaid: z.array(z.string()),
});

/** What the customer-payments control takes (see sandbox/customer-payments.ts). */
export interface SandboxCustomerPaymentsDraft {
  seed: number;
  bookFrom?: string;
  distractorRatio?: number;
  expectedPayments: {
    id: string;
    direction: 'INCOMING' | 'OUTGOING';
    amount: string;
    dueDate: string;
    creditorReference: string | null;
    invoiceReference: string | null;
    counterpartyName: string | null;
    counterpartyIban: string | null;
  }[];
}

const seg = encodeURIComponent;

/**
 * HTTP client of the sandbox control API (`sandbox/control.ts`): the in-process sandbox at the
 * gateway's own `/sandbox/control`, or a standalone one at `${SANDBOX_URL}/control`. Every answer
 * is checked with zod. The admin token lives in a private field and is only ever sent as the
 * Authorization header: it never reaches a log line or an error message.
 */
export class SandboxControlClient {
  readonly #token: string;

  /** @param controlUrl e.g. `http://127.0.0.1:4000/sandbox/control` */
  constructor(
    private readonly controlUrl: string,
    adminToken: string,
    private readonly timeoutMs = 30_000,
  ) {
    this.#token = adminToken;
  }

  /** The same control API for one partition of the sandbox (`…/t/<partition>/control`): one tenant's copy of the banks. */
  partition(name: string): SandboxControlClient {
    return new SandboxControlClient(`${this.controlUrl.replace(/\/control$/, '')}/t/${seg(name)}/control`, this.#token, this.timeoutMs);
  }

  async users(): Promise<string[]> {
    const r = await this.call('GET', '/users', z.object({ users: z.array(z.object({ username: z.string() })) }));
    return r.users.map((u) => u.username);
  }

  /** Walks the bank's SCA pages as `username`; the URL the bank then sends the browser to. */
  async completeSca(input: { url: string; username: string; decision: 'approve' | 'reject' }): Promise<string> {
    return (await this.call('POST', '/sca/complete', z.object({ redirectTo: z.string().url() }), input)).redirectTo;
  }

  async addTransactions(bankId: string, accountId: string, transactions: SandboxTransactionDraft[]): Promise<SandboxLedgerTransaction[]> {
    return (
      await this.call('POST', `/banks/${seg(bankId)}/accounts/${seg(accountId)}/transactions/batch`, z.object({ transactions: z.array(transaction) }), {
        transactions,
      })
    ).transactions;
  }

  async bookTransaction(
    bankId: string,
    accountId: string,
    transactionId: string,
    body: { amount?: string; newId?: string; bookingDate?: string },
  ): Promise<SandboxLedgerTransaction> {
    const path = `/banks/${seg(bankId)}/accounts/${seg(accountId)}/transactions/${seg(transactionId)}/book`;
    return (await this.call('POST', path, z.object({ transaction }), body)).transaction;
  }

  async expireConsent(bankId: string, bankConsentId: string): Promise<void> {
    await this.call(
      'POST',
      `/banks/${seg(bankId)}/consents/${seg(bankConsentId)}/expire`,
      z.object({ consent: z.object({ id: z.string(), status: z.string() }) }),
    );
  }

  async setFaults(bankId: string, faults: SandboxFaultDraft[]): Promise<SandboxFaultRule[]> {
    return (await this.call('PUT', `/banks/${seg(bankId)}/faults`, z.object({ faults: z.array(fault) }), { faults })).faults;
  }

  async advanceClock(bankId: string, by: { seconds?: number; minutes?: number; hours?: number; days?: number }): Promise<z.infer<typeof clock>> {
    return this.call('POST', `/banks/${seg(bankId)}/clock/advance`, clock, by);
  }

  /** Customers pay these expected payments with noise; the booked entries and the truth. */
  async bookCustomerPayments(bankId: string, accountId: string, body: SandboxCustomerPaymentsDraft): Promise<z.infer<typeof customerPayments>> {
    return this.call('POST', `/banks/${seg(bankId)}/accounts/${seg(accountId)}/customer-payments`, customerPayments, body);
  }

  /** Resets one bank, or every bank of the sandbox (or of the partition); the ids reset. */
  async reset(bankId?: string): Promise<string[]> {
    return (await this.call('POST', bankId ? `/banks/${seg(bankId)}/reset` : '/reset', z.object({ reset: z.array(z.string()) }))).reset;
  }

  private async call<T>(method: string, path: string, schema: z.ZodType<T>, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.controlUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${this.#token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new SandboxControlError(502, 'UNREACHABLE', `The sandbox control API did not answer (${(err as Error).name}).`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      throw new SandboxControlError(502, 'INVALID_ANSWER', `The sandbox control API answered ${res.status} without JSON.`);
    }
    if (!res.ok) {
      const e = errorAnswer.safeParse(json);
      throw e.success
        ? new SandboxControlError(res.status, e.data.error.code, e.data.error.message)
        : new SandboxControlError(res.status, 'INVALID_ANSWER', `The sandbox control API answered ${res.status}.`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success)
      throw new SandboxControlError(502, 'INVALID_ANSWER', `Unexpected answer from the sandbox control API to ${method} ${path.split('/')[1]}.`);
    return parsed.data;
  }
}
