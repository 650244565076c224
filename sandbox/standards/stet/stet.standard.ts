import type { SandboxStandard } from '../../core/standard';
import { STET_BANKS } from './stet.banks';
import { mountStet } from './stet';

/** STET PSD2 API 1.6 in the sandbox. */
export const stetSandbox: SandboxStandard = {
  id: 'STET',
  banks: STET_BANKS,
  mount: mountStet,
  transactionReportDownloads: false,
};
