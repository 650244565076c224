import https from 'node:https';
import type * as client from 'openid-client';

/** A client certificate (eIDAS QWAC or the bank's own) for mutual TLS with the bank. */
export interface MtlsCredentials {
  /** PEM certificate chain presented to the bank. */
  certPem: string;
  /** PEM private key of that certificate. */
  keyPem: string;
  /** PEM CA certificates to trust for the bank's server certificate, instead of Node's defaults. */
  caPem?: string;
}

const NO_BODY_STATUS = new Set([101, 204, 205, 304]);

function bodyBytes(body: client.CustomFetchOptions['body']): Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof URLSearchParams) return Buffer.from(body.toString());
  if (body instanceof Uint8Array) return Buffer.from(body);
  if (body instanceof ArrayBuffer) return Buffer.from(new Uint8Array(body));
  throw new TypeError('mtlsFetch: streamed request bodies are not supported');
}

/**
 * A fetch for openid-client that presents a client certificate on every https request. Node's
 * global fetch cannot take one without the undici package, so this speaks node:https. Plain http
 * URLs (sandbox banks only; the caller decides) go to the global fetch without a certificate.
 */
export function mtlsFetch(credentials: MtlsCredentials): client.CustomFetch {
  const agent = new https.Agent({
    cert: credentials.certPem,
    key: credentials.keyPem,
    ...(credentials.caPem ? { ca: credentials.caPem } : {}),
    keepAlive: false,
  });
  return (url, options) => {
    const target = new URL(url);
    if (target.protocol !== 'https:') return fetch(url, options as RequestInit);
    const payload = bodyBytes(options.body);
    return new Promise<Response>((resolve, reject) => {
      const req = https.request(
        target,
        {
          method: options.method,
          agent,
          headers: { ...options.headers, ...(payload ? { 'content-length': String(payload.length) } : {}) },
          ...(options.signal ? { signal: options.signal } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const headers = new Headers();
            for (const [name, value] of Object.entries(res.headers)) {
              if (value === undefined) continue;
              for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
            }
            const status = res.statusCode ?? 0;
            const responseBody = NO_BODY_STATUS.has(status) ? null : Buffer.concat(chunks);
            resolve(new Response(responseBody, { status, statusText: res.statusMessage ?? '', headers }));
          });
        },
      );
      req.on('error', (err) => reject(err.name === 'AbortError' ? err : Object.assign(new TypeError('fetch failed'), { cause: err })));
      if (payload) req.write(payload);
      req.end();
    });
  };
}
