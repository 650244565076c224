import type { EntityManager } from '@mikro-orm/postgresql';
import type { Caller } from '../../kernel/caller';
import { DomainError, ErrorCode } from '../../kernel/errors';
import { atCurrencyScale, currencyDigits } from '../../kernel/money';
import { type Problem, ProblemCode, problem } from '../../kernel/problems';
import type { InstitutionDescriptor } from '../../banking/model';
import { standards } from '../../banking/standards';
import type { Logger } from '../../platform/logger';
import type { Account } from '../accounts/account.entity';
import type { AccountsService } from '../accounts';
import type { Consent } from '../consents/consent.entity';
import { ConsentStatus } from '../consents';
import type { ConsentsService } from '../consents';
import type { InstitutionsService } from '../institutions';
import { checkIban } from '../payments';
import type { Outcome } from '../../kernel/problems';
import type { ReconciliationService } from '../reconciliation';
import { absDecimal, compareDecimal, normaliseDecimal, parseDecimal } from '../transactions';
import {
  SandboxControlError,
  type SandboxControlClient,
  type SandboxFaultDraft,
  type SandboxFaultRule,
  type SandboxLedgerTransaction,
  type SandboxTransactionDraft,
} from './sandbox-control.client';

/** Largest amount a sandbox transaction may carry. */
const MAX_AMOUNT = '999999999.99';
const MAX_CLOCK_SECONDS = 3650 * 86_400;
const CONTROL = /\p{C}/u;
/** A fault route: URL path characters (RFC 3986 pchar and `/`), `*` among them; the banks match it without regular expressions. */
const ROUTE_PATTERN = /^[A-Za-z0-9\-._~%!$&'()*+,;=:@/]*$/;

export interface SandboxTransactionRequest {
  amount: string;
  status: 'BOOKED' | 'PENDING';
  bookingDate?: string | null;
  valueDate?: string | null;
  counterpartyName?: string | null;
  counterpartyIban?: string | null;
  remittanceInformation?: string | null;
  bankTransactionId?: string | null;
}

export interface SandboxFaultRequest {
  kind: SandboxFaultDraft['kind'];
  route?: string | null;
  method?: string | null;
  status?: number | null;
  retryAfterSeconds?: number | null;
  latencyMs?: number | null;
  times?: number | null;
}

export interface SandboxBankTransaction {
  bankTransactionId: string;
  status: 'BOOKED' | 'PENDING';
  amount: { amount: string; currency: string };
  bookingDate: string;
  valueDate: string | null;
}

export interface SandboxDeps {
  /** The control API of the sandbox this gateway uses; null when it has none (live, or SANDBOX_BANKS=false). */
  client: SandboxControlClient | null;
  /** The tenant's partition of the sandbox (its own copy of every bank); the one InstitutionsService gives its institutions. */
  partitionOf: (tenantId: string) => string;
  consents: ConsentsService;
  accounts: AccountsService;
  institutions: InstitutionsService;
  logger: Logger;
  /** Reads the expected payments the sandbox's customers pay (sandboxCustomerPaymentsBook). */
  reconciliation?: ReconciliationService;
}

type Checked = Problem[];

/**
 * The sandbox* mutations: drive the sandbox banks through their control API, for sandbox keys only.
 * Consents and accounts are the caller's own (another tenant's id is NOT_FOUND); bank-wide controls
 * (faults, clock, reset) act on the caller's own partition of the sandbox: its copy of the banks,
 * which no other tenant's calls reach.
 */
export class SandboxService {
  constructor(private readonly deps: SandboxDeps) {}

  /** SANDBOX_ONLY for live keys and on a gateway without sandbox banks; the control client otherwise. */
  private control(caller: Caller): SandboxControlClient {
    if (caller.environment !== 'sandbox' || !this.deps.client) {
      throw new DomainError(
        ErrorCode.SANDBOX_ONLY,
        caller.environment !== 'sandbox'
          ? 'The sandbox* mutations exist for sandbox keys only; this key belongs to a live tenant.'
          : 'The sandbox* mutations exist for sandbox keys only, and this gateway runs no sandbox banks (SANDBOX_BANKS=false).',
      );
    }
    return this.deps.client.partition(this.deps.partitionOf(caller.tenantId));
  }

  async authorizeConsent(
    em: EntityManager,
    caller: Caller,
    input: { consentId: string | null; username: string; decision: 'APPROVE' | 'REJECT' },
  ): Promise<Outcome<Consent>> {
    const client = this.control(caller);
    const users = await this.run(() => client.users());
    if (!users.ok) return users;
    const username = input.username.trim().toLowerCase();
    if (!users.value.includes(username)) {
      return fail(
        ['input', 'username'],
        ProblemCode.NOT_FOUND,
        `No sandbox test user ${JSON.stringify(input.username.slice(0, 100))}; the test users are ${users.value.join(', ')}.`,
      );
    }
    return this.deps.consents.authorizeInSandbox(em, caller, input.consentId, (url) =>
      this.run(() => client.completeSca({ url, username, decision: input.decision === 'APPROVE' ? 'approve' : 'reject' }), {
        SCA_NOT_COMPLETED: (e) => [problem(['input', 'username'], ProblemCode.INVALID_STATE, e.message)],
      }),
    );
  }

  async createTransactions(
    em: EntityManager,
    caller: Caller,
    input: { accountId: string | null; transactions: SandboxTransactionRequest[] },
  ): Promise<Outcome<SandboxBankTransaction[]>> {
    const client = this.control(caller);
    const errors: Problem[] = [];
    if (input.transactions.length === 0) errors.push(problem(['input', 'transactions'], ProblemCode.BLANK, 'Give at least one transaction.'));
    if (input.transactions.length > 100) errors.push(problem(['input', 'transactions'], ProblemCode.OUT_OF_RANGE, 'Give at most 100 transactions per call.'));
    const found = await this.account(em, caller, input.accountId);
    if (!found.ok) errors.push(...found.userErrors);
    const currency = found.ok ? found.value.account.currency : 'EUR';
    const drafts: SandboxTransactionDraft[] = [];
    const ids = new Set<string>();
    input.transactions.slice(0, 100).forEach((t, i) => {
      const at = (field: string) => ['input', 'transactions', String(i), field];
      const amount = checkAmount(t.amount, currency, at('amount'));
      if (!amount.ok) errors.push(...amount.userErrors);
      errors.push(
        ...checkText(t.counterpartyName, 70, at('counterpartyName')),
        ...checkText(t.remittanceInformation, 140, at('remittanceInformation')),
        ...checkText(t.bankTransactionId, 64, at('bankTransactionId')),
      );
      if (t.bankTransactionId) {
        if (ids.has(t.bankTransactionId)) errors.push(problem(at('bankTransactionId'), ProblemCode.TAKEN, 'This bank id is given twice.'));
        ids.add(t.bankTransactionId);
      }
      let counterpartyIban: string | undefined;
      if (t.counterpartyIban != null) {
        const iban = checkIban(t.counterpartyIban);
        if (iban.ok) counterpartyIban = iban.iban;
        else errors.push(problem(at('counterpartyIban'), ProblemCode.INVALID_IBAN, iban.message));
      }
      if (amount.ok) {
        drafts.push({
          amount: amount.value,
          status: t.status === 'PENDING' ? 'pending' : 'booked',
          ...optional({
            bookingDate: t.bookingDate,
            valueDate: t.valueDate,
            counterpartyName: t.counterpartyName,
            remittance: t.remittanceInformation,
            id: t.bankTransactionId,
            counterpartyIban,
          }),
        });
      }
    });
    if (errors.length > 0 || !found.ok) return { ok: false, userErrors: errors };
    const { bankId, bankAccountId } = found.value;
    const added = await this.run(() => client.addTransactions(bankId, bankAccountId, drafts), {
      DUPLICATE_ID: (e) => [problem(['input', 'transactions'], ProblemCode.TAKEN, `${e.message} Bank ids are unique in an account.`)],
    });
    return added.ok ? { ok: true, value: added.value.map(bankTransaction) } : added;
  }

  async bookTransaction(
    em: EntityManager,
    caller: Caller,
    input: { accountId: string | null; bankTransactionId: string; amount?: string | null; newBankTransactionId?: string | null; bookingDate?: string | null },
  ): Promise<Outcome<SandboxBankTransaction>> {
    const client = this.control(caller);
    const found = await this.account(em, caller, input.accountId);
    const errors: Problem[] = found.ok ? [] : [...found.userErrors];
    errors.push(
      ...checkText(input.bankTransactionId, 64, ['input', 'bankTransactionId']),
      ...checkText(input.newBankTransactionId, 64, ['input', 'newBankTransactionId']),
    );
    const amount = input.amount == null ? undefined : checkAmount(input.amount, found.ok ? found.value.account.currency : 'EUR', ['input', 'amount']);
    if (amount && !amount.ok) errors.push(...amount.userErrors);
    if (errors.length > 0 || !found.ok) return { ok: false, userErrors: errors };
    const { bankId, bankAccountId } = found.value;
    const body = optional({ amount: amount?.ok ? amount.value : undefined, newId: input.newBankTransactionId, bookingDate: input.bookingDate });
    const booked = await this.run(() => client.bookTransaction(bankId, bankAccountId, input.bankTransactionId, body), {
      TRANSACTION_NOT_FOUND: () => [
        problem(['input', 'bankTransactionId'], ProblemCode.NOT_FOUND, 'The bank has no transaction with this id in this account.'),
      ],
      NOT_PENDING: () => [
        problem(['input', 'bankTransactionId'], ProblemCode.INVALID_STATE, 'Only a pending transaction can be booked; this one is booked already.'),
      ],
      DUPLICATE_ID: () => [problem(['input', 'newBankTransactionId'], ProblemCode.TAKEN, 'The account already has a transaction with this bank id.')],
    });
    return booked.ok ? { ok: true, value: bankTransaction(booked.value) } : booked;
  }

  async expireConsent(em: EntityManager, caller: Caller, consentId: string | null): Promise<Outcome<Consent>> {
    const client = this.control(caller);
    const field = ['input', 'consentId'];
    const consent = consentId ? await this.deps.consents.get(em, caller, consentId) : null;
    if (!consent) return fail(field, ProblemCode.NOT_FOUND, 'No consent with this id.');
    const bank = consent.institutionId ? this.sandboxBank(caller, consent.institutionId) : undefined;
    if (consent.institutionId && !bank) return fail(field, ProblemCode.NOT_SUPPORTED, 'This consent is not at a sandbox bank.');
    const unscripted = bank && this.notScripted(bank, field);
    if (unscripted) return { ok: false, userErrors: unscripted };
    const bankId = bank?.id;
    if (!bankId || consent.status === ConsentStatus.PENDING_AUTHORIZATION || !consent.authorizedAt) {
      return fail(field, ProblemCode.INVALID_STATE, 'This consent was never authorised at its bank, so there is nothing to expire there.');
    }
    if (!consent.bankConsentId) {
      // STET: the bank's consent hides behind the access token, the gateway holds no id of it.
      return fail(
        field,
        ProblemCode.NOT_SUPPORTED,
        'This bank does not give the gateway a consent id (STET), so it cannot be expired by id; sandboxClockAdvance past its validUntil expires it.',
      );
    }
    const done = await this.run(() => client.expireConsent(bankId, consent.bankConsentId!), {
      CONSENT_NOT_FOUND: () => [problem(field, ProblemCode.INVALID_STATE, 'The bank no longer knows this consent (was the sandbox bank reset?).')],
    });
    return done.ok ? { ok: true, value: consent } : done;
  }

  async setFaults(
    caller: Caller,
    input: { institutionId: string | null; faults: SandboxFaultRequest[] },
  ): Promise<Outcome<(SandboxFaultRule & { times: number | null })[]>> {
    const client = this.control(caller);
    const errors: Problem[] = [];
    const bank = this.institution(caller, input.institutionId, errors);
    if (input.faults.length > 50) errors.push(problem(['input', 'faults'], ProblemCode.OUT_OF_RANGE, 'Give at most 50 fault rules.'));
    const drafts = input.faults.map((f, i): SandboxFaultDraft => {
      const at = (field: string) => ['input', 'faults', String(i), field];
      errors.push(
        ...checkText(f.route, 200, at('route')),
        ...checkRange(f.status, 400, 599, at('status')),
        ...checkRange(f.retryAfterSeconds, 0, 86_400, at('retryAfterSeconds')),
        ...checkRange(f.latencyMs, 0, 600_000, at('latencyMs')),
        ...checkRange(f.times, 1, 1_000_000, at('times')),
      );
      if (f.route != null && f.route.length <= 200 && !ROUTE_PATTERN.test(f.route)) {
        errors.push(problem(at('route'), ProblemCode.INVALID, 'A path pattern: URL path characters, `*` for any run of them (not a regular expression).'));
      }
      if (f.method != null && !/^[A-Za-z]{1,10}$/.test(f.method))
        errors.push(problem(at('method'), ProblemCode.INVALID, 'An HTTP method such as GET or POST.'));
      return {
        kind: f.kind,
        ...optional({
          route: f.route,
          method: f.method?.toUpperCase(),
          status: f.status,
          retryAfterSeconds: f.retryAfterSeconds,
          latencyMs: f.latencyMs,
          times: f.times,
        }),
      };
    });
    if (errors.length > 0 || !bank) return { ok: false, userErrors: errors };
    const set = await this.run(() => client.setFaults(bank.id, drafts));
    return set.ok ? { ok: true, value: set.value.map((f, i) => ({ ...f, times: input.faults[i]?.times ?? null })) } : set;
  }

  async advanceClock(
    caller: Caller,
    input: { institutionId: string | null; seconds?: number | null; minutes?: number | null; hours?: number | null; days?: number | null },
  ): Promise<Outcome<{ institutionId: string; now: Date; today: string }>> {
    const client = this.control(caller);
    const errors: Problem[] = [];
    const bank = this.institution(caller, input.institutionId, errors);
    const parts = { seconds: input.seconds, minutes: input.minutes, hours: input.hours, days: input.days };
    for (const [name, value] of Object.entries(parts))
      if (value != null && value < 0) errors.push(problem(['input', name], ProblemCode.OUT_OF_RANGE, 'The clock only moves forward: at least 0.'));
    const total = (input.seconds ?? 0) + (input.minutes ?? 0) * 60 + (input.hours ?? 0) * 3_600 + (input.days ?? 0) * 86_400;
    if (errors.length === 0 && total <= 0) errors.push(problem(['input'], ProblemCode.BLANK, 'Give seconds, minutes, hours or days, more than 0 in all.'));
    if (errors.length === 0 && total > MAX_CLOCK_SECONDS)
      errors.push(problem(['input'], ProblemCode.OUT_OF_RANGE, 'Move the clock by at most 3650 days at once.'));
    if (errors.length > 0 || !bank) return { ok: false, userErrors: errors };
    const moved = await this.run(() => client.advanceClock(bank.id, optional(parts)));
    return moved.ok ? { ok: true, value: { institutionId: bank.id, now: new Date(moved.value.now), today: moved.value.today } } : moved;
  }

  /** Resets one sandbox bank (or all); the institution ids reset. */
  async reset(caller: Caller, institutionId: string | null | undefined): Promise<Outcome<string[]>> {
    const client = this.control(caller);
    const errors: Problem[] = [];
    const bank = institutionId === undefined ? undefined : this.institution(caller, institutionId, errors);
    if (errors.length > 0) return { ok: false, userErrors: errors };
    return this.run(() => client.reset(bank?.id));
  }

  // --- internals --------------------------------------------------------------------------------

  private sandboxBank(caller: Caller, institutionId: string): InstitutionDescriptor | undefined {
    const i = this.deps.institutions.get(caller, institutionId);
    return i?.quirks.sandbox === true ? i : undefined;
  }

  /**
   * Why the control API cannot script this sandbox institution's data, consents, faults or clock,
   * or null when it can: one reached through the sandbox's mocked upstream aggregator is the
   * upstream's copy of a bank, with its own ledgers, which the control API does not reach.
   */
  private notScripted(i: InstitutionDescriptor, field: string[]): Problem[] | null {
    const upstream = standards.get(i.standard);
    if (upstream.reach === undefined) return null;
    return [
      problem(
        field,
        ProblemCode.NOT_SUPPORTED,
        `${i.name} is reached through the sandbox’s ${upstream.displayName} upstream, whose data the sandbox controls do not script; ` +
          'connect the sandbox bank directly to script its data.',
      ),
    ];
  }

  /** A sandbox institution by its slug (decoded from the global id), or a userError at input.institutionId. */
  /**
   * sandboxCustomerPaymentsBook: the sandbox bank's customers pay these expected payments of the
   * tenant with realistic noise; answers the booked entries and the truth (which entry pays which).
   */
  async bookCustomerPayments(
    em: EntityManager,
    caller: Caller,
    input: { accountId: string | null; expectedPaymentIds: (string | null)[]; seed: number; distractorRatio: number | null; bookFrom: string | null },
  ): Promise<
    Outcome<{ transactions: SandboxBankTransaction[]; truth: { transactionId: string; expectedPaymentIds: string[]; kind: string }[]; unpaid: string[] }>
  > {
    const client = this.control(caller);
    if (input.expectedPaymentIds.length < 1 || input.expectedPaymentIds.length > 1_000)
      return fail(['input', 'expectedPaymentIds'], ProblemCode.OUT_OF_RANGE, 'Give 1–1,000 expected payments.');
    if (!Number.isInteger(input.seed) || input.seed < 0) return fail(['input', 'seed'], ProblemCode.OUT_OF_RANGE, 'The seed is a non-negative integer.');
    if (input.distractorRatio !== null && !(input.distractorRatio >= 0 && input.distractorRatio <= 5))
      return fail(['input', 'distractorRatio'], ProblemCode.OUT_OF_RANGE, 'Between 0 and 5.');
    const found = await this.account(em, caller, input.accountId);
    if (!found.ok) return found;
    const records = await this.deps.reconciliation!.getMany(
      caller,
      input.expectedPaymentIds.filter((x): x is string => !!x),
    );
    if (records.length !== input.expectedPaymentIds.length)
      return fail(['input', 'expectedPaymentIds'], ProblemCode.NOT_FOUND, 'Some of these expected payments do not exist.');
    if (records.some((r) => r.currency !== found.value.account.currency))
      return fail(
        ['input', 'expectedPaymentIds'],
        ProblemCode.INVALID,
        `The account is in ${found.value.account.currency}; every expected payment must be too.`,
      );
    const { bankId, bankAccountId } = found.value;
    const r = await this.run(
      () =>
        client.bookCustomerPayments(bankId, bankAccountId, {
          seed: input.seed,
          ...optional({ distractorRatio: input.distractorRatio, bookFrom: input.bookFrom }),
          expectedPayments: records.map((e) => ({
            id: e.id,
            direction: e.direction,
            amount: e.amount,
            dueDate: e.dueDate,
            creditorReference: e.creditorReference,
            invoiceReference: e.invoiceReference,
            counterpartyName: e.counterpartyName && e.counterpartyName.slice(0, 70),
            counterpartyIban: e.counterpartyIban,
          })),
        }),
      { DUPLICATE_ID: (e) => [problem(['input', 'seed'], ProblemCode.TAKEN, e.message)] },
    );
    return r.ok ? { ok: true, value: { transactions: r.value.transactions.map(bankTransaction), truth: r.value.truth, unpaid: r.value.unpaid } } : r;
  }

  private institution(caller: Caller, slug: string | null, errors: Problem[]): InstitutionDescriptor | undefined {
    const i = slug ? this.sandboxBank(caller, slug) : undefined;
    if (!i) errors.push(problem(['input', 'institutionId'], ProblemCode.NOT_FOUND, 'No sandbox institution with this id.'));
    const unscripted = i && this.notScripted(i, ['input', 'institutionId']);
    if (unscripted) errors.push(...unscripted);
    return unscripted ? undefined : i;
  }

  /** The caller's account at a sandbox bank, with the bank's slug and its own id of the account (what the control API names). */
  private async account(em: EntityManager, caller: Caller, id: string | null): Promise<Outcome<{ account: Account; bankId: string; bankAccountId: string }>> {
    const account = id ? await this.deps.accounts.get(em, caller, id) : null;
    if (!account) return fail(['input', 'accountId'], ProblemCode.NOT_FOUND, 'No account with this id.');
    const bank = this.sandboxBank(caller, account.institutionId);
    if (!bank) return fail(['input', 'accountId'], ProblemCode.NOT_SUPPORTED, 'This account is not at a sandbox bank.');
    const unscripted = this.notScripted(bank, ['input', 'accountId']);
    if (unscripted) return { ok: false, userErrors: unscripted };
    const bankAccountId = standards.get(bank.standard).bankResourceId?.(account.bankAccountId) ?? account.bankAccountId;
    return { ok: true, value: { account, bankId: bank.id, bankAccountId } };
  }

  /**
   * Runs a control call; the control API's refusals named in `known` become those userErrors,
   * anything else a BANK_ERROR (logged without the token, which the client never puts in errors).
   */
  private async run<T>(call: () => Promise<T>, known: Record<string, (e: SandboxControlError) => Problem[]> = {}): Promise<Outcome<T>> {
    try {
      return { ok: true, value: await call() };
    } catch (err) {
      if (!(err instanceof SandboxControlError)) throw err;
      const mapped = known[err.code];
      if (mapped) return { ok: false, userErrors: mapped(err) };
      this.deps.logger.warn({ status: err.status, code: err.code }, 'sandbox control call failed');
      return fail([], ProblemCode.BANK_ERROR, `The sandbox refused the request (${err.code}): ${err.message}`);
    }
  }
}

function fail<T>(field: string[], code: ProblemCode, message: string): Outcome<T> {
  return { ok: false, userErrors: [problem(field, code, message)] };
}

/** Only the keys whose value is given (the control API takes absent, not null). */
function optional<T extends Record<string, unknown>>(o: T): { [K in keyof T]?: Exclude<T[K], null> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined)) as { [K in keyof T]?: Exclude<T[K], null> };
}

