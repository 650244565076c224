import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { X509Certificate } from '@peculiar/x509';
import { randomBytes } from 'node:crypto';
import type { Caller } from '../../kernel/caller';
import { afterPosition, type KeysetPosition } from '../../kernel/keyset';
import { toGlobalId } from '../../kernel/ids';
import { ProblemCode, problem, zodProblems, type Problem } from '../../kernel/problems';
import type { Logger } from '../../platform/logger';
import { AuditAction, type AuditService } from '../audit';
import { addEvents, EventType } from '../events';
import type { InstitutionsService } from '../institutions';
import { Payment } from '../payments/payment.entity';
import type { PaymentsService } from '../payments';
import { validatePayment } from '../payments';
import type { ProofAuthMethod, ProofSignature } from '../proofs';
import type { ProofsService } from '../proofs';
import { EndUser } from '../tenancy/end-user.entity';
import { Tenant } from '../tenancy/tenant.entity';
import type { Outcome } from '../../kernel/problems';
import { ApprovalCaCertificate, ApproverCertificate, ApproverPasskey } from './credential.entity';
import { approvalDocument, sha256Hex, type ApprovalDocumentFields } from './document';
import { ApprovalMember, MEMBER_ROLES, type MemberRole } from './member.entity';
import { ApprovalLink, PaymentApproval, type ApprovalDecision, type ApprovalLinkPurpose, type ApprovalMethod } from './payment-approval.entity';
import { rulesSchema } from './policy';
import { ApprovalPolicy } from './policy.entity';
import { requested, type PolicyGate } from './policy-gate';

/**
 * The X.509 and JWS code (@peculiar/x509 with its ASN.1 stack) loads on the first certificate a
 * tenant registers or signs with, not at start: most gateways never use it (about 2 MiB of heap).
 */
let certificatesModule: Promise<typeof import('./certificates')> | undefined;
const certificates = () => (certificatesModule ??= import('./certificates'));

export interface ApprovalsDeps {
  orm: MikroORM;
  audit: AuditService;
  payments: PaymentsService;
  institutions: InstitutionsService;
  proofs: ProofsService;
  gate: PolicyGate;
  logger: Logger;
  publicUrl: string;
  /** How long a hosted page's link (passkey registration, passkey approval) stays usable. */
  linkTtlMs: number;
}

/** What a decision carries as its evidence. */
export interface DecisionEvidence {
  method: ApprovalMethod;
  credentialRef: string;
  /** The certificate that signed (CERTIFICATE): checked again under the payment's lock, against a revocation meanwhile. */
  certificateId?: string;
  /** The passkey that signed (PASSKEY): checked again under the payment's lock, likewise. */
  passkeyId?: string;
  document: string;
  signature: string;
  authMethod: ProofAuthMethod;
  proofSignature: ProofSignature;
  reason: string | null;
}

export interface PaymentApprovalView {
  policyVersion: number;
  revision: number;
  required: number;
  approvals: PaymentApproval[];
  pendingApprovers: ApprovalMember[];
  allowSelfApproval: boolean;
}

const MAX_NAME = 140;
const MAX_REASON = 500;

/**
 * Authority over an end user's payments: its members and their roles, the credentials they sign
 * with, its versioned approval policies, and the signed decisions that release a payment to the
 * bank (or end it). Every decision is verified against the approval document the gateway
 * computes itself, recorded with its journal line, event and proof record in one transaction.
 */
export class ApprovalsService {
  constructor(private readonly deps: ApprovalsDeps) {}

  // --- members -------------------------------------------------------------------------------

  async memberCreate(
    em: EntityManager,
    caller: Caller,
    input: { endUserId: string | null; name: string; email: string | null; roles: string[] },
  ): Promise<Outcome<ApprovalMember>> {
    const errors: Problem[] = [];
    const endUser = input.endUserId ? await em.findOne(EndUser, { id: input.endUserId, tenant: caller.tenantId }) : null;
    if (!endUser) errors.push(problem(['input', 'endUserId'], ProblemCode.NOT_FOUND, 'No end user with this id.'));
    const name = input.name.trim();
    if (!name) errors.push(problem(['input', 'name'], ProblemCode.BLANK, 'A name is required.'));
    else if (name.length > MAX_NAME || /\p{C}/u.test(name))
      errors.push(problem(['input', 'name'], ProblemCode.INVALID, `At most ${MAX_NAME} printable characters.`));
    const email = input.email?.trim() || null;
    if (email && (email.length > 254 || !/^[^\s@]+@[^\s@]+$/.test(email)))
      errors.push(problem(['input', 'email'], ProblemCode.INVALID, 'Not an e-mail address.'));
    const roles = [...new Set(input.roles)];
    if (roles.length === 0) errors.push(problem(['input', 'roles'], ProblemCode.BLANK, 'At least one role.'));
    if (roles.some((r) => !MEMBER_ROLES.includes(r as MemberRole)))
      errors.push(problem(['input', 'roles'], ProblemCode.INVALID, `Roles are ${MEMBER_ROLES.join(', ')}.`));
    if (errors.length || !endUser) return { ok: false, userErrors: errors };
    const member = em.create(ApprovalMember, { tenant: em.getReference(Tenant, caller.tenantId), endUser, name, email, roles: roles as MemberRole[] });
    this.journal(em, caller.tenantId, AuditAction.APPROVAL_MEMBER_CREATED, `apiKey:${caller.apiKeyId}`, 'ApprovalMember', member.id, {
      roles: roles.join(','),
    });
    await em.flush();
    return { ok: true, value: member };
  }

