/**
 * Test helper (used by the tests beside it, never by production code): a real HTTP server on
 * 127.0.0.1, port 0, that answers from a queue of scripted handlers and records what it received.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as the server saw it. */
export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export type ScriptedHandler = (req: ReceivedRequest, res: ServerResponse) => void | Promise<void>;

export interface ScriptedServer {
  origin: string;
  received: ReceivedRequest[];
  /** Queues handlers; each request takes the next one (the last one repeats). */
  script(...handlers: ScriptedHandler[]): void;
  close(): Promise<void>;
}

/** Answers `status` with a JSON body and optional headers. */
export function json(status: number, body: unknown, headers: Record<string, string> = {}): ScriptedHandler {
  return (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(body === undefined ? undefined : JSON.stringify(body));
  };
}

/** Answers `status` with a raw body. */
export function raw(status: number, body: string, headers: Record<string, string> = {}): ScriptedHandler {
  return (_req, res) => {
    res.writeHead(status, headers);
    res.end(body);
  };
}

export async function startScriptedServer(): Promise<ScriptedServer> {
  let queue: ScriptedHandler[] = [];
  const received: ReceivedRequest[] = [];
  const sockets = new Set<import('node:net').Socket>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const record: ReceivedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(record);
      const handler = queue.length > 1 ? queue.shift()! : queue[0];
      if (!handler) {
        res.writeHead(500).end();
        return;
      }
      void Promise.resolve(handler(record, res)).catch(() => res.destroy());
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    received,
    script: (...handlers) => {
      queue = handlers;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
