/**
 * mTLS transport: a fetch-compatible function over `node:https` with a keep-alive Agent that
 * presents the operator's QWAC client certificate. Node's global fetch cannot take a client
 * certificate without the `undici` package's Agent, so bank calls that need one go through here.
 */
import { Agent, request as httpsRequest } from 'node:https';
import type { IncomingMessage } from 'node:http';

/** The QWAC (client certificate) and, for banks with a private CA, the CA to trust. */
export interface MtlsOptions {
  /** PEM of the client certificate (the QWAC), optionally followed by its chain. */
  certPem: string;
  /** PEM of the certificate's private key. */
  keyPem: string;
  /** PEM of the CA(s) the bank's server certificate must chain to; the system roots otherwise. */
  caPem?: string;
}

/** The subset of `fetch` the bank client uses. `typeof fetch` satisfies it. */
export type BankFetch = (url: string, init: RequestInit) => Promise<Response>;

/** A fetch that presents a client certificate, and a way to close its idle sockets. */
export interface MtlsTransport {
  fetch: BankFetch;
  /** Destroys the Agent's sockets (at shutdown, or in tests). */
  close(): void;
}

/** An answer exceeded the size limit; the bank client turns it into `BankResponseInvalid`. */
export class ResponseTooLarge extends Error {
  constructor(readonly limitBytes: number) {
    super(`the response is larger than ${limitBytes} bytes`);
    this.name = 'ResponseTooLarge';
  }
}

const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

function toHeaderRecord(headers: RequestInit['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  new Headers(headers ?? {}).forEach((value, key) => {
    out[key] = value;
  });
  return out;
}

function toRequestBody(body: RequestInit['body']): string | Uint8Array | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string' || body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  throw new TypeError('The mTLS transport sends string or byte bodies only');
}

/**
 * Creates the mTLS transport. The key never leaves the Agent; nothing here logs. Bodies are
 * buffered, so `maxBodyBytes` (default 10 MiB) bounds what one answer may hold.
 */
export function createMtlsTransport(options: MtlsOptions, maxBodyBytes = 10 * 1024 * 1024): MtlsTransport {
  const agent = new Agent({
    cert: options.certPem,
    key: options.keyPem,
    ...(options.caPem ? { ca: options.caPem } : {}),
    keepAlive: true,
    minVersion: 'TLSv1.2',
  });

  const fetchOverHttps: BankFetch = (url, init) =>
    new Promise<Response>((resolve, reject) => {
      const target = new URL(url);
      if (target.protocol !== 'https:') {
        reject(new TypeError('mTLS needs an https:// URL'));
        return;
      }
      const signal = init.signal ?? undefined;
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      let body: string | Uint8Array | undefined;
      try {
        body = toRequestBody(init.body);
      } catch (err) {
        reject(err);
        return;
      }
      const method = (init.method ?? 'GET').toUpperCase();
      const req = httpsRequest(target, { method, headers: toHeaderRecord(init.headers), agent }, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let total = 0;
        res.on('data', (chunk: Buffer) => {
          total += chunk.length;
          if (total > maxBodyBytes) {
            reject(new ResponseTooLarge(maxBodyBytes));
            req.destroy();
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', reject);
        // A body cut off (abort, reset) may end without 'error' on some Node versions.
        res.on('close', () => {
          if (!res.complete) reject(signal?.aborted ? signal.reason : new Error('the response was cut off'));
        });
        res.on('end', () => {
          const headers = new Headers();
          for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) headers.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
          const status = res.statusCode ?? 502;
          const noBody = NULL_BODY_STATUSES.has(status) || method === 'HEAD';
          try {
            resolve(new Response(noBody ? null : Buffer.concat(chunks), { status, statusText: res.statusMessage ?? '', headers }));
          } catch (err) {
            reject(err);
          }
        });
      });
      const onAbort = (): void => {
        req.destroy(signal?.reason instanceof Error ? signal.reason : new DOMException('The operation was aborted', 'AbortError'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('close', () => signal?.removeEventListener('abort', onAbort));
      req.on('error', reject);
      req.end(body);
    });

  return { fetch: fetchOverHttps, close: () => agent.destroy() };
}
