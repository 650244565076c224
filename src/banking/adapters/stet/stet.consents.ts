import { BankConsentExpired, BankConsentInvalid, BankError } from '../../errors';
import type { AccessScope, BankConsentStatus, BankTokens } from '../../model';
import { OAuthError, OAuthErrorCode } from '../../oauth';
import type { ConsentAuthorisationPort, ConsentCompleted } from '../../ports';
import type { StetSession } from './stet.session';

/** Keys of `ConsentStarted.secrets` (kept sealed between `start` and `complete`). */
interface StetSecrets {
  /** The OAuth `state` sent (the consent request's own): what the callback must carry back. */
  oauthState: string;
  codeVerifier: string;
  redirectUri: string;
  /** The canonical scopes asked for, space-separated: `PUT /consents` grants them. */
  scopes: string;
}

/**
 * STET consents: an OAuth authorisation code (no consent resource to create first), then
 * `PUT /consents` naming the accounts whose balances and transactions the PSU consented to.
 */
export function createStetConsents(session: StetSession): ConsentAuthorisationPort {
  const { institution, oauthScope, log, oauth, toBankTokens, fetchAccounts, revokeTokens, putConsents } = session;
  return {
    async start(_ctx, request) {
      // STET has no consent resource: validity and frequency are the bank's, set at its pages.
      const client = await oauth();
      const started = await client.startAuthorization({ scope: oauthScope, redirectUri: request.redirectUri, state: request.state });
      const secrets: StetSecrets = {
        oauthState: started.state,
        codeVerifier: started.codeVerifier,
        redirectUri: started.redirectUri,
        scopes: request.scopes.join(' '),
      };
      return { bankConsentId: null, approach: 'REDIRECT', authorizationUrl: started.url, secrets: { ...secrets } };
    },

    async complete(ctx, input): Promise<ConsentCompleted> {
      const secrets = input.secrets as Partial<StetSecrets>;
      if (!secrets.oauthState || !secrets.codeVerifier || !secrets.redirectUri) {
        throw new OAuthError(OAuthErrorCode.INVALID_ARGUMENT, 'the STET consent secrets (state, PKCE verifier, redirect URI) are missing', {
          institutionId: institution.id,
          operation: 'callback',
        });
      }
      const client = await oauth();
      let tokens: BankTokens;
      try {
        tokens = toBankTokens(
          await client.completeAuthorization({
            callbackUrl: input.callbackUrl,
            expected: { state: secrets.oauthState, codeVerifier: secrets.codeVerifier, redirectUri: secrets.redirectUri },
          }),
        );
      } catch (err) {
        // The PSU said no: an outcome, not a failure. Forged or replayed callbacks (state, iss,
        // code) stay errors, so they cannot mark a genuine attempt as failed.
        if (err instanceof OAuthError && err.code === OAuthErrorCode.ACCESS_DENIED) {
          return { outcome: 'REJECTED', reason: err.bankDescription ?? err.oauthError ?? 'access_denied' };
        }
        if (
          err instanceof OAuthError &&
          err.operation === 'callback' &&
          (err.code === OAuthErrorCode.SERVER_ERROR || err.code === OAuthErrorCode.INVALID_REQUEST)
        ) {
          return { outcome: 'FAILED', reason: err.oauthError ?? err.code };
        }
        throw err;
      }

      // Tell the bank which accounts' balances and transactions were consented to (STET PUT /consents).
      const scopes = new Set((secrets.scopes ?? '').split(' ').filter(Boolean) as AccessScope[]);
      try {
        const accounts = await fetchAccounts(ctx, tokens.accessToken, 'consent.accounts');
        const ids = accounts.filter((a) => a.accountId && (a.accountId.iban || a.accountId.other)).map((a) => a.accountId!);
        await putConsents(ctx, tokens.accessToken, {
          balances: scopes.has('BALANCES') ? ids : [],
          transactions: scopes.has('TRANSACTIONS') ? ids : [],
        });
      } catch (err) {
        if (!(err instanceof BankError)) throw err;
        log.warn({ err: err.toJSON() }, 'STET consent set-up failed after the code exchange; revoking the tokens');
        await revokeTokens(tokens).catch((revokeErr: unknown) =>
          log.warn({ err: revokeErr instanceof Error ? revokeErr.name : 'error' }, 'could not revoke the tokens of a failed STET consent'),
        );
        return { outcome: 'FAILED', reason: `${err.code}${err.bankCode ? ` (${err.bankCode})` : ''} during consent set-up` };
      }
      // STET does not tell the AISP how long the PSU's consent lasts.
      return { outcome: 'AUTHORISED', bankConsentId: null, tokens, validUntil: null };
    },

    async status(ctx, input): Promise<BankConsentStatus> {
      if (!input.tokens) return 'RECEIVED';
      // STET has no consent status endpoint: the account list answers for the consent. It counts
      // against the daily budget unless the PSU is present (ctx.psuIpAddress).
      try {
        await fetchAccounts(ctx, input.tokens.accessToken, 'consent.status');
        return 'VALID';
      } catch (err) {
        if (err instanceof BankConsentExpired) return 'EXPIRED';
        if (err instanceof BankConsentInvalid) return 'REVOKED';
        throw err;
      }
    },

    async revoke(ctx, input) {
      if (!input.tokens) return;
      if (await revokeTokens(input.tokens)) return;
      // No revocation endpoint: withdraw the balances and transactions grants at least. The token
      // still lists accounts until it expires; the caller shreds it.
      await putConsents(ctx, input.tokens.accessToken, { balances: [], transactions: [] });
    },

    async refresh(_ctx, tokens) {
      if (!tokens.refreshToken) {
        throw new OAuthError(OAuthErrorCode.REFRESH_TOKEN_INVALID, 'the consent has no refresh token: the PSU must authorise again', {
          institutionId: institution.id,
          operation: 'refresh_token',
        });
      }
      const client = await oauth();
      return toBankTokens(await client.refresh(tokens.refreshToken));
    },
  };
}
