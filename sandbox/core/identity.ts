// What a gateway knows of the sandbox banks before any of them is built: their public
// descriptions, the OAuth clients it is registered as, and the UK banks' message-signing keys.
// Kept apart from the banks themselves (OAuth servers, OpenAPI validators, ledgers) so that a
// gateway can list the banks at start without loading the code that builds them.
import { createHash } from 'node:crypto';
import type { BankContext, BankDefinition, BankStandard, SandboxBankInfo, SandboxClientCredentials } from './bank';
import { SANDBOX_TAN, signingKeyPair } from './jws';
import { BANK_DEFINITIONS } from '../banks';

/** The standards a partition mounts (the others in BANK_DEFINITIONS are listed nowhere). */
export const MOUNTED_STANDARDS: ReadonlySet<BankStandard> = new Set<BankStandard>(['BERLIN_GROUP', 'STET', 'UK_OPEN_BANKING']);

/**
 * What a gateway knows of a bank before any call: its public description and the OAuth client the
 * gateway is registered as (secret derived from the admin token). Pure, so a sandbox can list its
 * banks without building them.
 */
export function bankIdentity(def: BankDefinition, ctx: Pick<BankContext, 'publicUrl' | 'mountPath' | 'adminToken'>): { info: SandboxBankInfo; client: SandboxClientCredentials } {
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

/**
 * The message-signing part of a UK bank's identity: the key the TPP (the gateway's client) signs
 * with, and where the bank publishes its own. Process-wide keys per bank id, so describing a bank
 * before it is built (a lazy partition) hands out the keys the built bank will check.
 */
export function addSigningIdentity(info: SandboxBankInfo, client: SandboxClientCredentials, bankBaseUrl: string) {
  const bankKey = signingKeyPair(`${info.id}-bank-signing`);
  const tppKey = signingKeyPair(`${info.id}-tpp-signing`);
  const bankIss = `sandbox-${info.id}`;
  const tppIss = `sandbox-tpp/${client.clientId}`;
  client.jwsSigningKey = { pem: tppKey.privatePem, kid: tppKey.kid, iss: tppIss, tan: SANDBOX_TAN };
  info.jws = { jwksUrl: `${bankBaseUrl}/jwks`, issuer: bankIss, trustAnchor: SANDBOX_TAN };
  return { bankKey, tppKey, bankIss, tppIss };
}

/** The banks a partition at `base` serves and the OAuth clients it knows, without building any bank. */
export function describePartition(ctx: Pick<BankContext, 'publicUrl' | 'adminToken'>, base: string): { banks: SandboxBankInfo[]; clients: Record<string, SandboxClientCredentials> } {
  const ids = BANK_DEFINITIONS.filter((def) => MOUNTED_STANDARDS.has(def.standard)).map((def) => {
    const id = bankIdentity(def, { ...ctx, mountPath: base });
    // What mounting adds to the identity (the UK banks' message-signing keys), the same as the built bank's.
    if (def.standard === 'UK_OPEN_BANKING') addSigningIdentity(id.info, id.client, `${ctx.publicUrl}${base}/banks/${def.id}`);
    return id;
  });
  return { banks: ids.map((i) => i.info), clients: Object.fromEntries(ids.map((i) => [i.info.id, i.client])) };
}
