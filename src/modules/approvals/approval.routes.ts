import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { MikroORM } from '@mikro-orm/postgresql';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import type { PageOutcome, PasskeysService } from './passkeys.service';
import { asSystem } from '../../platform/tenant-scope';

import esc from 'escape-html';

/** Scripts only from the gateway itself (no inline script, no CDN); fetch only to the gateway. */
const CSP =
  "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** @simplewebauthn/browser's UMD bundle, read once from node_modules and served by the gateway. */
function browserBundle(): string {
  const main = createRequire(import.meta.url).resolve('@simplewebauthn/browser');
  const root = main.slice(0, main.lastIndexOf('@simplewebauthn/browser') + '@simplewebauthn/browser'.length);
  return fs.readFileSync(`${root}/dist/bundle/index.umd.min.js`, 'utf8');
}

/** The pages' own script: asks the gateway for options, lets the browser make the credential, sends it back. */
const PAGE_SCRIPT = `(function () {
  var lib = window.SimpleWebAuthnBrowser;
  var body = document.body, token = body.dataset.token, out = document.getElementById('result');
  function post(url, data) {
    return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(data) })
      .then(function (r) { return r.json(); });
  }
  function show(answer) {
    var e = answer.userErrors && answer.userErrors[0];
    out.textContent = e ? e.message : answer.message;
    out.dataset.code = e ? e.code : 'OK';
  }
  function failed(err) { out.textContent = 'Your browser did not complete it (' + err.name + ').'; out.dataset.code = 'BROWSER_' + err.name; }
  if (body.dataset.mode === 'register') {
    document.getElementById('register').addEventListener('click', function () {
      post('/passkeys/register/' + token + '/options', {}).then(function (o) {
        if (!o.options) return show(o);
        return lib.startRegistration({ optionsJSON: o.options }).then(function (response) {
          return post('/passkeys/register/' + token, { response: response }).then(show);
        }, failed);
      });
    });
  } else {
    Array.prototype.forEach.call(document.querySelectorAll('button[data-decision]'), function (button) {
      button.addEventListener('click', function () {
        var decision = button.dataset.decision;
        post('/approve/' + token + '/options', { decision: decision }).then(function (o) {
          if (!o.options) return show(o);
          return lib.startAuthentication({ optionsJSON: o.options }).then(function (response) {
            return post('/approve/' + token, { decision: decision, response: response }).then(show);
          }, failed);
        });
      });
    });
  }
})();
`;

function page(title: string, mode: 'register' | 'approve', token: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}h1{font-size:1.4rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}dt{color:#555}dd{margin:0}button{padding:.7rem 1.2rem;font:inherit;border:1px solid #333;border-radius:.4rem;background:#fff;cursor:pointer;margin-right:.5rem}
#result{margin-top:1rem;font-weight:600}</style>
<script src="/approvals/assets/simplewebauthn-browser.js" defer></script><script src="/approvals/assets/passkey-page.js" defer></script>
</head><body data-mode="${mode}" data-token="${esc(token)}">${body}<p id="result" role="status"></p></body></html>`;
}

function gone(res: Response): void {
  res
    .status(410)
    .set('Content-Security-Policy', CSP)
    .type('html')
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>This link is not valid</title></head><body><h1>This link is not valid</h1><p>It has expired or was already used. Ask for a new one.</p></body></html>`,
    );
}

/** JSON answers: the value, or `userErrors` with the same stable codes as the API. */
function json<T>(res: Response, r: PageOutcome<T>, ok: (v: T) => Record<string, unknown>): void {
  if (r.ok) return void res.json(ok(r.value));
  res.status(r.status).json({ userErrors: [{ field: [], code: r.code, message: r.message }] });
}

/**
 * The approvals' hosted pages on the gateway's origin (the WebAuthn relying party):
 * `/passkeys/register/<token>` where a member registers a passkey, and `/approve/<token>` where an
 * approver approves or rejects one payment with it. Tokens are one-use and expire.
 */
