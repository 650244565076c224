import { pino, type Logger } from 'pino';

/**
 * Paths pino blanks out wherever they appear in a log record. API keys, bank tokens and webhook
 * secrets must never reach a log line even when a caller logs a whole object by mistake.
 */
export const redactPaths = [
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  '*.authorization',
  '*.apiKey',
  '*.secret',
  '*.password',
  '*.token',
  '*.accessToken',
  '*.refreshToken',
  '*.access_token',
  '*.refresh_token',
  '*.client_secret',
  'apiKey',
  'secret',
  'token',
];

export type { Logger };

/** Creates the process logger; `destination` lets tests capture what would be written. */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      redact: { paths: redactPaths, censor: '[redacted]' },
      base: { service: 'passerelle' },
    },
    destination as pino.DestinationStream | undefined,
  );
}
