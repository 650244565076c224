import type { SandboxStandard } from '../../core/standard';
import { STET_BANKS } from './stet.banks';

/** STET PSD2 API 1.6 in the sandbox. */
export const stetSandbox: SandboxStandard = {
  id: 'STET',
  banks: STET_BANKS,
  loadMount: async () => (await import('./stet')).mountStet,
  transactionReportDownloads: false,
};