  /** The members of an end user, oldest first; `limit` rows after `after`. */
  async members(em: EntityManager, caller: Caller, endUserId: string | null, limit: number, after?: KeysetPosition): Promise<ApprovalMember[]> {
    if (!endUserId) return [];
    return em.find(
      ApprovalMember,
      { tenant: caller.tenantId, endUser: endUserId, ...afterPosition(after) },
      { orderBy: { createdAt: 'asc', id: 'asc' }, limit },
    );
  }

  async member(em: EntityManager, caller: Caller, id: string): Promise<ApprovalMember | null> {
    return em.findOne(ApprovalMember, { id, tenant: caller.tenantId });
  }

  // --- certificates --------------------------------------------------------------------------

  /** Registers a CA certificate (root or intermediate) that issues the tenant's approvers' certificates. */
  async caCertificateAdd(em: EntityManager, caller: Caller, pem: string): Promise<Outcome<ApprovalCaCertificate>> {
    const field = ['input', 'certificate'];
    const { isCa, parseCertificate } = await certificates();
    const parsed = parseCertificate(pem);
    if (!parsed || !isCa(parsed.cert))
      return fail(field, ProblemCode.CERTIFICATE_INVALID, 'Not a CA certificate (PEM or base64 DER with basicConstraints cA=true).');
    if (parsed.cert.notAfter < new Date()) return fail(field, ProblemCode.CERTIFICATE_EXPIRED, 'This CA certificate has expired.');
    if (await em.count(ApprovalCaCertificate, { tenant: caller.tenantId, fingerprint: parsed.fingerprint }))
      return fail(field, ProblemCode.TAKEN, 'This CA certificate is already registered.');
    const ca = em.create(ApprovalCaCertificate, {
      tenant: em.getReference(Tenant, caller.tenantId),
      fingerprint: parsed.fingerprint,
      subject: parsed.cert.subject.slice(0, 1024),
      der: parsed.der,
      notAfter: parsed.cert.notAfter,
    });
    this.journal(em, caller.tenantId, AuditAction.APPROVAL_CA_CERTIFICATE_ADDED, `apiKey:${caller.apiKeyId}`, 'ApprovalCaCertificate', ca.id, {
      subject: ca.subject,
      fingerprint: ca.fingerprint,
    });
    await em.flush();
    return { ok: true, value: ca };
  }

  /** The tenant's CA certificates, oldest first; `limit` rows after `after`. */
  async caCertificates(em: EntityManager, caller: Caller, limit: number, after?: KeysetPosition): Promise<ApprovalCaCertificate[]> {
    return em.find(ApprovalCaCertificate, { tenant: caller.tenantId, ...afterPosition(after) }, { orderBy: { createdAt: 'asc', id: 'asc' }, limit });
  }

  /** Adds a member's signing certificate: valid now, for signatures, issued by one of the tenant's CAs. */
  async certificateAdd(em: EntityManager, caller: Caller, memberId: string | null, pem: string): Promise<Outcome<ApproverCertificate>> {
    const member = memberId ? await em.findOne(ApprovalMember, { id: memberId, tenant: caller.tenantId }) : null;
    if (!member) return fail(['input', 'memberId'], ProblemCode.NOT_FOUND, 'No member with this id.');
    const field = ['input', 'certificate'];
    const { checkSigningCertificate, parseCertificate } = await certificates();
    const parsed = parseCertificate(pem);
    if (!parsed) return fail(field, ProblemCode.CERTIFICATE_INVALID, 'Not an X.509 certificate (PEM or base64 DER).');
    const problem = await checkSigningCertificate(parsed.cert, await this.trustAnchors(em, caller.tenantId), new Date());
    if (problem) return fail(field, ProblemCode[problem], certificateMessage(problem));
    if (await em.count(ApproverCertificate, { tenant: caller.tenantId, fingerprint: parsed.fingerprint }))
      return fail(field, ProblemCode.TAKEN, 'This certificate is already registered.');
    const c = parsed.cert;
    const certificate = em.create(ApproverCertificate, {
      tenant: em.getReference(Tenant, caller.tenantId),
      member,
      fingerprint: parsed.fingerprint,
      subject: c.subject.slice(0, 1024),
      issuer: c.issuer.slice(0, 1024),
      serialNumber: c.serialNumber.slice(0, 128),
      der: parsed.der,
      notBefore: c.notBefore,
      notAfter: c.notAfter,
    });
    this.journal(em, caller.tenantId, AuditAction.APPROVER_CERTIFICATE_ADDED, `apiKey:${caller.apiKeyId}`, 'ApproverCertificate', certificate.id, {
      memberId: member.id,
      subject: certificate.subject,
      serialNumber: certificate.serialNumber,
    });
    await em.flush();
    return { ok: true, value: certificate };
  }

