/**
 * The embedded server as `npm start` runs it (startLocus on a PGlite data folder: event store,
 * projector, apps, API; no hosted agents) alone in its process, for bench/memory.bench.ts,
 * which writes the log first and reads nothing of this process but what it reports. Started
 * with an IPC channel and the data folder in LOCUS_BENCH_STORE.
 *
 * Messages: → `ready` (with the API's URL and VmRSS after the imports) once the read model and
 * the apps have caught up with the log; on `report` → VmRSS, its high-water mark and the heap;
 * on `stop`, stops and exits.
 */
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.js';
import { httpConfig } from '../../src/http/config.js';
import { startLocus } from '../../src/locus.js';

export interface ServerMemory {
  readonly rssBytes: number;
  readonly hwmBytes: number;
  readonly heapUsedBytes: number;
  readonly externalBytes: number;
}

export type EmbeddedServerMessage =
  | { readonly kind: 'ready'; readonly url: string; readonly importsRssBytes: number }
  | ({ readonly kind: 'report' } & ServerMemory);

function memory(): ServerMemory {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kib = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  const usage = process.memoryUsage();
  return {
    rssBytes: kib('VmRSS') * 1024,
    hwmBytes: kib('VmHWM') * 1024,
    heapUsedBytes: usage.heapUsed,
    externalBytes: usage.external,
  };
}

const send = (message: EmbeddedServerMessage) => process.send?.(message);

async function main(): Promise<void> {
  const store = process.env.LOCUS_BENCH_STORE;
  if (!store) throw new Error('LOCUS_BENCH_STORE names the data folder');
  const importsRssBytes = memory().rssBytes;
  const locus = await startLocus({
    config: loadConfig({
      LOCUS_STORE_URL: store,
      LOCUS_HTTP_PORT: '0',
      LOCUS_AGENTS: 'none',
      LOCUS_LOG_LEVEL: 'silent',
    }),
    http: httpConfig({ insecureNoAuth: true, logRequests: false, docs: false }),
    logger: pino({ level: 'silent' }),
  });
  const head = await locus.store.headPosition();
  while (locus.projector.position < head || locus.runner.headPosition < head)
    await new Promise((resolve) => setTimeout(resolve, 20));
  process.on('message', (message: { kind: string }) => {
    if (message.kind === 'report') send({ kind: 'report', ...memory() });
    else if (message.kind === 'stop') void locus.stop().then(() => process.exit(0));
  });
  send({ kind: 'ready', url: locus.url, importsRssBytes });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
