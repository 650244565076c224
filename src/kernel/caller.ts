/** Deployment environment of a tenant and of its API keys. */
export type Environment = 'sandbox' | 'live';

/** Who is calling: resolved from the API key on every request and every subscribe. */
export interface Caller {
  readonly tenantId: string;
  readonly environment: Environment;
  readonly apiKeyId: string;
}
