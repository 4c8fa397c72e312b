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
 *
 *  - memory/embedded-server: the whole embedded server's VmRSS, the figure a user sees — its
 *    own process (bench/support/embedded-server.ts: plain Node on an esbuild bundle, as from
 *    dist/; startLocus on a PGlite data folder, no hosted agents) with 5,000 bound ports (the
 *    same in quick mode) in the log, after the read model and the apps caught up and after
 *    2,000 `GET /v1/ports/:id` — target < 256 MiB; with the RSS after its imports alone and the
 *    high-water mark (the catch-up's peak) beside it. Started as `npm start` starts it (that
 *    script's Node flags and environment: see serverStart), so the figure is the shipped one.
 */
import { fork } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { InMemoryCheckpoints, StreamMetadataCheckpoints } from '../src/apps/checkpoints.js';
import { AppRunner } from '../src/apps/runner.js';
import { openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { keysOf, ProjectionBatch, route } from '../src/projections/batch.js';
import type { PortState } from '../src/projections/ports.js';
import { DEFAULT_CACHE_SIZE } from '../src/projections/projector.js';
import { SqlEventStore } from '../src/store/sql/sql-event-store.js';
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
import { BulkLog } from './support/bulk-log.js';
import { bundleBenchEntry } from './support/bundle.js';
import type { EmbeddedServerMessage } from './support/embedded-server.js';
import { serverStart } from './support/server-start.js';
import { SyntheticLog } from './support/synthetic-log.js';
import { cloudEvents, eventsPerPort, portId } from './support/workload.js';

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

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const SERVER_PORTS = 5_000;
const SERVER_QUERIES = 2_000;
const SERVER_TARGET_BYTES = 256 * 1024 * 1024;
const MiB = 1024 * 1024;

/** The log of `ports` bound ports in a PGlite folder, the apps' checkpoint at its head. */
async function writeLog(folder: string, ports: number): Promise<void> {
  const database = await openDatabase(folder);
  try {
    await migrateToLatest(database.db);
    const log = new BulkLog(database.db);
    await log.addAll(cloudEvents(ports));
    const head = await log.flush();
    const store = new SqlEventStore(database);
    await new StreamMetadataCheckpoints(store).save('apps', head);
    await store.close();
  } finally {
    await database.close();
  }
}

async function measureServer(progress: (m: string) => void): Promise<BenchRecord> {
  const dir = await mkdtemp(join(tmpdir(), 'locus-bench-memory-'));
  try {
    const folder = join(dir, 'db');
    await writeLog(folder, SERVER_PORTS);
    const entry = await bundleBenchEntry('embedded-server');
    const start = await serverStart();
    const command = [...Object.entries(start.env).map(([k, v]) => `${k}=${v}`), 'node'];
    command.push(...start.flags);
    progress(`embedded server started as: ${command.join(' ')}`);
    const child = fork(entry, [], {
      cwd: root,
      execArgv: start.flags,
      env: { ...process.env, ...start.env, LOCUS_BENCH_STORE: folder },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const next = <K extends EmbeddedServerMessage['kind']>(kind: K) =>
      new Promise<Extract<EmbeddedServerMessage, { kind: K }>>((resolve, reject) => {
        const onExit = (code: number | null) => reject(new Error(`the server exited (${code})`));
        child.once('exit', onExit);
        const onMessage = (message: EmbeddedServerMessage) => {
          if (message.kind !== kind) return;
          child.off('message', onMessage);
          child.off('exit', onExit);
          resolve(message as Extract<EmbeddedServerMessage, { kind: K }>);
        };
        child.on('message', onMessage);
      });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      const started = performance.now();
      const ready = await next('ready');
      const startMs = performance.now() - started;
      for (let i = 0; i < SERVER_QUERIES; i++) {
        const response = await fetch(`${ready.url}/v1/ports/${portId(i % SERVER_PORTS)}`);
        await response.arrayBuffer();
        if (response.status !== 200) throw new Error(`GET /v1/ports: HTTP ${response.status}`);
      }
      const report = next('report');
      child.send({ kind: 'report' });
      const memory = await report;
      progress(
        `embedded server, ${SERVER_PORTS} ports: VmRSS ${(memory.rssBytes / MiB).toFixed(0)} MiB (peak ${(memory.hwmBytes / MiB).toFixed(0)}, imports ${(ready.importsRssBytes / MiB).toFixed(0)}, heap ${(memory.heapUsedBytes / MiB).toFixed(0)}, catch-up heap peak ${(memory.catchUpHeapPeakBytes / MiB).toFixed(0)}, external ${(memory.externalBytes / MiB).toFixed(0)})`,
      );
      return {
        name: 'memory/embedded-server',
        params: {
          ports: SERVER_PORTS,
          queries: SERVER_QUERIES,
          node: command.join(' '),
          startSeconds: Number((startMs / 1000).toFixed(1)),
          importsMiB: Math.round(ready.importsRssBytes / MiB),
          peakMiB: Math.round(memory.hwmBytes / MiB),
          heapUsedMiB: Math.round(memory.heapUsedBytes / MiB),
          catchUpHeapPeakMiB: Math.round(memory.catchUpHeapPeakBytes / MiB),
          catchUpArrayBuffersPeakMiB: Math.round(memory.catchUpArrayBuffersPeakBytes / MiB),
          externalMiB: Math.round(memory.externalBytes / MiB),
        },
        throughput: 0,
        unit: 'ports',
        value: { amount: memory.rssBytes / MiB, unit: 'MiB' },
        target: `< ${SERVER_TARGET_BYTES / MiB} MiB`,
        met: memory.rssBytes < SERVER_TARGET_BYTES,
        peakRssBytes: memory.hwmBytes,
      };
    } finally {
      if (child.exitCode === null) child.send({ kind: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export const benchMemory: Benchmark = async (options: BenchOptions) => {
  const records: BenchRecord[] = [await measureServer(options.progress)];
  if (process.env.LOCUS_BENCH_SERVER_ONLY) return records;
  if (!canCollect()) {
    options.progress(
      'needs --expose-gc (bench/run.ts runs suites with it): per-port figures skipped',
    );
    return records;
  }
  const sizes = options.quick ? [10_000, 100_000] : [100_000, 1_000_000];
  for (const ports of sizes) records.push(...(await measure(ports, options.progress)));
  return records;
};
