import type { Bank, BankDefinition, SandboxBankInfo, SandboxClientCredentials } from './bank';

/**
 * One standard the sandbox's banks speak: its folder (sandbox/standards/<standard>/) exports one of
 * these from `<standard>.standard.ts`, and the registry (sandbox/standards/index.ts) lists it. The
 * shared sandbox code (partitions, control API) asks the registry and never names a standard.
 */
export interface SandboxStandard {
  /** The standard's id, as the gateway's registry of standards names it (src/banking/standards.ts). */
  id: string;
  /** The sandbox banks that speak it (scenario data). */
  banks: readonly BankDefinition[];
  /**
   * Loads what adds the standard's routes (resource API, published keys…) to a built bank. Loaded
   * on first use, so a gateway lists the sandbox banks without loading their code.
   */
  loadMount(): Promise<(bank: Bank) => void>;
  /**
   * What mounting adds to a bank's identity (the UK banks' message-signing keys), so a bank
   * described before it is built hands out what the built bank will check.
   */
  extendIdentity?(info: SandboxBankInfo, client: SandboxClientCredentials, bankBaseUrl: string): void;
  /** The control API may switch its banks to serving transaction reports as downloads only. */
  transactionReportDownloads: boolean;
}
