import { describe, expect, it } from 'vitest';
import { startStandalone } from './standalone';

describe('the standalone sandbox server', () => {
  it('starts from command-line arguments, prints banks, clients and the admin token, and serves discovery', async () => {
    let printed = '';
    const running = await startStandalone(['--port', '0', '--admin-token', 'standalone-token', '--seed', '3', '--log-level', 'silent'], (t) => {
      printed += t;
    });
    try {
      expect(printed).toContain('Control API:');
      expect(printed).toContain('Bearer standalone-token');
      expect(printed).toContain('passerelle-nordlicht');
      expect(printed).toContain('alice');
      const issuer = running.sandbox.banks.find((b) => b.id === 'thames')!.issuer;
      const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as {
        issuer: string;
        code_challenge_methods_supported: string[];
        pushed_authorization_request_endpoint: string;
      };
      expect(discovery.issuer).toBe(issuer);
      expect(discovery.code_challenge_methods_supported).toContain('S256');
      expect(discovery.pushed_authorization_request_endpoint).toBeTruthy();
      const banks = await fetch(`${running.url}/sandbox/control/banks`, { headers: { authorization: 'Bearer standalone-token' } });
      expect(banks.status).toBe(200);
    } finally {
      await running.close();
    }
  });

  it('completes an SCA headlessly through its listen address when its public URL is a name only browsers reach (the compose set-up)', async () => {
    // passerelle.invalid never resolves: every page the walk visits must be fetched at the listen address.
    const running = await startStandalone(
      ['--port', '0', '--host', '127.0.0.1', '--public-url', 'http://passerelle.invalid:4000', '--admin-token', 'standalone-token', '--log-level', 'silent'],
      () => {},
    );
    try {
      const api = `${running.listenUrl}/sandbox/banks/nordlicht/api/v1/consents`;
      const back = 'http://127.0.0.1:3999/back?flow=redirect';
      const created = await fetch(api, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': crypto.randomUUID(), 'tpp-redirect-uri': back, 'psu-ip-address': '192.0.2.10' },
        body: JSON.stringify({
          access: { allPsd2: 'allAccounts' },
          recurringIndicator: true,
          validUntil: '2027-03-01',
          frequencyPerDay: 4,
          combinedServiceIndicator: false,
        }),
      });
      expect(created.status).toBe(201);
      const scaRedirect = ((await created.json()) as { _links: { scaRedirect: { href: string } } })._links.scaRedirect.href;
      expect(scaRedirect.startsWith('http://passerelle.invalid:4000/sandbox/')).toBe(true);
      const done = await fetch(`${running.listenUrl}/sandbox/control/sca/complete`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer standalone-token' },
        body: JSON.stringify({ url: scaRedirect, username: 'alice', decision: 'approve' }),
      });
      expect(done.status).toBe(200);
      expect(((await done.json()) as { redirectTo: string }).redirectTo).toBe(back);
    } finally {
      await running.close();
    }
  });

  it('refuses a port that is not a number', async () => {
    await expect(startStandalone(['--port', 'http'], () => {})).rejects.toThrow(/--port/);
  });
});
