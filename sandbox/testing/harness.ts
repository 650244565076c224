import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import * as oidc from 'openid-client';
import { MiniBrowser } from '../core/headless';
import { createSandbox, type Lenience, type Sandbox, type SandboxBankInfo } from '../index';

// The cookie-keeping browser is production code (the control API's headless SCA uses it); tests import it from here.
export { MiniBrowser };

export const ADMIN_TOKEN = 'test-admin-token';
/** A fixed start for every bank clock so data is identical across runs. */
export const TEST_NOW = new Date('2026-11-20T09:30:00Z');

export interface Running {
  url: string;
  sandbox: Sandbox;
  bank(id: string): SandboxBankInfo;
  callback: string;
  /** The control API of the default banks, or of one partition of them (`partitionName`). */
  control<T = Record<string, unknown>>(method: string, path: string, body?: unknown, partition?: string): Promise<{ status: number; body: T }>;
  close(): Promise<void>;
}

/**
 * Starts the sandbox mounted at /sandbox on a real server on 127.0.0.1, port 0. `publicUrl`: where
 * clients reach it instead (e.g. an HTTPS proxy in front), which its OAuth issuers, links and
 * registered callback then name; `url` and `control` stay on the server itself.
 */
export async function startSandbox(
  opts: {
    seed?: number;
    now?: Date;
    clientJwks?: { keys: Record<string, unknown>[] };
    publicUrl?: string;
    lenient?: Record<string, Lenience>;
    maxPartitions?: number;
  } = {},
): Promise<Running> {
  const app = express();
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const sandbox = createSandbox({
    publicUrl: opts.publicUrl ?? url,
    selfUrl: url,
    adminToken: ADMIN_TOKEN,
    seed: opts.seed ?? 7,
    now: opts.now ?? TEST_NOW,
    clientJwks: opts.clientJwks,
    lenient: opts.lenient,
    maxPartitions: opts.maxPartitions,
  });
  app.use('/sandbox', sandbox.router);
  // Set-up builds the banks, as a server would before it listens: no test's first request pays for it.
  await sandbox.ready();
  return {
    url,
    sandbox,
    callback: `${url}/callback`,
    bank: (id) => {
      const b = sandbox.banks.find((x) => x.id === id);
      if (!b) throw new Error(`no bank ${id}`);
      return b;
    },
    async control(method, path, body, partition) {
      const res = await fetch(`${url}/sandbox${partition ? `/t/${partition}` : ''}/control${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : {} };
    },
    async close() {
      await sandbox.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** openid-client configuration for a sandbox bank (http issuer: allowInsecureRequests, sandbox only). */
export async function oauthClient(run: Running, bankId: string): Promise<oidc.Configuration> {
  const bank = run.bank(bankId);
  const creds = run.sandbox.clients[bankId];
  return oidc.discovery(new URL(bank.issuer), creds.clientId, undefined, oidc.ClientSecretBasic(creds.clientSecret), {
    execute: [oidc.allowInsecureRequests],
  });
}

/** Runs the authorisation-code + PKCE flow in the mini browser and exchanges the code with openid-client. */
export async function authorizeWithOAuth(
  run: Running,
  config: oidc.Configuration,
  params: Record<string, string>,
  user: { username: string; code: string },
  opts: { par?: boolean; jar?: CryptoKey } = {},
) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const authParams = {
    redirect_uri: run.callback,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    ...params,
  };
  let url: URL;
  if (opts.jar) {
    // Signed request object, pushed with PAR (the UK OBIE / FAPI way).
    const jar = await oidc.buildAuthorizationUrlWithJAR(config, authParams, opts.jar);
    url = await oidc.buildAuthorizationUrlWithPAR(config, jar.searchParams);
  } else url = opts.par ? await oidc.buildAuthorizationUrlWithPAR(config, authParams) : oidc.buildAuthorizationUrl(config, authParams);
  const browser = new MiniBrowser();
  const early = await browser.go(url.toString(), {}, run.callback);
  if (early) throw new Error(`unexpected early redirect ${early}`);
  const redirect = await browser.authenticate(user.username, user.code, run.callback);
  if (!redirect) throw new Error(`no redirect; page says: ${browser.html.slice(0, 800)}`);
  const callback = new URL(redirect);
  if (callback.searchParams.get('error')) {
    throw new Error(`bank answered ${callback.searchParams.get('error')}: ${callback.searchParams.get('error_description')}`);
  }
  const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
  return { tokens, browser, redirect };
}

export const requestId = () => randomUUID();
