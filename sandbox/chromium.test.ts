import { randomUUID } from 'node:crypto';
import * as oidc from 'openid-client';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpecValidator } from './testing/spec-validator';
import { oauthClient, startSandbox, type Running } from './testing/harness';
import { CHROMIUM, hasChromium, launchChromium } from '../test/helpers/chromium';
const spec = new SpecValidator('uk-obie-3.1.11-account-info.yaml');

let run: Running;
let browser: Browser | undefined;
beforeAll(async () => {
  run = await startSandbox();
  if (hasChromium) browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await run?.close();
});

describe('the SCA pages in a real browser', () => {
  if (!hasChromium) console.warn(`skipped: ${CHROMIUM} is missing (apt-get install chromium)`);

  it.skipIf(!hasChromium)('completes the UK consent flow in headless Chromium: login page, code page, redirect with code, token, data', async () => {
    const config = await oauthClient(run, 'thames');
    const cc = await oidc.clientCredentialsGrant(config, { scope: 'accounts' });
    const consentRes = await fetch(`${run.bank('thames').aisBaseUrl}/account-access-consents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${cc.access_token}`, 'content-type': 'application/json', 'x-fapi-interaction-id': randomUUID() },
      body: JSON.stringify({ Data: { Permissions: ['ReadAccountsDetail', 'ReadBalances', 'ReadTransactionsDetail'] }, Risk: {} }),
    });
    const consentId = ((await consentRes.json()) as { Data: { ConsentId: string } }).Data.ConsentId;

    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = await oidc.buildAuthorizationUrlWithPAR(config, {
      redirect_uri: run.callback,
      scope: 'openid accounts',
      claims: JSON.stringify({ id_token: { openbanking_intent_id: { value: consentId, essential: true } } }),
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    });

    const page = await browser!.newPage();
    try {
      await page.goto(url.toString());
      await page.fill('#username', 'alice');
      await page.fill('#password', 'sandbox');
      await page.click('#submit');
      await page.waitForSelector('#code');
      // Sandbox mode shows the user's one-time code on the page.
      const code = (await page.textContent('#sandbox-code code'))!.trim();
      expect(code).toBe('123456');
      await page.fill('#code', code);
      await Promise.all([page.waitForURL((u) => u.href.startsWith(run.callback)), page.click('#submit')]);
      const tokens = await oidc.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: verifier, expectedState: state });
      const accounts = await fetch(`${run.bank('thames').aisBaseUrl}/accounts`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      const body = await accounts.json();
      spec.assert('GET', '/accounts', accounts.status, body);
      expect((body as { Data: { Account: unknown[] } }).Data.Account).toHaveLength(3);
    } finally {
      await page.close();
    }
  });
});