  /**
   * Revokes a certificate for good (one atomic update): it signs nothing from now on, and its
   * approvals of payments still AWAITING_APPROVAL stop counting (voided, see {@link voidApprovals}).
   */
  async certificateRevoke(em: EntityManager, caller: Caller, id: string | null, reason: string | null): Promise<Outcome<ApproverCertificate>> {
    const text = reason?.trim().slice(0, 200) || null;
    let revoked = false;
    let voided = 0;
    if (id) {
      await this.deps.orm.em.fork().transactional(async (tx) => {
        const [row] = await tx.execute<{ id: string; member_id: string; credential_ref: string }[]>(
          `update approver_certificate set revoked_at = now(), revocation_reason = ? where id = ? and tenant_id = ? and revoked_at is null
           returning id, member_id, substr(issuer || '#' || serial_number, 1, 1400) as credential_ref`,
          [text, id, caller.tenantId],
        );
        if (!row) return;
        revoked = true;
        voided = await this.voidApprovals(tx, caller.tenantId, row.member_id, { credentialRef: row.credential_ref });
      });
    }
    const certificate = id ? await em.findOne(ApproverCertificate, { id, tenant: caller.tenantId }, { refresh: true }) : null;
    if (!certificate) return fail(['id'], ProblemCode.NOT_FOUND, 'No certificate with this id.');
    if (!revoked) return fail(['id'], ProblemCode.ALREADY_REVOKED, 'This certificate is already revoked.');
    this.journal(em, caller.tenantId, AuditAction.APPROVER_CERTIFICATE_REVOKED, `apiKey:${caller.apiKeyId}`, 'ApproverCertificate', certificate.id, {
      reason: text,
      voidedApprovals: voided,
    });
    await em.flush();
    return { ok: true, value: certificate };
  }

  /**
   * Revokes a passkey for good (one atomic update): the hosted pages no longer accept it, and its
   * approvals of payments still AWAITING_APPROVAL stop counting (voided, see {@link voidApprovals}).
   */
  async passkeyRevoke(em: EntityManager, caller: Caller, id: string | null): Promise<Outcome<ApproverPasskey>> {
    let revoked = false;
    let voided = 0;
    if (id) {
      await this.deps.orm.em.fork().transactional(async (tx) => {
        const [row] = await tx.execute<{ id: string; member_id: string; credential_id: string }[]>(
          'update approver_passkey set revoked_at = now() where id = ? and tenant_id = ? and revoked_at is null returning id, member_id, credential_id',
          [id, caller.tenantId],
        );
        if (!row) return;
        revoked = true;
        voided = await this.voidApprovals(tx, caller.tenantId, row.member_id, { credentialRef: row.credential_id });
      });
    }
    const passkey = id ? await em.findOne(ApproverPasskey, { id, tenant: caller.tenantId }, { refresh: true }) : null;
    if (!passkey) return fail(['id'], ProblemCode.NOT_FOUND, 'No passkey with this id.');
    if (!revoked) return fail(['id'], ProblemCode.ALREADY_REVOKED, 'This passkey is already revoked.');
    this.journal(em, caller.tenantId, AuditAction.APPROVER_PASSKEY_REVOKED, `apiKey:${caller.apiKeyId}`, 'ApprovalMember', passkey.member.id, {
      passkeyId: passkey.id,
      voidedApprovals: voided,
    });
    await em.flush();
    return { ok: true, value: passkey };
  }

  async passkeys(em: EntityManager, caller: Caller, memberId: string): Promise<ApproverPasskey[]> {
    return em.find(ApproverPasskey, { tenant: caller.tenantId, member: memberId }, { orderBy: { createdAt: 'asc', id: 'asc' }, limit: 100 });
  }

  /**
   * Replaces a member's roles. A member who loses APPROVER can no longer approve, and their
   * approvals of payments still AWAITING_APPROVAL stop counting (voided). Journalled with both role sets.
   */
  async memberRolesSet(em: EntityManager, caller: Caller, id: string | null, input: { roles: string[] }): Promise<Outcome<ApprovalMember>> {
    const roles = [...new Set(input.roles)];
    const errors: Problem[] = [];
    if (roles.length === 0) errors.push(problem(['input', 'roles'], ProblemCode.BLANK, 'At least one role.'));
    if (roles.some((r) => !MEMBER_ROLES.includes(r as MemberRole)))
      errors.push(problem(['input', 'roles'], ProblemCode.INVALID, `Roles are ${MEMBER_ROLES.join(', ')}.`));
    if (errors.length) return { ok: false, userErrors: errors };
    let from: string[] | null = null;
    let voided = 0;
    if (id) {
      await this.deps.orm.em.fork().transactional(async (tx) => {
        const [row] = await tx.execute<{ id: string; roles: string[] }[]>('select id, roles from approval_member where id = ? and tenant_id = ? for update', [
          id,
          caller.tenantId,
        ]);
        if (!row) return;
        const member = await tx.findOneOrFail(ApprovalMember, { id }, { refresh: true });
        from = [...member.roles];
        member.roles = roles as MemberRole[];
        await tx.flush();
        if (from.includes('APPROVER') && !roles.includes('APPROVER')) voided = await this.voidApprovals(tx, caller.tenantId, id, {});
      });
    }
    if (!from) return fail(['id'], ProblemCode.NOT_FOUND, 'No member with this id.');
    const member = await em.findOneOrFail(ApprovalMember, { id: id! }, { refresh: true });
    this.journal(em, caller.tenantId, AuditAction.APPROVAL_MEMBER_ROLES_CHANGED, `apiKey:${caller.apiKeyId}`, 'ApprovalMember', member.id, {
      from: (from as string[]).join(','),
      to: roles.join(','),
      voidedApprovals: voided,
    });
    await em.flush();
    return { ok: true, value: member };
  }

