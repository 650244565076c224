import { Arg, Args, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { GraphQLContext } from '../../api/context';
import { ApiError, ErrorCode } from '../../api/errors';
import { ConnectionArgs, decodeCursor, pageSize, toConnection, type KeysetPosition } from '../../api/relay/connection';
import { decodeGlobalId } from '../../api/relay/global-id';
import { registerNodeType } from '../../api/relay/node';
import { PaymentType } from '../payments/payments.types';
import { EndUserType } from '../tenancy/tenancy.types';
import type { Payment } from '../payments/payment.entity';
import { ApprovalCaCertificate, ApproverCertificate, ApproverPasskey } from './credential.entity';
import { ApprovalPolicy } from './policy.entity';
import { sha256Hex } from './document';
import {
  ApprovalCaCertificateConnection,
  ApprovalMemberConnection,
  ApprovalCaCertificateAddInput,
  ApprovalCaCertificateAddPayload,
  ApprovalCaCertificateType,
  ApprovalDecisionKind,
  ApprovalLinkInput,
  ApprovalLinkPayload,
  ApprovalMemberCreateInput,
  ApprovalMemberCreatePayload,
  ApprovalMemberType,
  ApprovalPolicySetInput,
  ApprovalPolicySetPayload,
  ApprovalPolicyType,
  ApproverCertificateAddInput,
  ApproverCertificatePayload,
  ApproverCertificateRevokeInput,
  ApprovalMemberRolesSetInput,
  ApproverPasskeyPayload,
  ApproverPasskeyType,
  ApprovalMemberRolesSetPayload,
  ApproverCertificateType,
  PaymentAmendInput,
  PaymentApprovalDecisionType,
  PaymentApprovalRejectInput,
  PaymentApprovalType,
  PaymentApproveInput,
  PaymentApprovePayload,
} from './approvals.types';

registerNodeType('ApprovalMember', async (ctx, id) => {
  const m = await ctx.services.approvals.member(ctx.em, ctx.caller, id);
  return m && ApprovalMemberType.from(m);
});
registerNodeType('ApprovalCaCertificate', async (ctx, id) => {
  const c = await ctx.em.findOne(ApprovalCaCertificate, { id, tenant: ctx.caller.tenantId });
  return c && ApprovalCaCertificateType.from(c);
});
registerNodeType('ApproverPasskey', async (ctx, id) => {
  const p = await ctx.em.findOne(ApproverPasskey, { id, tenant: ctx.caller.tenantId });
  return p && ApproverPasskeyType.from(p);
});
registerNodeType('ApproverCertificate', async (ctx, id) => {
  const c = await ctx.em.findOne(ApproverCertificate, { id, tenant: ctx.caller.tenantId });
  return c && ApproverCertificateType.from(c);
});
registerNodeType('ApprovalPolicy', async (ctx, id) => {
  const p = await ctx.em.findOne(ApprovalPolicy, { id, tenant: ctx.caller.tenantId });
  return p && ApprovalPolicyType.from(p);
});

const memberId = (id: string) => decodeGlobalId(id, 'ApprovalMember');

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A list cursor whose id is a UUID (the tables' keys), so a forged one is BAD_USER_INPUT rather than a database error. */
function keyset(scope: string, cursor: string | null | undefined): KeysetPosition | undefined {
  if (!cursor) return undefined;
  const pos = decodeCursor(scope, cursor);
  if (!UUID.test(pos.id)) throw new ApiError(ErrorCode.BAD_USER_INPUT, 'Argument "after" is not a valid cursor for this list.', { argument: 'after' });
  return pos;
}

@Resolver(() => ApprovalMemberType)
export class ApprovalMembersResolver {
  @Query(() => ApprovalMemberConnection, { description: 'The members of an end user (an SME), oldest first.' })
  async approvalMembers(@Arg('endUserId', () => ID) endUserId: string, @Args(() => ConnectionArgs) args: ConnectionArgs, @Ctx() ctx: GraphQLContext) {
    const limit = pageSize(args.first);
    const after = keyset('ApprovalMember', args.after);
    const rows = await ctx.services.approvals.members(ctx.em, ctx.caller, decodeGlobalId(endUserId, 'EndUser'), limit + 1, after);
    return toConnection('ApprovalMember', rows, limit, !!after, ApprovalMemberType.from);
  }

  @Query(() => ApprovalCaCertificateConnection, { description: 'The CA certificates the tenant trusts for approvers’ certificates, oldest first.' })
  async approvalCaCertificates(@Args(() => ConnectionArgs) args: ConnectionArgs, @Ctx() ctx: GraphQLContext) {
    const limit = pageSize(args.first);
    const after = keyset('ApprovalCaCertificate', args.after);
    const rows = await ctx.services.approvals.caCertificates(ctx.em, ctx.caller, limit + 1, after);
    return toConnection('ApprovalCaCertificate', rows, limit, !!after, ApprovalCaCertificateType.from);
  }

  @Query(() => ApprovalPolicyType, { nullable: true, description: 'The end user’s approval policy in force (its latest version); null when it has none.' })
  async approvalPolicy(@Arg('endUserId', () => ID) endUserId: string, @Ctx() ctx: GraphQLContext): Promise<ApprovalPolicyType | null> {
    const id = decodeGlobalId(endUserId, 'EndUser');
    const p = id ? await ctx.services.approvals.currentPolicy(ctx.em, ctx.caller, id) : null;
    return p && ApprovalPolicyType.from(p);
  }

  @FieldResolver(() => EndUserType)
  async endUser(@Root() member: ApprovalMemberType, @Ctx() ctx: GraphQLContext): Promise<EndUserType> {
    return EndUserType.from((await ctx.services.tenancy.endUser(ctx.em, ctx.caller, member.endUserId))!);
  }

  @FieldResolver(() => [ApproverPasskeyType], { description: 'The member’s passkeys, revoked ones included.' })
  async passkeys(@Root() member: ApprovalMemberType, @Ctx() ctx: GraphQLContext): Promise<ApproverPasskeyType[]> {
    return (await ctx.services.approvals.passkeys(ctx.em, ctx.caller, member.internalId)).map(ApproverPasskeyType.from);
  }

  @FieldResolver(() => [ApproverCertificateType], { description: 'The member’s signing certificates, revoked ones included.' })
  async certificates(@Root() member: ApprovalMemberType, @Ctx() ctx: GraphQLContext): Promise<ApproverCertificateType[]> {
    return (await ctx.services.approvals.certificates(ctx.em, ctx.caller, member.internalId)).map(ApproverCertificateType.from);
  }

  @Mutation(() => ApprovalMemberCreatePayload, { description: 'Adds a person to an end user (an SME) with their roles (the issue’s `approverCreate`).' })
  async approvalMemberCreate(
    @Arg('input', () => ApprovalMemberCreateInput) input: ApprovalMemberCreateInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<ApprovalMemberCreatePayload> {
    const r = await ctx.services.approvals.memberCreate(ctx.em, ctx.caller, {
      endUserId: decodeGlobalId(input.endUserId, 'EndUser'),
      name: input.name,
      email: input.email ?? null,
      roles: input.roles,
    });
    return r.ok ? { member: ApprovalMemberType.from(r.value), userErrors: [] } : { member: null, userErrors: r.userErrors };
  }

  @Mutation(() => ApproverPasskeyPayload, {
    description:
      'Revokes a member’s passkey for good: the hosted pages no longer accept it, and its approvals of payments still AWAITING_APPROVAL stop counting.',
  })
  async approverPasskeyRevoke(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<ApproverPasskeyPayload> {
    const r = await ctx.services.approvals.passkeyRevoke(ctx.em, ctx.caller, decodeGlobalId(id, 'ApproverPasskey'));
    return r.ok ? { passkey: ApproverPasskeyType.from(r.value), userErrors: [] } : { passkey: null, userErrors: r.userErrors };
  }

  @Mutation(() => ApprovalMemberRolesSetPayload, {
    description:
      'Replaces a member’s roles (journalled with the old and new ones). A member who loses APPROVER can no longer approve, and their approvals of payments still AWAITING_APPROVAL stop counting.',
  })
  async approvalMemberRolesSet(
    @Arg('id', () => ID) id: string,
    @Arg('input', () => ApprovalMemberRolesSetInput) input: ApprovalMemberRolesSetInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<ApprovalMemberRolesSetPayload> {
    const r = await ctx.services.approvals.memberRolesSet(ctx.em, ctx.caller, decodeGlobalId(id, 'ApprovalMember'), { roles: input.roles });
    return r.ok ? { member: ApprovalMemberType.from(r.value), userErrors: [] } : { member: null, userErrors: r.userErrors };
  }

  @Mutation(() => ApprovalCaCertificateAddPayload, {
    description: 'Registers a CA certificate (root or intermediate) whose certificates the tenant’s approvers may sign with.',
  })
  async approvalCaCertificateAdd(
    @Arg('input', () => ApprovalCaCertificateAddInput) input: ApprovalCaCertificateAddInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<ApprovalCaCertificateAddPayload> {
    const r = await ctx.services.approvals.caCertificateAdd(ctx.em, ctx.caller, input.certificate);
    return r.ok ? { caCertificate: ApprovalCaCertificateType.from(r.value), userErrors: [] } : { caCertificate: null, userErrors: r.userErrors };
  }

  @Mutation(() => ApproverCertificatePayload, {
    description: 'Adds a member’s signing certificate; checked now (validity, key usage, chain to a registered CA) and again at every signature.',
  })
  async approverCertificateAdd(
    @Arg('input', () => ApproverCertificateAddInput) input: ApproverCertificateAddInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<ApproverCertificatePayload> {
    const r = await ctx.services.approvals.certificateAdd(ctx.em, ctx.caller, memberId(input.memberId), input.certificate);
    return r.ok ? { certificate: ApproverCertificateType.from(r.value), userErrors: [] } : { certificate: null, userErrors: r.userErrors };
  }

  @Mutation(() => ApproverCertificatePayload, {
    description:
      'Revokes a member’s certificate for good: signatures made with it are refused from now on (CERTIFICATE_REVOKED), and its approvals of payments still AWAITING_APPROVAL stop counting.',
  })
  async approverCertificateRevoke(
    @Arg('id', () => ID) id: string,
    @Arg('input', () => ApproverCertificateRevokeInput, { nullable: true }) input: ApproverCertificateRevokeInput | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<ApproverCertificatePayload> {
    const r = await ctx.services.approvals.certificateRevoke(ctx.em, ctx.caller, decodeGlobalId(id, 'ApproverCertificate'), input?.reason ?? null);
    return r.ok ? { certificate: ApproverCertificateType.from(r.value), userErrors: [] } : { certificate: null, userErrors: r.userErrors };
  }

  @Mutation(() => ApprovalLinkPayload, { description: 'A one-use link to the gateway’s hosted page where the member registers a passkey (WebAuthn).' })
  async approverPasskeyRegistrationLinkCreate(
    @Arg('input', () => ApprovalLinkInput) input: ApprovalLinkInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<ApprovalLinkPayload> {
    const r = await ctx.services.approvals.passkeyRegistrationLink(ctx.em, ctx.caller, memberId(input.memberId));
    return r.ok ? { url: r.value.url, expiresAt: r.value.expiresAt, userErrors: [] } : { url: null, expiresAt: null, userErrors: r.userErrors };
  }

  @Mutation(() => ApprovalPolicySetPayload, {
    description: 'Stores a new version of the end user’s approval policy. Payments already created keep the version they were created under.',
  })
  async approvalPolicySet(
    @Arg('input', () => ApprovalPolicySetInput) input: ApprovalPolicySetInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<ApprovalPolicySetPayload> {
    const rules = input.rules.map((r) => ({
      amountAbove: r.amountAbove ? { amount: r.amountAbove.amount, currency: r.amountAbove.currency } : null,
      currencies: r.currencies ?? null,
      creditor: r.creditor ?? null,
      schemes: r.schemes ?? null,
      approvals: r.approvals,
      additional: r.additional ?? false,
    }));
    const r = await ctx.services.approvals.policySet(ctx.em, ctx.caller, {
      endUserId: decodeGlobalId(input.endUserId, 'EndUser'),
      rules,
      allowSelfApproval: input.allowSelfApproval ?? false,
    });
    return r.ok ? { policy: ApprovalPolicyType.from(r.value), userErrors: [] } : { policy: null, userErrors: r.userErrors };
  }
}

@Resolver(() => PaymentType)
export class PaymentApprovalResolver {
  @FieldResolver(() => PaymentApprovalType, {
    nullable: true,
    description: 'The approval the end user’s policy asks for; null when the payment was created under no policy.',
  })
  async approval(@Root() payment: PaymentType, @Ctx() ctx: GraphQLContext): Promise<PaymentApprovalType | null> {
    const p = await ctx.services.payments.get(ctx.em, ctx.caller, payment.internalId);
    const view = p && (await ctx.services.approvals.view(ctx.em, p));
    if (!view) return null;
    const given = view.approvals.filter((a) => a.decision === 'APPROVE').length;
    return Object.assign(new PaymentApprovalType(), {
      paymentId: payment.internalId,
      policyVersion: view.policyVersion,
      revision: view.revision,
      required: view.required,
      given,
      remaining: p.status === 'AWAITING_APPROVAL' ? Math.max(0, view.required - given) : 0,
      decisions: view.approvals.map(PaymentApprovalDecisionType.from),
      pendingApprovers: view.pendingApprovers.map(ApprovalMemberType.from),
    });
  }

  @Mutation(() => PaymentApprovePayload, {
    description:
      'An approver approves a payment AWAITING_APPROVAL with a JWS made with their certificate’s key over `Payment.approval.document(decision: APPROVE)`. Once the policy is met the payment goes to the bank.',
  })
  async paymentApprove(
    @Arg('id', () => ID) id: string,
    @Arg('input', () => PaymentApproveInput) input: PaymentApproveInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<PaymentApprovePayload> {
    return this.decide(ctx, id, input, 'APPROVE', null);
  }

  @Mutation(() => PaymentApprovePayload, {
    description:
      'An approver rejects a payment AWAITING_APPROVAL with a JWS over `Payment.approval.document(decision: REJECT)`: it is REJECTED_BY_APPROVER and never reaches the bank.',
  })
  async paymentApprovalReject(
    @Arg('id', () => ID) id: string,
    @Arg('input', () => PaymentApprovalRejectInput) input: PaymentApprovalRejectInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<PaymentApprovePayload> {
    return this.decide(ctx, id, input, 'REJECT', input.reason ?? null);
  }

  @Mutation(() => ApprovalLinkPayload, {
    description: 'A one-use link to the gateway’s hosted page where this APPROVER approves or rejects the payment with their passkey.',
  })
  async paymentApprovalLinkCreate(
    @Arg('id', () => ID) id: string,
    @Arg('input', () => ApprovalLinkInput) input: ApprovalLinkInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<ApprovalLinkPayload> {
    const r = await ctx.services.approvals.paymentApprovalLink(ctx.em, ctx.caller, decodeGlobalId(id, 'Payment'), memberId(input.memberId));
    return r.ok ? { url: r.value.url, expiresAt: r.value.expiresAt, userErrors: [] } : { url: null, expiresAt: null, userErrors: r.userErrors };
  }

  @Mutation(() => PaymentApprovePayload, {
    description:
      'Changes the amount, remittance, execution date or creditor of a payment AWAITING_APPROVAL: a new revision of its approval document, so every earlier approval stops counting, and the approvals needed are recomputed under its policy version (a new creditor may need more; PAYMENT_APPROVAL_REQUESTED again).',
  })
  async paymentAmend(
    @Arg('id', () => ID) id: string,
    @Arg('input', () => PaymentAmendInput) input: PaymentAmendInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<PaymentApprovePayload> {
    const r = await ctx.services.approvals.amend(ctx.em, ctx.caller, decodeGlobalId(id, 'Payment'), input);
    return this.payload(ctx, r);
  }

  private async decide(
    ctx: GraphQLContext,
    id: string,
    input: PaymentApproveInput,
    decision: 'APPROVE' | 'REJECT',
    reason: string | null,
  ): Promise<PaymentApprovePayload> {
    const r = await ctx.services.approvals.decideWithCertificate(ctx.em, ctx.caller, decodeGlobalId(id, 'Payment'), {
      certificateId: decodeGlobalId(input.certificateId, 'ApproverCertificate'),
      signature: input.signature,
      decision,
      reason,
    });
    return this.payload(ctx, r);
  }

  private payload(
    ctx: GraphQLContext,
    r: { ok: true; value: Payment } | { ok: false; userErrors: PaymentApprovePayload['userErrors'] },
  ): PaymentApprovePayload {
    if (!r.ok) return { payment: null, authorizationUrl: null, userErrors: r.userErrors };
    return { payment: PaymentType.from(r.value), authorizationUrl: ctx.services.payments.usableAuthorizationUrl(r.value), userErrors: [] };
  }
}

@Resolver(() => PaymentApprovalType)
export class PaymentApprovalDocumentResolver {
  @FieldResolver(() => String, {
    nullable: true,
    description:
      'The exact text to sign for this decision: the payment’s approval document, JSON canonicalised by RFC 8785 (UTF-8). Sign these bytes; the gateway computes them again to verify. Null once the payment no longer awaits approval.',
  })
  async document(
    @Root() approval: PaymentApprovalType,
    @Arg('decision', () => ApprovalDecisionKind, { defaultValue: ApprovalDecisionKind.APPROVE }) decision: ApprovalDecisionKind,
    @Ctx() ctx: GraphQLContext,
  ): Promise<string | null> {
    return this.documentOf(approval, decision, ctx);
  }

  @FieldResolver(() => String, {
    nullable: true,
    description: 'SHA-256 (hex) of `document` for this decision: what the passkey page signs, and what proof records name.',
  })
  async documentSha256(
    @Root() approval: PaymentApprovalType,
    @Arg('decision', () => ApprovalDecisionKind, { defaultValue: ApprovalDecisionKind.APPROVE }) decision: ApprovalDecisionKind,
    @Ctx() ctx: GraphQLContext,
  ): Promise<string | null> {
    const text = await this.documentOf(approval, decision, ctx);
    return text === null ? null : sha256Hex(text);
  }

  private async documentOf(approval: PaymentApprovalType, decision: ApprovalDecisionKind, ctx: GraphQLContext): Promise<string | null> {
    const p = await ctx.services.payments.get(ctx.em, ctx.caller, approval.paymentId);
    return p && p.status === 'AWAITING_APPROVAL' ? ctx.services.approvals.document(ctx.em, p, decision) : null;
  }
}
