// The sandbox banks: everything a test or the standalone sandbox needs. A gateway mounts them
// through ./create (light: the bank code loads on the first request to a bank).
export type { Lenience } from './standards/strict';

export type { SandboxBankInfo, SandboxClientCredentials, BankStandard } from './core/bank';
export { MAGIC } from './core/bank';
export { partitionName } from './partition-name';
export { TEST_USERS, SANDBOX_PASSWORD, type TestUser } from './core/users';
export { CODE_VALIDITY_MS, MAX_CODE_FAILURES, SCA_SESSION_TIMEOUT_MS } from './core/sca';
export type { ScaApproach } from './core/state';
export { createSandbox, DEFAULT_MAX_PARTITIONS, type Sandbox, type SandboxOptions } from './create';