  /**
   * Voids `memberId`'s APPROVE decisions (those signed with `credentialRef`, when given) on the
   * current revision of the end user's payments still AWAITING_APPROVAL; returns how many. The
   * payments are locked first, as decide() locks them, and the update is a later statement, so it
   * also sees a decision that committed while it waited: none escapes, none is counted after.
   */
  private async voidApprovals(tx: EntityManager, tenantId: string, memberId: string, by: { credentialRef?: string }): Promise<number> {
    await tx.execute(
      `select p.id from payment p join approval_member m on m.end_user_id = p.end_user_id
       where m.id = ? and p.tenant_id = ? and p.status = 'AWAITING_APPROVAL' order by p.id for update of p`,
      [memberId, tenantId],
    );
    const rows = await tx.execute<{ id: string }[]>(
      `update payment_approval a set voided_at = now() from payment p
       where p.id = a.payment_id and p.tenant_id = ? and p.status = 'AWAITING_APPROVAL' and a.revision = p.approval_revision
         and a.member_id = ? and a.decision = 'APPROVE' and a.voided_at is null ${by.credentialRef !== undefined ? 'and a.credential_ref = ?' : ''}
       returning a.id`,
      by.credentialRef !== undefined ? [tenantId, memberId, by.credentialRef] : [tenantId, memberId],
    );
    return rows.length;
  }

  async certificates(em: EntityManager, caller: Caller, memberId: string): Promise<ApproverCertificate[]> {
    return em.find(ApproverCertificate, { tenant: caller.tenantId, member: memberId }, { orderBy: { createdAt: 'asc', id: 'asc' }, limit: 100 });
  }

  private async trustAnchors(em: EntityManager, tenantId: string): Promise<X509Certificate[]> {
    const cas = await em.find(ApprovalCaCertificate, { tenant: tenantId }, { limit: 100 });
    const { certificateFromDer } = await certificates();
    return cas.map((ca) => certificateFromDer(ca.der));
  }

  // --- policies ------------------------------------------------------------------------------

  /** Stores a new version of the end user's policy; payments created before keep theirs. */
  async policySet(
    em: EntityManager,
    caller: Caller,
    input: { endUserId: string | null; rules: unknown; allowSelfApproval: boolean },
  ): Promise<Outcome<ApprovalPolicy>> {
    const endUser = input.endUserId ? await em.findOne(EndUser, { id: input.endUserId, tenant: caller.tenantId }) : null;
    if (!endUser) return fail(['input', 'endUserId'], ProblemCode.NOT_FOUND, 'No end user with this id.');
    const rules = rulesSchema.safeParse(input.rules);
    if (!rules.success) return { ok: false, userErrors: zodProblems(rules.error, ['input', 'rules']) };
    for (let attempt = 0; ; attempt++) {
      const latest = await this.deps.gate.current(em, caller.tenantId, endUser.id);
      const fork = em.fork();
      const policy = fork.create(ApprovalPolicy, {
        tenant: fork.getReference(Tenant, caller.tenantId),
        endUser: fork.getReference(EndUser, endUser.id),
        version: (latest?.version ?? 0) + 1,
        rules: rules.data,
        allowSelfApproval: input.allowSelfApproval,
      });
      this.journal(fork, caller.tenantId, AuditAction.APPROVAL_POLICY_SET, `apiKey:${caller.apiKeyId}`, 'ApprovalPolicy', policy.id, {
        endUserId: endUser.id,
        version: policy.version,
        rules: rules.data.length,
      });
      try {
        await fork.flush();
        return { ok: true, value: policy };
      } catch (err) {
        // Two new versions at once: the unique (end user, version) index lets one win; the other takes the next number.
        if (!(err instanceof UniqueConstraintViolationException) || attempt >= 3) throw err;
      }
    }
  }

  async currentPolicy(em: EntityManager, caller: Caller, endUserId: string): Promise<ApprovalPolicy | null> {
    return this.deps.gate.current(em, caller.tenantId, endUserId);
  }

  // --- a payment's approval state --------------------------------------------------------------

  /** The canonical document approvers sign for the payment's current revision and a decision. */
  async document(em: EntityManager, payment: Payment, decision: ApprovalDecision): Promise<string | null> {
    if (!payment.approvalPolicyId) return null;
    const policy = await em.findOneOrFail(ApprovalPolicy, { id: payment.approvalPolicyId });
    const [row] = await em.execute<{ key: string }[]>('select key from payment_idempotency where payment_id = ?', [payment.id]);
    const fields: ApprovalDocumentFields = {
      paymentId: toGlobalId('Payment', payment.id),
      endUserId: toGlobalId('EndUser', payment.endUser.id),
      scheme: payment.scheme,
      debtorIban: payment.debtorIban,
      creditor: { name: payment.creditorName, iban: payment.creditorIban, bic: payment.creditorBic },
      amount: payment.amount,
      currency: payment.currency,
      remittanceInformation: payment.remittanceInformation,
      requestedExecutionDate: payment.requestedExecutionDate,
      idempotencyKey: row?.key ?? '',
      policyVersion: policy.version,
      revision: payment.approvalRevision,
    };
    return approvalDocument(fields, decision);
  }

