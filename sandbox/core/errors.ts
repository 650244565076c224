import type { Request, Response } from 'express';

/**
 * Canonical error codes inside the sandbox. Each standard's dialect renders them in its own
 * shape and wording (Berlin Group tppMessages, UK OBErrorResponse1, STET error model).
 */
export type BankErrorCode =
  | 'FORMAT_ERROR'
  /** A header the official file requires is absent (UK `UK.OBIE.Header.Missing`; BG and STET: FORMAT_ERROR). */
  | 'HEADER_MISSING'
  | 'PARAMETER_NOT_SUPPORTED'
  | 'CONSENT_UNKNOWN'
  | 'CONSENT_INVALID'
  | 'CONSENT_EXPIRED'
  | 'ACCESS_EXCEEDED'
  | 'RATE_LIMITED'
  | 'TOKEN_INVALID'
  | 'TOKEN_EXPIRED'
  | 'RESOURCE_UNKNOWN'
  | 'PERIOD_INVALID'
  | 'SERVICE_UNAVAILABLE'
  | 'INTERNAL_SERVER_ERROR'
  | 'CANCELLATION_INVALID'
  | 'STATUS_INVALID'
  | 'DUPLICATE_REQUEST'
  | 'PAYMENT_INVALID';

export interface ErrorDetail {
  /** Path or header the error is about (UK `Path`, BG `path`). */
  path?: string;
  retryAfterSeconds?: number;
}

export interface Dialect {
  sendError(req: Request, res: Response, status: number, code: BankErrorCode, text: string, detail?: ErrorDetail): void;
}

/** Default HTTP status per code, following the Berlin Group implementation guide. */
export const defaultStatus: Record<BankErrorCode, number> = {
  FORMAT_ERROR: 400,
  HEADER_MISSING: 400,
  PARAMETER_NOT_SUPPORTED: 400,
  CONSENT_UNKNOWN: 403,
  CONSENT_INVALID: 401,
  CONSENT_EXPIRED: 401,
  ACCESS_EXCEEDED: 429,
  RATE_LIMITED: 429,
  TOKEN_INVALID: 401,
  TOKEN_EXPIRED: 401,
  RESOURCE_UNKNOWN: 404,
  PERIOD_INVALID: 400,
  SERVICE_UNAVAILABLE: 503,
  INTERNAL_SERVER_ERROR: 500,
  CANCELLATION_INVALID: 405,
  STATUS_INVALID: 409,
  DUPLICATE_REQUEST: 409,
  PAYMENT_INVALID: 400,
};

/** Thrown inside route handlers; the bank's error middleware renders it in the dialect. */
export class BankError extends Error {
  constructor(
    readonly code: BankErrorCode,
    message: string,
    readonly status: number = defaultStatus[code],
    readonly detail: ErrorDetail = {},
  ) {
    super(message);
    this.name = 'BankError';
  }
}
