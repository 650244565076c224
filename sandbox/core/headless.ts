import { findUser } from './users';

interface Cookie {
  name: string;
  value: string;
  path: string;
}

/** Where a walk stops: a URL prefix (the TPP's redirect URI) or a test on each URL about to be requested. */
export type StopAt = string | ((url: string) => boolean);

export interface MiniBrowserOptions {
  /**
   * Maps a public URL to the address actually requested (e.g. the public `http://localhost:4000`
   * to `http://127.0.0.1:4000` when the process cannot reach its own public name). Pages, links and
   * cookies keep the public URL.
   */
  rewrite?: (url: URL) => URL;
}

/** A tiny browser: a cookie jar, manual redirects, HTML forms posted as a user would. */
export class MiniBrowser {
  private cookies: Cookie[] = [];
  /** The last page's HTML and URL. */
  html = '';
  url = '';
  status = 0;

  constructor(private readonly options: MiniBrowserOptions = {}) {}

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
   * Requests a URL and follows redirects until a page is shown or the location matches `stopAt`
   * (the TPP's redirect URI); returns that final location if it was reached.
   */
  async go(start: string, init: { method?: string; form?: Record<string, string> } = {}, stopAt?: StopAt): Promise<string | undefined> {
    const stops = (u: string) => (typeof stopAt === 'function' ? stopAt(u) : stopAt !== undefined && u.startsWith(stopAt));
    let url = new URL(start);
    let method = init.method ?? 'GET';
    let body: string | undefined = init.form ? new URLSearchParams(init.form).toString() : undefined;
    for (let hop = 0; hop < 20; hop++) {
      if (stops(url.toString())) return url.toString();
      const res = await fetch(this.options.rewrite?.(url) ?? url, {
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
  async submit(fields: Record<string, string>, stopAt?: StopAt): Promise<string | undefined> {
    const m = /<form method="post" action="([^"]+)"/.exec(this.html);
    if (!m) throw new Error(`no form on page ${this.url}:\n${this.html.slice(0, 500)}`);
    const action = m[1].replace(/&amp;/g, '&');
    return this.go(new URL(action, this.url).toString(), { method: 'POST', form: fields }, stopAt);
  }

  /** Logs in and enters the code; returns the redirect the bank sent the browser to. */
  async authenticate(username: string, code: string, stopAt: StopAt, password = 'sandbox'): Promise<string | undefined> {
    const afterLogin = await this.submit({ username, password, action: 'login' }, stopAt);
    if (afterLogin) return afterLogin;
    return this.submit({ code, action: 'approve' }, stopAt);
  }

  /** The text of the element with this id on the current page. */
  text(selectorId: string): string | undefined {
    const m = new RegExp(`id="${selectorId}"[^>]*>([^<]*)<`).exec(this.html);
    return m?.[1];
  }
}

/** Why a headless SCA run ended without sending the browser back to the TPP. */
export class HeadlessScaError extends Error {
  constructor(
    readonly code: 'UNKNOWN_USER' | 'SCA_NOT_COMPLETED',
    message: string,
  ) {
    super(message);
    this.name = 'HeadlessScaError';
  }
}

export interface HeadlessScaRequest {
  /** An authorisation URL of this sandbox (its OAuth authorize endpoint or an SCA page link). */
  url: string;
  username: string;
  decision: 'approve' | 'reject';
  /** True for URLs of this sandbox (the walk stops at the first URL that is not). */
  isOwn: (url: string) => boolean;
  /** Public URL → the address this process reaches the sandbox at. */
  rewrite: (url: URL) => URL;
}

const unescapeHtml = (s: string) => s.replace(/&(amp|lt|gt|quot|#39);/g, (_m, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e]!);

/**
 * Walks the bank's login and one-time-code pages as the test user would in a browser (APPROVE:
 * log in, enter the user's code; REJECT: press Cancel) and returns the first URL the bank sends
 * the browser to outside the sandbox — the TPP's redirect URI with `code`/`state` or an error.
 * The user's documented behaviour applies (`rejecter` declines, `locked` cannot log in…).
 */
export async function completeScaHeadless(req: HeadlessScaRequest): Promise<string> {
  const user = findUser(req.username);
  if (!user) throw new HeadlessScaError('UNKNOWN_USER', `No test user ${JSON.stringify(req.username)}; GET /control/users lists them.`);
  const browser = new MiniBrowser({ rewrite: req.rewrite });
  const leaves = (u: string) => !req.isOwn(u);
  const stopped = (what: string) =>
    new HeadlessScaError(
      'SCA_NOT_COMPLETED',
      `${what}: ${unescapeHtml(browser.text('error') ?? browser.text('outcome') ?? `the bank answered ${browser.status}`)}`,
    );
  let out = await browser.go(req.url, {}, leaves);
  if (out) return out;
  if (!/name="username"/.test(browser.html)) throw stopped('The bank did not show its login page');
  if (req.decision === 'reject') {
    out = await browser.submit({ action: 'cancel' }, leaves);
    if (out) return out;
    throw stopped('Cancelling did not return to the application');
  }
  out = await browser.submit({ username: user.username, password: user.password, action: 'login' }, leaves);
  if (out) return out;
  if (!/name="code"/.test(browser.html)) throw stopped(`${user.username} could not log in`);
  out = await browser.submit({ code: user.otp, action: 'approve' }, leaves);
  if (out) return out;
  throw stopped(`The one-time code of ${user.username} did not complete the authentication`);
}
