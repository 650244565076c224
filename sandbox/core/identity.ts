// What a gateway knows of the sandbox banks before any of them is built: their public
// descriptions and the OAuth clients it is registered as (a standard may add to it: sandbox/describe.ts).
// Kept apart from the banks themselves (OAuth servers, OpenAPI validators, ledgers) so that a
// gateway can list the banks at start without loading the code that builds them.
import { createHash } from 'node:crypto';
import type { BankContext, BankDefinition, SandboxBankInfo, SandboxClientCredentials } from './bank-types';

/**
 * What a gateway knows of a bank before any call: its public description and the OAuth client the
 * gateway is registered as (secret derived from the admin token). Pure, so a sandbox can list its
 * banks without building them.
 */
export function bankIdentity(
  def: BankDefinition,
  ctx: Pick<BankContext, 'publicUrl' | 'mountPath' | 'adminToken'>,
): { info: SandboxBankInfo; client: SandboxClientCredentials } {
  const baseUrl = `${ctx.publicUrl}${ctx.mountPath}/banks/${def.id}`;
  const apiBaseUrl = `${baseUrl}/api`;
  const info: SandboxBankInfo = {
    id: def.id,
    name: def.name,
    standard: def.standard,
    standardVersion: def.standardVersion,
    country: def.country,
    bic: def.bic,
    currency: def.currency,
    apiBaseUrl,
    aisBaseUrl: `${apiBaseUrl}${def.aisPath}`,
    pisBaseUrl: `${apiBaseUrl}${def.pisPath}`,
    issuer: `${baseUrl}/oauth`,
    scaApproaches: [...def.scaApproaches],
    frequencyPerDay: def.frequencyPerDay,
    maxConsentDays: def.maxConsentDays,
    accessTokenTtlSeconds: def.accessTokenTtlSeconds,
    refreshTokenTtlSeconds: def.refreshTokenTtlSeconds,
    paymentProducts: [...def.paymentProducts],
    pageSize: def.pageSize,
  };
  const secret = createHash('sha256').update(`${ctx.adminToken}/${def.id}/client`).digest('base64url');
  const client: SandboxClientCredentials = {
    bankId: def.id,
    clientId: `passerelle-${def.id}`,
    clientSecret: secret,
    redirectUris: [`${ctx.publicUrl}/callback`],
    tokenEndpointAuthMethod: 'client_secret_basic',
  };
  return { info, client };
}
