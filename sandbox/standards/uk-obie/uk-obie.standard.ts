import type { SandboxStandard } from '../../core/standard';
import { UK_OBIE_BANKS } from './uk-obie.banks';
import { addSigningIdentity, mountUkObie } from './uk-obie';

/** UK Open Banking Read/Write 3.1.11 in the sandbox. */
export const ukObieSandbox: SandboxStandard = {
  id: 'UK_OPEN_BANKING',
  banks: UK_OBIE_BANKS,
  mount: mountUkObie,
  extendIdentity: addSigningIdentity,
  transactionReportDownloads: false,
};
