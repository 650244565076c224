import type { SandboxBankInfo, SandboxClientCredentials } from '../../core/bank';
import { SANDBOX_TAN, signingKeyPair } from '../../core/jws';

/**
 * The message-signing part of a UK bank's identity: the key the TPP (the gateway's client) signs
 * with, and where the bank publishes its own. Process-wide keys per bank id, so describing a bank
 * before it is built (a lazy partition) hands out the keys the built bank will check. Kept apart
 * from the routes so a gateway can list the banks without loading them.
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
