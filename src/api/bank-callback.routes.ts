import express, { type Response, type Router } from 'express';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { CallbackResult, ConsentsService } from '../modules/consents';
import type { InstitutionsService } from '../modules/institutions';
import { isPaymentState, type PaymentsService } from '../modules/payments';
import { asSystem } from '../platform/tenant-scope';

import esc from 'escape-html';

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.4rem}ul{list-style:none;padding:0}li{margin:.4rem 0}button{width:100%;text-align:left;padding:.7rem 1rem;font:inherit;border:1px solid #bbb;border-radius:.4rem;background:#fff;cursor:pointer}
button:hover{border-color:#333}small{color:#666}form.search{display:flex;gap:.5rem;margin:1rem 0}form.search input,form.search select{font:inherit;padding:.4rem}</style>
</head><body>${body}</body></html>`;
}

function answer(res: Response, r: CallbackResult): void {
  if (r.kind === 'redirect') return void res.redirect(303, r.location);
  res
    .status(r.status)
    .type('html')
    .send(page(r.title, `<h1>${esc(r.title)}</h1><p>${esc(r.message)}</p>`));
}

/**
 * End-user pages: `GET /callback` (the bank's redirect back) and the hosted bank picker at
 * `/connect/<token>`. Plain server-rendered HTML that works without JavaScript; no page ever
 * shows a stack trace.
 */
export function consentRoutes(deps: {
  orm: MikroORM;
  consents: ConsentsService;
  institutions: InstitutionsService;
  publicUrl: string;
  payments?: PaymentsService;
}): Router {
  const router = express.Router();
  const fail = (res: Response) =>
    answer(res, { kind: 'page', status: 500, title: 'Something went wrong', message: 'Please try again from the app that sent you.' });

  router.get('/callback', async (req, res) => {
    try {
      const url = new URL(req.originalUrl, deps.publicUrl);
      // Banks return to this one URL (the only one their OAuth clients register): a payment's state says it is one.
      // The bank's redirect names no tenant: the state it carries finds the consent (or payment) first.
      const payments = deps.payments;
      if (payments && isPaymentState(url.searchParams.get('state')))
        return answer(res, await asSystem('bank callback', () => payments.completeCallback(deps.orm.em.fork(), url.href)));
      answer(res, await asSystem('bank callback', () => deps.consents.completeCallback(deps.orm.em.fork(), url.href, req.ip ?? null)));
    } catch {
      fail(res);
    }
  });

  router.get('/connect/:token', async (req, res) => {
    try {
      // The end user's link names no tenant: its token finds the consent.
      const found = await asSystem('connect page', () => deps.consents.byConnectToken(deps.orm.em.fork(), String(req.params.token)));
      if (!found) return answer(res, { kind: 'page', status: 410, title: 'This link has expired', message: 'Please start again from the app that sent you.' });
      const search = typeof req.query.search === 'string' ? req.query.search.slice(0, 100) : '';
      const country = typeof req.query.country === 'string' && /^[A-Za-z]{2}$/.test(req.query.country) ? req.query.country.toUpperCase() : '';
      const all = deps.institutions.list(found.caller, {});
      const shown = deps.institutions.list(found.caller, { search, country }).filter((i) => found.consent.scopes.every((s) => i.scopes.includes(s)));
      const countries = [...new Set(all.map((i) => i.country))].sort();
      const token = esc(String(req.params.token));
      res.type('html').send(
        page(
          'Choose your bank',
          `<h1>Choose your bank</h1>
<form class="search" method="get" action="/connect/${token}">
<input name="search" value="${esc(search)}" placeholder="Bank name or BIC" aria-label="Bank name or BIC">
<select name="country" aria-label="Country"><option value="">All countries</option>${countries.map((c) => `<option${c === country ? ' selected' : ''}>${esc(c)}</option>`).join('')}</select>
<button type="submit" style="width:auto">Search</button></form>
${shown.length === 0 ? '<p>No bank matches.</p>' : ''}
<ul>${shown
            .map(
              (i) => `<li><form method="post" action="/connect/${token}"><input type="hidden" name="institution" value="${esc(i.id)}">
<button type="submit">${esc(i.name)} <small>${esc(i.country)} · ${esc(i.bic)}</small></button></form></li>`,
            )
            .join('')}</ul>`,
        ),
      );
    } catch {
      fail(res);
    }
  });

  router.post('/connect/:token', express.urlencoded({ extended: false, limit: '4kb' }), async (req, res) => {
    try {
      const institution = typeof req.body?.institution === 'string' ? req.body.institution : '';
      answer(res, await asSystem('connect page', () => deps.consents.chooseInstitution(deps.orm.em.fork(), String(req.params.token), institution)));
    } catch {
      fail(res);
    }
  });

  return router;
}
