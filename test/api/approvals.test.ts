import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { authorise, control, institutionGid, RETURN_URL } from '../helpers/banking';
import { gqlData, smeTenant, type UserErrors } from '../helpers/approvals';
import { KeyUsage, makeCa, makeSigner, type TestCa, type TestSigner } from '../helpers/certificates';
import { parseGlobalId } from '../../src/api/relay/global-id';

let t: TestGateway;
let key: string;
let tenantId: string;
let endUserId: string;
let debtor: string;
let ca: TestCa;
const members: Record<string, string> = {};
const certs: Record<string, { id: string; signer: TestSigner }> = {};

interface ApprovalView {
  policyVersion: number;
  revision: number;
  required: number;
  given: number;
  remaining: number;
  document: string | null;
  documentSha256: string | null;
  rejectDocument: string | null;
  pendingApprovers: { id: string; name: string }[];
  decisions: { member: { name: string }; decision: string; method: string; revision: number }[];
}
interface PaymentView {
  id: string;
  status: string;
  terminal: boolean;
  amount: { amount: string; currency: string };
  approval: ApprovalView | null;
}

const PAYMENT_FIELDS = `id status terminal amount { amount currency }
  approval { policyVersion revision required given remaining document documentSha256 rejectDocument: document(decision: REJECT)
    pendingApprovers { id name } decisions { member { name } decision method revision } }`;

const gql = <T>(query: string, variables: Record<string, unknown> = {}) => gqlData<T>(t, key, query, variables);

beforeAll(async () => {
  t = await startTestGateway();
  ({ key, tenantId, endUserId, debtor, ca } = await smeTenant(t, 'SME platform', 'keller-gmbh'));
  for (const [name, roles] of [
    ['Rita', ['REQUESTER']],
    ['Anna', ['APPROVER']],
    ['Bernd', ['APPROVER']],
    ['Sam', ['REQUESTER', 'APPROVER']],
    ['Vera', ['VIEWER']],
  ] as const) {
    const r = await gql<{ approvalMemberCreate: { member: { id: string } | null; userErrors: UserErrors } }>(
      'mutation($input: ApprovalMemberCreateInput!) { approvalMemberCreate(input: $input) { member { id } userErrors { code } } }',
      { input: { endUserId, name, roles } },
    );
    members[name] = r.approvalMemberCreate.member!.id;
  }
  for (const name of ['Anna', 'Bernd', 'Sam', 'Vera']) {
    const signer = await makeSigner(ca, `CN=${name}, O=Keller GmbH`);
    const r = await addCertificate(members[name]!, signer.pem);
    expect(r.userErrors).toEqual([]);
    certs[name] = { id: r.certificate!.id, signer };
  }
  const policy = await gql<{ approvalPolicySet: { policy: { version: number } | null; userErrors: UserErrors } }>(
    `mutation($input: ApprovalPolicySetInput!) { approvalPolicySet(input: $input) { policy { version } userErrors { field code message } } }`,
    { input: { endUserId, rules: [{ approvals: 1 }, { amountAbove: { amount: '10000', currency: 'EUR' }, approvals: 2 }], allowSelfApproval: false } },
  );
  expect(policy.approvalPolicySet).toEqual({ policy: { version: 1 }, userErrors: [] });
});
afterAll(async () => {
  await t?.close();
});

async function addCertificate(memberId: string, pem: string) {
  return (
    await gql<{ approverCertificateAdd: { certificate: { id: string } | null; userErrors: UserErrors } }>(
      'mutation($input: ApproverCertificateAddInput!) { approverCertificateAdd(input: $input) { certificate { id } userErrors { field code message } } }',
      { input: { memberId, certificate: pem } },
    )
  ).approverCertificateAdd;
}

let keys = 0;
async function initiate(amount: string, over: Record<string, unknown> = {}, idempotencyKey = `approval-${Date.now()}-${++keys}`) {
  const input = {
    institutionId: institutionGid('nordlicht'),
    endUserId,
    scheme: 'SEPA_CREDIT_TRANSFER',
    debtorAccount: { iban: debtor },
    creditor: { name: 'Baustoffe Nord AG', iban: 'DE89370400440532013000' },
    amount: { amount, currency: 'EUR' },
    remittanceInformation: 'Invoice 2026-7781',
    redirectUri: RETURN_URL,
    requestedBy: members.Rita,
    ...over,
  };
  const r = await gql<{ paymentInitiate: { payment: PaymentView | null; authorizationUrl: string | null; userErrors: UserErrors } }>(
    `mutation($input: PaymentInitiateInput!, $key: String!) { paymentInitiate(input: $input, idempotencyKey: $key) { payment { ${PAYMENT_FIELDS} } authorizationUrl userErrors { field code message } } }`,
    { input, key: idempotencyKey },
  );
  return { ...r.paymentInitiate, idempotencyKey };
}

async function payment(id: string): Promise<PaymentView> {
  return (await gql<{ node: PaymentView }>(`query($id: ID!) { node(id: $id) { ... on Payment { ${PAYMENT_FIELDS} } } }`, { id })).node;
}

