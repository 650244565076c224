import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { CHROMIUM, hasChromium, launchChromium } from '../helpers/chromium';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { control, institutionGid } from '../helpers/banking';
import { readmeTabTitles } from '../helpers/readme';

let t: TestGateway;
let browser: Browser | undefined;
let app: http.Server;
let appUrl: string;

beforeAll(async () => {
  t = await startTestGateway();
  // The developer's app the end user returns to.
  app = http.createServer((req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(`<h1 id="done">Back in the app</h1><p>${req.url}</p>`));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  appUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}/back-in-app`;
  if (hasChromium) browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await new Promise((r) => app?.close(r));
  await t?.close();
});

/** Alice at the bank's login and one-time-code pages (the code shown in sandbox mode), until the bank and the gateway send her back to the app. */
async function signInAtBank(page: Page): Promise<URL> {
  await page.waitForSelector('#username');
  await page.fill('#username', 'alice');
  await page.fill('#password', 'sandbox');
  await page.click('#submit');
  await page.waitForSelector('#code');
  await page.fill('#code', (await page.textContent('#sandbox-code code'))!.trim());
  await Promise.all([page.waitForURL((url) => url.href.startsWith(appUrl)), page.click('#submit')]);
  return new URL(page.url());
}

describe('the end user in a real browser', () => {
  if (!hasChromium) console.warn(`skipped: ${CHROMIUM} is missing (apt-get install chromium)`);

  it.skipIf(!hasChromium)(
    'takes the end user from the hosted connect page through the bank’s login and code pages back to the app, with an ACTIVE consent',
    async () => {
      const { key } = await t.createTenant('Browser app');
      const u = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
        'mutation { endUserCreate(input: { externalRef: "browser-psu" }) { endUser { id } } }',
        {},
        key,
      );
      const created = await t.gql<{ consentCreate: { consent: { id: string }; authorizationUrl: string; userErrors: unknown[] } }>(
        `mutation($input: ConsentCreateInput!) { consentCreate(input: $input) { consent { id } authorizationUrl userErrors { code } } }`,
        { input: { endUserId: u.body.data!.endUserCreate.endUser.id, scopes: ['ACCOUNTS', 'TRANSACTIONS'], redirectUri: appUrl } },
        key,
      );
      const { consent, authorizationUrl, userErrors } = created.body.data!.consentCreate;
      expect(userErrors).toEqual([]);

      const page = await browser!.newPage();
      try {
        await page.goto(authorizationUrl);
        await page.fill('input[name=search]', 'Thames');
        await Promise.all([page.waitForURL(/search=Thames/), page.click('form.search button')]);
        await page.click('button:has-text("Thames & Harbour Bank")');
        const back = await signInAtBank(page);
        expect(back.searchParams.get('outcome')).toBe('success');
        expect(back.searchParams.get('consentId')).toBe(consent.id);
        expect(await page.textContent('#done')).toBe('Back in the app');
      } finally {
        await page.close();
      }
      const c = await t.gql<{ node: { status: string; accounts: unknown[] } }>(
        'query($id: ID!) { node(id: $id) { ... on Consent { status accounts { id } } } }',
        { id: consent.id },
        key,
      );
      expect(c.body.data!.node.status).toBe('ACTIVE');
      expect(c.body.data!.node.accounts.length).toBeGreaterThan(0);
    },
  );

  it.skipIf(!hasChromium)(
    'takes the end user through the bank’s login and code pages back to the app with outcome=success, and the payment reaches EXECUTED',
    async () => {
      const { key, tenantId } = await t.createTenant('Browser payer');
      const u = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
        'mutation { endUserCreate(input: { externalRef: "browser-payer" }) { endUser { id } } }',
        {},
        key,
      );
      const accounts = await control<{ accounts: { iban: string | null; kind: string }[] }>(
        t,
        'GET',
        '/banks/rivage/users/alice/accounts',
        undefined,
        tenantId,
      );
      const started = await t.gql<{ paymentInitiate: { payment: { id: string }; authorizationUrl: string; userErrors: unknown[] } }>(
        `mutation($input: PaymentInitiateInput!) { paymentInitiate(input: $input, idempotencyKey: "browser-1") { payment { id } authorizationUrl userErrors { code } } }`,
        {
          input: {
            institutionId: institutionGid('rivage'),
            endUserId: u.body.data!.endUserCreate.endUser.id,
            scheme: 'SEPA_CREDIT_TRANSFER',
            debtorAccount: { iban: accounts.accounts.find((a) => a.iban && a.kind !== 'CARD')!.iban },
            creditor: { name: 'Keller Bau GmbH', iban: 'FR1420041010050500013M02606' },
            amount: { amount: '42.00', currency: 'EUR' },
            remittanceInformation: 'Invoice 77',
            redirectUri: appUrl,
          },
        },
        key,
      );
      const { payment, authorizationUrl, userErrors } = started.body.data!.paymentInitiate;
      expect(userErrors).toEqual([]);

      const page = await browser!.newPage();
      try {
        await page.goto(authorizationUrl);
        const back = await signInAtBank(page);
        expect(back.searchParams.get('outcome')).toBe('success');
        expect(back.searchParams.get('paymentId')).toBe(payment.id);
        expect(await page.textContent('#done')).toBe('Back in the app');
      } finally {
        await page.close();
      }
      await control(t, 'POST', '/banks/rivage/clock/advance', { seconds: 61 }, tenantId);
      const deadline = Date.now() + 45_000;
      let status = '';
      while (status !== 'EXECUTED' && Date.now() < deadline) {
        const r = await t.gql<{ node: { status: string } }>('query($id: ID!) { node(id: $id) { ... on Payment { status } } }', { id: payment.id }, key);
        status = r.body.data!.node.status;
        if (status !== 'EXECUTED') await new Promise((r) => setTimeout(r, 250));
      }
      expect(status).toBe('EXECUTED');
    },
    90_000,
  );
});

describe('GraphiQL in a real browser', () => {
  it.skipIf(!hasChromium)(
    'loads under its content security policy with no CSP violation in the console (its fonts are data: URLs)',
    async () => {
      const page = await browser!.newPage();
      const problems: string[] = [];
      page.on('console', (m) => void (/Content Security Policy|Refused to/i.test(m.text()) && problems.push(m.text())));
      page.on('pageerror', (e) => void problems.push(e.message));
      try {
        await page.goto(t.gateway.graphqlUrl);
        await page.waitForSelector('.graphiql-tab');
        await page.evaluate(() => document.fonts.ready.then(() => undefined));
        await page.waitForTimeout(500);
        expect(problems).toEqual([]);
      } finally {
        await page.close();
      }
    },
    60_000,
  );

  it.skipIf(!hasChromium)(
    'opens with the walkthrough’s example operations as tabs, and runs one of them against this gateway',
    async () => {
      const { key } = await t.createTenant('GraphiQL visitor');
      const page = await browser!.newPage();
      try {
        await page.goto(t.gateway.graphqlUrl);
        await page.waitForSelector('.graphiql-tab');
        const titles = (await page.locator('.graphiql-tab .graphiql-tab-button').allTextContents()).map((s) => s.trim());
        expect(titles).toEqual([
          'Viewer',
          'Accounts',
          'CreateWebhookEndpoint',
          'InitiatePayment',
          'FollowEvents',
          'CreateExpectedPayment',
          'PaymentProofs',
          'AddMember',
          'SetHandle',
        ]);
        expect(titles, 'the tabs the README lists').toEqual(readmeTabTitles());
        // The second tab's operations, with a real key typed into the headers, as a developer would.
        await page.locator('.graphiql-tab').nth(1).click();
        await page.waitForFunction(() => document.querySelector('.graphiql-query-editor')?.textContent?.includes('TransactionsSync'));
        await page.click('button:has-text("Headers")');
        const headers = page.locator('.graphiql-editor-tool .CodeMirror').last();
        await headers.click();
        await page.keyboard.press('Control+A');
        await page.keyboard.type(JSON.stringify({ Authorization: `Bearer ${key}` }));
        await page.click('.graphiql-execute-button');
        await page.getByRole('menuitem', { name: 'Accounts', exact: true }).click(); // the tab holds several operations: pick one
        await page.waitForFunction(() => document.querySelector('.graphiql-response')?.textContent?.includes('"nodes"'));
        expect(await page.textContent('.graphiql-response')).toContain('"accounts"');
      } finally {
        await page.close();
      }
    },
    60_000,
  );
});
