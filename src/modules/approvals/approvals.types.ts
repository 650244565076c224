import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { MoneyType } from '../../api/money';
import { connectionType } from '../../api/relay/connection';
import { toGlobalId } from '../../api/relay/global-id';
import { Node } from '../../api/relay/node';
import { UserError } from '../../api/user-errors';
import { PaymentSchemeKind } from '../institutions/institutions.types';
import { MoneyInput, PaymentCreditorInput, PaymentType } from '../payments/payments.types';
import type { ApprovalCaCertificate, ApproverCertificate, ApproverPasskey } from './credential.entity';
import type { ApprovalMember } from './member.entity';
import type { PaymentApproval } from './payment-approval.entity';
import type { ApprovalPolicy } from './policy.entity';

export enum MemberRoleKind {
  REQUESTER = 'REQUESTER',
  APPROVER = 'APPROVER',
  ACCOUNTANT = 'ACCOUNTANT',
  VIEWER = 'VIEWER',
}
registerEnumType(MemberRoleKind, {
  name: 'MemberRole',
  description: 'What a member may do in their end user’s payments.',
  valuesConfig: {
    REQUESTER: { description: 'Asks for payments (paymentInitiate’s requestedBy).' },
    APPROVER: { description: 'Signs payments off (or rejects them) with a certificate or a passkey.' },
    ACCOUNTANT: { description: 'Sees the payments and their approvals.' },
    VIEWER: { description: 'Sees the payments.' },
  },
});

export enum ApprovalDecisionKind {
  APPROVE = 'APPROVE',
  REJECT = 'REJECT',
}
registerEnumType(ApprovalDecisionKind, { name: 'ApprovalDecision', description: 'An approver’s decision; it is part of the document they sign.' });

export enum ApprovalMethodKind {
  CERTIFICATE = 'CERTIFICATE',
  PASSKEY = 'PASSKEY',
}
registerEnumType(ApprovalMethodKind, {
  name: 'ApprovalMethod',
  description: 'How a decision was signed: a JWS with an X.509 certificate’s key over the API, or a WebAuthn passkey on the hosted approval page.',
});

export enum CreditorKind {
  NEW = 'NEW',
  KNOWN = 'KNOWN',
}
registerEnumType(CreditorKind, {
  name: 'CreditorKind',
  description: 'KNOWN: the end user has an earlier payment to this IBAN that the bank ACCEPTED or EXECUTED; NEW otherwise.',
});

/** A person of an end user (an SME) with roles in its payments. */
@ObjectType('ApprovalMember', {
  implements: Node,
  description: 'A person of an end user (an SME) with roles in its payments: requesters, approvers, accountants, viewers.',
})
export class ApprovalMemberType extends Node {
  @Field(() => String)
  name!: string;

  @Field(() => String, { nullable: true })
  email!: string | null;

  @Field(() => [MemberRoleKind])
  roles!: MemberRoleKind[];

  @Field(() => Date)
  createdAt!: Date;

  internalId!: string;
  endUserId!: string;

  static from(m: ApprovalMember): ApprovalMemberType {
    return Object.assign(new ApprovalMemberType(), {
      id: toGlobalId('ApprovalMember', m.id),
      internalId: m.id,
      endUserId: m.endUser.id,
      name: m.name,
      email: m.email,
      roles: m.roles as MemberRoleKind[],
      createdAt: m.createdAt,
    });
  }
}

@ObjectType('ApprovalCaCertificate', { implements: Node, description: 'A CA certificate the tenant trusts to issue its approvers’ signing certificates.' })
export class ApprovalCaCertificateType extends Node {
  @Field(() => String)
  subject!: string;

  @Field(() => String, { description: 'SHA-256 of the DER, hex.' })
  fingerprintSha256!: string;

  @Field(() => Date)
  notAfter!: Date;

  @Field(() => Date)
  createdAt!: Date;

  static from(c: ApprovalCaCertificate): ApprovalCaCertificateType {
    return Object.assign(new ApprovalCaCertificateType(), {
      id: toGlobalId('ApprovalCaCertificate', c.id),
      subject: c.subject,
      fingerprintSha256: c.fingerprint,
      notAfter: c.notAfter,
      createdAt: c.createdAt,
    });
  }
}

