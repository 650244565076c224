/**
 * The canonical banking model: what modules see of any bank, whatever standard it speaks.
 * Adapters translate each standard to and from these shapes; nothing here names a standard's
 * field.
 */

/** PSD2 API standards Passerelle speaks. */
export type Standard = 'BERLIN_GROUP' | 'STET' | 'UK_OPEN_BANKING';

/** What a consent may grant access to. */
export type AccessScope = 'ACCOUNTS' | 'BALANCES' | 'TRANSACTIONS';

/** How the bank authenticates the PSU. */
export type ScaApproach = 'REDIRECT' | 'OAUTH' | 'DECOUPLED' | 'EMBEDDED';

/** Payment schemes the gateway can initiate. */
export type PaymentScheme = 'SEPA_CREDIT_TRANSFER' | 'SEPA_INSTANT' | 'FASTER_PAYMENTS';

/** Everything the gateway knows about one bank: identity, endpoints, limits and quirks. */
export interface InstitutionDescriptor {
  /** Stable slug, e.g. `nordlicht`; part of the institution's global id. */
  id: string;
  name: string;
  bic: string;
  /** ISO 3166-1 alpha-2. */
  country: string;
  logoUrl: string | null;
  standard: Standard;
  /** Version of the standard the bank speaks, e.g. `1.3.12`, `1.6`, `3.1.11`. */
  standardVersion: string;
  /** `sandbox` institutions serve sandbox tenants only; `live` ones serve live tenants only. */
  environment: 'sandbox' | 'live';
  /** Root of the account-information API (paths of the standard are appended). */
  aisBaseUrl: string;
  /** Root of the payment-initiation API. */
  pisBaseUrl: string;
  /** OAuth authorisation server of the bank (OIDC discovery at its well-known URL). */
  issuer: string | null;
  scopes: AccessScope[];
  paymentSchemes: PaymentScheme[];
  /** The bank's own product names (e.g. `sepa-credit-transfers`, `SCT`, `domestic-payments`). */
  paymentProducts: string[];
  scaApproaches: ScaApproach[];
  /** Longest consent validity the bank grants, in days (EEA ≤ 180; UK 90 with reconfirmation). */
  maxConsentDays: number;
  /** How far back the bank serves transactions, in days. */
  maxHistoryDays: number;
  /** Unattended reads per consent and scope per day (PSD2: at most 4). */
  frequencyPerDay: number;
  /** Bank-specific behaviour as data (e.g. `{ "transactionIdsUnstable": true }`), never a fork. */
  quirks: Record<string, unknown>;
}
