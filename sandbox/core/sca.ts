import express, { type Request, type Response, type Router } from 'express';
import type { Bank } from './bank';
import { BankError } from './errors';
import { formatCents } from './ledger';
import { BANK_SCOPES } from './oidc';
import { findUser } from './users';
import esc from 'escape-html';

/** A one-time code is valid for five minutes on the bank clock. */
export const CODE_VALIDITY_MS = 5 * 60 * 1000;
/** An SCA session not finished within 15 minutes (bank clock) fails, like a real bank's. */
export const SCA_SESSION_TIMEOUT_MS = 15 * 60 * 1000;
/** Wrong codes before the user is locked for the rest of the (bank) day. */
export const MAX_CODE_FAILURES = 3;

/** What an SCA session approves. `implicitAis`: the PSU grants access to all accounts (STET AISP). */
export interface ScaTarget {
  consentId?: string;
  paymentId?: string;
  /** Berlin Group: the PSU authorises the cancellation of this payment (approved: CANC; declined: unchanged). */
  cancellationOf?: string;
  implicitAis?: boolean;
}

/** One run through the bank's login and one-time-code pages. */
export interface ScaSession {
  id: string;
  /** `oidc`: an OAuth authorisation request; `redirect`: the bank's own SCA link; `decoupled`: the "bank app". */
  mode: 'oidc' | 'redirect' | 'decoupled';
  target: ScaTarget;
  clientId?: string;
  /** PSU-ID given by the TPP: only that user may approve (decoupled). */
  expectedUser?: string;
  username?: string;
  stage: 'login' | 'code' | 'done';
  codeSentAtMs?: number;
  outcome?: 'approved' | 'rejected' | 'failed';
  okRedirect?: string;
  nokRedirect?: string;
  createdAtMs: number;
}

function markAuthorisations(bank: Bank, s: ScaSession, scaStatus: 'psuAuthenticated' | 'finalised' | 'failed'): void {
  if (s.target.cancellationOf) {
    for (const a of bank.payments.get(s.target.cancellationOf)?.cancellationAuthorisations ?? []) if (a.sessionId === s.id) a.scaStatus = scaStatus;
    return;
  }
  const holder = s.target.consentId ? bank.consents.get(s.target.consentId) : s.target.paymentId ? bank.payments.get(s.target.paymentId) : undefined;
  for (const a of holder?.authorisations ?? []) if (a.sessionId === s.id) a.scaStatus = scaStatus;
}

/** Applies an SCA outcome to the consent or payment; returns the consent id (created for an implicit one). */
export function applyOutcome(bank: Bank, s: ScaSession, outcome: 'approved' | 'rejected' | 'failed'): string | undefined {
  s.stage = 'done';
  s.outcome = outcome;
  const now = bank.clock.nowMs();
  markAuthorisations(bank, s, outcome === 'approved' ? 'finalised' : 'failed');
  if (s.target.cancellationOf) {
    const p = bank.payments.get(s.target.cancellationOf);
    // Declined or failed: the payment goes on as before.
    if (p && outcome === 'approved' && p.cancelledAtMs === undefined) p.cancelledAtMs = now;
    return undefined;
  }
  if (s.target.consentId) {
    const c = bank.consents.get(s.target.consentId);
    if (c) {
      if (outcome === 'approved') {
        c.status = 'valid';
        c.userId = s.username;
      } else c.status = 'rejected';
      c.statusUpdatedAtMs = now;
    }
    return s.target.consentId;
  }
  if (s.target.paymentId) {
    const p = bank.payments.get(s.target.paymentId);
    if (p) {
      if (outcome === 'approved') bank.authorisePayment(p, s.username!, bank.hooks.executeOnAuthorisation);
      else p.rejected = { atMs: now, reason: outcome === 'failed' ? 'AB05' : 'DS02' };
    }
    return undefined;
  }
  if (s.target.implicitAis && outcome === 'approved') return bank.hooks.implicitConsent(s.username!, s.clientId);
  return undefined;
}

