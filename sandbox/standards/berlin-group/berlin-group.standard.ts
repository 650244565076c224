import type { SandboxStandard } from '../../core/standard';
import { BERLIN_GROUP_BANKS } from './berlin-group.banks';
import { mountBerlinGroup } from './berlin-group';

/** Berlin Group NextGenPSD2 1.3.12 in the sandbox. */
export const berlinGroupSandbox: SandboxStandard = {
  id: 'BERLIN_GROUP',
  banks: BERLIN_GROUP_BANKS,
  mount: mountBerlinGroup,
  transactionReportDownloads: true,
};
