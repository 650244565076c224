/**
 * The vault: envelope encryption of bank tokens under a KMS-wrapped master key (DESIGN D4).
 *
 * Key hierarchy: KMS key (Cloud KMS or local key file) → master key versions (table
 * `vault_master_key`, unwrapped once at start-up) → one data key per consent or payment
 * authorisation (`vault_data_key`) → sealed values stored by their modules, bound by AAD to
 * tenant/owner/purpose.
 */
import type { MikroORM } from '@mikro-orm/postgresql';
import path from 'node:path';
import type { Config } from '../../config';
import type { Logger } from '../../platform/logger';
import type { Metrics } from '../../platform/metrics';
import type { KmsProvider } from './kms/kms.provider';
import { LocalKmsProvider } from './kms/local-kms.provider';
import { VaultError, VaultErrorCode } from './vault.errors';
import { VaultService } from './vault.service';

export type { KmsProvider } from './kms/kms.provider';
export type { GcpKmsOptions } from './kms/gcp-kms.provider';
export { LocalKmsProvider } from './kms/local-kms.provider';
export { isVaultError, VaultError, VaultErrorCode } from './vault.errors';
export {
  VaultService,
  type RotateOptions,
  type RotationProgress,
  type RotationReport,
  type SealContext,
  type VaultCallOptions,
  type VaultOwner,
  type VaultKeyCacheSettings,
  type VaultStatus,
  VAULT_KEYS_TOPIC,
} from './vault.service';

/** File name of the local KMS key under DATA_DIR. */
export const LOCAL_KMS_KEY_FILE = 'kms-local.key';

/**
 * Opens the vault: picks the KMS from the configuration (unless `kms` is given), unwraps the active
 * master key with one KMS call — creating master key version 1 on an empty database — and keeps it
 * in memory only. Refuses the local key file in `live` unless ALLOW_LOCAL_KMS_IN_LIVE is set.
 * Requires the vault migration to have run.
 */
export async function openVault(deps: {
  config: Config;
  orm: MikroORM;
  logger: Logger;
  kms?: KmsProvider;
  metrics?: Pick<Metrics, 'vault'>;
}): Promise<VaultService> {
  const { config, orm, logger } = deps;
  const kind = deps.kms?.kind ?? config.kms.provider;
  if (kind === 'local' && config.environment === 'live') {
    if (!config.kms.allowLocalInLive) {
      throw new VaultError(
        VaultErrorCode.LOCAL_KMS_REFUSED,
        'The local KMS key file is refused in live: set KMS_KEY_NAME to a Cloud KMS key (or ALLOW_LOCAL_KMS_IN_LIVE=true, insecure)',
      );
    }
    logger.warn('vault: live environment on the local KMS key file (ALLOW_LOCAL_KMS_IN_LIVE); bank tokens are only as safe as that file');
  }
  let kms = deps.kms;
  if (!kms) {
    if (config.kms.provider === 'gcp') {
      if (!config.kms.keyName) throw new VaultError(VaultErrorCode.INTERNAL, 'KMS provider gcp without KMS_KEY_NAME');
      // Loaded on demand: the Cloud KMS client (gRPC, protobufs) is heavy and local mode never needs it.
      const { GcpKmsProvider } = await import('./kms/gcp-kms.provider');
      kms = new GcpKmsProvider({ keyName: config.kms.keyName, apiEndpoint: config.kms.apiEndpoint });
    } else {
      // The key file is created only for an empty vault: a lost file must be reported, not replaced.
      const [row] = await orm.em.fork().getConnection().execute<{ n: string }[]>('select count(*) as n from vault_master_key');
      kms = LocalKmsProvider.open(path.join(config.dataDir, LOCAL_KMS_KEY_FILE), { create: Number(row.n) === 0 });
    }
  }
  // On failure, start() zeroes what it unwrapped and closes a provider it owns.
  return VaultService.start({ orm, logger, kms, ownsKms: deps.kms === undefined, metrics: deps.metrics, keyCache: config.vaultKeyCache });
}