  /** Where the payment's approval stands: decisions on its current revision and who may still approve. */
  async view(em: EntityManager, payment: Payment): Promise<PaymentApprovalView | null> {
    if (!payment.approvalPolicyId) return null;
    const policy = await em.findOneOrFail(ApprovalPolicy, { id: payment.approvalPolicyId });
    const approvals = await em.find(
      PaymentApproval,
      { payment: payment.id, revision: payment.approvalRevision, voidedAt: null },
      { orderBy: { createdAt: 'asc' }, populate: ['member'] },
    );
    let pendingApprovers: ApprovalMember[] = [];
    if (payment.status === 'AWAITING_APPROVAL') {
      const decided = new Set(approvals.map((a) => a.member.id));
      const members = await em.find(ApprovalMember, { tenant: payment.tenant.id, endUser: payment.endUser.id }, { orderBy: { createdAt: 'asc' }, limit: 500 });
      pendingApprovers = members.filter(
        (m) => m.roles.includes('APPROVER') && !decided.has(m.id) && (policy.allowSelfApproval || m.id !== payment.requesterMemberId),
      );
    }
    return {
      policyVersion: policy.version,
      revision: payment.approvalRevision,
      required: payment.approvalsRequired,
      approvals,
      pendingApprovers,
      allowSelfApproval: policy.allowSelfApproval,
    };
  }

  // --- decisions over the API ------------------------------------------------------------------

  /**
   * An approver's decision signed with their certificate's key: a compact JWS over the approval
   * document for `decision`. The certificate is checked again now (validity, revocation, chain).
   */
  async decideWithCertificate(
    em: EntityManager,
    caller: Caller,
    paymentId: string | null,
    input: { certificateId: string | null; signature: string; decision: ApprovalDecision; reason: string | null },
  ): Promise<Outcome<Payment>> {
    const payment = paymentId ? await em.findOne(Payment, { id: paymentId, tenant: caller.tenantId }, { populate: ['tenant', 'endUser'] }) : null;
    if (!payment) return fail(['id'], ProblemCode.NOT_FOUND, 'No payment with this id.');
    const actor = `apiKey:${caller.apiKeyId}`;
    const refuse = (field: string[], code: ProblemCode, message: string, memberId: string | null = null) =>
      this.refuse(em, payment, actor, memberId, input.decision, field, code, message);
    if (payment.status !== 'AWAITING_APPROVAL')
      return refuse(['id'], ProblemCode.INVALID_STATE, `The payment is ${payment.status}: it is not awaiting approval.`);
    const certificate = input.certificateId
      ? await em.findOne(ApproverCertificate, { id: input.certificateId, tenant: caller.tenantId }, { populate: ['member'] })
      : null;
    if (!certificate) return refuse(['input', 'certificateId'], ProblemCode.NOT_FOUND, 'No certificate with this id.');
    const memberId = certificate.member.id;
    if (certificate.revokedAt) return refuse(['input', 'certificateId'], ProblemCode.CERTIFICATE_REVOKED, 'This certificate was revoked.', memberId);
    const { certificateFromDer, checkSigningCertificate, publicKeyOf, verifyDocumentSignature } = await certificates();
    const cert = certificateFromDer(certificate.der);
    const problem = await checkSigningCertificate(cert, await this.trustAnchors(em, caller.tenantId), new Date());
    if (problem) return refuse(['input', 'certificateId'], ProblemCode[problem], certificateMessage(problem), memberId);
    const document = await this.document(em, payment, input.decision);
    if (!document) return refuse(['id'], ProblemCode.INVALID_STATE, 'This payment is not under an approval policy.', memberId);
    const bad = await verifyDocumentSignature(input.signature, document, publicKeyOf(cert));
    if (bad) {
      const message =
        bad === 'SIGNATURE_DOCUMENT_MISMATCH'
          ? 'The signed payload is not this payment’s current approval document for this decision.'
          : 'The signature does not verify with this certificate over the payment’s approval document.';
      return refuse(['input', 'signature'], ProblemCode[bad], message, memberId);
    }
    return this.decide(em, payment, certificate.member.id, input.decision, actor, {
      method: 'CERTIFICATE',
      credentialRef: `${certificate.issuer}#${certificate.serialNumber}`.slice(0, 1400),
      certificateId: certificate.id,
      document,
      signature: input.signature,
      authMethod: {
        kind: 'CERTIFICATE',
        subject: certificate.subject,
        serial: certificate.serialNumber,
        issuer: certificate.issuer,
        fingerprintSha256: certificate.fingerprint,
      },
      proofSignature: { format: 'JWS', value: input.signature, certificate: cert.toString('pem') },
      reason: input.reason?.trim().slice(0, MAX_REASON) || null,
    });
  }

