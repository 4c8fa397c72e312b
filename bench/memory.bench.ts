/**
 * Memory per port in the live process, measured as V8 heap in use after full collections
 * (`--expose-gc`; bench/run.ts starts every suite with it) before and after building the state:
 *
 *  - memory/apps: the app runner folded a log of N bound ports (its Topology: model, observed
 *    interfaces, indices, each port's locality facts), by its own catch-up over a synthetic log
 *    (bench/support/synthetic-log.ts: the log is generated page by page, never held);
 *  - memory/projector-row: what the read-model projector's row cache holds per port (the
 *    PortState its batches fold, via the same pure ProjectionBatch), all N ports kept;
 *  - memory/live-process: apps + the projector's cache at its bound (DEFAULT_CACHE_SIZE: 20,000 ports,
 *    so at 100k ports it holds a fifth of them, at 1M a fiftieth) — target < 1 KiB/port.
 *
 * N = 100k and 1M ports (10k and 100k quick), 6 events each (see bench/support/workload.ts).
 * The database's own memory (PGlite's WASM heap, or PostgreSQL's) is not in these figures.
 */
import { pino } from 'pino';
import { InMemoryCheckpoints } from '../src/apps/checkpoints.js';
import { AppRunner } from '../src/apps/runner.js';
import { keysOf, ProjectionBatch, route } from '../src/projections/batch.js';
import type { PortState } from '../src/projections/ports.js';
import { DEFAULT_CACHE_SIZE } from '../src/projections/projector.js';
import {
  type Benchmark,
  type BenchOptions,
  type BenchRecord,
  canCollect,
  heapAfterGc,
  peakRssBytes,
  perSecond,
  timeIt,
} from './lib.js';
import { SyntheticLog } from './support/synthetic-log.js';
import { eventsPerPort } from './support/workload.js';

const TARGET_BYTES = 1024;
/** The live projector's row cache bound (ProjectorOptions.cacheSize's default). */
const PROJECTOR_CACHE = DEFAULT_CACHE_SIZE;
const BATCH = 5_000;

/** Folds the log into an app runner's topology; the runner is returned (and so retained). */
async function foldApps(log: SyntheticLog): Promise<AppRunner> {
  const checkpoints = new InMemoryCheckpoints();
  await checkpoints.save('apps', log.head);
  const runner = new AppRunner({
    store: log.asStore(),
    checkpoints,
    logger: pino({ level: 'silent' }),
  });
  await runner.catchUp();
  if (runner.headPosition !== log.head) throw new Error('the apps did not fold the whole log');
  return runner;
}

/** Folds the log into read-model rows as the projector's batches do; keeps every port's row. */
function foldRows(log: SyntheticLog): Map<string, PortState> {
  const rows = new Map<string, PortState>();
  for (let after = 0n; after < log.head; after += BigInt(BATCH)) {
    const routed = log.page(after, BATCH).map(route);
    const loaded = new Map<string, PortState>();
    for (const id of keysOf(routed).ports) {
      const row = rows.get(id);
      if (row) loaded.set(id, row);
    }
    const batch = new ProjectionBatch(loaded, new Map());
    for (const r of routed) batch.apply(r);
    for (const [id, state] of batch.ports) rows.set(id, state);
  }
  return rows;
}

async function measure(ports: number, progress: (m: string) => void): Promise<BenchRecord[]> {
  const params = { ports, eventsPerPort: eventsPerPort() };
  const retained: unknown[] = [];
  const before = await heapAfterGc();
  let runner: AppRunner | undefined;
  const appsMs = await timeIt(async () => {
    runner = await foldApps(new SyntheticLog(ports));
  });
  retained.push(runner);
  const afterApps = await heapAfterGc();
  const apps = (afterApps - before) / ports;
  progress(
    `${ports} ports: apps ${apps.toFixed(0)} B/port (folded in ${(appsMs / 1000).toFixed(1)} s)`,
  );

  let rows: Map<string, PortState> | undefined;
  const rowsMs = await timeIt(() => {
    rows = foldRows(new SyntheticLog(ports));
  });
  if (rows?.size !== ports) throw new Error(`projected ${rows?.size} ports, expected ${ports}`);
  retained.push(rows);
  const afterRows = await heapAfterGc();
  const row = (afterRows - afterApps) / ports;
  progress(`${ports} ports: projector ${row.toFixed(0)} B/cached port`);
  const cached = Math.min(ports, PROJECTOR_CACHE);
  const live = apps + (row * cached) / ports;
  const events = Number(new SyntheticLog(ports).head);
  const records: BenchRecord[] = [
    {
      name: 'memory/apps',
      params,
      throughput: perSecond(events, appsMs),
      unit: 'events',
      value: { amount: apps, unit: 'B/port' },
      peakRssBytes: peakRssBytes(),
    },
    {
      name: 'memory/projector-row',
      params,
      throughput: perSecond(events, rowsMs),
      unit: 'events',
      value: { amount: row, unit: 'B/port' },
      peakRssBytes: peakRssBytes(),
    },
    {
      name: 'memory/live-process',
      params: { ...params, cachedRows: cached },
      throughput: 0,
      unit: 'events',
      value: { amount: live, unit: 'B/port' },
      target: `< ${TARGET_BYTES} B/port`,
      met: live < TARGET_BYTES,
      peakRssBytes: peakRssBytes(),
    },
  ];
  retained.length = 0;
  return records;
}

export const benchMemory: Benchmark = async (options: BenchOptions) => {
  if (!canCollect()) {
    options.progress('needs --expose-gc (bench/run.ts runs suites with it): skipped');
    return [];
  }
  const sizes = options.quick ? [10_000, 100_000] : [100_000, 1_000_000];
  const records: BenchRecord[] = [];
  for (const ports of sizes) records.push(...(await measure(ports, options.progress)));
  return records;
};
