import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
  VerifiedAuthenticationResponse,
  VerifiedRegistrationResponse,
} from '@simplewebauthn/server';
import { createHash, createPublicKey } from 'node:crypto';
import { z } from 'zod';
import { ProblemCode } from '../../kernel/problems';
import { AuditAction, type AuditService } from '../audit';
import type { Payment } from '../payments/payment.entity';
import { Tenant } from '../tenancy/tenant.entity';
import type { ApprovalsService } from './approvals.service';
import { ApproverPasskey } from './credential.entity';
import { sha256Hex } from './document';
import type { ApprovalMember } from './member.entity';
import { ApprovalLink, type ApprovalDecision } from './payment-approval.entity';

/**
 * @simplewebauthn/server (with its own copy of @peculiar/x509 and the ASN.1 stack) loads on the
 * first passkey page, not at start: most gateways never use passkeys (about 2 MiB of heap).
 */
let webauthnModules: Promise<[typeof import('@simplewebauthn/server'), typeof import('@simplewebauthn/server/helpers')]> | undefined;
const webauthn = () => (webauthnModules ??= Promise.all([import('@simplewebauthn/server'), import('@simplewebauthn/server/helpers')]));

/** A hosted page's answer: a value, or a stable code (the same codes as the API's userErrors). */
export type PageOutcome<T> = { ok: true; value: T } | { ok: false; status: number; code: ProblemCode | 'LINK_INVALID'; message: string };

const b64url = z
  .string()
  .max(16_384)
  .regex(/^[A-Za-z0-9_-]*$/);
/** A WebAuthn response as @simplewebauthn/browser sends it, bounded before anything reads it. */
const responseSchema = z.object({
  id: b64url.min(1).max(1400),
  rawId: b64url.min(1).max(1400),
  type: z.literal('public-key'),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  response: z.object({
    clientDataJSON: b64url,
    authenticatorData: b64url.optional(),
    signature: b64url.optional(),
    userHandle: b64url.optional(),
    attestationObject: b64url.optional(),
    transports: z.array(z.string().max(32)).max(8).optional(),
    publicKeyAlgorithm: z.number().int().optional(),
    publicKey: b64url.optional(),
  }),
});
const decisionSchema = z.enum(['APPROVE', 'REJECT']);

const invalidLink = <T>(): PageOutcome<T> => ({
  ok: false,
  status: 410,
  code: 'LINK_INVALID',
  message: 'This link has expired or was already used. Ask for a new one.',
});
const problem = <T>(code: ProblemCode, message: string, status = 400): PageOutcome<T> => ({ ok: false, status, code, message });

/**
 * WebAuthn on the gateway's hosted pages (the relying party is PUBLIC_URL's host): a member
 * registers a passkey through a one-use link, and an approver approves or rejects one payment
 * through another. On the approval page the WebAuthn challenge is the SHA-256 of the payment's
 * approval document for the decision, so the assertion signs exactly that document; the link is
 * claimed by one atomic update before the decision is recorded, and the authenticator's counter
 * must grow.
 */
export class PasskeysService {
  readonly origin: string;
  readonly rpId: string;

  constructor(private readonly deps: { orm: MikroORM; approvals: ApprovalsService; audit: AuditService; publicUrl: string }) {
    const url = new URL(deps.publicUrl);
    this.origin = url.origin;
    this.rpId = url.hostname;
  }

  /** The unclaimed, unexpired link a token names, with its member (and payment). */
  async link(em: EntityManager, token: string, purpose: ApprovalLink['purpose']): Promise<ApprovalLink | null> {
    if (!/^[A-Za-z0-9_-]{20,100}$/.test(token)) return null;
    const link = await em.findOne(
      ApprovalLink,
      { tokenHash: sha256Hex(token), purpose },
      { populate: ['member', 'member.endUser', 'payment', 'payment.endUser', 'payment.tenant', 'tenant'] },
    );
    const valid = link && !link.claimedAt && link.expiresAt > new Date() ? link : null;
    // A link's page is followed by the browser's request for options: the WebAuthn code starts
    // loading now, so that request does not wait for it (a failure shows when it is awaited).
    if (valid) webauthn().catch(() => undefined);
    return valid;
  }

