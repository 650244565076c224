import type { Caller } from '../../kernel/caller';
import type { AccessScope, InstitutionDescriptor, PaymentScheme } from '../../banking/model';
import type { InstitutionRegistry } from '../../banking/registry';
import { sandboxPartitionOf } from '../../banking/sandbox-institutions';

/** What a caller may ask an institution to do. */
export type Capability = AccessScope | PaymentScheme;

export interface InstitutionFilter {
  /** ISO 3166-1 alpha-2, case-insensitive. */
  country?: string | null;
  /** Matched against name and BIC, case- and accent-insensitive. */
  search?: string | null;
  capability?: Capability | null;
}

const fold = (s: string) => s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();

/** The institutions a tenant may connect to: sandbox banks for sandbox keys, live banks for live keys. */
export class InstitutionsService {
  /**
   * @param sandboxPartition the sandbox partition of a tenant: every sandbox institution a tenant
   * gets is that tenant's own copy of the bank (absent: all tenants share the sandbox banks).
   */
  constructor(
    private readonly registry: InstitutionRegistry,
    private readonly sandboxPartition?: (tenantId: string) => string,
  ) {}

  list(caller: Caller, filter: InstitutionFilter): InstitutionDescriptor[] {
    const country = filter.country?.trim().toUpperCase();
    const search = filter.search ? fold(filter.search.trim()) : '';
    return this.registry
      .list(caller.environment)
      .filter(
        (i) =>
          (!country || i.country === country) &&
          (!search || fold(i.name).includes(search) || i.bic.toLowerCase().startsWith(search)) &&
          (!filter.capability || (i.scopes as Capability[]).includes(filter.capability) || (i.paymentSchemes as Capability[]).includes(filter.capability)),
      );
  }

  /** One institution, if it exists in the caller's environment. */
  get(caller: Caller, id: string): InstitutionDescriptor | undefined {
    const i = this.registry.get(id);
    if (!i || i.environment !== caller.environment) return undefined;
    return this.sandboxPartition && i.quirks.sandbox === true ? sandboxPartitionOf(i, this.sandboxPartition(caller.tenantId)) : i;
  }
}
