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
      const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as { issuer: string; code_challenge_methods_supported: string[]; pushed_authorization_request_endpoint: string };
      expect(discovery.issuer).toBe(issuer);
      expect(discovery.code_challenge_methods_supported).toContain('S256');
      expect(discovery.pushed_authorization_request_endpoint).toBeTruthy();
      const banks = await fetch(`${running.url}/sandbox/control/banks`, { headers: { authorization: 'Bearer standalone-token' } });
      expect(banks.status).toBe(200);
    } finally {
      await running.close();
    }
  });

  it('refuses a port that is not a number', async () => {
    await expect(startStandalone(['--port', 'http'], () => {})).rejects.toThrow(/--port/);
  });
});
