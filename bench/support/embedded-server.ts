/**
 * The embedded server as `npm start` runs it (startLocus on a PGlite data folder: event store,
 * projector, apps, API; no hosted agents) alone in its process, for bench/memory.bench.ts,
 * which writes the log first and reads nothing of this process but what it reports. Started
 * with an IPC channel and the data folder in LOCUS_BENCH_STORE.
 *
 * Messages: → `ready` (with the API's URL and VmRSS after the imports) once the read model and
 * the apps have caught up with the log; on `report` → VmRSS, its high-water mark and the heap;
 * on `stop`, stops and exits. LOCUS_BENCH_SMAPS=<prefix> keeps /proc/self/smaps at `ready` and
 * at `report` (<prefix>-ready.txt, <prefix>-report.txt): where the resident memory is.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.js';
import { httpConfig } from '../../src/http/config.js';
import { startLocus } from '../../src/locus.js';

export interface ServerMemory {
  readonly rssBytes: number;
  readonly hwmBytes: number;
  readonly heapUsedBytes: number;
  readonly externalBytes: number;
  /**
   * The largest V8 heap in use and ArrayBuffers seen by a 20 ms timer during catch-up: a lower
   * bound (the timer runs only between PGlite's queries, which block the event loop).
   */
  readonly catchUpHeapPeakBytes: number;
  readonly catchUpArrayBuffersPeakBytes: number;
}

export type EmbeddedServerMessage =
  | { readonly kind: 'ready'; readonly url: string; readonly importsRssBytes: number }
  | ({ readonly kind: 'report' } & ServerMemory);

const peaks = { heap: 0, arrayBuffers: 0 };

/** Samples the heap while the server catches up: the high-water mark says RSS, not whose. */
function samplePeaks(): () => void {
  const timer = setInterval(() => {
    const usage = process.memoryUsage();
    peaks.heap = Math.max(peaks.heap, usage.heapUsed);
    peaks.arrayBuffers = Math.max(peaks.arrayBuffers, usage.arrayBuffers);
    if (process.env.LOCUS_BENCH_TRACE)
      console.error(
        `heap ${(usage.heapUsed / 2 ** 20).toFixed(0)} total ${(usage.heapTotal / 2 ** 20).toFixed(0)} ab ${(usage.arrayBuffers / 2 ** 20).toFixed(0)} rss ${(usage.rss / 2 ** 20).toFixed(0)}`,
      );
  }, 20);
  return () => clearInterval(timer);
}

function memory(): ServerMemory {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kib = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  const usage = process.memoryUsage();
  return {
    rssBytes: kib('VmRSS') * 1024,
    hwmBytes: kib('VmHWM') * 1024,
    heapUsedBytes: usage.heapUsed,
    externalBytes: usage.external,
    catchUpHeapPeakBytes: peaks.heap,
    catchUpArrayBuffersPeakBytes: peaks.arrayBuffers,
  };
}

const send = (message: EmbeddedServerMessage) => process.send?.(message);

/** LOCUS_BENCH_SMAPS=<prefix>: a copy of /proc/self/smaps at `ready` and at `report`. */
function saveSmaps(when: string): void {
  const prefix = process.env.LOCUS_BENCH_SMAPS;
  if (prefix) writeFileSync(`${prefix}-${when}.txt`, readFileSync('/proc/self/smaps', 'utf8'));
}

async function main(): Promise<void> {
  const store = process.env.LOCUS_BENCH_STORE;
  if (!store) throw new Error('LOCUS_BENCH_STORE names the data folder');
  const importsRssBytes = memory().rssBytes;
  const stopSampling = samplePeaks();
  const locus = await startLocus({
    config: loadConfig({
      LOCUS_STORE_URL: store,
      LOCUS_HTTP_PORT: '0',
      LOCUS_AGENTS: 'none',
      LOCUS_LOG_LEVEL: process.env.LOCUS_BENCH_LOG ?? 'silent',
    }),
    http: httpConfig({ insecureNoAuth: true, logRequests: false, docs: false }),
    // LOCUS_BENCH_LOG=debug says when each part starts and catches up (to stderr).
    logger: pino({ level: process.env.LOCUS_BENCH_LOG ?? 'silent' }, pino.destination(2)),
  });
  const head = await locus.store.headPosition();
  while (locus.projector.position < head || locus.runner.headPosition < head)
    await new Promise((resolve) => setTimeout(resolve, 20));
  stopSampling();
  process.on('message', (message: { kind: string }) => {
    if (message.kind === 'report') {
      saveSmaps('report');
      send({ kind: 'report', ...memory() });
    } else if (message.kind === 'stop') void locus.stop().then(() => process.exit(0));
  });
  saveSmaps('ready');
  send({ kind: 'ready', url: locus.url, importsRssBytes });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