/** A member's passkey, registered on the hosted page. */
@ObjectType('ApproverPasskey', { implements: Node, description: 'A member’s passkey (WebAuthn), registered on the hosted page.' })
export class ApproverPasskeyType extends Node {
  @Field(() => String, { description: 'The authenticator’s credential id (base64url), as proof records name it.' })
  credentialId!: string;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => Date, { nullable: true, description: 'Set once the tenant revoked it (approverPasskeyRevoke): it approves nothing from then on.' })
  revokedAt!: Date | null;

  static from(p: ApproverPasskey): ApproverPasskeyType {
    return Object.assign(new ApproverPasskeyType(), {
      id: toGlobalId('ApproverPasskey', p.id),
      credentialId: p.credentialId,
      createdAt: p.createdAt,
      revokedAt: p.revokedAt,
    });
  }
}

@ObjectType()
export class ApproverPasskeyPayload {
  @Field(() => ApproverPasskeyType, { nullable: true })
  passkey!: ApproverPasskeyType | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

@ObjectType('ApproverCertificate', { implements: Node, description: 'A member’s signing certificate (as a smart card holds).' })
export class ApproverCertificateType extends Node {
  @Field(() => String)
  subject!: string;

  @Field(() => String)
  issuer!: string;

  @Field(() => String, { description: 'Hex, as in the certificate.' })
  serialNumber!: string;

  @Field(() => String, { description: 'SHA-256 of the DER, hex.' })
  fingerprintSha256!: string;

  @Field(() => Date)
  notBefore!: Date;

  @Field(() => Date)
  notAfter!: Date;

  @Field(() => Date, { nullable: true, description: 'Set once the tenant revoked it (approverCertificateRevoke): it signs nothing from then on.' })
  revokedAt!: Date | null;

  @Field(() => String, { nullable: true })
  revocationReason!: string | null;

  memberId!: string;

  static from(c: ApproverCertificate): ApproverCertificateType {
    return Object.assign(new ApproverCertificateType(), {
      id: toGlobalId('ApproverCertificate', c.id),
      memberId: c.member.id,
      subject: c.subject,
      issuer: c.issuer,
      serialNumber: c.serialNumber,
      fingerprintSha256: c.fingerprint,
      notBefore: c.notBefore,
      notAfter: c.notAfter,
      revokedAt: c.revokedAt,
      revocationReason: c.revocationReason,
    });
  }
}

@ObjectType('ApprovalRule', {
  simpleResolvers: true,
  description: 'When every condition given holds, `approvals` distinct APPROVERs must sign. `additional` rules add to the largest count of the others.',
})
export class ApprovalRuleType {
  @Field(() => MoneyType, { nullable: true, description: 'Payments strictly above this amount, in its currency only (no conversion).' })
  amountAbove!: MoneyType | null;

  @Field(() => [String], { nullable: true })
  currencies!: string[] | null;

  @Field(() => CreditorKind, { nullable: true })
  creditor!: CreditorKind | null;

  @Field(() => [PaymentSchemeKind], { nullable: true })
  schemes!: PaymentSchemeKind[] | null;

  @Field(() => Int)
  approvals!: number;

  @Field(() => Boolean)
  additional!: boolean;
}

@ObjectType('ApprovalPolicy', {
  implements: Node,
  description: 'One version of an end user’s approval policy. A payment keeps the version it was created under.',
})
export class ApprovalPolicyType extends Node {
  @Field(() => Int)
  version!: number;

  @Field(() => [ApprovalRuleType])
  rules!: ApprovalRuleType[];

  @Field(() => Boolean, { description: 'Whether the member who requested a payment may approve it.' })
  allowSelfApproval!: boolean;

  @Field(() => Date)
  createdAt!: Date;

  static from(p: ApprovalPolicy): ApprovalPolicyType {
    return Object.assign(new ApprovalPolicyType(), {
      id: toGlobalId('ApprovalPolicy', p.id),
      version: p.version,
      allowSelfApproval: p.allowSelfApproval,
      createdAt: p.createdAt,
      rules: p.rules.map((r) =>
        Object.assign(new ApprovalRuleType(), {
          amountAbove: r.amountAbove ? Object.assign(new MoneyType(), r.amountAbove) : null,
          currencies: r.currencies,
          creditor: r.creditor as CreditorKind | null,
          schemes: r.schemes as PaymentSchemeKind[] | null,
          approvals: r.approvals,
          additional: r.additional,
        }),
      ),
    });
  }
}

@ObjectType('PaymentApprovalDecision', { description: 'A member’s signed decision on one revision of a payment.' })
export class PaymentApprovalDecisionType {
  @Field(() => ApprovalMemberType)
  member!: ApprovalMemberType;