type DecisionPayload = { payment: PaymentView | null; authorizationUrl: string | null; userErrors: UserErrors };
async function approve(paymentId: string, certificateId: string, signature: string): Promise<DecisionPayload> {
  return (
    await gql<{ paymentApprove: DecisionPayload }>(
      `mutation($id: ID!, $input: PaymentApproveInput!) { paymentApprove(id: $id, input: $input) { payment { ${PAYMENT_FIELDS} } authorizationUrl userErrors { field code message } } }`,
      { id: paymentId, input: { certificateId, signature } },
    )
  ).paymentApprove;
}

/** `name` signs the payment's current approval document and sends it. */
async function approveAs(name: string, paymentId: string): Promise<DecisionPayload> {
  const doc = (await payment(paymentId)).approval!.document!;
  return approve(paymentId, certs[name]!.id, await certs[name]!.signer.sign(doc));
}

const bankPayments = async () =>
  (await control<{ payments: { id: string; status: string }[] }>(t, 'GET', '/banks/nordlicht/payments', undefined, tenantId)).payments;

async function refusals(): Promise<{ code: string }[]> {
  const r = await gql<{ auditEvents: { nodes: { details: { code: string } }[] } }>(
    '{ auditEvents(first: 100, action: PAYMENT_APPROVAL_REFUSED) { nodes { details } } }',
  );
  return r.auditEvents.nodes.map((n) => n.details);
}