  /**
   * Records a verified decision. The payment's row is locked for the whole transaction, so
   * concurrent decisions count one after another: exactly one of them releases the payment, and
   * a member's second decision on a revision is ALREADY_DECIDED. The bank is called after commit.
   */
  async decide(
    em: EntityManager,
    payment: Payment,
    memberId: string,
    decision: ApprovalDecision,
    actor: string,
    evidence: DecisionEvidence,
  ): Promise<Outcome<Payment>> {
    const tenantId = payment.tenant.id;
    let refusal: { field: string[]; code: ProblemCode; message: string } | null = null;
    let released = false;
    const memberActor = `member:${memberId}`;
    await this.deps.orm.em.fork().transactional(async (tx) => {
      await tx.execute('select id from payment where id = ? and tenant_id = ? for update', [payment.id, tenantId]);
      const p = await tx.findOneOrFail(Payment, { id: payment.id }, { populate: ['tenant', 'endUser'], refresh: true });
      const member = await tx.findOne(ApprovalMember, { id: memberId, tenant: tenantId }, { populate: ['endUser'] });
      const policy = p.approvalPolicyId ? await tx.findOne(ApprovalPolicy, { id: p.approvalPolicyId }) : null;
      if (p.status !== 'AWAITING_APPROVAL' || !policy) {
        refusal = { field: ['id'], code: ProblemCode.INVALID_STATE, message: `The payment is ${p.status}: it is not awaiting approval.` };
        return;
      }
      // The document was verified as computed a moment ago: an amendment in between changes it.
      if ((await this.document(tx, p, decision)) !== evidence.document) {
        refusal = {
          field: ['input', 'signature'],
          code: ProblemCode.SIGNATURE_DOCUMENT_MISMATCH,
          message: 'The payment changed while the signature was checked; sign its new approval document.',
        };
        return;
      }
      if (!member || member.endUser.id !== p.endUser.id || !member.roles.includes('APPROVER')) {
        refusal = { field: ['input'], code: ProblemCode.NOT_AN_APPROVER, message: 'This member is not an APPROVER of the payment’s end user.' };
        return;
      }
      if (!policy.allowSelfApproval && p.requesterMemberId === member.id) {
        refusal = { field: ['input'], code: ProblemCode.SELF_APPROVAL_FORBIDDEN, message: 'The policy forbids approving a payment one requested.' };
        return;
      }
      // A certificate revoked since it was checked: its revocation voids approvals under this same lock.
      if (evidence.certificateId) {
        const [live] = await tx.execute<{ id: string }[]>('select id from approver_certificate where id = ? and revoked_at is null', [evidence.certificateId]);
        if (!live) {
          refusal = { field: ['input', 'certificateId'], code: ProblemCode.CERTIFICATE_REVOKED, message: 'This certificate was revoked.' };
          return;
        }
      }
      if (evidence.passkeyId) {
        const [live] = await tx.execute<{ id: string }[]>('select id from approver_passkey where id = ? and revoked_at is null', [evidence.passkeyId]);
        if (!live) {
          refusal = { field: ['input'], code: ProblemCode.PASSKEY_INVALID, message: 'This passkey was revoked.' };
          return;
        }
      }
      if (await tx.count(PaymentApproval, { payment: p.id, member: member.id, revision: p.approvalRevision, voidedAt: null })) {
        refusal = { field: ['input'], code: ProblemCode.ALREADY_DECIDED, message: 'This member already decided on this revision of the payment.' };
        return;
      }
      // Counted before the new row exists (a count flushes pending rows first).
      const earlier = await tx.count(PaymentApproval, { payment: p.id, revision: p.approvalRevision, decision: 'APPROVE', voidedAt: null });
      const approval = tx.create(PaymentApproval, {
        tenant: tx.getReference(Tenant, tenantId),
        payment: p,
        member,
        revision: p.approvalRevision,
        decision,
        method: evidence.method,
        credentialRef: evidence.credentialRef,
        documentSha256: sha256Hex(evidence.document),
        signature: evidence.signature,
        reason: evidence.reason,
      });
      const given = earlier + (decision === 'APPROVE' ? 1 : 0);
      const complete = decision === 'APPROVE' && given >= p.approvalsRequired;
      const details = {
        memberId: member.id,
        method: evidence.method,
        revision: p.approvalRevision,
        documentSha256: approval.documentSha256,
        approvalsGiven: given,
        approvalsRequired: p.approvalsRequired,
      };
      this.journal(
        tx,
        tenantId,
        decision === 'APPROVE' ? AuditAction.PAYMENT_APPROVED : AuditAction.PAYMENT_APPROVAL_REJECTED,
        memberActor,
        'Payment',
        p.id,
        details,
      );
      addEvents(tx, [
        {
          tenantId,
          type: decision === 'APPROVE' ? EventType.PAYMENT_APPROVED : EventType.PAYMENT_APPROVAL_REJECTED,
          resourceType: 'Payment',
          resourceId: p.id,
          payload: {
            paymentId: toGlobalId('Payment', p.id),
            memberId: toGlobalId('ApprovalMember', member.id),
            method: evidence.method,
            revision: p.approvalRevision,
            approvalsGiven: given,
            approvalsRequired: p.approvalsRequired,
            complete,
          },
        },
      ]);
      this.deps.proofs.add(tx, {
        tenantId,
        endUserId: p.endUser.id,
        subject: { kind: 'PAYMENT', id: p.id },
        event: decision === 'APPROVE' ? 'PAYMENT_APPROVED' : 'PAYMENT_APPROVAL_REJECTED',
        actor: { kind: 'MEMBER', id: member.id, name: member.name },
        authMethod: evidence.authMethod,
        document: JSON.parse(evidence.document) as Record<string, unknown>,
        signature: evidence.proofSignature,
      });
      if (decision === 'REJECT') this.deps.payments.applyApproval(tx, p, 'REJECTED_BY_APPROVER', evidence.reason ?? `Rejected by ${member.name}.`, memberActor);
      else if (complete) {
        this.deps.payments.applyApproval(tx, p, 'AUTHORIZATION_REQUIRED', null, memberActor);
        released = true;
      }
    });
    if (refusal) {
      const r = refusal as { field: string[]; code: ProblemCode; message: string };
      return this.refuse(em, payment, actor, memberId, decision, r.field, r.code, r.message);
    }
    if (released) {
      const sent = await this.deps.payments.releaseApproved(tenantId, payment.id, memberActor);
      if (sent.userErrors.length) return { ok: false, userErrors: sent.userErrors };
    }
    return { ok: true, value: await em.findOneOrFail(Payment, { id: payment.id }, { populate: ['tenant', 'endUser'], refresh: true }) };
  }