  @Field(() => ApprovalDecisionKind)
  decision!: ApprovalDecisionKind;

  @Field(() => ApprovalMethodKind)
  method!: ApprovalMethodKind;

  @Field(() => Int)
  revision!: number;

  @Field(() => String, { description: 'SHA-256 (hex) of the exact document signed.' })
  documentSha256!: string;

  @Field(() => String, { nullable: true })
  reason!: string | null;

  @Field(() => Date)
  createdAt!: Date;

  static from(a: PaymentApproval): PaymentApprovalDecisionType {
    return Object.assign(new PaymentApprovalDecisionType(), {
      member: ApprovalMemberType.from(a.member),
      decision: a.decision as ApprovalDecisionKind,
      method: a.method as ApprovalMethodKind,
      revision: a.revision,
      documentSha256: a.documentSha256,
      reason: a.reason,
      createdAt: a.createdAt,
    });
  }
}

@ObjectType('PaymentApproval', {
  description: 'Where a payment under an approval policy stands: what it needs, who decided, who may still sign, and the document to sign.',
})
export class PaymentApprovalType {
  @Field(() => Int, { description: 'The policy version the payment was created under.' })
  policyVersion!: number;

  @Field(() => Int, { description: 'Bumped by every paymentAmend: only decisions on the current revision count.' })
  revision!: number;

  @Field(() => Int, { description: 'Distinct approvals the policy asks for at this revision.' })
  required!: number;

  @Field(() => Int, { description: 'Approvals given on this revision.' })
  given!: number;

  @Field(() => Int, { description: 'Approvals still needed (0 once met).' })
  remaining!: number;

  @Field(() => [PaymentApprovalDecisionType], { description: 'Decisions on the current revision, oldest first.' })
  decisions!: PaymentApprovalDecisionType[];

  @Field(() => [ApprovalMemberType], { description: 'APPROVERs who may still sign (none once the payment is no longer AWAITING_APPROVAL).' })
  pendingApprovers!: ApprovalMemberType[];

  paymentId!: string;
}

// --- inputs and payloads ---------------------------------------------------------------------

@InputType('ApprovalMemberCreateInput', { description: 'A person of an end user and their roles.' })
export class ApprovalMemberCreateInput {
  @Field(() => ID)
  endUserId!: string;

  @Field(() => String, { description: '1–140 characters.' })
  name!: string;

  @Field(() => String, { nullable: true })
  email?: string | null;

  @Field(() => [MemberRoleKind], { description: 'At least one.' })
  roles!: MemberRoleKind[];
}

@ObjectType()
export class ApprovalMemberCreatePayload {
  @Field(() => ApprovalMemberType, { nullable: true })
  member!: ApprovalMemberType | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

/** What `approvalMemberRolesSet` takes. */
@InputType('ApprovalMemberRolesSetInput', { description: 'A member’s new roles (they replace the old ones).' })
export class ApprovalMemberRolesSetInput {
  @Field(() => [MemberRoleKind], { description: 'At least one.' })
  roles!: MemberRoleKind[];
}

@ObjectType()
export class ApprovalMemberRolesSetPayload {
  @Field(() => ApprovalMemberType, { nullable: true })
  member!: ApprovalMemberType | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

@InputType('ApprovalCaCertificateAddInput')
export class ApprovalCaCertificateAddInput {
  @Field(() => String, { description: 'A CA certificate (basicConstraints cA=true), PEM or base64 DER, at most 16 KiB.' })
  certificate!: string;
}

@ObjectType()
export class ApprovalCaCertificateAddPayload {
  @Field(() => ApprovalCaCertificateType, { nullable: true })
  caCertificate!: ApprovalCaCertificateType | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

@InputType('ApproverCertificateAddInput')
export class ApproverCertificateAddInput {
  @Field(() => ID)
  memberId!: string;

  @Field(() => String, {
    description:
      'The member’s signing certificate, PEM or base64 DER, at most 16 KiB: valid now, keyUsage digitalSignature or nonRepudiation, issued by a registered CA.',
  })
  certificate!: string;
}

@ObjectType()
export class ApproverCertificatePayload {
  @Field(() => ApproverCertificateType, { nullable: true })
  certificate!: ApproverCertificateType | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

@InputType('ApproverCertificateRevokeInput')
export class ApproverCertificateRevokeInput {
  @Field(() => String, { nullable: true, description: 'Why, at most 200 characters (kept, shown on the certificate).' })
  reason?: string | null;
}

@InputType('ApprovalRuleInput', { description: 'One rule; every condition given must hold for the rule to apply.' })
export class ApprovalRuleInput {
  @Field(() => MoneyInput, { nullable: true, description: 'Applies to payments strictly above this amount, in this currency only.' })
  amountAbove?: MoneyInput | null;

