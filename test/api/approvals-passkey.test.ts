import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { CHROMIUM, hasChromium, launchChromium } from '../helpers/chromium';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { authorise, control, institutionGid, RETURN_URL } from '../helpers/banking';
import { gqlData, smeTenant, type UserErrors } from '../helpers/approvals';
import { makeSigner, type TestCa, type TestSigner } from '../helpers/certificates';
import { verifyProofExport } from '../../src/modules/proofs/proof-verify';

let t: TestGateway;
let browser: Browser | undefined;
let key: string;
let tenantId: string;
let endUserId: string;
let debtor: string;
const members: Record<string, string> = {};
let anna: { id: string; signer: TestSigner };

const gql = <T>(query: string, variables: Record<string, unknown> = {}) => gqlData<T>(t, key, query, variables);

beforeAll(async () => {
  t = await startTestGateway();
  let ca: TestCa;
  ({ key, tenantId, endUserId, debtor, ca } = await smeTenant(t, 'Passkey SME platform', 'moser-kg'));
  for (const [name, roles] of [
    ['Rita', ['REQUESTER']],
    ['Anna', ['APPROVER']],
    ['Carl', ['APPROVER']],
  ] as const) {
    const r = await gql<{ approvalMemberCreate: { member: { id: string } } }>(
      'mutation($input: ApprovalMemberCreateInput!) { approvalMemberCreate(input: $input) { member { id } } }',
      { input: { endUserId, name, roles } },
    );
    members[name] = r.approvalMemberCreate.member.id;
  }
  const signer = await makeSigner(ca, 'CN=Anna, O=Moser KG');
  const cert = await gql<{ approverCertificateAdd: { certificate: { id: string } } }>(
    'mutation($input: ApproverCertificateAddInput!) { approverCertificateAdd(input: $input) { certificate { id } } }',
    { input: { memberId: members.Anna, certificate: signer.pem } },
  );
  anna = { id: cert.approverCertificateAdd.certificate.id, signer };
  await gql('mutation($input: ApprovalPolicySetInput!) { approvalPolicySet(input: $input) { policy { version } } }', {
    input: { endUserId, rules: [{ amountAbove: { amount: '10000', currency: 'EUR' }, approvals: 2 }] },
  });
  if (hasChromium) browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
});

let n = 0;
async function initiate(amount: string, idempotencyKey = `passkey-${Date.now()}-${++n}`) {
  const r = await gql<{
    paymentInitiate: {
      payment: { id: string; status: string; approval: { document: string } } | null;
      authorizationUrl: string | null;
      userErrors: UserErrors;
    };
  }>(
    `mutation($input: PaymentInitiateInput!, $key: String!) { paymentInitiate(input: $input, idempotencyKey: $key) { payment { id status approval { document } } authorizationUrl userErrors { code } } }`,
    {
      input: {
        institutionId: institutionGid('nordlicht'),
        endUserId,
        scheme: 'SEPA_CREDIT_TRANSFER',
        debtorAccount: { iban: debtor },
        creditor: { name: 'Holzhandel Süd GmbH', iban: 'DE89370400440532013000' },
        amount: { amount, currency: 'EUR' },
        remittanceInformation: 'Order 4471',
        redirectUri: RETURN_URL,
        requestedBy: members.Rita,
      },
      key: idempotencyKey,
    },
  );
  return { ...r.paymentInitiate, idempotencyKey };
}

async function approvalOf(id: string) {
  return (
    await gql<{ node: { status: string; approval: { given: number; remaining: number; decisions: { member: { name: string }; method: string }[] } } }>(
      'query($id: ID!) { node(id: $id) { ... on Payment { status approval { given remaining decisions { member { name } method } } } } }',
      { id },
    )
  ).node;
}

async function approvalLink(paymentId: string, memberId: string): Promise<string> {
  const r = await gql<{ paymentApprovalLinkCreate: { url: string | null; userErrors: UserErrors } }>(
    'mutation($id: ID!, $m: ID!) { paymentApprovalLinkCreate(id: $id, input: { memberId: $m }) { url userErrors { code } } }',
    { id: paymentId, m: memberId },
  );
  expect(r.paymentApprovalLinkCreate.userErrors).toEqual([]);
  return r.paymentApprovalLinkCreate.url!;
}

