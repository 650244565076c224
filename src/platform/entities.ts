import { ApiKey } from '../modules/tenancy/api-key.entity';
import { EndUser } from '../modules/tenancy/end-user.entity';
import { Tenant } from '../modules/tenancy/tenant.entity';

/** Every persistent entity. Each module adds its own here (and a migration under migrations/). */
export const entities = [Tenant, ApiKey, EndUser];