export function approvalRoutes(deps: { orm: MikroORM; passkeys: PasskeysService }): Router {
  const router = express.Router();
  const bundle = browserBundle();
  const body = express.json({ limit: '32kb' });
  const token = (req: Request) => String(req.params.token);
  // A hosted page has no caller: its one-use link names the tenant, as a bank callback's state
  // does, so it reads as the system (row-level security). Faults go to the final error handler,
  // which logs them whole and answers with a request id.
  const guard = (fn: (req: Request, res: Response) => Promise<void>) => (req: Request, res: Response, next: NextFunction) => {
    asSystem('hosted approvals page', () => fn(req, res)).catch(next);
  };

  router.get('/approvals/assets/simplewebauthn-browser.js', (_req, res) => void res.type('js').set('Cache-Control', 'public, max-age=3600').send(bundle));
  router.get('/approvals/assets/passkey-page.js', (_req, res) => void res.type('js').set('Cache-Control', 'public, max-age=3600').send(PAGE_SCRIPT));

  router.get(
    '/passkeys/register/:token',
    guard(async (req, res) => {
      const link = await deps.passkeys.link(deps.orm.em.fork(), token(req), 'PASSKEY_REGISTRATION');
      if (!link) return gone(res);
      res
        .set('Content-Security-Policy', CSP)
        .type('html')
        .send(
          page(
            'Register a passkey',
            'register',
            token(req),
            `<h1>Register a passkey</h1>
<p>${esc(link.member.name)}, register a passkey to approve payments of ${esc(link.member.endUser.displayName ?? link.member.endUser.externalRef)}.</p>
<button id="register" type="button">Create passkey</button>`,
          ),
        );
    }),
  );
  router.post(
    '/passkeys/register/:token/options',
    body,
    guard(async (req, res) => json(res, await deps.passkeys.registrationOptions(deps.orm.em.fork(), token(req)), (options) => ({ options }))),
  );
  router.post(
    '/passkeys/register/:token',
    body,
    guard(async (req, res) =>
      json(res, await deps.passkeys.registrationFinish(deps.orm.em.fork(), token(req), req.body), () => ({ message: 'Your passkey is registered.' })),
    ),
  );

  router.get(
    '/approve/:token',
    guard(async (req, res) => {
      const r = await deps.passkeys.approvalPage(deps.orm.em.fork(), token(req));
      if (!r.ok) return gone(res);
      const p = r.value.payment;
      res
        .set('Content-Security-Policy', CSP)
        .type('html')
        .send(
          page(
            'Approve a payment',
            'approve',
            token(req),
            `<h1>Approve a payment</h1>
<p>${esc(r.value.member.name)}, this payment waits for your decision. Your passkey signs exactly what is shown.</p>
<dl><dt>Creditor</dt><dd id="creditor">${esc(p.creditorName)}</dd><dt>IBAN</dt><dd id="iban">${esc(p.creditorIban)}</dd>
<dt>Amount</dt><dd id="amount">${esc(p.amount)} ${esc(p.currency)}</dd><dt>Remittance</dt><dd>${esc(p.remittanceInformation ?? '—')}</dd>
<dt>Execution date</dt><dd>${esc(p.requestedExecutionDate ?? 'immediate')}</dd><dt>Status</dt><dd>${esc(p.status)}</dd></dl>
<p><button id="approve" type="button" data-decision="APPROVE">Approve</button><button id="reject" type="button" data-decision="REJECT">Reject</button></p>`,
          ),
        );
    }),
  );
  router.post(
    '/approve/:token/options',
    body,
    guard(async (req, res) =>
      json(res, await deps.passkeys.approvalOptions(deps.orm.em.fork(), token(req), (req.body as { decision?: unknown } | undefined)?.decision), (options) => ({
        options,
      })),
    ),
  );
  router.post(
    '/approve/:token',
    body,
    guard(async (req, res) =>
      json(res, await deps.passkeys.approvalFinish(deps.orm.em.fork(), token(req), req.body), (v) => ({
        message: `Thank you: your decision is recorded. The payment is ${v.status}.`,
        status: v.status,
      })),
    ),
  );
  return router;
}