  // --- registration --------------------------------------------------------------------------

  async registrationOptions(em: EntityManager, token: string): Promise<PageOutcome<PublicKeyCredentialCreationOptionsJSON>> {
    const link = await this.link(em, token, 'PASSKEY_REGISTRATION');
    if (!link) return invalidLink();
    const existing = await em.find(ApproverPasskey, { member: link.member.id, revokedAt: null });
    const [{ generateRegistrationOptions }] = await webauthn();
    const options = await generateRegistrationOptions({
      rpName: 'Passerelle approvals',
      rpID: this.rpId,
      userName: link.member.email ?? link.member.name,
      userDisplayName: link.member.name,
      userID: new TextEncoder().encode(link.member.id),
      attestationType: 'none',
      excludeCredentials: existing.map((p) => ({ id: p.credentialId })),
      authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
    });
    await em.execute('update approval_link set challenge = ? where id = ? and claimed_at is null', [options.challenge, link.id]);
    return { ok: true, value: options };
  }

  async registrationFinish(em: EntityManager, token: string, body: unknown): Promise<PageOutcome<{ credentialId: string }>> {
    const link = await this.link(em, token, 'PASSKEY_REGISTRATION');
    if (!link || !link.challenge) return invalidLink();
    const parsed = responseSchema.safeParse((body as { response?: unknown } | null)?.response);
    if (!parsed.success || !parsed.data.response.attestationObject) return problem(ProblemCode.PASSKEY_INVALID, 'Not a passkey registration response.');
    const response = parsed.data as unknown as RegistrationResponseJSON;
    if (this.originOf(response.response.clientDataJSON) !== this.origin)
      return problem(ProblemCode.PASSKEY_ORIGIN_MISMATCH, 'This passkey was made for another site.');
    const [{ verifyRegistrationResponse }] = await webauthn();
    let verified: VerifiedRegistrationResponse;
    try {
      verified = await verifyRegistrationResponse({
        response,
        expectedChallenge: link.challenge,
        expectedOrigin: this.origin,
        expectedRPID: this.rpId,
        requireUserVerification: false,
      });
    } catch {
      // The library reports every verification failure as a plain Error with prose only.
      return problem(ProblemCode.PASSKEY_INVALID, 'The passkey could not be verified.');
    }
    if (!verified.verified) return problem(ProblemCode.PASSKEY_INVALID, 'The passkey could not be verified.');
    const [claimed] = await em.execute<{ id: string }[]>('update approval_link set claimed_at = now() where id = ? and claimed_at is null returning id', [
      link.id,
    ]);
    if (!claimed) return invalidLink();
    const credential = verified.registrationInfo.credential;
    const passkey = em.create(ApproverPasskey, {
      tenant: em.getReference(Tenant, link.tenant.id),
      member: link.member,
      credentialId: credential.id,
      publicKey: Buffer.from(credential.publicKey).toString('base64url'),
      counter: String(credential.counter),
      transports: (credential.transports ?? []).slice(0, 8),
    });
    this.deps.audit.add(em, {
      tenantId: link.tenant.id,
      action: AuditAction.APPROVER_PASSKEY_REGISTERED,
      actor: `member:${link.member.id}`,
      resourceType: 'ApprovalMember',
      resourceId: link.member.id,
      details: { passkeyId: passkey.id },
    });
    await em.flush();
    return { ok: true, value: { credentialId: credential.id } };
  }

  // --- approval ------------------------------------------------------------------------------

  /** What the approval page shows: the payment and the member. */
  async approvalPage(em: EntityManager, token: string): Promise<PageOutcome<{ payment: Payment; member: ApprovalMember }>> {
    const link = await this.link(em, token, 'PAYMENT_APPROVAL');
    if (!link || !link.payment) return invalidLink();
    return { ok: true, value: { payment: link.payment, member: link.member } };
  }

