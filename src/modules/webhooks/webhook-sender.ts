import http from 'node:http';
import https from 'node:https';
import dns from 'node:dns';
import type { LookupFunction } from 'node:net';
import { isPublicAddress } from '../../platform/ip';
import { encodeEventCursor, publicResourceId, type EventEntry } from '../events';
import type { LaneEndpoint } from './delivery.store';
import { signatureHeader, type SigningKey } from './signing';

const MAX_RESPONSE_BYTES = 64 * 1024;
/** An endpoint's connections are closed after this long without a request. */
const IDLE_CHANNEL_MS = 60_000;

export interface AttemptResult {
  ok: boolean;
  status: number | null;
  error: string | null;
  durationMs: number;
  /** Epoch ms when the request was sent. */
  at: number;
}

/** Refuses to connect anywhere but the public internet (live tenants): checked on the address actually dialled. */
const publicOnly: LookupFunction = (hostname, options, callback) => {
  dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '', 0);
    const list = addresses as dns.LookupAddress[];
    const bad = list.find((a) => !isPublicAddress(a.address));
    if (bad || list.length === 0)
      return callback(Object.assign(new Error('the receiver resolves to an address that is not public'), { code: 'EADDRNOTALLOWED' }), '', 0);
    if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, list);
    callback(null, list[0]!.address, list[0]!.family);
  });
};

/** One endpoint's keep-alive connections and how many of this process's lane runs use it. */
export interface EndpointChannel {
  readonly endpointId: string;
  readonly url: URL;
  readonly agent: http.Agent;
  /** Lane runs on this endpoint now (each has at most one request in flight). */
  running: number;
  lastUsed: number;
}

/** The body of a delivery: the event as the `events` query answers it, in the Standard Webhooks envelope. */
export function webhookBody(event: Omit<EventEntry, 'cursor'>): string {
  const e = { ...event, resourceId: publicResourceId(event), cursor: encodeEventCursor(event.txid, event.seq) };
  return JSON.stringify({
    type: e.type,
    timestamp: e.createdAt.toISOString(),
    data: {
      id: e.id,
      type: e.type,
      resourceType: event.resourceType,
      resourceId: e.resourceId,
      resourceSequence: e.resourceSequence,
      createdAt: e.createdAt,
      cursor: e.cursor,
      payload: e.payload,
    },
  });
}

/**
 * Signed POSTs to webhook receivers, each endpoint on its own keep-alive agent (at most
 * `endpointConcurrency` connections): connections are reused across deliveries and lanes of
 * that endpoint, never shared with another endpoint (or tenant).
 */
export class WebhookSender {
  private readonly channels = new Map<string, EndpointChannel>();
  /** Cuts a request in flight short. */
  private readonly inflight = new Set<(reason: Error) => void>();
  private closed = false;

  constructor(private readonly settings: { timeoutMs: number; endpointConcurrency: number }) {}

  /** The endpoint's channel, created on first use. */
  channel(endpoint: Pick<LaneEndpoint, 'id' | 'url' | 'environment'>): EndpointChannel {
    const known = this.channels.get(endpoint.id); // an endpoint's URL never changes
    if (known) return known;
    const url = new URL(endpoint.url);
    const options: http.AgentOptions = {
      keepAlive: true,
      maxSockets: this.settings.endpointConcurrency,
      maxFreeSockets: this.settings.endpointConcurrency,
      scheduling: 'lifo',
    };
    if (endpoint.environment === 'live') Object.assign(options, { lookup: publicOnly });
    const agent = url.protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
    const channel: EndpointChannel = { endpointId: endpoint.id, url, agent, running: 0, lastUsed: Date.now() };
    this.channels.set(endpoint.id, channel);
    return channel;
  }

  /** Closes the connections of endpoints unused for a while (deleted ones included). */
  dropIdle(now = Date.now()): void {
    for (const [id, c] of this.channels) {
      if (c.running === 0 && now - c.lastUsed > IDLE_CHANNEL_MS) {
        c.agent.destroy();
        this.channels.delete(id);
      }
    }
  }

  /** One POST signed with each of `keys`; null when cut short by shutdown. */
  async send(channel: EndpointChannel, keys: readonly SigningKey[], event: Omit<EventEntry, 'cursor'>): Promise<AttemptResult | null> {
    const body = webhookBody(event);
    const timestamp = Math.floor(Date.now() / 1000);
    const headers = {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'user-agent': 'Passerelle-Webhooks/1',
      'webhook-id': event.id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signatureHeader(keys, event.id, timestamp, body),
    };
    // One timer for the whole attempt (a retry on a fresh connection included); shutdown cuts it the same way.
    let current: http.ClientRequest | undefined;
    let cut: Error | undefined;
    const stop = (reason: Error) => {
      cut ??= reason;
      current?.destroy(reason);
    };
    const timeout = setTimeout(() => stop(new Error('timeout')), this.settings.timeoutMs);
    this.inflight.add(stop);
    channel.lastUsed = Date.now();
    const at = Date.now();
    const started = performance.now();
    const request = (again: boolean): Promise<number> =>
      new Promise<number>((resolve, reject) => {
        const req = (channel.url.protocol === 'https:' ? https : http).request(channel.url, { method: 'POST', agent: channel.agent, headers }, (res) => {
          let read = 0;
          res.on('data', (chunk: Buffer) => {
            read += chunk.length;
            if (read > MAX_RESPONSE_BYTES) res.destroy();
          });
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('close', () => resolve(res.statusCode ?? 0));
          res.on('error', reject);
        });
        req.on('error', (err: NodeJS.ErrnoException) => {
          // A kept-alive connection the receiver closed just as we reused it: one more try on a new one.
          if (!again && req.reusedSocket && err.code === 'ECONNRESET' && !cut) resolve(request(true));
          else reject(err);
        });
        current = req;
        if (cut) req.destroy(cut);
        req.end(body);
      });
    try {
      const status = await request(false);
      const ok = status >= 200 && status < 300;
      return { ok, status, error: ok ? null : `the receiver answered HTTP ${status}`, durationMs: Math.round(performance.now() - started), at };
    } catch (err) {
      if (this.closed) return null;
      return { ok: false, status: null, error: describe(err, this.settings.timeoutMs), durationMs: Math.round(performance.now() - started), at };
    } finally {
      clearTimeout(timeout);
      this.inflight.delete(stop);
      channel.lastUsed = Date.now();
    }
  }

  /** Cuts every request in flight short (their deliveries are sent again later). */
  abortAll(): void {
    this.closed = true;
    for (const stop of this.inflight) stop(new Error('shutdown'));
  }

  destroy(): void {
    for (const c of this.channels.values()) c.agent.destroy();
    this.channels.clear();
  }
}

/** A failure in words for the delivery log: what happened, never a secret or the URL. */
function describe(err: unknown, timeoutMs: number): string {
  const e = err as { code?: string; message?: string };
  if (e.message === 'timeout') return `no answer within ${timeoutMs} ms`;
  switch (e.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
      return 'connection reset by the receiver';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'the host name does not resolve';
    case 'EADDRNOTALLOWED':
      return 'the receiver resolves to an address that is not public (refused in live)';
    default:
      return e.code ? `network error ${e.code}` : 'the request failed';
  }
}