/** A non-zero signed amount with at most the currency's decimals, written at the currency's scale for the bank. */
function checkAmount(raw: string, currency: string, field: string[]): Outcome<string> {
  let amount: string;
  try {
    amount = normaliseDecimal(raw);
  } catch {
    return fail(field, ProblemCode.INVALID_AMOUNT, 'A signed decimal amount such as "-12.30".');
  }
  if (parseDecimal(amount).units === 0n) return fail(field, ProblemCode.INVALID_AMOUNT, 'The amount must not be zero (negative is a debit).');
  if (parseDecimal(amount).scale > currencyDigits(currency))
    return fail(field, ProblemCode.AMOUNT_PRECISION, `${currency} amounts have at most ${currencyDigits(currency)} decimals.`);
  if (compareDecimal(absDecimal(amount), MAX_AMOUNT) > 0) return fail(field, ProblemCode.OUT_OF_RANGE, `At most ${MAX_AMOUNT} either way.`);
  return { ok: true, value: atCurrencyScale(amount, currency) };
}

function checkText(value: string | null | undefined, max: number, field: string[]): Checked {
  if (value == null) return [];
  if (value.trim() === '') return [problem(field, ProblemCode.BLANK, 'Must not be blank; leave it out instead.')];
  if (value.length > max) return [problem(field, ProblemCode.TOO_LONG, `At most ${max} characters.`)];
  if (CONTROL.test(value)) return [problem(field, ProblemCode.INVALID, 'Must not contain control characters.')];
  return [];
}

function checkRange(value: number | null | undefined, min: number, max: number, field: string[]): Checked {
  return value != null && (value < min || value > max) ? [problem(field, ProblemCode.OUT_OF_RANGE, `Between ${min} and ${max}.`)] : [];
}

function bankTransaction(t: SandboxLedgerTransaction): SandboxBankTransaction {
  return {
    bankTransactionId: t.id,
    status: t.status === 'pending' ? 'PENDING' : 'BOOKED',
    amount: { amount: t.amount, currency: t.currency },
    bookingDate: t.bookingDate,
    valueDate: t.valueDate ?? null,
  };
}