  /** Options whose challenge is the SHA-256 of the approval document for `decision`. */
  async approvalOptions(em: EntityManager, token: string, rawDecision: unknown): Promise<PageOutcome<PublicKeyCredentialRequestOptionsJSON>> {
    const decision = decisionSchema.safeParse(rawDecision);
    if (!decision.success) return problem(ProblemCode.INVALID, 'decision is APPROVE or REJECT.');
    const link = await this.link(em, token, 'PAYMENT_APPROVAL');
    if (!link || !link.payment) return invalidLink();
    if (link.payment.status !== 'AWAITING_APPROVAL')
      return problem(ProblemCode.INVALID_STATE, `The payment is ${link.payment.status}: it is not awaiting approval.`, 409);
    const document = await this.deps.approvals.document(em, link.payment, decision.data);
    const passkeys = await em.find(ApproverPasskey, { member: link.member.id, revokedAt: null }, { limit: 20 });
    if (!document || passkeys.length === 0) return problem(ProblemCode.PASSKEY_INVALID, 'No passkey is registered for this member.', 409);
    const [{ generateAuthenticationOptions }] = await webauthn();
    const options = await generateAuthenticationOptions({
      rpID: this.rpId,
      challenge: createHash('sha256').update(document, 'utf8').digest(),
      allowCredentials: passkeys.map((p) => ({ id: p.credentialId })),
      userVerification: 'preferred',
    });
    return { ok: true, value: options };
  }

  async approvalFinish(em: EntityManager, token: string, body: unknown): Promise<PageOutcome<{ status: string }>> {
    const decision = decisionSchema.safeParse((body as { decision?: unknown } | null)?.decision);
    if (!decision.success) return problem(ProblemCode.INVALID, 'decision is APPROVE or REJECT.');
    if (!/^[A-Za-z0-9_-]{20,100}$/.test(token)) return invalidLink();
    // Found even when claimed: a second use of a link is a replay, and says so (with its journal line).
    const link = await em.findOne(
      ApprovalLink,
      { tokenHash: sha256Hex(token), purpose: 'PAYMENT_APPROVAL' },
      { populate: ['member', 'payment', 'payment.tenant', 'payment.endUser'] },
    );
    if (!link?.payment || link.expiresAt <= new Date()) return invalidLink();
    const payment = link.payment;
    const memberId = link.member.id;
    const actor = `member:${memberId}`;
    const refuse = async (code: ProblemCode, message: string, status = 400): Promise<PageOutcome<{ status: string }>> => {
      await this.deps.approvals.refuse(em, payment, actor, memberId, decision.data, ['response'], code, message);
      return problem(code, message, status);
    };
    if (link.claimedAt) return refuse(ProblemCode.PASSKEY_REPLAYED, 'This approval link was already used.', 409);
    if (payment.status !== 'AWAITING_APPROVAL') return refuse(ProblemCode.INVALID_STATE, `The payment is ${payment.status}: it is not awaiting approval.`, 409);
    const parsed = responseSchema.safeParse((body as { response?: unknown }).response);
    if (!parsed.success || !parsed.data.response.authenticatorData || !parsed.data.response.signature)
      return refuse(ProblemCode.PASSKEY_INVALID, 'Not a passkey assertion.');
    const response = parsed.data as unknown as AuthenticationResponseJSON;
    if (this.originOf(response.response.clientDataJSON) !== this.origin)
      return refuse(ProblemCode.PASSKEY_ORIGIN_MISMATCH, 'This assertion was made for another site.');
    const passkey = await em.findOne(ApproverPasskey, { credentialId: response.id, member: memberId, revokedAt: null });
    if (!passkey) return refuse(ProblemCode.PASSKEY_INVALID, 'This passkey is not registered for this member.');
    const document = (await this.deps.approvals.document(em, payment, decision.data))!;
    const challenge = createHash('sha256').update(document, 'utf8').digest('base64url');
    const [{ verifyAuthenticationResponse }, helpers] = await webauthn();
    let verified: VerifiedAuthenticationResponse;
    try {
      verified = await verifyAuthenticationResponse({
        response,
        expectedChallenge: challenge,
        expectedOrigin: this.origin,
        expectedRPID: this.rpId,
        credential: { id: passkey.credentialId, publicKey: Buffer.from(passkey.publicKey, 'base64url'), counter: Number(passkey.counter) },
        requireUserVerification: false,
      });
    } catch (err) {
      // The library's errors are prose only: its counter check is the one that means a replay or a cloned authenticator.
      if (/counter/i.test((err as Error).message))
        return refuse(ProblemCode.PASSKEY_REPLAYED, 'The authenticator’s counter did not grow: a replayed or cloned assertion.', 409);
      if (/challenge/i.test((err as Error).message))
        return refuse(ProblemCode.SIGNATURE_DOCUMENT_MISMATCH, 'The assertion is not over this payment’s current approval document for this decision.');
      return refuse(ProblemCode.PASSKEY_INVALID, 'The assertion could not be verified.');
    }
    if (!verified.verified) return refuse(ProblemCode.PASSKEY_INVALID, 'The assertion could not be verified.');
    // One use: claimed before anything is recorded; of two concurrent submissions one gets here.
    const [claimed] = await em.execute<{ id: string }[]>(
      'update approval_link set claimed_at = now(), decision = ? where id = ? and claimed_at is null returning id',
      [decision.data, link.id],
    );
    if (!claimed) return refuse(ProblemCode.PASSKEY_REPLAYED, 'This approval link was already used.', 409);
    const newCounter = verified.authenticationInfo.newCounter;
    const [counted] = await em.execute<{ id: string }[]>(
      'update approver_passkey set counter = ? where id = ? and (counter < ? or (counter = 0 and ? = 0)) returning id',
      [newCounter, passkey.id, newCounter, newCounter],
    );
    if (!counted) return refuse(ProblemCode.PASSKEY_REPLAYED, 'The authenticator’s counter did not grow: a replayed or cloned assertion.', 409);
    const outcome = await this.deps.approvals.decide(em, payment, memberId, decision.data as ApprovalDecision, actor, {
      method: 'PASSKEY',
      credentialRef: passkey.credentialId,
      passkeyId: passkey.id,
      document,
      signature: JSON.stringify(response),
      authMethod: { kind: 'PASSKEY', credentialId: passkey.credentialId },
      proofSignature: {
        format: 'WEBAUTHN',
        value: response.response.signature,
        authenticatorData: response.response.authenticatorData,
        clientDataJSON: response.response.clientDataJSON,
        publicKey: spkiOf(helpers.decodeCredentialPublicKey, passkey.publicKey),
      },
      reason: null,
    });
    if (!outcome.ok) {
      const e = outcome.userErrors[0]!;
      return problem(e.code, e.message, 409);
    }
    return { ok: true, value: { status: outcome.value.status } };
  }

