import { Arg, Ctx, Mutation, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../../api/context';
import { decodeGlobalId, toGlobalId } from '../../api/relay/global-id';
import { ConsentType } from '../consents/consents.types';
import type { SandboxBankTransaction } from './sandbox.service';
import {
  SandboxBankTransactionType,
  SandboxClockAdvanceInput,
  SandboxClockAdvancePayload,
  SandboxConsentAuthorizeInput,
  SandboxConsentAuthorizePayload,
  SandboxConsentExpireInput,
  SandboxConsentExpirePayload,
  SandboxFaultKind,
  SandboxFaultSetInput,
  SandboxFaultSetPayload,
  SandboxFaultType,
  SandboxResetInput,
  SandboxResetPayload,
  SandboxScaDecision,
  SandboxTransactionBookInput,
  SandboxTransactionBookPayload,
  SandboxTransactionsCreateInput,
  SandboxTransactionsCreatePayload,
  SandboxTransactionStatus,
} from './sandbox.types';

const SANDBOX_ONLY = ' Sandbox keys only: a live key gets the error SANDBOX_ONLY.';
const NOT_UPSTREAM =
  ' Not for a bank reached through the sandbox’s upstream aggregator (GoCardless), whose copies of the banks hold their own data: the userError NOT_SUPPORTED.';
const BANK_WIDE = ' Acts on the sandbox bank itself: the tenant’s own copy of it, which no other tenant’s calls reach.';

/** GraphQL fault kinds ↔ the control API's names. */
const faultKinds: Record<SandboxFaultKind, 'status' | 'rate-limit' | 'latency' | 'timeout' | 'malformed-json' | 'missing-ids' | 'churn-ids' | 'duplicates'> = {
  [SandboxFaultKind.STATUS]: 'status',
  [SandboxFaultKind.RATE_LIMIT]: 'rate-limit',
  [SandboxFaultKind.LATENCY]: 'latency',
  [SandboxFaultKind.TIMEOUT]: 'timeout',
  [SandboxFaultKind.MALFORMED_JSON]: 'malformed-json',
  [SandboxFaultKind.MISSING_IDS]: 'missing-ids',
  [SandboxFaultKind.CHURN_IDS]: 'churn-ids',
  [SandboxFaultKind.DUPLICATES]: 'duplicates',
};
const kindOf = (name: string) => (Object.keys(faultKinds) as SandboxFaultKind[]).find((k) => faultKinds[k] === name)!;

/** An institution slug from its global id; an id that does not decode is reported like an unknown one. */
const institutionSlug = (id: string) => decodeGlobalId(id, 'Institution') ?? '';

const toBankTransaction = (t: SandboxBankTransaction) =>
  Object.assign(new SandboxBankTransactionType(), { ...t, status: t.status as SandboxTransactionStatus });

/** The sandbox controls: the sandbox control API as mutations, for sandbox keys only. */
@Resolver()
export class SandboxResolver {
  @Mutation(() => SandboxConsentAuthorizePayload, {
    description:
      "Completes a consent that waits for the end user's authentication at a sandbox bank, as a test user and without a browser (for headless CI): the bank's login and code pages are passed as that user would, and the bank's answer goes through the same callback as a browser's. APPROVE: the consent is ACTIVE when this returns (accounts listed, initial sync queued) — unless the test user's behaviour says otherwise (rejecter, timeout, locked). REJECT: REJECTED (a renewal keeps its previous status). Works for redirect, OAuth and decoupled consents alike: each is completed through a fresh redirect authorisation at the same bank (a decoupled request is abandoned, not approved), so an authorizationUrl handed out before no longer works." +
      SANDBOX_ONLY,
  })
  async sandboxConsentAuthorize(
    @Arg('input', () => SandboxConsentAuthorizeInput) input: SandboxConsentAuthorizeInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<SandboxConsentAuthorizePayload> {
    const r = await ctx.services.sandbox.authorizeConsent(ctx.em, ctx.caller, {
      consentId: decodeGlobalId(input.consentId, 'Consent'),
      username: input.username ?? 'alice',
      decision: input.decision ?? SandboxScaDecision.APPROVE,
    });
    return r.ok ? { consent: ConsentType.from(r.value), userErrors: [] } : { consent: null, userErrors: r.userErrors };
  }

  @Mutation(() => SandboxTransactionsCreatePayload, {
    description:
      "Adds 1 to 100 transactions to a sandbox account's ledger at the bank, all or none. The gateway sees them at the account's next sync, like any bank's: call accountSync (or wait for the schedule), then read transactions or transactionsSync." +
      NOT_UPSTREAM +
      SANDBOX_ONLY,
  })
  async sandboxTransactionsCreate(
    @Arg('input', () => SandboxTransactionsCreateInput) input: SandboxTransactionsCreateInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<SandboxTransactionsCreatePayload> {
    const r = await ctx.services.sandbox.createTransactions(ctx.em, ctx.caller, {
      accountId: decodeGlobalId(input.accountId, 'Account'),
      transactions: input.transactions.map((t) => ({ ...t, status: t.status ?? SandboxTransactionStatus.BOOKED })),
    });
    return r.ok ? { transactions: r.value.map(toBankTransaction), userErrors: [] } : { transactions: null, userErrors: r.userErrors };
  }

  @Mutation(() => SandboxTransactionBookPayload, {
    description:
      'Books a pending transaction at the sandbox bank, optionally with another amount and a new bank id — the pending→booked step the gateway reconciles: after the next sync the same gateway transaction is BOOKED (modified, not added), with pendingOf telling what it was.' +
      NOT_UPSTREAM +
      SANDBOX_ONLY,
  })
  async sandboxTransactionBook(
    @Arg('input', () => SandboxTransactionBookInput) input: SandboxTransactionBookInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<SandboxTransactionBookPayload> {
    const r = await ctx.services.sandbox.bookTransaction(ctx.em, ctx.caller, { ...input, accountId: decodeGlobalId(input.accountId, 'Account') });
    return r.ok ? { transaction: toBankTransaction(r.value), userErrors: [] } : { transaction: null, userErrors: r.userErrors };
  }

  @Mutation(() => SandboxConsentExpirePayload, {
    description:
      'Expires the consent at the sandbox bank, as a bank does when it ends a consent early. The gateway is not told: it notices at its next call to the bank (the next sync), which turns the consent REAUTH_REQUIRED (or EXPIRED past its validUntil) with its event — the realistic behaviour to test against. The consent returned is therefore unchanged. Not offered for STET banks (rivage), whose consents have no id the gateway knows.' +
      NOT_UPSTREAM +
      SANDBOX_ONLY,
  })
  async sandboxConsentExpire(
    @Arg('input', () => SandboxConsentExpireInput) input: SandboxConsentExpireInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<SandboxConsentExpirePayload> {
    const r = await ctx.services.sandbox.expireConsent(ctx.em, ctx.caller, decodeGlobalId(input.consentId, 'Consent'));
    return r.ok ? { consent: ConsentType.from(r.value), userErrors: [] } : { consent: null, userErrors: r.userErrors };
  }

  @Mutation(() => SandboxFaultSetPayload, {
    description:
      'Sets the sandbox bank\'s API faults to exactly these rules (an empty list clears them), e.g. STATUS 500 on route "transactions" to see a sync fail.' +
      BANK_WIDE +
      NOT_UPSTREAM +
      SANDBOX_ONLY,
  })
  async sandboxFaultSet(@Arg('input', () => SandboxFaultSetInput) input: SandboxFaultSetInput, @Ctx() ctx: GraphQLContext): Promise<SandboxFaultSetPayload> {
    const r = await ctx.services.sandbox.setFaults(ctx.caller, {
      institutionId: institutionSlug(input.institutionId),
      faults: input.faults.map((f) => ({ ...f, kind: faultKinds[f.kind] })),
    });
    if (!r.ok) return { faults: null, userErrors: r.userErrors };
    const faults = r.value.map((f) =>
      Object.assign(new SandboxFaultType(), {
        id: f.id,
        kind: kindOf(f.kind),
        route: f.route ?? null,
        method: f.method ?? null,
        status: f.status ?? null,
        retryAfterSeconds: f.retryAfterSeconds ?? null,
        latencyMs: f.latencyMs ?? null,
        times: f.times,
        remaining: f.remaining ?? null,
      }),
    );
    return { faults, userErrors: [] };
  }

  @Mutation(() => SandboxClockAdvancePayload, {
    description:
      "Moves the sandbox bank's clock forward: consents reach their validUntil, tokens and one-time codes expire, payments settle, the daily quota resets at the bank's midnight. The gateway's own clock does not move." +
      BANK_WIDE +
      NOT_UPSTREAM +
      SANDBOX_ONLY,
  })
  async sandboxClockAdvance(
    @Arg('input', () => SandboxClockAdvanceInput) input: SandboxClockAdvanceInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<SandboxClockAdvancePayload> {
    const r = await ctx.services.sandbox.advanceClock(ctx.caller, { ...input, institutionId: institutionSlug(input.institutionId) });
    return r.ok
      ? { institutionId: toGlobalId('Institution', r.value.institutionId), now: r.value.now, today: r.value.today, userErrors: [] }
      : { institutionId: null, now: null, today: null, userErrors: r.userErrors };
  }

  @Mutation(() => SandboxResetPayload, {
    description:
      'Resets one sandbox bank (or every one when institutionId is absent) to its seeded state: ledger, consents, payments, tokens, faults, quotas, lockouts and clock. Consents the gateway holds there stop working at the bank (the next sync turns them REAUTH_REQUIRED).' +
      BANK_WIDE +
      NOT_UPSTREAM +
      SANDBOX_ONLY,
  })
  async sandboxReset(
    @Arg('input', () => SandboxResetInput, { nullable: true, defaultValue: {} }) input: SandboxResetInput | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<SandboxResetPayload> {
    const r = await ctx.services.sandbox.reset(ctx.caller, input?.institutionId == null ? undefined : institutionSlug(input.institutionId));
    return r.ok ? { institutionIds: r.value.map((id) => toGlobalId('Institution', id)), userErrors: [] } : { institutionIds: null, userErrors: r.userErrors };
  }
}
