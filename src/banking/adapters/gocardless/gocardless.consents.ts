/**
 * GoCardless consents: an end-user agreement (scopes, `max_historical_days`,
 * `access_valid_for_days`) plus a requisition whose link the end user follows; the requisition's
 * status decides the consent's. Deleting the requisition revokes it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { BankConsentInvalid, BankInvalidRequest, BankUnauthorized } from '../../errors';
import type { AccessScope } from '../../model';
import type { ConsentAuthorisationPort, ConsentCompleted } from '../../ports';
import type { UpstreamScope } from './gocardless.limits';
import { mapRequisitionStatus } from './gocardless.mapper';
import { gcAgreement, gcDeleted, gcRequisition } from './gocardless.schemas';
import { DAY_MS, type GoCardlessSession } from './gocardless.session';

/** The upstream serves at most this much history, whatever the bank. */
export const UPSTREAM_MAX_HISTORY_DAYS = 730;

const sha256 = (s: string) => createHash('sha256').update(s).digest();
const sameSecret = (a: string, b: string) => timingSafeEqual(sha256(a), sha256(b));

const SCOPE_NAMES: Record<AccessScope, UpstreamScope> = { ACCOUNTS: 'details', BALANCES: 'balances', TRANSACTIONS: 'transactions' };

/** Keys of {@link ConsentStarted.secrets}. */
type Secrets = Partial<Record<'requisitionId' | 'agreementId' | 'callbackState', string>>;

/** GoCardless consents of one institution, over the adapter's shared session. */
export function createGoCardlessConsents(session: GoCardlessSession): ConsentAuthorisationPort {
  const { institution, institutionId, sandbox, upstreamInstitutionId, log, details, notFound, call, readRequisition } = session;
  const consents: ConsentAuthorisationPort = {
    async start(_ctx, request) {
      if (!upstreamInstitutionId)
        throw new BankInvalidRequest(`consent.create at ${institutionId}: the registry keeps no upstream institution id`, details('consent.create'));
      const days = Math.max(1, Math.min(institution.maxConsentDays, Math.ceil((request.validUntil.getTime() - Date.now()) / DAY_MS)));
      const agreement = await call({
        operation: 'agreement.create',
        method: 'POST',
        path: '/api/v2/agreements/enduser/',
        body: {
          institution_id: upstreamInstitutionId,
          max_historical_days: Math.min(institution.maxHistoryDays, UPSTREAM_MAX_HISTORY_DAYS),
          access_valid_for_days: days,
          access_scope: [...new Set(request.scopes.map((s) => SCOPE_NAMES[s]))],
        },
        schema: gcAgreement,
      });
      const redirect = new URL(request.redirectUri);
      redirect.searchParams.set('state', request.state);
      const requisition = await call({
        operation: 'requisition.create',
        method: 'POST',
        path: '/api/v2/requisitions/',
        // The reference comes back as `ref`: the same one-time value as `state`, so either finds the attempt.
        body: { redirect: redirect.href, institution_id: upstreamInstitutionId, agreement: agreement.data.id, reference: request.state, user_language: 'EN' },
        schema: gcRequisition,
      });
      const link = new URL(requisition.data.link);
      if (link.protocol !== 'https:' && !(sandbox && link.protocol === 'http:')) {
        throw new BankInvalidRequest(`requisition.create at ${institutionId}: the link is not an https URL`, details('requisition.create'));
      }
      const secrets: Secrets = { requisitionId: requisition.data.id, agreementId: agreement.data.id, callbackState: request.state };
      return { bankConsentId: requisition.data.id, approach: 'REDIRECT', authorizationUrl: link.href, secrets: secrets as Record<string, string> };
    },

    async complete(_ctx, input): Promise<ConsentCompleted> {
      const secrets = input.secrets as Secrets;
      let callback: URL;
      try {
        callback = new URL(input.callbackUrl);
      } catch {
        return { outcome: 'FAILED', reason: 'INVALID_CALLBACK' };
      }
      const state = callback.searchParams.get('state');
      const ref = callback.searchParams.get('ref');
      if (!secrets.callbackState || state === null || !sameSecret(state, secrets.callbackState)) return { outcome: 'FAILED', reason: 'STATE_MISMATCH' };
      if (ref !== null && !sameSecret(ref, secrets.callbackState)) return { outcome: 'FAILED', reason: 'REFERENCE_MISMATCH' };
      const requisitionId = input.bankConsentId ?? secrets.requisitionId ?? null;
      // The upstream's word decides, not the URL: a redirect can be replayed or edited.
      const requisition = await readRequisition(requisitionId, 'requisition.get');
      switch (mapRequisitionStatus(requisition.status)) {
        case 'VALID': {
          const agreement = await call({
            operation: 'agreement.get',
            method: 'GET',
            path: `/api/v2/agreements/enduser/${encodeURIComponent(requisition.agreement)}/`,
            schema: gcAgreement,
          });
          const accepted = agreement.data.accepted ? Date.parse(agreement.data.accepted) : Date.now();
          return {
            outcome: 'AUTHORISED',
            bankConsentId: requisition.id,
            tokens: null,
            validUntil: new Date(accepted + agreement.data.access_valid_for_days * DAY_MS),
          };
        }
        case 'REJECTED':
          return { outcome: 'REJECTED', reason: 'the end user did not approve access at the bank' };
        case 'RECEIVED':
          if (callback.searchParams.get('error')) return { outcome: 'REJECTED', reason: 'the end user did not complete the authorisation' };
          return { outcome: 'FAILED', reason: `the requisition is not linked yet (${requisition.status})` };
        default:
          return { outcome: 'FAILED', reason: `the upstream reports the requisition as ${requisition.status}` };
      }
    },

    async status(_ctx, input) {
      try {
        return mapRequisitionStatus((await readRequisition(input.bankConsentId, 'requisition.status')).status);
      } catch (err) {
        if (err instanceof BankConsentInvalid && err.httpStatus === 404) return 'REVOKED';
        throw err;
      }
    },

    async revoke(_ctx, input) {
      if (!input.bankConsentId) return;
      try {
        // Deleting the requisition deletes its agreement too.
        await call({
          operation: 'requisition.delete',
          method: 'DELETE',
          path: `/api/v2/requisitions/${encodeURIComponent(input.bankConsentId)}/`,
          schema: gcDeleted,
        });
      } catch (err) {
        if (!notFound(err)) throw err;
        log.info('requisition already gone at the upstream');
      }
    },

    async refresh() {
      // Consents through the upstream hold no end-user tokens: the operator's token is renewed per call.
      throw new BankUnauthorized(`token.refresh at ${institutionId}: consents through the upstream have no tokens to refresh`, details('token.refresh'));
    },
  };

  return consents;
}