  /** The origin a client's data names (bounded, parsed before the library sees it), null when unreadable. */
  private originOf(clientDataJSON: string): string | null {
    try {
      const data = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as { origin?: unknown };
      return typeof data.origin === 'string' ? data.origin : null;
    } catch {
      // Not JSON: no origin.
      return null;
    }
  }
}

/** The passkey's COSE public key as SPKI DER (base64url), the form proof records carry; '' for key types not mapped. */
function spkiOf(decodeCredentialPublicKey: (cose: Uint8Array<ArrayBuffer>) => unknown, coseBase64url: string): string {
  const cose = decodeCredentialPublicKey(Buffer.from(coseBase64url, 'base64url')) as unknown as Map<number, number | Uint8Array>;
  const bytes = (k: number) => Buffer.from(cose.get(k) as Uint8Array).toString('base64url');
  const kty = cose.get(1);
  const jwk =
    kty === 2
      ? { kty: 'EC', crv: ({ 1: 'P-256', 2: 'P-384', 3: 'P-521' } as Record<number, string>)[cose.get(-1) as number] ?? 'P-256', x: bytes(-2), y: bytes(-3) }
      : kty === 3
        ? { kty: 'RSA', n: bytes(-1), e: bytes(-2) }
        : kty === 1
          ? { kty: 'OKP', crv: 'Ed25519', x: bytes(-2) }
          : null;
  if (!jwk) return '';
  return createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'der' }).toString('base64url');
}