  @Field(() => [String], { nullable: true, description: 'Applies to payments in one of these ISO 4217 currencies.' })
  currencies?: string[] | null;

  @Field(() => CreditorKind, { nullable: true })
  creditor?: CreditorKind | null;

  @Field(() => [PaymentSchemeKind], { nullable: true })
  schemes?: PaymentSchemeKind[] | null;

  @Field(() => Int, { description: 'Distinct APPROVERs, 1–10.' })
  approvals!: number;

  @Field(() => Boolean, {
    nullable: true,
    description: 'True: adds its approvals to the largest count of the other matching rules ("new creditor: one more"). Default false.',
  })
  additional?: boolean | null;
}

@InputType('ApprovalPolicySetInput', { description: 'A new version of an end user’s approval policy (1–20 rules).' })
export class ApprovalPolicySetInput {
  @Field(() => ID)
  endUserId!: string;

  @Field(() => [ApprovalRuleInput])
  rules!: ApprovalRuleInput[];

  @Field(() => Boolean, { nullable: true, description: 'Whether the requester may approve their own payment. Default false.' })
  allowSelfApproval?: boolean | null;
}

@ObjectType()
export class ApprovalPolicySetPayload {
  @Field(() => ApprovalPolicyType, { nullable: true })
  policy!: ApprovalPolicyType | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

@InputType('PaymentApproveInput', { description: 'A decision signed with a member’s certificate.' })
export class PaymentApproveInput {
  @Field(() => ID, { description: 'The signing certificate; its member is the one deciding.' })
  certificateId!: string;

  @Field(() => String, {
    description:
      'A compact JWS (RS256/PS256/ES256 and their larger variants) made with the certificate’s key whose payload is Payment.approval document for this decision: attached, or detached (`header..signature`). At most 16 KiB.',
  })
  signature!: string;
}

@InputType('PaymentApprovalRejectInput', { description: 'A rejection signed with a member’s certificate.' })
export class PaymentApprovalRejectInput extends PaymentApproveInput {
  @Field(() => String, { nullable: true, description: 'Why, at most 500 characters.' })
  reason?: string | null;
}

@ObjectType()
export class PaymentApprovePayload {
  @Field(() => PaymentType, { nullable: true })
  payment!: PaymentType | null;

  @Field(() => String, {
    nullable: true,
    description: 'Once the policy is met the payment goes to the bank: send the end user here to authorise it there (as paymentInitiate would).',
  })
  authorizationUrl!: string | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

@InputType('PaymentAmendInput', { description: 'Changes to a payment awaiting approval; every earlier approval stops counting.' })
export class PaymentAmendInput {
  @Field(() => String, { nullable: true, description: 'New amount (decimal string) in the payment’s currency.' })
  amount?: string | null;

  @Field(() => String, { nullable: true })
  remittanceInformation?: string | null;

  @Field(() => String, { nullable: true, description: 'YYYY-MM-DD.' })
  requestedExecutionDate?: string | null;

  /** A new creditor (name, IBAN, BIC), checked like paymentInitiate's; the "new creditor" rules of the payment's policy version are applied to it again. */
  @Field(() => PaymentCreditorInput, {
    nullable: true,
    description:
      'A new creditor (name, IBAN, BIC), checked like paymentInitiate’s; the "new creditor" rules of the payment’s policy version are applied to it again.',
  })
  creditor?: PaymentCreditorInput | null;
}

@InputType('ApprovalLinkInput')
export class ApprovalLinkInput {
  @Field(() => ID)
  memberId!: string;
}

@ObjectType()
export class ApprovalLinkPayload {
  @Field(() => String, { nullable: true, description: 'The hosted page; one use, shown once: send it to the member only.' })
  url!: string | null;

  @Field(() => Date, { nullable: true })
  expiresAt!: Date | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

export const ApprovalMemberConnection = connectionType('ApprovalMember', ApprovalMemberType, 'Members of an end user, oldest first.');
export const ApprovalCaCertificateConnection = connectionType(
  'ApprovalCaCertificate',
  ApprovalCaCertificateType,
  'The CA certificates the tenant trusts, oldest first.',
);