async function untilStatus(id: string, wanted: string, timeoutMs = 45_000): Promise<PaymentView> {
  for (const deadline = Date.now() + timeoutMs; ;) {
    const p = await payment(id);
    if (p.status === wanted) return p;
    if (Date.now() > deadline) throw new Error(`payment stayed ${p.status}, wanted ${wanted}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('payments under an approval policy', () => {
  it('hold a payment above 10,000 EUR AWAITING_APPROVAL for two approvers, send nothing to the bank until both signed with their certificates, then run the usual bank flow to EXECUTED', async () => {
    const before = (await bankPayments()).length;
    const started = await initiate('12000.00');
    expect(started.userErrors).toEqual([]);
    const p = started.payment!;
    expect(p.status).toBe('AWAITING_APPROVAL');
    expect(started.authorizationUrl).toBeNull();
    expect(p.approval).toMatchObject({ policyVersion: 1, revision: 0, required: 2, given: 0, remaining: 2 });
    expect(p.approval!.pendingApprovers.map((m) => m.name)).toEqual(['Anna', 'Bernd', 'Sam']);
    const doc = JSON.parse(p.approval!.document!);
    expect(doc).toMatchObject({
      type: 'passerelle.payment-approval.v1',
      decision: 'APPROVE',
      amount: '12000.00',
      currency: 'EUR',
      idempotencyKey: started.idempotencyKey,
      policyVersion: 1,
      revision: 0,
    });
    expect(doc.creditor).toEqual({ name: 'Baustoffe Nord AG', iban: 'DE89370400440532013000', bic: null });
    expect((await bankPayments()).length).toBe(before);

    // The same idempotency key answers the same held payment, still without a bank call.
    const again = await initiate('12000.00', {}, started.idempotencyKey);
    expect(again.payment!.id).toBe(p.id);
    expect(again.payment!.status).toBe('AWAITING_APPROVAL');

    const first = await approveAs('Anna', p.id);
    expect(first.userErrors).toEqual([]);
    expect(first.payment!.status).toBe('AWAITING_APPROVAL');
    expect(first.payment!.approval).toMatchObject({ given: 1, remaining: 1 });
    expect(first.payment!.approval!.pendingApprovers.map((m) => m.name)).toEqual(['Bernd', 'Sam']);
    expect((await bankPayments()).length).toBe(before);

    const twice = await approveAs('Anna', p.id);
    expect(twice.userErrors.map((e) => e.code)).toEqual(['ALREADY_DECIDED']);

    // Detached JWS this time: `header..signature` over the same document.
    const detached = await certs.Bernd!.signer.sign((await payment(p.id)).approval!.document!, true);
    const second = await approve(p.id, certs.Bernd!.id, detached);
    expect(second.userErrors).toEqual([]);
    expect(second.payment!.status).toBe('AUTHORIZATION_REQUIRED');
    expect(second.authorizationUrl).toMatch(/^http/);
    expect((await bankPayments()).length).toBe(before + 1);
    expect(second.payment!.approval!.decisions.map((d) => [d.member.name, d.decision, d.method])).toEqual([
      ['Anna', 'APPROVE', 'CERTIFICATE'],
      ['Bernd', 'APPROVE', 'CERTIFICATE'],
    ]);

    const back = await authorise(t, second.authorizationUrl!, 'alice');
    expect(back.searchParams.get('outcome')).toBe('success');
    await untilStatus(p.id, 'ACCEPTED');
    await control(t, 'POST', '/banks/nordlicht/clock/advance', { seconds: 61 }, tenantId);
    await untilStatus(p.id, 'EXECUTED');

    // An event becomes readable once older transactions on the server have ended: ask again for a while.
    let mine: { type: string; payload: { paymentId: string; complete?: boolean } }[] = [];
    for (const deadline = Date.now() + 15_000; mine.length < 3 && Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
      const events = await gql<{ events: { nodes: { type: string; payload: { paymentId: string; complete?: boolean } }[] } }>(
        '{ events(first: 500, types: [PAYMENT_APPROVAL_REQUESTED, PAYMENT_APPROVED]) { nodes { type payload } } }',
      );
      mine = events.events.nodes.filter((e) => e.payload.paymentId === p.id);
    }
    expect(mine.map((e) => [e.type, e.payload.complete ?? null])).toEqual([
      ['PAYMENT_APPROVAL_REQUESTED', null],
      ['PAYMENT_APPROVED', false],
      ['PAYMENT_APPROVED', true],
    ]);
  }, 90_000);

  it('lets a payment its policy does not hold go straight to the bank, keeping the policy version it was created under', async () => {
    // A new version that holds nothing below 50,000 EUR: payments created before keep version 1.
    const held = await initiate('20000.00');
    const r = await gql<{ approvalPolicySet: { policy: { version: number } } }>(
      `mutation($input: ApprovalPolicySetInput!) { approvalPolicySet(input: $input) { policy { version } } }`,
      { input: { endUserId, rules: [{ amountAbove: { amount: '50000', currency: 'EUR' }, approvals: 1 }] } },
    );
    expect(r.approvalPolicySet.policy.version).toBe(2);
    const free = await initiate('20000.00');
    expect(free.payment!.status).toBe('AUTHORIZATION_REQUIRED');
    expect(free.authorizationUrl).toMatch(/^http/);
    expect(free.payment!.approval).toMatchObject({ policyVersion: 2, required: 0 });
    expect((await payment(held.payment!.id)).approval).toMatchObject({ policyVersion: 1, required: 2 });
    await gql(`mutation($input: ApprovalPolicySetInput!) { approvalPolicySet(input: $input) { policy { version } } }`, {
      input: { endUserId, rules: [{ approvals: 1 }, { amountAbove: { amount: '10000', currency: 'EUR' }, approvals: 2 }] },
    });
  });

  it('invalidates earlier approvals when the amount changes: the old signature no longer matches, and the new revision needs all its approvals again', async () => {
    const p = (await initiate('15000.00')).payment!;
    const oldDoc = p.approval!.document!;
    expect((await approveAs('Anna', p.id)).userErrors).toEqual([]);
    const amended = await gql<{ paymentAmend: DecisionPayload }>(
      `mutation($id: ID!) { paymentAmend(id: $id, input: { amount: "15500.00" }) { payment { ${PAYMENT_FIELDS} } userErrors { code } } }`,
      { id: p.id },
    );
    expect(amended.paymentAmend.userErrors).toEqual([]);
    expect(amended.paymentAmend.payment!.approval).toMatchObject({ revision: 1, required: 2, given: 0, remaining: 2 });
    expect(JSON.parse(amended.paymentAmend.payment!.approval!.document!)).toMatchObject({ amount: '15500.00', revision: 1 });

    const before = (await bankPayments()).length;
    const stale = await approve(p.id, certs.Bernd!.id, await certs.Bernd!.signer.sign(oldDoc));
    expect(stale.userErrors.map((e) => e.code)).toEqual(['SIGNATURE_DOCUMENT_MISMATCH']);
    expect((await approveAs('Anna', p.id)).payment!.approval).toMatchObject({ given: 1, remaining: 1 });
    expect((await bankPayments()).length).toBe(before);
  });

  it('ends a payment REJECTED_BY_APPROVER when one approver rejects it: final, never sent to the bank, and its key keeps answering it', async () => {
    const started = await initiate('11000.00');
    const p = started.payment!;
    const before = (await bankPayments()).length;
    const signature = await certs.Bernd!.signer.sign(p.approval!.rejectDocument!);
    const r = await gql<{ paymentApprovalReject: DecisionPayload }>(
      `mutation($id: ID!, $input: PaymentApprovalRejectInput!) { paymentApprovalReject(id: $id, input: $input) { payment { ${PAYMENT_FIELDS} } userErrors { code } } }`,
      { id: p.id, input: { certificateId: certs.Bernd!.id, signature, reason: 'Not ordered by us' } },
    );
    expect(r.paymentApprovalReject.userErrors).toEqual([]);
    expect(r.paymentApprovalReject.payment).toMatchObject({ status: 'REJECTED_BY_APPROVER', terminal: true });
    expect((await approve(p.id, certs.Anna!.id, await certs.Anna!.signer.sign(p.approval!.document!))).userErrors.map((e) => e.code)).toEqual([
      'INVALID_STATE',
    ]);
    expect((await initiate('11000.00', {}, started.idempotencyKey)).payment).toMatchObject({ id: p.id, status: 'REJECTED_BY_APPROVER' });
    expect((await bankPayments()).length).toBe(before);
  });

  it('releases a payment exactly once when its last two approvals arrive at the same time', async () => {
    const p = (await initiate('13000.00')).payment!;
    const before = (await bankPayments()).length;
    const doc = p.approval!.document!;
    const [a, b] = await Promise.all([
      approve(p.id, certs.Anna!.id, await certs.Anna!.signer.sign(doc)),
      approve(p.id, certs.Bernd!.id, await certs.Bernd!.signer.sign(doc)),
    ]);
    expect([...a.userErrors, ...b.userErrors]).toEqual([]);
    expect((await payment(p.id)).status).toBe('AUTHORIZATION_REQUIRED');
    expect((await bankPayments()).length).toBe(before + 1);
  });
});

describe('bad approvals', () => {
  it('refuse a signature over other bytes, a signature by another key, a requester approving their own payment and a viewer, each with a stable code, nothing approved, nothing sent and an audit line', async () => {
    const p = (await initiate('12500.00', { requestedBy: members.Sam })).payment!;
    const doc = p.approval!.document!;
    const other = doc.replace('12500.00', '1.00');
    const before = (await bankPayments()).length;
    const refusedBefore = (await refusals()).length;
    const cases: [string, Promise<DecisionPayload>][] = [
      ['SIGNATURE_DOCUMENT_MISMATCH', approve(p.id, certs.Anna!.id, await certs.Anna!.signer.sign(other))],
      ['SIGNATURE_INVALID', approve(p.id, certs.Anna!.id, await certs.Anna!.signer.sign(other, true))],
      ['SIGNATURE_INVALID', approve(p.id, certs.Anna!.id, await certs.Bernd!.signer.sign(doc))],
      ['SIGNATURE_DOCUMENT_MISMATCH', approve(p.id, certs.Anna!.id, await certs.Anna!.signer.sign(p.approval!.rejectDocument!))],
      ['SIGNATURE_INVALID', approve(p.id, certs.Anna!.id, 'not-a-jws')],
      ['SELF_APPROVAL_FORBIDDEN', approve(p.id, certs.Sam!.id, await certs.Sam!.signer.sign(doc))],
      ['NOT_AN_APPROVER', approve(p.id, certs.Vera!.id, await certs.Vera!.signer.sign(doc))],
    ];
    for (const [code, pending] of cases) {
      const r = await pending;
      expect(
        r.userErrors.map((e) => e.code),
        code,
      ).toEqual([code]);
      expect(r.payment).toBeNull();
    }
    expect((await payment(p.id)).approval).toMatchObject({ given: 0, remaining: 2 });
    expect((await bankPayments()).length).toBe(before);
    const lines = (await refusals()).slice(refusedBefore);
    expect(lines.map((l) => l.code).sort()).toEqual(cases.map(([c]) => c).sort());
  });

  it('refuse an expired, not yet valid, foreign or encryption-only certificate when added, and a revoked one when it signs', async () => {
    const day = 86_400_000;
    const expired = await makeSigner(ca, 'CN=Old Card', { notBefore: new Date(Date.now() - 30 * day), notAfter: new Date(Date.now() - day) });
    const future = await makeSigner(ca, 'CN=Future Card', { notBefore: new Date(Date.now() + day) });
    const foreign = await makeSigner(await makeCa('CN=Someone Else CA'), 'CN=Mallory');
    const encryption = await makeSigner(ca, 'CN=Encryption Only', { usages: KeyUsage.keyEncipherment });
    expect((await addCertificate(members.Anna!, expired.pem)).userErrors.map((e) => e.code)).toEqual(['CERTIFICATE_EXPIRED']);
    expect((await addCertificate(members.Anna!, future.pem)).userErrors.map((e) => e.code)).toEqual(['CERTIFICATE_NOT_YET_VALID']);
    expect((await addCertificate(members.Anna!, foreign.pem)).userErrors.map((e) => e.code)).toEqual(['CERTIFICATE_UNTRUSTED']);
    expect((await addCertificate(members.Anna!, encryption.pem)).userErrors.map((e) => e.code)).toEqual(['CERTIFICATE_KEY_USAGE']);
    expect((await addCertificate(members.Anna!, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----')).userErrors.map((e) => e.code)).toEqual([
      'CERTIFICATE_INVALID',
    ]);
    expect((await addCertificate(members.Anna!, 'x'.repeat(20_000))).userErrors.map((e) => e.code)).toEqual(['CERTIFICATE_INVALID']);
    const notCa = await gql<{ approvalCaCertificateAdd: { userErrors: UserErrors } }>(
      'mutation($c: String!) { approvalCaCertificateAdd(input: { certificate: $c }) { userErrors { code } } }',
      { c: foreign.pem },
    );
    expect(notCa.approvalCaCertificateAdd.userErrors.map((e) => e.code)).toEqual(['CERTIFICATE_INVALID']);

    const card = await makeSigner(ca, 'CN=Bernd spare card');
    const added = await addCertificate(members.Bernd!, card.pem);
    const revoked = await gql<{
      approverCertificateRevoke: { certificate: { revokedAt: string | null; revocationReason: string } | null; userErrors: UserErrors };
    }>(
      'mutation($id: ID!) { approverCertificateRevoke(id: $id, input: { reason: "card lost" }) { certificate { revokedAt revocationReason } userErrors { code } } }',
      { id: added.certificate!.id },
    );
    expect(revoked.approverCertificateRevoke.certificate).toMatchObject({ revocationReason: 'card lost' });
    const p = (await initiate('12600.00')).payment!;
    const r = await approve(p.id, added.certificate!.id, await card.sign(p.approval!.document!));
    expect(r.userErrors.map((e) => e.code)).toEqual(['CERTIFICATE_REVOKED']);
    const again = await gql<{ approverCertificateRevoke: { userErrors: UserErrors } }>(
      'mutation($id: ID!) { approverCertificateRevoke(id: $id) { userErrors { code } } }',
      { id: added.certificate!.id },
    );
    expect(again.approverCertificateRevoke.userErrors.map((e) => e.code)).toEqual(['ALREADY_REVOKED']);
    expect((await payment(p.id)).approval).toMatchObject({ given: 0 });
  });

  it('refuse a policy with unknown shapes, a zero count or a bad amount, and keep the version in force', async () => {
    const r = await gql<{ approvalPolicySet: { policy: unknown; userErrors: UserErrors } }>(
      `mutation($input: ApprovalPolicySetInput!) { approvalPolicySet(input: $input) { policy { version } userErrors { field code } } }`,
      { input: { endUserId, rules: [{ approvals: 0 }, { amountAbove: { amount: '-5', currency: 'EUR' }, approvals: 1 }] } },
    );
    expect(r.approvalPolicySet.policy).toBeNull();
    expect(r.approvalPolicySet.userErrors).toEqual([
      { field: ['input', 'rules', '0', 'approvals'], code: 'OUT_OF_RANGE' },
      { field: ['input', 'rules', '1', 'amountAbove', 'amount'], code: 'INVALID_AMOUNT' },
    ]);
    const current = await gql<{ approvalPolicy: { version: number } }>('query($id: ID!) { approvalPolicy(endUserId: $id) { version } }', { id: endUserId });
    expect(current.approvalPolicy.version).toBe(3);
  });

  it('refuse a requester who is not a member of the end user', async () => {
    const r = await initiate('50.00', { requestedBy: endUserId });
    expect(r.userErrors.map((e) => e.code)).toEqual(['NOT_FOUND']);
    expect(r.payment).toBeNull();
  });
});

describe('amending the creditor', () => {
  it('invalidates earlier approvals and judges the new creditor afresh: a new IBAN needs the policy’s extra approval, the known one again does not', async () => {
    const set = await gql<{ approvalPolicySet: { policy: { version: number } | null; userErrors: UserErrors } }>(
      `mutation($input: ApprovalPolicySetInput!) { approvalPolicySet(input: $input) { policy { version } userErrors { field code } } }`,
      {
        input: {
          endUserId,
          rules: [{ approvals: 1 }, { amountAbove: { amount: '10000', currency: 'EUR' }, approvals: 2 }, { creditor: 'NEW', approvals: 1, additional: true }],
        },
      },
    );
    expect(set.approvalPolicySet.userErrors).toEqual([]);
    // Baustoffe Nord AG was paid (EXECUTED) by the first test: a known creditor.
    const p = (await initiate('12000.00')).payment!;
    expect(p.approval).toMatchObject({ required: 2, revision: 0 });
    const oldDoc = p.approval!.document!;
    expect((await approveAs('Anna', p.id)).userErrors).toEqual([]);

    const AMEND = `mutation($id: ID!, $input: PaymentAmendInput!) { paymentAmend(id: $id, input: $input) { payment { ${PAYMENT_FIELDS} } userErrors { field code } } }`;
    const amended = await gql<{ paymentAmend: DecisionPayload }>(AMEND, {
      id: p.id,
      input: { creditor: { name: 'Neue Lieferanten GmbH', iban: 'de02 1203 0000 0000 2020 51' } },
    });
    expect(amended.paymentAmend.userErrors).toEqual([]);
    expect(amended.paymentAmend.payment!.approval).toMatchObject({ revision: 1, required: 3, given: 0, remaining: 3 });
    expect(JSON.parse(amended.paymentAmend.payment!.approval!.document!)).toMatchObject({
      creditor: { name: 'Neue Lieferanten GmbH', iban: 'DE02120300000000202051' },
      revision: 1,
    });
    const before = (await bankPayments()).length;
    expect((await approve(p.id, certs.Bernd!.id, await certs.Bernd!.signer.sign(oldDoc))).userErrors.map((e) => e.code)).toEqual([
      'SIGNATURE_DOCUMENT_MISMATCH',
    ]);

    const bad = await gql<{ paymentAmend: DecisionPayload }>(AMEND, { id: p.id, input: { creditor: { name: 'Broken', iban: 'DE00123' } } });
    expect(bad.paymentAmend.userErrors.map((e) => e.field.join('.'))).toEqual(['input.creditor.iban']);
    expect((await payment(p.id)).approval).toMatchObject({ revision: 1, required: 3 });

    const back = await gql<{ paymentAmend: DecisionPayload }>(AMEND, {
      id: p.id,
      input: { creditor: { name: 'Baustoffe Nord AG', iban: 'DE89370400440532013000' } },
    });
    expect(back.paymentAmend.payment!.approval).toMatchObject({ revision: 2, required: 2, given: 0 });
    expect((await bankPayments()).length).toBe(before);
  });
});

describe('revoked authority', () => {
  const REVOKE =
    'mutation($id: ID!) { approverCertificateRevoke(id: $id, input: { reason: "Card lost" }) { certificate { id revokedAt } userErrors { code } } }';
  const ROLES =
    'mutation($id: ID!, $input: ApprovalMemberRolesSetInput!) { approvalMemberRolesSet(id: $id, input: $input) { member { id roles } userErrors { field code } } }';
  async function secondCertificate(name: string) {
    const signer = await makeSigner(ca, `CN=${name} (card ${++keys}), O=Keller GmbH`);
    const r = await addCertificate(members[name]!, signer.pem);
    expect(r.userErrors).toEqual([]);
    return { id: r.certificate!.id, signer };
  }
  const auditDetails = async (action: string) =>
    (
      await gql<{ auditEvents: { nodes: { resourceId: string | null; details: Record<string, unknown> }[] } }>(
        'query($a: AuditAction) { auditEvents(first: 100, action: $a) { nodes { resourceId details } } }',
        { a: action },
      )
    ).auditEvents.nodes;

  it('voids the approvals a revoked certificate gave to payments still awaiting approval, refuses its signatures, and lets its member sign again with another certificate', async () => {
    const card = await secondCertificate('Bernd');
    const p = (await initiate('12100.00')).payment!;
    expect((await approve(p.id, card.id, await card.signer.sign(p.approval!.document!))).payment!.approval).toMatchObject({ given: 1, remaining: 1 });

    const revoked = await gql<{ approverCertificateRevoke: { certificate: { revokedAt: string | null } | null; userErrors: UserErrors } }>(REVOKE, {
      id: card.id,
    });
    expect(revoked.approverCertificateRevoke.userErrors).toEqual([]);
    const after = (await payment(p.id)).approval!;
    expect(after).toMatchObject({ given: 0, remaining: 2 });
    expect(after.decisions).toEqual([]);
    expect(after.pendingApprovers.map((m) => m.name)).toContain('Bernd');
    expect((await auditDetails('APPROVER_CERTIFICATE_REVOKED')).find((l) => l.resourceId === card.id)?.details.voidedApprovals).toBe(1);

    const before = (await bankPayments()).length;
    expect((await approve(p.id, card.id, await card.signer.sign(p.approval!.document!))).userErrors.map((e) => e.code)).toEqual(['CERTIFICATE_REVOKED']);
    expect((await approveAs('Bernd', p.id)).payment!.approval).toMatchObject({ given: 1, remaining: 1 });
    expect((await bankPayments()).length).toBe(before);
  });

  it('never lets a certificate revoked at the same moment as the last approval both count and be revoked: the payment is released with it or waits without it', async () => {
    const card = await secondCertificate('Bernd');
    const p = (await initiate('12150.00')).payment!;
    expect((await approveAs('Anna', p.id)).userErrors).toEqual([]);
    const signature = await card.signer.sign(p.approval!.document!);
    const [approved, revoked] = await Promise.all([
      approve(p.id, card.id, signature),
      gql<{ approverCertificateRevoke: { userErrors: UserErrors } }>(REVOKE, { id: card.id }),
    ]);
    expect(revoked.approverCertificateRevoke.userErrors).toEqual([]);
    const now = await payment(p.id);
    if (now.status === 'AWAITING_APPROVAL') {
      // The revocation came first (the signature was refused) or voided the approval it raced.
      expect(now.approval).toMatchObject({ given: 1, remaining: 1 });
    } else {
      expect(approved.userErrors).toEqual([]);
      expect(now.status).toBe('AUTHORIZATION_REQUIRED');
    }
  });

  it('revokes a passkey: listed with revokedAt, journalled, its approvals of pending payments voided; a second revoke and an unknown id are userErrors', async () => {
    const p = (await initiate('12300.00')).payment!;
    // Arranged in the database as the hosted page records them (the browser flow is approvals-passkey.test.ts).
    const passkeyId = crypto.randomUUID();
    const credentialId = `cred-${passkeyId}`;
    const bernd = parseGlobalId(members.Bernd!)!.id;
    await t.gateway.db.sql.query(
      `insert into approver_passkey (id, tenant_id, member_id, credential_id, public_key, transports, created_at) values ($1, $2, $3, $4, 'AA', '[]', now())`,
      [passkeyId, tenantId, bernd, credentialId],
    );
    await t.gateway.db.sql.query(
      `insert into payment_approval (id, tenant_id, payment_id, member_id, revision, decision, method, credential_ref, document_sha256, signature, created_at)
       values ($1, $2, $3, $4, 0, 'APPROVE', 'PASSKEY', $5, repeat('0', 64), '{}', now())`,
      [crypto.randomUUID(), tenantId, parseGlobalId(p.id)!.id, bernd, credentialId],
    );
    expect((await payment(p.id)).approval).toMatchObject({ given: 1, remaining: 1 });

    const REVOKE_PASSKEY = 'mutation($id: ID!) { approverPasskeyRevoke(id: $id) { passkey { id credentialId revokedAt } userErrors { field code } } }';
    const gid = Buffer.from(`gid://passerelle/ApproverPasskey/${passkeyId}`).toString('base64url');
    const revoked = await gql<{
      approverPasskeyRevoke: { passkey: { id: string; credentialId: string; revokedAt: string | null } | null; userErrors: UserErrors };
    }>(REVOKE_PASSKEY, { id: gid });
    expect(revoked.approverPasskeyRevoke.userErrors).toEqual([]);
    expect(revoked.approverPasskeyRevoke.passkey).toMatchObject({ id: gid, credentialId });
    expect(revoked.approverPasskeyRevoke.passkey!.revokedAt).not.toBeNull();
    expect((await payment(p.id)).approval).toMatchObject({ given: 0, remaining: 2 });
    const listed = await gql<{ node: { passkeys: { id: string; revokedAt: string | null }[] } }>(
      'query($id: ID!) { node(id: $id) { ... on ApprovalMember { passkeys { id revokedAt } } } }',
      { id: members.Bernd },
    );
    expect(listed.node.passkeys.find((k) => k.id === gid)!.revokedAt).not.toBeNull();
    expect((await auditDetails('APPROVER_PASSKEY_REVOKED')).find((l) => l.details.passkeyId === passkeyId)?.details.voidedApprovals).toBe(1);

    expect(
      (await gql<{ approverPasskeyRevoke: { userErrors: UserErrors } }>(REVOKE_PASSKEY, { id: gid })).approverPasskeyRevoke.userErrors.map((e) => e.code),
    ).toEqual(['ALREADY_REVOKED']);
    const unknown = Buffer.from(`gid://passerelle/ApproverPasskey/${crypto.randomUUID()}`).toString('base64url');
    expect(
      (await gql<{ approverPasskeyRevoke: { userErrors: UserErrors } }>(REVOKE_PASSKEY, { id: unknown })).approverPasskeyRevoke.userErrors.map((e) => e.code),
    ).toEqual(['NOT_FOUND']);
  });

  it('takes APPROVER away from a member: their pending approvals stop counting, they cannot approve, and the change is journalled; bad roles and unknown members are userErrors', async () => {
    const r = await gql<{ approvalMemberCreate: { member: { id: string } } }>(
      'mutation($input: ApprovalMemberCreateInput!) { approvalMemberCreate(input: $input) { member { id } } }',
      { input: { endUserId, name: 'Otto', roles: ['APPROVER'] } },
    );
    members.Otto = r.approvalMemberCreate.member.id;
    const otto = await secondCertificate('Otto');
    const p = (await initiate('12200.00')).payment!;
    expect((await approve(p.id, otto.id, await otto.signer.sign(p.approval!.document!))).payment!.approval).toMatchObject({ given: 1 });

    const changed = await gql<{ approvalMemberRolesSet: { member: { roles: string[] } | null; userErrors: UserErrors } }>(ROLES, {
      id: members.Otto,
      input: { roles: ['VIEWER'] },
    });
    expect(changed.approvalMemberRolesSet).toEqual({ member: { id: members.Otto, roles: ['VIEWER'] }, userErrors: [] });
    const after = (await payment(p.id)).approval!;
    expect(after).toMatchObject({ given: 0, remaining: 2 });
    expect(after.pendingApprovers.map((m) => m.name)).not.toContain('Otto');
    expect((await approve(p.id, otto.id, await otto.signer.sign(p.approval!.document!))).userErrors.map((e) => e.code)).toEqual(['NOT_AN_APPROVER']);
    expect((await auditDetails('APPROVAL_MEMBER_ROLES_CHANGED')).find((l) => l.resourceId === members.Otto)?.details).toMatchObject({
      from: 'APPROVER',
      to: 'VIEWER',
      voidedApprovals: 1,
    });

    const blank = await gql<{ approvalMemberRolesSet: { member: unknown; userErrors: UserErrors } }>(ROLES, { id: members.Otto, input: { roles: [] } });
    expect(blank.approvalMemberRolesSet).toEqual({ member: null, userErrors: [{ field: ['input', 'roles'], code: 'BLANK' }] });
    const unknown = await gql<{ approvalMemberRolesSet: { member: unknown; userErrors: UserErrors } }>(ROLES, {
      id: endUserId,
      input: { roles: ['APPROVER'] },
    });
    expect(unknown.approvalMemberRolesSet.userErrors.map((e) => e.code)).toEqual(['NOT_FOUND']);
  });
});