/** A page with Chromium's virtual authenticator (CDP WebAuthn domain): a platform passkey that always consents. */
async function pageWithAuthenticator(): Promise<Page> {
  const page = await browser!.newPage();
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return page;
}

async function resultOf(page: Page): Promise<{ code: string; text: string }> {
  const el = await page.waitForSelector('#result[data-code]', { timeout: 20_000 });
  return { code: (await el.getAttribute('data-code'))!, text: (await el.textContent())! };
}

/** Posts to a hosted page as a script on another site would (the gateway's JSON endpoints). */
async function post(url: string, body: unknown): Promise<{ status: number; body: { userErrors?: UserErrors; status?: string } }> {
  const r = await fetch(url.replace(t.gateway.publicUrl, t.gateway.baseUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as { userErrors?: UserErrors } };
}

describe('approvals with a passkey in a real browser', () => {
  if (!hasChromium) console.warn(`skipped: ${CHROMIUM} is missing (apt-get install chromium)`);

  it.skipIf(!hasChromium)(
    'approve a two-approver payment once with a certificate over the API and once with a passkey on the hosted page, then initiate and execute it at the sandbox bank; a replayed or foreign-origin assertion is refused',
    async () => {
      const page = await pageWithAuthenticator();
      try {
        // Carl registers a passkey on the hosted page; the link is one-use.
        const link = await gql<{ approverPasskeyRegistrationLinkCreate: { url: string } }>(
          'mutation($m: ID!) { approverPasskeyRegistrationLinkCreate(input: { memberId: $m }) { url } }',
          { m: members.Carl },
        );
        const registerUrl = link.approverPasskeyRegistrationLinkCreate.url;
        const shown = await page.goto(registerUrl);
        expect(shown!.headers()['content-security-policy']).toContain("script-src 'self'");
        await page.click('#register');
        expect(await resultOf(page)).toEqual({ code: 'OK', text: 'Your passkey is registered.' });
        expect((await page.goto(registerUrl))!.status()).toBe(410);

        const started = await initiate('12000.00');
        expect(started.payment!.status).toBe('AWAITING_APPROVAL');
        const bankBefore = (await control<{ payments: unknown[] }>(t, 'GET', '/banks/nordlicht/payments', undefined, tenantId)).payments.length;

        // Anna signs over the API with her certificate.
        const byCert = await gql<{ paymentApprove: { userErrors: UserErrors } }>(
          'mutation($id: ID!, $input: PaymentApproveInput!) { paymentApprove(id: $id, input: $input) { userErrors { code } } }',
          {
            id: started.payment!.id,
            input: { certificateId: anna.id, signature: await anna.signer.sign(started.payment!.approval.document) },
          },
        );
        expect(byCert.paymentApprove.userErrors).toEqual([]);

        // Carl approves on the hosted page with his passkey; the assertion the page sends is kept to replay.
        const approveUrl = await approvalLink(started.payment!.id, members.Carl!);
        let sent: { decision: string; response: { response: { clientDataJSON: string } } } | undefined;
        page.on('request', (req) => {
          if (req.method() === 'POST' && req.url() === approveUrl) sent = req.postDataJSON();
        });
        await page.goto(approveUrl);
        expect(await page.textContent('#amount')).toBe('12000.00 EUR');
        await page.click('#approve');
        const done = await resultOf(page);
        expect(done.code).toBe('OK');
        const approved = await approvalOf(started.payment!.id);
        expect(approved.status).toBe('AUTHORIZATION_REQUIRED');
        expect(approved.approval.decisions.map((d) => [d.member.name, d.method])).toEqual([
          ['Anna', 'CERTIFICATE'],
          ['Carl', 'PASSKEY'],
        ]);
        const clientData = JSON.parse(Buffer.from(sent!.response.response.clientDataJSON, 'base64url').toString('utf8')) as {
          challenge: string;
          origin: string;
        };
        expect(clientData.origin).toBe(t.gateway.publicUrl);

        // Both decisions are proof records whose signatures an offline verifier checks: the JWS with the certificate, the assertion with the passkey's key.
        const proofs = await gql<{ proofs: { nodes: { id: string; event: string; authMethod: { kind: string } }[] } }>(
          'query($s: ID!) { proofs(subjectId: $s, first: 100) { nodes { id event authMethod { kind } } } }',
          { s: started.payment!.id },
        );
        const decisions = proofs.proofs.nodes.filter((r) => r.event === 'PAYMENT_APPROVED');
        expect(decisions.map((r) => r.authMethod.kind)).toEqual(['CERTIFICATE', 'PASSKEY']);
        for (const record of decisions) {
          const file = await gql<{ proofExport: { content: string } }>('query($id: ID!) { proofExport(id: $id) { content } }', { id: record.id });
          const verdict = await verifyProofExport(JSON.parse(file.proofExport.content));
          expect(verdict, record.authMethod.kind).toMatchObject({ ok: true, signaturesChecked: expect.any(Number) });
          expect(verdict.ok && verdict.signaturesChecked, record.authMethod.kind).toBeGreaterThanOrEqual(1);
        }

        // Replayed on the same link: already used.
        const replayed = await post(approveUrl, sent);
        expect(replayed.status).toBe(409);
        expect(replayed.body.userErrors![0]!.code).toBe('PASSKEY_REPLAYED');

        // The same assertion on another payment's link signs another document.
        const other = await initiate('15000.00');
        const otherUrl = await approvalLink(other.payment!.id, members.Carl!);
        expect((await post(otherUrl, sent)).body.userErrors![0]!.code).toBe('SIGNATURE_DOCUMENT_MISMATCH');
        // An assertion made for another origin.
        const foreign = structuredClone(sent!);
        foreign.response.response.clientDataJSON = Buffer.from(JSON.stringify({ ...clientData, origin: 'https://evil.example' })).toString('base64url');
        expect((await post(otherUrl, foreign)).body.userErrors![0]!.code).toBe('PASSKEY_ORIGIN_MISMATCH');
        expect((await approvalOf(other.payment!.id)).approval).toMatchObject({ given: 0, remaining: 2 });
        const refused = await gql<{ auditEvents: { nodes: { resourceId: string; details: { code: string } }[] } }>(
          '{ auditEvents(first: 100, action: PAYMENT_APPROVAL_REFUSED) { nodes { resourceId details } } }',
        );
        expect(refused.auditEvents.nodes.map((a) => a.details.code).sort()).toEqual([
          'PASSKEY_ORIGIN_MISMATCH',
          'PASSKEY_REPLAYED',
          'SIGNATURE_DOCUMENT_MISMATCH',
        ]);

        // Released to the bank: the developer's same idempotency key hands out the bank's link; the usual flow follows.
        const bankNow = (await control<{ payments: unknown[] }>(t, 'GET', '/banks/nordlicht/payments', undefined, tenantId)).payments.length;
        expect(bankNow).toBe(bankBefore + 1);
        const again = await initiate('12000.00', started.idempotencyKey);
        expect(again.authorizationUrl).toMatch(/^http/);
        const back = await authorise(t, again.authorizationUrl!, 'alice');
        expect(back.searchParams.get('outcome')).toBe('success');
        for (const deadline = Date.now() + 30_000; (await approvalOf(started.payment!.id)).status !== 'ACCEPTED';) {
          if (Date.now() > deadline) throw new Error('never ACCEPTED');
          await new Promise((r) => setTimeout(r, 250));
        }
        await control(t, 'POST', '/banks/nordlicht/clock/advance', { seconds: 61 }, tenantId);
        for (const deadline = Date.now() + 30_000; (await approvalOf(started.payment!.id)).status !== 'EXECUTED';) {
          if (Date.now() > deadline) throw new Error('never EXECUTED');
          await new Promise((r) => setTimeout(r, 250));
        }
      } finally {
        await page.close();
      }
    },
    120_000,
  );
});