  /** A refused decision: nothing is recorded but its journal line. */
  async refuse(
    em: EntityManager,
    payment: Payment,
    actor: string,
    memberId: string | null,
    decision: ApprovalDecision,
    field: string[],
    code: ProblemCode,
    message: string,
  ): Promise<Outcome<Payment>> {
    this.journal(em, payment.tenant.id, AuditAction.PAYMENT_APPROVAL_REFUSED, actor, 'Payment', payment.id, { code, decision, memberId });
    await em.flush();
    return { ok: false, userErrors: [problem(field, code, message)] };
  }

  // --- amendments ----------------------------------------------------------------------------

  /**
   * Changes a payment awaiting approval (amount, remittance, execution date): a new revision, so
   * every earlier approval stops counting, and the approvals its policy version asks for now.
   */
  async amend(
    em: EntityManager,
    caller: Caller,
    paymentId: string | null,
    input: {
      amount?: string | null;
      remittanceInformation?: string | null;
      requestedExecutionDate?: string | null;
      creditor?: { name: string; iban: string; bic?: string | null } | null;
    },
  ): Promise<Outcome<Payment>> {
    const actor = `apiKey:${caller.apiKeyId}`;
    let result: Outcome<Payment> | null = null;
    let released = false;
    await this.deps.orm.em.fork().transactional(async (tx) => {
      const [row] = paymentId
        ? await tx.execute<{ id: string }[]>('select id from payment where id = ? and tenant_id = ? for update', [paymentId, caller.tenantId])
        : [];
      const p = row ? await tx.findOneOrFail(Payment, { id: row.id }, { populate: ['tenant', 'endUser'], refresh: true }) : null;
      if (!p) return void (result = fail(['id'], ProblemCode.NOT_FOUND, 'No payment with this id.'));
      if (p.status !== 'AWAITING_APPROVAL')
        return void (result = fail(['id'], ProblemCode.INVALID_STATE, `The payment is ${p.status}: only a payment awaiting approval can be amended.`));
      const institution = this.deps.institutions.get(caller, p.institutionId) ?? null;
      const checked = validatePayment(
        {
          scheme: p.scheme,
          debtorAccount: p.debtorIban ? { iban: p.debtorIban } : null,
          creditor: input.creditor
            ? { name: input.creditor.name, iban: input.creditor.iban, bic: input.creditor.bic ?? null }
            : { name: p.creditorName, iban: p.creditorIban, bic: p.creditorBic },
          amount: { amount: input.amount ?? p.amount, currency: p.currency },
          remittanceInformation: input.remittanceInformation !== undefined ? input.remittanceInformation : p.remittanceInformation,
          endToEndId: p.endToEndId,
          requestedExecutionDate: input.requestedExecutionDate !== undefined ? input.requestedExecutionDate : p.requestedExecutionDate,
        },
        { today: new Date().toISOString().slice(0, 10), institution },
      );
      if (!checked.ok) return void (result = { ok: false, userErrors: checked.userErrors });
      const v = checked.value;
      const policy = await tx.findOneOrFail(ApprovalPolicy, { id: p.approvalPolicyId! });
      const from = { amount: p.amount, creditorIban: p.creditorIban, creditorName: p.creditorName, creditorBic: p.creditorBic };
      Object.assign(p, {
        amount: v.amount.amount,
        remittanceInformation: v.remittanceInformation,
        requestedExecutionDate: v.requestedExecutionDate,
        creditorName: v.creditor.name,
        creditorIban: v.creditor.iban,
        creditorBic: v.creditor.bic,
        approvalRevision: p.approvalRevision + 1,
      });
      // Recomputed on the amended payment: a changed creditor is judged new or known afresh.
      p.approvalsRequired = await this.deps.gate.requiredFor(tx, p, policy);
      const creditorChanged = from.creditorIban !== p.creditorIban || from.creditorName !== p.creditorName || from.creditorBic !== p.creditorBic;
      this.journal(tx, caller.tenantId, AuditAction.PAYMENT_AMENDED, actor, 'Payment', p.id, {
        revision: p.approvalRevision,
        fromAmount: from.amount,
        toAmount: p.amount,
        creditorChanged,
        approvalsRequired: p.approvalsRequired,
      });
      if (p.approvalsRequired === 0) {
        // The amended payment no longer needs approval under its policy version.
        this.deps.payments.applyApproval(tx, p, 'AUTHORIZATION_REQUIRED', null, actor);
        released = true;
      } else requested(tx, this.deps.audit, p, policy.version, actor);
      result = { ok: true, value: p };
    });
    const r = result as Outcome<Payment> | null;
    if (!r || !r.ok) return r ?? fail(['id'], ProblemCode.NOT_FOUND, 'No payment with this id.');
    if (released) {
      const sent = await this.deps.payments.releaseApproved(caller.tenantId, r.value.id, actor);
      if (sent.userErrors.length) return { ok: false, userErrors: sent.userErrors };
    }
    return { ok: true, value: await em.findOneOrFail(Payment, { id: r.value.id }, { populate: ['tenant', 'endUser'], refresh: true }) };
  }