describe('approval lists', () => {
  it('page members and CA certificates as Relay connections (first/after, oldest first) and refuse a forged cursor', async () => {
    type Page = { nodes: { id: string }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
    const MEMBERS =
      'query($e: ID!, $first: Int, $after: String) { approvalMembers(endUserId: $e, first: $first, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } }';
    const all = (await gql<{ approvalMembers: Page }>(MEMBERS, { e: endUserId, first: 100 })).approvalMembers;
    expect(all.nodes.length).toBeGreaterThanOrEqual(5);
    expect(all.nodes.slice(0, 5).map((m) => m.id)).toEqual(['Rita', 'Anna', 'Bernd', 'Sam', 'Vera'].map((n) => members[n]));
    const first = (await gql<{ approvalMembers: Page }>(MEMBERS, { e: endUserId, first: 2 })).approvalMembers;
    expect(first.pageInfo.hasNextPage).toBe(true);
    const rest = (await gql<{ approvalMembers: Page }>(MEMBERS, { e: endUserId, first: 100, after: first.pageInfo.endCursor })).approvalMembers;
    expect([...first.nodes, ...rest.nodes].map((m) => m.id)).toEqual(all.nodes.map((m) => m.id));
    expect(rest.pageInfo.hasNextPage).toBe(false);

    const cas = await gql<{ approvalCaCertificates: Page }>('{ approvalCaCertificates(first: 10) { nodes { id } pageInfo { hasNextPage endCursor } } }');
    expect(cas.approvalCaCertificates.nodes).toHaveLength(1);
    expect(cas.approvalCaCertificates.pageInfo.hasNextPage).toBe(false);

    const forged = Buffer.from(JSON.stringify(['ApprovalMember', new Date().toISOString(), 'not-a-uuid'])).toString('base64url');
    const r = await t.gql(MEMBERS, { e: endUserId, first: 2, after: forged }, key);
    expect(r.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});

describe('payments left awaiting approval', () => {
  // Runs last in this file: a sweep fails every payment of the gateway past its time, and the
  // tests above leave some AWAITING_APPROVAL.
  const TTL_MS = 168 * 3_600_000; // APPROVAL_PENDING_TTL_HOURS' default, which this gateway runs with

  it('fail past APPROVAL_PENDING_TTL_HOURS — once, even with two sweeps at the same time — with an event and a proof record, no bank call, and no approval after; a younger one stays', async () => {
    const old = (await initiate('12500.00')).payment!;
    await new Promise((r) => setTimeout(r, 50));
    const young = (await initiate('12600.00')).payment!;
    const createdAt = async (id: string) =>
      (await gql<{ node: { createdAt: string } }>('query($id: ID!) { node(id: $id) { ... on Payment { createdAt } } }', { id })).node.createdAt;
    // The sweep's clock: `old` is just past its time, `young` (50 ms younger) not yet.
    const now = new Date(Date.parse(await createdAt(old.id)) + 1 + TTL_MS);
    expect(Date.parse(await createdAt(young.id))).toBeGreaterThan(now.getTime() - TTL_MS);
    const bankBefore = (await bankPayments()).length;

    const [a, b] = await Promise.all([t.gateway.services.payments.expireAwaitingApproval(now), t.gateway.services.payments.expireAwaitingApproval(now)]);
    expect(a.expired + b.expired).toBeGreaterThanOrEqual(1);
    expect(await payment(old.id)).toMatchObject({ status: 'FAILED', terminal: true });
    expect((await payment(young.id)).status).toBe('AWAITING_APPROVAL');
    expect(
      (await gql<{ node: { statusReason: string } }>('query($id: ID!) { node(id: $id) { ... on Payment { statusReason } } }', { id: old.id })).node
        .statusReason,
    ).toMatch(/^Not approved within 168 hours/);

    // Exactly one status change, in the log and in the proof chain, whoever of the two sweeps made it.
    const events = await t.eventsFor(key, 'PAYMENT_STATUS_CHANGED', 'paymentId', old.id, 1);
    expect(events.map((e) => e.payload.status)).toEqual(['FAILED']);
    const proofs = (
      await gql<{ proofs: { nodes: { event: string; actor: { kind: string }; document: { status?: string } }[] } }>(
        'query($s: ID!) { proofs(subjectId: $s, first: 100) { nodes { event actor { kind } document } } }',
        { s: old.id },
      )
    ).proofs.nodes;
    expect(proofs.filter((p) => p.event === 'PAYMENT_STATUS_CHANGED')).toHaveLength(1);
    expect(JSON.stringify(proofs.find((p) => p.event === 'PAYMENT_STATUS_CHANGED')!.document)).toContain('FAILED');

    // Nothing went to the bank, and a late approval finds nothing to approve.
    expect((await bankPayments()).length).toBe(bankBefore);
    expect((await approve(old.id, certs.Anna!.id, await certs.Anna!.signer.sign(old.approval!.document!))).userErrors.map((e) => e.code)).toEqual([
      'INVALID_STATE',
    ]);
    expect((await bankPayments()).length).toBe(bankBefore);
    // A second sweep at the same clock has nothing left to do for it.
    await t.gateway.services.payments.expireAwaitingApproval(now);
    expect((await payment(young.id)).status).toBe('AWAITING_APPROVAL');
  });
});
