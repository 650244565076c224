import type { SandboxStandard } from '../../core/standard';
import { UK_OBIE_BANKS } from './uk-obie.banks';
import { addSigningIdentity } from './uk-obie.identity';

/** UK Open Banking Read/Write 3.1.11 in the sandbox. */
export const ukObieSandbox: SandboxStandard = {
  id: 'UK_OPEN_BANKING',
  banks: UK_OBIE_BANKS,
  loadMount: async () => (await import('./uk-obie')).mountUkObie,
  extendIdentity: addSigningIdentity,
  transactionReportDownloads: false,
};