/** Fails every SCA session left unfinished for longer than SCA_SESSION_TIMEOUT_MS on the bank clock. */
export function sweepScaSessions(bank: Bank): void {
  const now = bank.clock.nowMs();
  for (const s of bank.scaSessions.values()) {
    if (s.stage !== 'done' && now - s.createdAtMs > SCA_SESSION_TIMEOUT_MS) applyOutcome(bank, s, 'failed');
  }
}

function page(bank: Bank, title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(bank.info.name)}: ${esc(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#1d2733}
h1{font-size:1.3rem}.sandbox{background:#fff6d6;border:1px solid #e6c200;padding:.5rem .75rem;border-radius:6px}
.error{color:#a30000;font-weight:600}label{display:block;margin:.75rem 0 .25rem}input{font-size:1rem;padding:.4rem;width:100%}
button{margin-top:1rem;margin-right:.5rem;font-size:1rem;padding:.45rem 1rem}</style></head>
<body><h1>${esc(bank.info.name)}</h1><h2>${esc(title)}</h2>${body}</body></html>`;
}

/** Human summary of what the PSU is asked to approve. */
function describe(bank: Bank, target: ScaTarget): string {
  if (target.cancellationOf) {
    const p = bank.payments.get(target.cancellationOf);
    return p ? `Cancel the payment of ${formatCents(p.amountCents)} ${p.currency} to ${p.creditorName}.` : 'Unknown payment.';
  }
  if (target.consentId) {
    const c = bank.consents.get(target.consentId);
    return c ? `Give access to your account information until ${c.validUntil} (up to ${c.frequencyPerDay} automatic reads a day).` : 'Unknown consent.';
  }
  if (target.paymentId) {
    const p = bank.payments.get(target.paymentId);
    return p ? `Pay ${formatCents(p.amountCents)} ${p.currency} to ${p.creditorName}.` : 'Unknown payment.';
  }
  return 'Give access to your accounts, balances and transactions.';
}

function loginPage(bank: Bank, s: ScaSession, action: string, error?: string): string {
  return page(
    bank,
    'Log in',
    `<p id="summary">${esc(describe(bank, s.target))}</p>
${error ? `<p class="error" id="error">${esc(error)}</p>` : ''}
<form method="post" action="${esc(action)}/login">
<label for="username">Username</label><input id="username" name="username" autocomplete="username" value="${esc(s.expectedUser ?? '')}">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password">
<button id="submit" type="submit" name="action" value="login">Log in</button>
<button id="cancel" type="submit" name="action" value="cancel">Cancel</button>
</form>
<p class="sandbox">Sandbox: every test user's password is <code>sandbox</code> (see the sandbox README).</p>`,
  );
}

function codePage(bank: Bank, s: ScaSession, action: string, error?: string): string {
  const user = findUser(s.username ?? '');
  return page(
    bank,
    'Confirm with your one-time code',
    `<p id="summary">${esc(describe(bank, s.target))}</p>
<p>We sent a one-time code to your phone. It is valid for 5 minutes.</p>
${error ? `<p class="error" id="error">${esc(error)}</p>` : ''}
<form method="post" action="${esc(action)}/code">
<label for="code">One-time code</label><input id="code" name="code" inputmode="numeric" autocomplete="one-time-code">
<button id="submit" type="submit" name="action" value="approve">Confirm</button>
<button id="cancel" type="submit" name="action" value="cancel">Cancel</button>
</form>
${user && user.behaviour !== 'sca-timeout' ? `<p class="sandbox" id="sandbox-code">Sandbox: the code for ${esc(user.username)} is <code>${esc(user.otp)}</code>.</p>` : ''}`,
  );
}

function endPage(bank: Bank, title: string, message: string, link?: string): string {
  return page(
    bank,
    title,
    `<p class="${title === 'Approved' ? '' : 'error'}" id="outcome">${esc(message)}</p>${link ? `<p><a id="continue" href="${esc(link)}">Return to the application</a></p>` : ''}`,
  );
}

const appendQuery = (uri: string, params: Record<string, string>): string => {
  const url = new URL(uri);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.toString();
};

/**
 * The bank's SCA pages (login, one-time code, outcome), shared by the OAuth interaction of the
 * bank's authorisation server, the redirect approach and the decoupled "bank app".
 */
export function scaRouter(bank: Bank): Router {
  const router = express.Router();
  router.use(express.urlencoded({ extended: false }));

  const lockedToday = (username: string) => {
    const l = bank.lockouts.get(username);
    return !!l && l.day === bank.clock.today() && l.failures >= MAX_CODE_FAILURES;
  };

  /** Where the browser goes once the session ends (undefined: stay on the outcome page). */
  const finish = async (req: Request, res: Response, s: ScaSession, outcome: 'approved' | 'rejected' | 'failed', text: string): Promise<string | undefined> => {
    const consentId = applyOutcome(bank, s, outcome);
    if (s.mode === 'oidc') {
      if (outcome !== 'approved') {
        return bank.provider.interactionResult(req, res, { error: 'access_denied', error_description: text }, { mergeWithLastSubmission: false });
      }
      const details = await bank.provider.interactionDetails(req, res);
      const grant = new bank.provider.Grant({ accountId: s.username!, clientId: details.params.client_id as string });
      const requested = String(details.params.scope ?? '').split(' ');
      // Scopes the server knows count as OIDC scopes of the grant; dynamic ones (AIS:…) only as resource scopes.
      const oidcScopes: string[] = requested.filter((x) => x === 'openid' || x === 'offline_access' || BANK_SCOPES.includes(x));
      if (oidcScopes.length) grant.addOIDCScope(oidcScopes.join(' '));
      // Grant what was asked (BG asks for the dynamic scope AIS:<consentId>) plus the bank's scopes.
      const resourceScopes = new Set(['accounts', 'payments', 'aisp', 'pisp', ...requested.filter((x) => x && x !== 'openid' && x !== 'offline_access')]);
      grant.addResourceScope(bank.info.apiBaseUrl, [...resourceScopes].join(' '));
      if (details.params.claims) {
        try {
          const claims = JSON.parse(String(details.params.claims)) as { id_token?: Record<string, unknown>; userinfo?: Record<string, unknown> };
          grant.addOIDCClaims([...Object.keys(claims.id_token ?? {}), ...Object.keys(claims.userinfo ?? {})]);
        } catch {
          /* validated by the provider already */
        }
      }
      const grantId = await grant.save();
      bank.grantLinks.set(grantId, { userId: s.username!, consentId: consentId ?? s.target.consentId, paymentId: s.target.paymentId });
      return bank.provider.interactionResult(req, res, { login: { accountId: s.username! }, consent: { grantId } }, { mergeWithLastSubmission: false });
    }
    if (s.mode === 'decoupled') return undefined;
    const to = outcome === 'approved' ? s.okRedirect : (s.nokRedirect ?? s.okRedirect);
    if (!to) return undefined;
    return outcome === 'approved' ? to : appendQuery(to, { error: outcome === 'failed' ? 'sca_failed' : 'access_denied' });
  };

  const render = (res: Response, html: string, status = 200) => res.status(status).type('html').send(html);

  const showEnd = async (
    req: Request,
    res: Response,
    s: ScaSession,
    outcome: 'approved' | 'rejected' | 'failed',
    title: string,
    message: string,
    stayOnPage = false,
  ) => {
    const to = await finish(req, res, s, outcome, message);
    if (to && !stayOnPage) return res.redirect(303, to);
    return render(res, endPage(bank, title, message, to));
  };

  /** A session that already ended: a timed-out one ends the flow with an error, others show their outcome. */
  const ended = async (req: Request, res: Response, s: ScaSession, action: string) => {
    sweepScaSessions(bank);
    if (s.stage !== 'done') return false;
    if (s.outcome === 'failed') await showEnd(req, res, s, 'failed', 'Timed out', 'The authentication timed out.');
    else view(res, s, action);
    return true;
  };

  const handleLogin = async (req: Request, res: Response, s: ScaSession, action: string) => {
    if (await ended(req, res, s, action)) return;
    const body = (req.body ?? {}) as Record<string, string>;
    if (body.action === 'cancel') return showEnd(req, res, s, 'rejected', 'Cancelled', 'You cancelled the request.');
    const user = findUser(String(body.username ?? ''));
    if (!user || user.behaviour === 'wrong-password' || body.password !== user.password) {
      return render(res, loginPage(bank, s, action, 'Wrong username or password.'), 401);
    }
    if (user.behaviour === 'locked') return render(res, loginPage(bank, s, action, 'This user is locked. Please contact your bank.'), 403);
    if (lockedToday(user.username)) {
      return render(res, loginPage(bank, s, action, 'Three wrong codes were entered: this user is locked for the rest of the day.'), 403);
    }
    if (s.expectedUser && s.expectedUser !== user.username) {
      return render(res, loginPage(bank, s, action, 'This request was made for another user.'), 403);
    }
    s.username = user.username;
    s.stage = 'code';
    s.codeSentAtMs = bank.clock.nowMs();
    markAuthorisations(bank, s, 'psuAuthenticated');
    return res.redirect(303, action);
  };

  const handleCode = async (req: Request, res: Response, s: ScaSession, action: string) => {
    if (await ended(req, res, s, action)) return;
    // A code posted before logging in (or replayed) just shows the current step again.
    if (s.stage !== 'code' || !s.username) return view(res, s, action);
    const body = (req.body ?? {}) as Record<string, string>;
    const user = findUser(s.username)!;
    if (body.action === 'cancel') return showEnd(req, res, s, 'rejected', 'Cancelled', 'You cancelled the request.');
    if (lockedToday(user.username)) {
      return showEnd(req, res, s, 'failed', 'Locked', 'Three wrong codes were entered: this user is locked for the rest of the day.', true);
    }
    if (user.behaviour === 'sca-timeout') return showEnd(req, res, s, 'failed', 'Timed out', 'The authentication timed out.');
    if (bank.clock.nowMs() - (s.codeSentAtMs ?? 0) > CODE_VALIDITY_MS) {
      s.codeSentAtMs = bank.clock.nowMs();
      return render(res, codePage(bank, s, action, 'This code has expired (codes are valid for 5 minutes). We sent you a new one.'), 401);
    }
    if (String(body.code ?? '').trim() !== user.otp) {
      const today = bank.clock.today();
      const l = bank.lockouts.get(user.username);
      const failures = l && l.day === today ? l.failures + 1 : 1;
      bank.lockouts.set(user.username, { day: today, failures });
      if (failures >= MAX_CODE_FAILURES) {
        return showEnd(req, res, s, 'failed', 'Locked', 'Three wrong codes were entered: this user is locked for the rest of the day.', true);
      }
      const left = MAX_CODE_FAILURES - failures;
      return render(res, codePage(bank, s, action, `Wrong code. ${left} attempt${left === 1 ? '' : 's'} left before the user is locked for the day.`), 401);
    }
    if (user.behaviour === 'rejects') return showEnd(req, res, s, 'rejected', 'Declined', 'You declined the request.');
    return showEnd(req, res, s, 'approved', 'Approved', 'Thank you: the request is approved.');
  };

  const view = (res: Response, s: ScaSession, action: string) => {
    sweepScaSessions(bank);
    if (s.stage === 'done' && s.outcome === 'failed') return render(res, endPage(bank, 'Timed out', 'This authentication request has expired or failed.'));
    if (s.stage === 'done') return render(res, endPage(bank, 'Done', `This request is already ${s.outcome}.`));
    if (s.stage === 'code') return render(res, codePage(bank, s, action));
    return render(res, loginPage(bank, s, action));
  };

  const wrap = (fn: (req: Request, res: Response) => Promise<unknown>) => (req: Request, res: Response) => {
    fn(req, res).catch((err: unknown) => {
      bank.log.warn({ err }, 'sca page error');
      const message = err instanceof Error ? err.message : 'Unexpected error';
      if (!res.headersSent) render(res, endPage(bank, 'Error', message), err instanceof BankError ? err.status : 400);
    });
  };

  // --- OAuth interactions of the bank's authorisation server ---
  const interactionSession = async (req: Request, res: Response): Promise<ScaSession> => {
    const details = await bank.provider.interactionDetails(req, res);
    let s = bank.scaSessions.get(details.uid);
    if (!s) {
      const target = bank.hooks.resolveOidcTarget(details.params as Record<string, unknown>);
      s = { id: details.uid, mode: 'oidc', target, clientId: details.params.client_id as string, stage: 'login', createdAtMs: bank.clock.nowMs() };
      bank.scaSessions.set(s.id, s);
      const holder = target.consentId ? bank.consents.get(target.consentId) : target.paymentId ? bank.payments.get(target.paymentId) : undefined;
      // Reuse an authorisation the TPP started explicitly (OAuth approach), else record a new one.
      const waiting = holder?.authorisations.find((a) => a.sessionId === '');
      if (waiting) {
        waiting.sessionId = s.id;
        waiting.scaStatus = 'started';
      } else holder?.authorisations.push({ id: bank.newId(), scaStatus: 'started', sessionId: s.id });
    }
    return s;
  };
  const interactionPath = (req: Request) => `${bank.basePath}/sca/interaction/${req.params.uid}`;
  router.get(
    '/interaction/:uid',
    wrap(async (req, res) => view(res, await interactionSession(req, res), interactionPath(req))),
  );
  router.post(
    '/interaction/:uid/login',
    wrap(async (req, res) => handleLogin(req, res, await interactionSession(req, res), interactionPath(req))),
  );
  router.post(
    '/interaction/:uid/code',
    wrap(async (req, res) => handleCode(req, res, await interactionSession(req, res), interactionPath(req))),
  );

  // --- the bank's own SCA link (redirect approach) and the decoupled bank app ---
  const plainSession = (req: Request): ScaSession => {
    const s = bank.scaSessions.get(String(req.params.sid));
    if (!s || s.mode === 'oidc') throw new BankError('RESOURCE_UNKNOWN', 'This authentication request is unknown or finished.');
    return s;
  };
  const plainPath = (req: Request) => `${bank.basePath}/sca/s/${req.params.sid}`;
  router.get(
    '/s/:sid',
    wrap(async (req, res) => view(res, plainSession(req), plainPath(req))),
  );
  router.post(
    '/s/:sid/login',
    wrap(async (req, res) => handleLogin(req, res, plainSession(req), plainPath(req))),
  );
  router.post(
    '/s/:sid/code',
    wrap(async (req, res) => handleCode(req, res, plainSession(req), plainPath(req))),
  );

  // The "bank app": lists the decoupled requests waiting for a user.
  router.get('/app', (req, res) => {
    const user = String(req.query.user ?? '');
    const waiting = [...bank.scaSessions.values()].filter((s) => s.mode === 'decoupled' && s.stage !== 'done' && (!user || s.expectedUser === user));
    render(
      res,
      page(
        bank,
        'Bank app',
        waiting.length
          ? `<ul>${waiting.map((s) => `<li><a href="${esc(`${bank.basePath}/sca/s/${s.id}`)}">${esc(describe(bank, s.target))}</a></li>`).join('')}</ul>`
          : '<p id="empty">Nothing waiting for your approval.</p>',
      ),
    );
  });
  return router;
}

/** Starts a redirect or decoupled SCA session for a consent or payment; returns its page URL. */
export function startScaSession(
  bank: Bank,
  init: { mode: 'redirect' | 'decoupled'; target: ScaTarget; clientId?: string; expectedUser?: string; okRedirect?: string; nokRedirect?: string },
): { session: ScaSession; url: string } {
  const session: ScaSession = { id: bank.newId(), stage: 'login', createdAtMs: bank.clock.nowMs(), ...init };
  bank.scaSessions.set(session.id, session);
  return { session, url: `${bank.baseUrl}/sca/s/${session.id}` };
}
