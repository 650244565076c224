import type { EntityManager } from '@mikro-orm/postgresql';
import { toGlobalId } from '../../kernel/ids';
import { AuditAction, type AuditService } from '../audit';
import { addEvents, EventType } from '../events';
import { Payment } from '../payments/payment.entity';
import type { ApprovalGate, ApprovalHold } from '../payments';
import type { ValidPayment } from '../payments';
import { ApprovalMember } from './member.entity';
import { approvalsRequired, type PaymentFacts } from './policy';
import { ApprovalPolicy } from './policy.entity';

/** Statuses that make a creditor IBAN "known" to an end user: the bank took an earlier payment to it. */
const KNOWN_CREDITOR_STATUSES = ['ACCEPTED', 'EXECUTED'];

/** The approvals module's side of the payments' gate: which policy version holds a new payment, and how many approvals it asks. */
export class PolicyGate implements ApprovalGate {
  constructor(private readonly audit: AuditService) {}

  async current(em: EntityManager, tenantId: string, endUserId: string): Promise<ApprovalPolicy | null> {
    return em.findOne(ApprovalPolicy, { tenant: tenantId, endUser: endUserId }, { orderBy: { version: 'desc' } });
  }

  async assess(em: EntityManager, tenantId: string, endUserId: string, p: ValidPayment): Promise<ApprovalHold | null> {
    const policy = await this.current(em, tenantId, endUserId);
    if (!policy) return null;
    const required = approvalsRequired(
      policy.rules,
      await this.facts(em, tenantId, endUserId, { amount: p.amount.amount, currency: p.amount.currency, scheme: p.scheme, creditorIban: p.creditor.iban }),
    );
    return { policyId: policy.id, policyVersion: policy.version, required };
  }

  /** What the payment's own policy version asks of it as it stands now (after an amendment). */
  async requiredFor(em: EntityManager, payment: Payment, policy: ApprovalPolicy): Promise<number> {
    const facts = await this.facts(
      em,
      payment.tenant.id,
      payment.endUser.id,
      { amount: payment.amount, currency: payment.currency, scheme: payment.scheme, creditorIban: payment.creditorIban },
      payment.id,
    );
    return approvalsRequired(policy.rules, facts);
  }

  async mayRequest(em: EntityManager, tenantId: string, endUserId: string, memberId: string): Promise<boolean> {
    const member = await em.findOne(ApprovalMember, { id: memberId, tenant: tenantId, endUser: endUserId });
    return !!member && (member.roles.includes('REQUESTER') || member.roles.includes('APPROVER'));
  }

  held(em: EntityManager, payment: Payment, hold: ApprovalHold, actor: string): void {
    requested(em, this.audit, payment, hold.policyVersion, actor);
  }

  private async facts(
    em: EntityManager,
    tenantId: string,
    endUserId: string,
    p: { amount: string; currency: string; scheme: PaymentFacts['scheme']; creditorIban: string },
    exceptId?: string,
  ): Promise<PaymentFacts> {
    const known = await em.count(Payment, {
      tenant: tenantId,
      endUser: endUserId,
      creditorIban: p.creditorIban,
      status: { $in: KNOWN_CREDITOR_STATUSES as Payment['status'][] },
      ...(exceptId ? { id: { $ne: exceptId } } : {}),
    });
    return { amount: p.amount, currency: p.currency, scheme: p.scheme, creditorKnown: known > 0 };
  }
}

/** PAYMENT_APPROVAL_REQUESTED with its journal line, in the caller's unit of work. */
export function requested(em: EntityManager, audit: AuditService, payment: Payment, policyVersion: number, actor: string): void {
  const details = { policyVersion, revision: payment.approvalRevision, approvalsRequired: payment.approvalsRequired };
  audit.add(em, {
    tenantId: payment.tenant.id,
    action: AuditAction.PAYMENT_APPROVAL_REQUESTED,
    actor,
    resourceType: 'Payment',
    resourceId: payment.id,
    details,
  });
  addEvents(em, [
    {
      tenantId: payment.tenant.id,
      type: EventType.PAYMENT_APPROVAL_REQUESTED,
      resourceType: 'Payment',
      resourceId: payment.id,
      payload: { paymentId: toGlobalId('Payment', payment.id), ...details },
    },
  ]);
}
