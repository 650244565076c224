import type { SandboxStandard } from '../../core/standard';
import { BERLIN_GROUP_BANKS } from './berlin-group.banks';

/** Berlin Group NextGenPSD2 1.3.12 in the sandbox. */
export const berlinGroupSandbox: SandboxStandard = {
  id: 'BERLIN_GROUP',
  banks: BERLIN_GROUP_BANKS,
  loadMount: async () => (await import('./berlin-group')).mountBerlinGroup,
  transactionReportDownloads: true,
};