  // --- hosted-page links -----------------------------------------------------------------------

  /** A one-use link to the hosted page where a member registers a passkey. */
  async passkeyRegistrationLink(
    em: EntityManager,
    caller: Caller,
    memberId: string | null,
  ): Promise<Outcome<{ url: string; expiresAt: Date; member: ApprovalMember }>> {
    const member = memberId ? await em.findOne(ApprovalMember, { id: memberId, tenant: caller.tenantId }) : null;
    if (!member) return fail(['input', 'memberId'], ProblemCode.NOT_FOUND, 'No member with this id.');
    return { ok: true, value: { ...(await this.link(em, caller.tenantId, member, 'PASSKEY_REGISTRATION', null)), member } };
  }

  /** A one-use link to the hosted page where an approver approves or rejects one payment with a passkey. */
  async paymentApprovalLink(
    em: EntityManager,
    caller: Caller,
    paymentId: string | null,
    memberId: string | null,
  ): Promise<Outcome<{ url: string; expiresAt: Date; member: ApprovalMember }>> {
    const payment = paymentId ? await em.findOne(Payment, { id: paymentId, tenant: caller.tenantId }, { populate: ['endUser'] }) : null;
    if (!payment) return fail(['id'], ProblemCode.NOT_FOUND, 'No payment with this id.');
    if (payment.status !== 'AWAITING_APPROVAL')
      return fail(['id'], ProblemCode.INVALID_STATE, `The payment is ${payment.status}: it is not awaiting approval.`);
    const member = memberId ? await em.findOne(ApprovalMember, { id: memberId, tenant: caller.tenantId }, { populate: ['endUser'] }) : null;
    if (!member) return fail(['input', 'memberId'], ProblemCode.NOT_FOUND, 'No member with this id.');
    if (member.endUser.id !== payment.endUser.id || !member.roles.includes('APPROVER'))
      return fail(['input', 'memberId'], ProblemCode.NOT_AN_APPROVER, 'This member is not an APPROVER of the payment’s end user.');
    return { ok: true, value: { ...(await this.link(em, caller.tenantId, member, 'PAYMENT_APPROVAL', payment)), member } };
  }

  private async link(
    em: EntityManager,
    tenantId: string,
    member: ApprovalMember,
    purpose: ApprovalLinkPurpose,
    payment: Payment | null,
  ): Promise<{ url: string; expiresAt: Date }> {
    const token = randomBytes(32).toString('base64url');
    const expiresAt = new Date(Date.now() + this.deps.linkTtlMs);
    em.create(ApprovalLink, { tenant: em.getReference(Tenant, tenantId), member, purpose, payment, tokenHash: sha256Hex(token), expiresAt });
    await em.flush();
    const path = purpose === 'PASSKEY_REGISTRATION' ? 'passkeys/register' : 'approve';
    return { url: `${this.deps.publicUrl}/${path}/${token}`, expiresAt };
  }

  private journal(
    em: EntityManager,
    tenantId: string,
    action: AuditAction,
    actor: string,
    resourceType: string,
    resourceId: string,
    details: Record<string, string | number | boolean | null>,
  ): void {
    this.deps.audit.add(em, { tenantId, action, actor, resourceType, resourceId, details });
  }
}

function fail<T>(field: string[], code: ProblemCode, message: string): Outcome<T> {
  return { ok: false, userErrors: [problem(field, code, message)] };
}

export function certificateMessage(problem: string): string {
  switch (problem) {
    case 'CERTIFICATE_EXPIRED':
      return 'The certificate has expired.';
    case 'CERTIFICATE_NOT_YET_VALID':
      return 'The certificate is not valid yet.';
    case 'CERTIFICATE_KEY_USAGE':
      return 'The certificate’s key usage does not allow signatures (digitalSignature or nonRepudiation), or it is a CA certificate.';
    case 'CERTIFICATE_UNTRUSTED':
      return 'The certificate is not issued by a CA certificate registered with approvalCaCertificateAdd (or that CA has expired).';
    default:
      return 'Not a usable certificate.';
  }
}
