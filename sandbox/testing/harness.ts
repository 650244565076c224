import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import * as oidc from 'openid-client';
import { createSandbox, type Sandbox, type SandboxBankInfo } from '../index';

export const ADMIN_TOKEN = 'test-admin-token';
/** A fixed start for every bank clock so data is identical across runs. */
export const TEST_NOW = new Date('2026-11-20T09:30:00Z');

export interface Running {
  url: string;
  sandbox: Sandbox;
  bank(id: string): SandboxBankInfo;
  callback: string;
  control<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  close(): Promise<void>;
}

/** Starts the sandbox mounted at /sandbox on a real server on 127.0.0.1, port 0. */
export async function startSandbox(opts: { seed?: number; now?: Date; clientJwks?: { keys: Record<string, unknown>[] } } = {}): Promise<Running> {
  const app = express();
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const sandbox = createSandbox({ publicUrl: url, adminToken: ADMIN_TOKEN, seed: opts.seed ?? 7, now: opts.now ?? TEST_NOW, clientJwks: opts.clientJwks });
  app.use('/sandbox', sandbox.router);
  return {
    url,
    sandbox,
    callback: `${url}/callback`,
    bank: (id) => {
      const b = sandbox.banks.find((x) => x.id === id);
      if (!b) throw new Error(`no bank ${id}`);
      return b;
    },
    async control(method, path, body) {
      const res = await fetch(`${url}/sandbox/control${path}`, {
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

interface Cookie {
  name: string;
  value: string;
  path: string;
}

/** A tiny browser: a cookie jar, manual redirects, HTML forms posted as a user would. */
export class MiniBrowser {
  private cookies: Cookie[] = [];
  /** The last page's HTML and URL. */
  html = '';
  url = '';
  status = 0;

  private cookieHeader(url: URL): string {
    return this.cookies
      .filter((c) => url.pathname === c.path || url.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`) || c.path === '/')
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  private store(res: Response, url: URL) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const pathAttr = attrs.map((a) => a.trim()).find((a) => a.toLowerCase().startsWith('path='));
      const path = pathAttr ? pathAttr.slice(5) : url.pathname.replace(/\/[^/]*$/, '') || '/';
      const expired = attrs.some((a) => /expires=Thu, 01 Jan 1970/i.test(a));
      this.cookies = this.cookies.filter((c) => !(c.name === name && c.path === path));
      if (!expired) this.cookies.push({ name, value, path });
    }
  }

  /**
   * Requests a URL and follows redirects until a page is shown or the location starts with
   * `stopAt` (the TPP's redirect URI); returns that final location if it was reached.
   */
  async go(start: string, init: { method?: string; form?: Record<string, string> } = {}, stopAt?: string): Promise<string | undefined> {
    let url = new URL(start);
    let method = init.method ?? 'GET';
    let body: string | undefined = init.form ? new URLSearchParams(init.form).toString() : undefined;
    for (let hop = 0; hop < 20; hop++) {
      if (stopAt && url.toString().startsWith(stopAt)) return url.toString();
      const res = await fetch(url, {
        method,
        redirect: 'manual',
        headers: { cookie: this.cookieHeader(url), ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
        body,
      });
      this.store(res, url);
      this.status = res.status;
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        await res.arrayBuffer();
        url = new URL(location, url);
        method = 'GET';
        body = undefined;
        continue;
      }
      this.html = await res.text();
      this.url = url.toString();
      return undefined;
    }
    throw new Error('too many redirects');
  }

  /** Submits the page's form (the first one) with these fields. */
  async submit(fields: Record<string, string>, stopAt?: string): Promise<string | undefined> {
    const m = /<form method="post" action="([^"]+)"/.exec(this.html);
    if (!m) throw new Error(`no form on page ${this.url}:\n${this.html.slice(0, 500)}`);
    const action = m[1].replace(/&amp;/g, '&');
    return this.go(new URL(action, this.url).toString(), { method: 'POST', form: fields }, stopAt);
  }

  /** Logs in and enters the code; returns the redirect the bank sent the browser to. */
  async authenticate(username: string, code: string, stopAt: string, password = 'sandbox'): Promise<string | undefined> {
    const afterLogin = await this.submit({ username, password, action: 'login' }, stopAt);
    if (afterLogin) return afterLogin;
    return this.submit({ code, action: 'approve' }, stopAt);
  }

  text(selectorId: string): string | undefined {
    const m = new RegExp(`id="${selectorId}"[^>]*>([^<]*)<`).exec(this.html);
    return m?.[1];
  }
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
