// Preloaded into a process the memory benchmark measures (NODE_OPTIONS=--import=…): on SIGUSR2 it
// writes process.memoryUsage() to MEMORY_PROBE_FILE, so the bench reads the heap, external and
// ArrayBuffer figures of a process it only spawned, beside its RSS. Nothing else changes.
import fs from 'node:fs';

const file = process.env.MEMORY_PROBE_FILE;
if (file) {
  process.on('SIGUSR2', () => {
    const m = process.memoryUsage();
    fs.writeFileSync(
      `${file}.tmp`,
      JSON.stringify({ rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers }),
    );
    fs.renameSync(`${file}.tmp`, file);
  });
}
