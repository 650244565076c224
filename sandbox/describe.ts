import { BANK_DEFINITIONS } from './banks';
import type { BankContext, SandboxBankInfo, SandboxClientCredentials } from './core/bank';
import { bankIdentity } from './core/identity';
import { sandboxStandard } from './standards';

/**
 * The banks a partition at `base` serves and the OAuth clients it knows, without building any bank
 * or loading a standard's routes (the registry's entries load those on first use).
 */
export function describePartition(
  ctx: Pick<BankContext, 'publicUrl' | 'adminToken'>,
  base: string,
): { banks: SandboxBankInfo[]; clients: Record<string, SandboxClientCredentials> } {
  const ids = BANK_DEFINITIONS.map((def) => {
    const id = bankIdentity(def, { ...ctx, mountPath: base });
    // What mounting adds to the identity (the UK banks' message-signing keys), the same as the built bank's.
    sandboxStandard(def.standard).extendIdentity?.(id.info, id.client, `${ctx.publicUrl}${base}/banks/${def.id}`);
    return id;
  });
  return { banks: ids.map((i) => i.info), clients: Object.fromEntries(ids.map((i) => [i.info.id, i.client])) };
}
