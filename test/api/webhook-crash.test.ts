import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { MiniBrowser } from '../../sandbox/testing/harness';
import { institutionGid, RETURN_URL, user } from '../helpers/banking';
import { kill, processGatewaySetup, startGatewayProcess, type ProcessGatewaySetup } from '../helpers/process';

/**
 * A real crash between commit and delivery: the gateway process is SIGKILLed while the receiver
 * holds its first webhook request open; a new process on the same database sends everything.
 */
describe('a gateway killed while delivering webhooks', { timeout: 240_000 }, () => {
  let setup: ProcessGatewaySetup;
  let child: ChildProcess | undefined;
  let receiver: http.Server;
  const received: { id: string; body: string; headers: Record<string, string>; answered: boolean }[] = [];

  beforeAll(async () => {
    setup = await processGatewaySetup('hook-crash', { WEBHOOK_TIMEOUT_MS: '1000' });
    // Holds the very first request open for ever (the process dies before it can time out); answers 204 after.
    receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += String(c)));
      req.on('end', () => {
        const headers = {
          'webhook-id': String(req.headers['webhook-id']),
          'webhook-timestamp': String(req.headers['webhook-timestamp']),
          'webhook-signature': String(req.headers['webhook-signature']),
        };
        const first = received.length === 0;
        received.push({ id: headers['webhook-id'], body, headers, answered: !first });
        if (!first) res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  });
  afterAll(async () => {
    if (child) await kill(child);
    receiver?.closeAllConnections();
    receiver?.close();
    await setup?.cleanup();
  });

  const gql = <T>(query: string, variables: Record<string, unknown> = {}) => setup.gql<T>(query, variables);
  async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000) {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  it('loses nothing: every event is acknowledged (repeats share their webhook-id), the interrupted one included, and all verify', async () => {
    child = await startGatewayProcess(setup.env);
    const hook = await gql<{ webhookEndpointCreate: { secret: string } }>(
      'mutation($url: String!) { webhookEndpointCreate(input: { url: $url, eventTypes: [CONSENT_ACTIVATED, ACCOUNT_DISCOVERED, TRANSACTIONS_ADDED, BALANCE_UPDATED] }) { secret } }',
      { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks` },
    );
    const u = await gql<{ endUserCreate: { endUser: { id: string } } }>('mutation { endUserCreate(input: { externalRef: "hook-crash" }) { endUser { id } } }');
    const created = await gql<{ consentCreate: { authorizationUrl: string } }>(
      'mutation($input: ConsentCreateInput!) { consentCreate(input: $input) { authorizationUrl } }',
      {
        input: {
          endUserId: u.endUserCreate.endUser.id,
          institutionId: institutionGid('nordlicht'),
          scopes: ['ACCOUNTS', 'BALANCES', 'TRANSACTIONS'],
          redirectUri: RETURN_URL,
        },
      },
    );
    const browser = new MiniBrowser();
    const callback = `http://localhost:${setup.port}/callback`;
    let back = await browser.go(created.consentCreate.authorizationUrl, {}, callback);
    back ??= await browser.authenticate('alice', user('alice').otp, callback);
    expect(await browser.go(back!.replace('localhost', '127.0.0.1'), {}, RETURN_URL)).toContain('outcome=success');

    await until(() => received.length > 0, 'the first webhook request');
    await kill(child); // committed events, one request in flight, the rest not sent
    child = await startGatewayProcess(setup.env);

    const types = '[CONSENT_ACTIVATED, ACCOUNT_DISCOVERED, TRANSACTIONS_ADDED, BALANCE_UPDATED]';
    const expected = async () =>
      (await gql<{ events: { nodes: { id: string }[] } }>(`{ events(first: 500, types: ${types}) { nodes { id } } }`)).events.nodes.map((e) => e.id);
    const pending = async () =>
      (await gql<{ webhookDeliveries: { nodes: unknown[] } }>('{ webhookDeliveries(status: PENDING) { nodes { id } } }')).webhookDeliveries.nodes.length;
    // The consent's syncs finish after the restart; then every delivery settles (the interrupted lane after its lease).
    await until(
      async () => {
        const n = (await expected()).length;
        if (n < 4 || (await pending()) > 0) return false;
        await new Promise((r) => setTimeout(r, 2000)); // quiet for a while: the syncs are done too
        return (await expected()).length === n && (await pending()) === 0;
      },
      'every delivery settled',
      90_000,
    );
    // At least once: a request the receiver answered just before the kill, but whose answer the dead
    // process never recorded, is sent again — a receiver that drops repeated webhook-ids sees each event once.
    const acknowledged = new Set(received.filter((r) => r.answered).map((r) => r.id));
    expect([...acknowledged].sort()).toEqual((await expected()).sort());
    expect(acknowledged).toContain(received[0]!.id); // the request cut by the crash was sent again
    for (const r of received) new Webhook(hook.webhookEndpointCreate.secret).verify(r.body, r.headers);
  });
});
