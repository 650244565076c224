import * as client from 'openid-client';
import { describe, expect, it } from 'vitest';
import { callbackError, OAuthErrorCode, redact, toOAuthError, type ErrorContext } from './oauth.errors';

const ctx = (operation: ErrorContext['operation'], secrets: string[] = []): ErrorContext => ({ institutionId: 'bank', operation, secrets });

const bodyError = (status: number, body: { error: string; error_description?: string }) =>
  new client.ResponseBodyError('server responded with an error in the response body', {
    cause: body,
    response: new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } }),
  });

describe('OAuth error mapping', () => {
  it('maps the bank callback errors: access_denied to ACCESS_DENIED, outages to SERVER_ERROR, the rest to INVALID_REQUEST', () => {
    expect(callbackError('access_denied', 'User said no', ctx('callback'))).toMatchObject({
      code: OAuthErrorCode.ACCESS_DENIED,
      oauthError: 'access_denied',
      bankDescription: 'User said no',
    });
    expect(callbackError('temporarily_unavailable', undefined, ctx('callback'))).toMatchObject({ code: OAuthErrorCode.SERVER_ERROR, retryable: true });
    expect(callbackError('server_error', undefined, ctx('callback')).code).toBe(OAuthErrorCode.SERVER_ERROR);
    expect(callbackError('invalid_scope', undefined, ctx('callback'))).toMatchObject({ code: OAuthErrorCode.INVALID_REQUEST, retryable: false });
  });

  it('drops an error value that is not a plain OAuth error code instead of echoing it', () => {
    const err = callbackError('<script>"x"</script>\\', undefined, ctx('callback'));
    expect(err.code).toBe(OAuthErrorCode.INVALID_REQUEST);
    expect(err.oauthError).toBeUndefined();
    expect(err.message).not.toContain('script');
  });

  it('reads invalid_grant by operation: CODE_INVALID for a code, REFRESH_TOKEN_INVALID for a refresh token', () => {
    expect(toOAuthError(bodyError(400, { error: 'invalid_grant' }), ctx('authorization_code')).code).toBe(OAuthErrorCode.CODE_INVALID);
    expect(toOAuthError(bodyError(400, { error: 'invalid_grant' }), ctx('refresh_token')).code).toBe(OAuthErrorCode.REFRESH_TOKEN_INVALID);
    expect(toOAuthError(bodyError(400, { error: 'invalid_grant' }), ctx('client_credentials')).code).toBe(OAuthErrorCode.INVALID_REQUEST);
    expect(toOAuthError(bodyError(401, { error: 'invalid_client' }), ctx('refresh_token')).code).toBe(OAuthErrorCode.INVALID_CLIENT);
    expect(toOAuthError(bodyError(503, { error: 'temporarily_unavailable' }), ctx('refresh_token'))).toMatchObject({
      code: OAuthErrorCode.SERVER_ERROR,
      status: 503,
      retryable: true,
    });
  });

  it('removes known secrets from what the bank wrote and from the kept cause', () => {
    const secret = 'rt-0123456789abcdef';
    const err = toOAuthError(
      bodyError(400, { error: 'invalid_grant', error_description: `refresh token ${secret} is revoked` }),
      ctx('refresh_token', [secret]),
    );
    expect(err.bankDescription).toBe('refresh token [redacted] is revoked');
    expect(JSON.stringify(err)).not.toContain(secret);
    expect(String((err.cause as Error).message)).not.toContain(secret);
    // The library error keeps the raw body; the OAuthError's cause is a copy without it.
    expect((err.cause as { cause?: unknown }).cause).toBeUndefined();
  });

  it('bounds what it keeps of a long description', () => {
    expect(redact('x'.repeat(1000), [])!.length).toBeLessThanOrEqual(201);
    expect(redact(undefined, ['abcd'])).toBeUndefined();
  });
});
