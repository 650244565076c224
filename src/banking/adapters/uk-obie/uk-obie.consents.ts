import { BankUnauthorized } from '../../errors';
import type { BankTokens } from '../../model';
import { isOAuthError, OAuthErrorCode, type OAuthTokens } from '../../oauth';
import type { BankCallContext, ConsentCompleted, ConsentRequest, ConsentStarted } from '../../ports';
import { consentValidUntil, permissionsFor } from './uk-obie.mapper';
import { ukConsentResponseSchema, ukEmptySchema } from './uk-obie.schemas';

import { ukDateTime, toBankTokens, isNotFound, PSU_SCOPE, type UkObieSession } from './uk-obie.session';
import type { ConsentAuthorisationPort } from '../../ports';

/** UK account-access consents: created with a client-credentials token, authorised by the PSU at the bank (the consent id as `openbanking_intent_id`), read and deleted. */
export function createUkObieConsents(session: UkObieSession): ConsentAuthorisationPort {
  const { deps, institution, institutionId, log, http, oauth, viaOAuth, asClient, authoriseIntent, readConsent, consentStatusOf, requireConsentId } = session;
  return {
    async start(_ctx: BankCallContext, request: ConsentRequest): Promise<ConsentStarted> {
      const redirectUri = deps.redirectUri ?? request.redirectUri;
      // Discovery first: a bank whose authorisation server is down gets no orphan consent.
      await viaOAuth('oauth.configure', oauth);
      const historyFrom = new Date(Date.now() - institution.maxHistoryDays * 86_400_000);
      const created = await asClient((accessToken) =>
        http.request({
          operation: 'consent.create',
          method: 'POST',
          path: '/account-access-consents',
          accessToken,
          body: {
            Data: {
              Permissions: permissionsFor(request.scopes),
              ExpirationDateTime: ukDateTime(request.validUntil),
              TransactionFromDateTime: ukDateTime(historyFrom),
            },
            Risk: {},
          },
          schema: ukConsentResponseSchema,
        }),
      );
      const consentId = created.data.Data.ConsentId;
      const auth = await authoriseIntent(consentId, PSU_SCOPE, redirectUri, request.state);
      log.info({ consentStatus: created.data.Data.Status, pushed: auth.pushed }, 'UK account-access consent created');
      return {
        bankConsentId: consentId,
        approach: 'REDIRECT',
        authorizationUrl: auth.url,
        secrets: {
          state: auth.state,
          codeVerifier: auth.codeVerifier,
          ...(auth.nonce ? { nonce: auth.nonce } : {}),
          redirectUri: auth.redirectUri,
        },
      };
    },

    async complete(_ctx, input): Promise<ConsentCompleted> {
      const { secrets } = input;
      if (!secrets.state || !secrets.codeVerifier || !secrets.redirectUri) {
        return { outcome: 'FAILED', reason: 'the secrets kept at start (state, PKCE verifier, redirect URI) are missing' };
      }
      const client = await viaOAuth('oauth.configure', oauth);
      let tokens: OAuthTokens;
      try {
        tokens = await client.completeAuthorization({
          callbackUrl: input.callbackUrl,
          expected: {
            state: secrets.state,
            codeVerifier: secrets.codeVerifier,
            redirectUri: secrets.redirectUri,
            ...(secrets.nonce ? { nonce: secrets.nonce } : {}),
          },
        });
      } catch (err) {
        if (isOAuthError(err, OAuthErrorCode.ACCESS_DENIED)) return { outcome: 'REJECTED', reason: err.message };
        if (isOAuthError(err)) return { outcome: 'FAILED', reason: `${err.code}: ${err.message}` };
        throw err;
      }
      const intent = tokens.idTokenClaims?.openbanking_intent_id;
      if (intent !== undefined && input.bankConsentId !== null && intent !== input.bankConsentId) {
        return { outcome: 'FAILED', reason: 'the ID token names another consent than the one this authorisation started with' };
      }
      const consentId = input.bankConsentId ?? (typeof intent === 'string' ? intent : null);
      let validUntil: Date | null = null;
      if (consentId) {
        // The bank may have shortened the validity; and a consent not Authorised is no success.
        const data = await readConsent(consentId);
        const status = consentStatusOf(data, 'consent.get');
        if (status === 'REJECTED') return { outcome: 'REJECTED', reason: 'the bank reports the consent as rejected' };
        if (status !== 'VALID') return { outcome: 'FAILED', reason: `the bank reports the consent as ${status} after authorisation` };
        validUntil = consentValidUntil(data);
      }
      return { outcome: 'AUTHORISED', bankConsentId: consentId, tokens: toBankTokens(tokens), validUntil };
    },

    async status(_ctx, input) {
      const consentId = requireConsentId(input.bankConsentId, 'consent.get');
      try {
        return consentStatusOf(await readConsent(consentId), 'consent.get');
      } catch (err) {
        // After DELETE a UK bank no longer knows the consent: the TPP ended it.
        if (isNotFound(err)) return 'TERMINATED';
        throw err;
      }
    },

    async revoke(_ctx, input) {
      const consentId = requireConsentId(input.bankConsentId, 'consent.delete');
      try {
        await asClient((accessToken) =>
          http.request({
            operation: 'consent.delete',
            method: 'DELETE',
            path: `/account-access-consents/${encodeURIComponent(consentId)}`,
            accessToken,
            schema: ukEmptySchema,
            // Deleting twice leaves the same state: safe to retry.
            idempotent: true,
          }),
        );
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      // Deleting the consent is the standard's revocation: the bank then refuses its tokens too.
      // (RFC 7009 token revocation is not part of the UK profile and is not sent.)
    },

    async refresh(_ctx, tokens: BankTokens): Promise<BankTokens> {
      if (!tokens.refreshToken) {
        throw new BankUnauthorized(`oauth.refresh_token at ${institutionId}: no refresh token; the PSU must authorise again`, {
          institutionId,
          operation: 'oauth.refresh_token',
        });
      }
      const refreshed = await viaOAuth('oauth.refresh_token', async () => (await oauth()).refresh(tokens.refreshToken!));
      return toBankTokens(refreshed);
    },
  };
}
