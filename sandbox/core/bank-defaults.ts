/** What every sandbox bank has unless its definition says otherwise. */
export const BANK_DEFAULTS = {
  frequencyPerDay: 4,
  accessTokenTtlSeconds: 3600,
  pageSize: 100,
  paymentSchedule: { acceptAfterSeconds: 0, settleAfterSeconds: 60 },
};
