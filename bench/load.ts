// A small closed-loop HTTP load generator, run as its own process so it never shares the event
// loop of the server it measures: `concurrency` keep-alive connections, each sending the next
// POST as soon as the previous answer is read; a warm-up, then a measured window.
//   npx tsx bench/load.ts --url http://127.0.0.1:4000/graphql --body '{"query":…}' \
//     [--header 'authorization: Bearer …'] [--concurrency 32] [--warmup 3] [--duration 10] [--server-pid PID]
// Prints one JSON line: { requests, seconds, rps, p50ms, p99ms, errors, firstError, bytes, serverCpuMs }.
// With --server-pid (Linux), serverCpuMs is the CPU time (user + system) that process used during the
// measured window: CPU per request depends far less on how busy the machine is than requests/s does.
// An answer counts as an error unless it is 200 and has no top-level "errors" member.
import fs from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    body: { type: 'string' },
    header: { type: 'string', multiple: true, default: [] },
    concurrency: { type: 'string', default: '32' },
    warmup: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    'server-pid': { type: 'string' },
  },
});
if (!values.url || values.body === undefined) {
  console.error('usage: tsx bench/load.ts --url URL --body JSON [--header "name: value"]… [--concurrency 32] [--warmup 3] [--duration 10]');
  process.exit(2);
}
const url = new URL(values.url);
const body = Buffer.from(values.body);
const concurrency = Number(values.concurrency);
const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': body.length };
for (const h of values.header) {
  const i = h.indexOf(':');
  headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
}
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });

function once(): Promise<{ ok: boolean; bytes: number; text?: string }> {
  return new Promise((resolve) => {
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname + url.search, method: 'POST', agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        // A GraphQL error answer starts with {"errors" or carries ,"errors": at the top level.
        const ok = res.statusCode === 200 && !text.startsWith('{"errors"') && !text.includes('},"errors":[');
        resolve({ ok, bytes: text.length, ...(ok ? {} : { text: `${res.statusCode} ${text.slice(0, 300)}` }) });
      });
      res.on('error', (e) => resolve({ ok: false, bytes: 0, text: String(e) }));
    });
    req.on('error', (e) => resolve({ ok: false, bytes: 0, text: String(e) }));
    req.end(body);
  });
}

const warmupMs = Number(values.warmup) * 1000;
const durationMs = Number(values.duration) * 1000;
const start = performance.now();
const measureFrom = start + warmupMs;
const measureTo = measureFrom + durationMs;
const latencies: number[] = [];

/** CPU time (user + system, ms) the server process has used so far; NaN without --server-pid or /proc. */
function serverCpuMs(): number {
  if (!values['server-pid']) return Number.NaN;
  try {
    // Fields after the command name: utime and stime are the 12th and 13th, in clock ticks (100 per second on Linux).
    const fields = fs.readFileSync(`/proc/${values['server-pid']}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}
let cpuAtStart = Number.NaN;
let cpuAtEnd = Number.NaN;
const cpuStart = setTimeout(() => (cpuAtStart = serverCpuMs()), warmupMs);
const cpuEnd = setTimeout(() => (cpuAtEnd = serverCpuMs()), warmupMs + durationMs);
let errors = 0;
let firstError: string | undefined;
let bytes = 0;

await Promise.all(
  Array.from({ length: concurrency }, async () => {
    for (;;) {
      const t0 = performance.now();
      if (t0 >= measureTo) return;
      const r = await once();
      const t1 = performance.now();
      // A request counts when it was sent inside the window (closed loop: none is left out at the edges).
      if (t0 >= measureFrom) {
        latencies.push(t1 - t0);
        bytes += r.bytes;
        if (!r.ok) {
          errors++;
          firstError ??= r.text;
        }
      } else if (!r.ok) firstError ??= r.text;
    }
  }),
);
clearTimeout(cpuStart);
clearTimeout(cpuEnd);
const seconds = (Math.max(performance.now(), measureTo) - measureFrom) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
agent.destroy();
process.stdout.write(
  `${JSON.stringify({ requests: latencies.length, seconds, rps: latencies.length / seconds, p50ms: pct(50), p99ms: pct(99), errors, firstError, bytes: latencies.length ? Math.round(bytes / latencies.length) : 0, serverCpuMs: cpuAtEnd - cpuAtStart })}\n`,
);
