/**
 * The REST API under load, on loopback, with locus in process (startLocus: event store,
 * projector, apps and API on one database) and the load generator in a child process
 * (bench/support/http-client.ts), so client and server do not share an event loop.
 *
 * Setup: a log of N bound ports (100k; 10k quick) over four chassis, written in bulk
 * (bench/support/bulk-log.ts), the apps' checkpoint at its head (they decided all of it
 * already); startLocus then builds the read model from the log (projector catch-up, timed) and
 * folds the apps' topology. Then:
 *
 *  - http/port-query: `GET /v1/ports/:id` of random ports at a fixed offered rate of 2,000
 *    requests/s (open loop: latency counts from when each request was due) — target p99 < 5 ms;
 *    measured in the steady state: after the start-up's work (the apps and the read model
 *    quiet, the port-record cache warmed), which otherwise stalls the first seconds; with
 *    where the slow requests' time went (./support/loop-watch.ts: this process' event-loop
 *    delay, stalls, collections, CPU and run-queue wait; the cache's hits and misses; the
 *    generator's lag and run-queue wait) in the figure's parameters;
 *  - http/port-query-max: the same query from 16 closed-loop workers: capacity;
 *  - http/command/create-port: `POST /v1/ports`, 8 closed-loop workers; then
 *    http/command/ovsport: `POST /v1/chassis/:id/ovsports` for each new port, one worker per
 *    chassis as its agent would report (the apps bind the ports meanwhile; no agent runs in
 *    the process, so no chassis acks them); answers other than 2xx are counted in the record's
 *    parameters;
 *  - http/sse-fanout: 100 subscribers of `GET /v1/events`; an interface reported on a chassis
 *    (`POST …/ovsports`) → its LocalCreated reaches all 100: latency to the last subscriber,
 *    from the report (and, as http/sse-fanout-from-commit, from the event's commit).
 *
 * Embedded PGlite in a data folder (the default deployment); in full mode PostgreSQL too, as the
 * embedded figures' baseline.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { getPriority, setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { StreamMetadataCheckpoints } from '../src/apps/checkpoints.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { lportStream } from '../src/events/index.js';
import { httpConfig } from '../src/http/config.js';
import { type Locus, startLocus } from '../src/locus.js';
import { SqlEventStore } from '../src/store/sql/sql-event-store.js';
import { createDatabase, findPostgresBinaries, startPostgres } from '../test/support/postgres.js';
import {
  type Benchmark,
  type BenchOptions,
  type BenchRecord,
  peakRssBytes,
  percentiles,
  perSecond,
  random,
  timeIt,
  until,
} from './lib.js';
import { BulkLog } from './support/bulk-log.js';
import type { LoadResult, RequestSpec } from './support/http-client.js';
import { LoadClient } from './support/http-driver.js';
import { LoopWatch } from './support/loop-watch.js';
import {
  cloudEvents,
  DEFAULT_LAYOUT,
  eventsPerPort,
  mac,
  portId,
  switchId,
} from './support/workload.js';

interface Sizes {
  readonly ports: number;
  readonly queryRate: number;
  readonly queryMs: number;
  readonly warmupMs: number;
  readonly maxMs: number;
  readonly commandMs: number;
  readonly subscribers: number;
  readonly changes: number;
}

const FULL: Sizes = {
  ports: 100_000,
  queryRate: 2_000,
  queryMs: 30_000,
  warmupMs: 3_000,
  maxMs: 10_000,
  commandMs: 10_000,
  subscribers: 100,
  changes: 100,
};
const QUICK: Sizes = {
  ports: 10_000,
  queryRate: 2_000,
  queryMs: 4_000,
  warmupMs: 1_000,
  maxMs: 2_000,
  commandMs: 2_000,
  subscribers: 100,
  changes: 20,
};

const QUERY_TARGET_MS = 5;
const wallClock = () => performance.timeOrigin + performance.now();
const round = (n: number) => Math.round(n * 100) / 100;

type Figure = Omit<BenchRecord, 'peakRssBytes' | 'baseline'>;

function loadFigure(
  name: string,
  result: LoadResult,
  params: BenchRecord['params'],
  extra: Partial<Figure> = {},
): Figure {
  const ok = result.statuses['200'] ?? 0;
  const created = result.statuses['201'] ?? 0;
  const failed = result.completed - ok - created;
  return {
    name,
    params: {
      ...params,
      requests: result.completed,
      ...(failed > 0 ? { not2xx: JSON.stringify(result.statuses) } : {}),
    },
    throughput: perSecond(result.completed, result.elapsedMs),
    unit: 'requests',
    latencyMs: percentiles(result.latenciesMs),
    ...extra,
  };
}

/**
 * With LOCUS_BENCH_HTTP_PROFILE=<file>, a CPU profile of this process (the server) over the
 * fixed-rate queries, written there (open it in Chrome's DevTools); resolves with its stop.
 */
async function startProfile(): Promise<(() => Promise<void>) | undefined> {
  const file = process.env.LOCUS_BENCH_HTTP_PROFILE;
  if (!file) return undefined;
  const { Session } = await import('node:inspector/promises');
  const { writeFile } = await import('node:fs/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    await writeFile(file, JSON.stringify(profile));
    session.disconnect();
  };
}

/**
 * With LOCUS_BENCH_HTTP_NICE=<n> (e.g. -10; root only), the server's and the generator's
 * processes at that scheduling priority while the fixed-rate queries run: a diagnostic of how
 * much of the tail is other processes' on a shared machine. Returns the restore.
 */
function raisePriority(pids: readonly (number | undefined)[]): () => void {
  const nice = process.env.LOCUS_BENCH_HTTP_NICE;
  if (!nice) return () => undefined;
  const before = pids.map((pid) => (pid === undefined ? undefined : getPriority(pid)));
  for (const pid of pids) if (pid !== undefined) setPriority(pid, Number(nice));
  return () =>
    pids.forEach((pid, i) => {
      if (pid !== undefined) setPriority(pid, before[i] ?? 0);
    });
}

/**
 * Resolves once the apps and the read model have caught up with the log and the apps append
 * nothing more (their own appends are followed by more decisions: wait for quiet).
 */
async function settled(locus: Locus): Promise<void> {
  for (;;) {
    const head = await locus.store.headPosition();
    await until(
      () => locus.projector.position >= head && locus.runner.headPosition >= head,
      600_000,
      'the apps and the read model to catch up',
      20,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    if ((await locus.store.headPosition()) === head) return;
  }
}

/** Writes the cloud to the log and marks it decided; resolves with the head position. */
async function preload(url: string, ports: number, progress: (m: string) => void) {
  const database = await openDatabase(url);
  try {
    await migrateToLatest(database.db);
    const log = new BulkLog(database.db);
    let head = 0n;
    const ms = await timeIt(async () => {
      await log.addAll(cloudEvents(ports));
      head = await log.flush();
    });
    progress(`  log: ${log.written} events in ${(ms / 1000).toFixed(1)} s (bulk)`);
    const store = new SqlEventStore(database);
    // The apps decided all of this already: they fold it on start, and decide only what follows.
    await new StreamMetadataCheckpoints(store).save('apps', head);
    const after = await store.headPosition();
    await store.close();
    return after;
  } finally {
    await database.close();
  }
}

async function measure(
  url: string,
  adapter: string,
  sizes: Sizes,
  client: LoadClient,
  progress: (m: string) => void,
  /** Filled step by step: what a failing later step leaves of the run. */
  figures: Figure[] = [],
): Promise<Figure[]> {
  const params = { adapter, ports: sizes.ports };
  progress(`${adapter}: ${sizes.ports} bound ports`);
  const head = await preload(url, sizes.ports, progress);

  const started = performance.now();
  const locus: Locus = await startLocus({
    config: loadConfig({
      LOCUS_STORE_URL: url,
      LOCUS_HTTP_PORT: '0',
      LOCUS_AGENTS: 'none',
      LOCUS_LOG_LEVEL: 'silent',
    }),
    http: httpConfig({
      insecureNoAuth: true,
      logRequests: false,
      docs: false,
      commandRateLimit: { max: 1_000_000_000, windowMs: 1_000 },
      sse: { maxClients: sizes.subscribers + 10 },
    }),
    logger: pino({ level: 'silent' }),
  });
  try {
    await until(
      () => locus.projector.position >= head && locus.runner.headPosition >= head,
      600_000,
      'the read model and the apps to catch up',
      20,
    );
    const catchUpMs = performance.now() - started;
    progress(`  start + catch-up of ${head} events: ${(catchUpMs / 1000).toFixed(1)} s`);
    figures.push({
      name: 'http/start-catch-up',
      params: { ...params, events: Number(head) },
      throughput: perSecond(Number(head), catchUpMs),
      unit: 'events',
      value: { amount: catchUpMs / 1000, unit: 's' },
    });

    // Point queries at a fixed rate, once the start-up's work is done: the apps and the read
    // model quiet, and the port-record cache warmed (the process' steady state).
    await settled(locus);
    const elu = performance.eventLoopUtilization();
    await locus.readModel.warmPortCache();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    progress(
      `  settled; event loop ${(performance.eventLoopUtilization(elu).utilization * 100).toFixed(0)}% busy while warming; ${locus.readModel.portCache?.stats.entries ?? 0} port records cached`,
    );
    const next = random(7);
    const queries: RequestSpec[] = Array.from({ length: 50_000 }, () => ({
      method: 'GET',
      path: `/v1/ports/${portId(Math.floor(next() * sizes.ports))}`,
    }));
    const one = await fetch(`${locus.url}${queries[0]?.path}`);
    if (one.status !== 200) throw new Error(`GET ${queries[0]?.path}: HTTP ${one.status}`);
    await client.load({
      kind: 'fixed-rate',
      url: locus.url,
      requests: queries,
      rate: sizes.queryRate,
      durationMs: sizes.warmupMs,
      connections: 32,
    });
    progress(`  GET /v1/ports/:id at ${sizes.queryRate}/s for ${sizes.queryMs / 1000} s`);
    // Where the slow requests' time goes: this process' loop and collector, the cache, the log.
    const cacheBefore = locus.readModel.portCache?.stats;
    const headBefore = await locus.store.headPosition();
    const watch = new LoopWatch();
    const profile = await startProfile();
    const restorePriority = raisePriority([process.pid, client.pid]);
    const fixed = await client.load({
      kind: 'fixed-rate',
      url: locus.url,
      requests: queries,
      rate: sizes.queryRate,
      durationMs: sizes.queryMs,
      connections: 32,
    });
    const loop = watch.stop();
    restorePriority();
    await profile?.();
    const cacheAfter = locus.readModel.portCache?.stats;
    const appended = (await locus.store.headPosition()) - headBefore;
    const interval = 1000 / sizes.queryRate;
    const blame = watch.blame(
      fixed.latenciesMs.map((_, i) => (fixed.startedAt ?? 0) + i * interval),
      fixed.latenciesMs,
      fixed.lateMs ?? [],
      QUERY_TARGET_MS,
    );
    const late = percentiles(fixed.lateMs ?? []);
    // The same latencies counted from when each request left the generator (its own lag out).
    const fromSent = percentiles(
      fixed.latenciesMs.map((latency, i) => latency - (fixed.lateMs?.[i] ?? 0)),
    );
    const diagnosis = {
      loopDelayP99Ms: round(loop.delayMs.p99),
      loopDelayMaxMs: round(loop.delayMs.max),
      loopBusy: round(loop.utilization),
      gcPauses: loop.gc.count,
      gcMs: round(loop.gc.totalMs),
      gcMaxMs: round(loop.gc.maxMs),
      stalls: loop.stalls.count,
      stallMaxMs: round(loop.stalls.maxMs),
      stallCpuMs: round(loop.stalls.cpuMs),
      stallWaitMs: round(loop.stalls.waitMs),
      serverCpuMs: round(loop.process.cpuMs),
      serverWaitMs: round(loop.process.waitMs),
      mainCpuMs: round(loop.mainThread.cpuMs),
      mainWaitMs: round(loop.mainThread.waitMs),
      generatorCpuMs: round(fixed.sched?.cpuMs ?? 0),
      generatorWaitMs: round(fixed.sched?.waitMs ?? 0),
      cacheHits: (cacheAfter?.hits ?? 0) - (cacheBefore?.hits ?? 0),
      cacheMisses: (cacheAfter?.misses ?? 0) - (cacheBefore?.misses ?? 0),
      appended: Number(appended),
      generatorLateP99Ms: round(late.p99),
      fromSentP50Ms: round(fromSent.p50),
      fromSentP99Ms: round(fromSent.p99),
      slow: blame.slow,
      slowInGc: blame.gc,
      slowInStall: blame.stall,
      slowElsewhere: blame.neither,
      slowSentLate: blame.generatorLate,
    };
    progress(
      `  loop delay p50/p99/max ${loop.delayMs.p50.toFixed(1)}/${loop.delayMs.p99.toFixed(1)}/${loop.delayMs.max.toFixed(1)} ms, ${(loop.utilization * 100).toFixed(0)}% busy; GC ${loop.gc.count} pauses ${loop.gc.totalMs.toFixed(0)} ms (max ${loop.gc.maxMs.toFixed(1)}; ${JSON.stringify(loop.gc.byKind)}); stalls > ${watch.stallMs} ms: ${loop.stalls.count}, ${loop.stalls.totalMs.toFixed(0)} ms (max ${loop.stalls.maxMs.toFixed(1)}; on CPU ${loop.stalls.cpuMs.toFixed(0)}, waiting for one ${loop.stalls.waitMs.toFixed(0)})`,
    );
    progress(
      `  CPU/run-queue wait over ${(fixed.elapsedMs / 1000).toFixed(1)} s: server main thread ${loop.mainThread.cpuMs.toFixed(0)}/${loop.mainThread.waitMs.toFixed(0)} ms, all threads ${loop.process.cpuMs.toFixed(0)}/${loop.process.waitMs.toFixed(0)} ms; generator ${(fixed.sched?.cpuMs ?? 0).toFixed(0)}/${(fixed.sched?.waitMs ?? 0).toFixed(0)} ms; server main-thread CPU per request ${((loop.mainThread.cpuMs / Math.max(1, fixed.completed)) * 1000).toFixed(0)} µs`,
    );
    progress(
      `  cache ${diagnosis.cacheHits} hits ${diagnosis.cacheMisses} misses; ${appended} events appended; generator late p50/p99 ${late.p50.toFixed(2)}/${late.p99.toFixed(2)} ms, from sent p50/p99 ${fromSent.p50.toFixed(2)}/${fromSent.p99.toFixed(2)} ms; requests > ${QUERY_TARGET_MS} ms: ${blame.slow} (in a GC ${blame.gc}, in a loop stall ${blame.stall}, neither ${blame.neither}; sent late ${blame.generatorLate})`,
    );
    const query = loadFigure(
      'http/port-query',
      fixed,
      { ...params, offered: sizes.queryRate, ...diagnosis },
      { target: `p99 < ${QUERY_TARGET_MS} ms at ${sizes.queryRate}/s` },
    );
    figures.push({ ...query, met: (query.latencyMs?.p99 ?? Infinity) < QUERY_TARGET_MS });

    progress(`  GET /v1/ports/:id, 16 closed-loop workers, ${sizes.maxMs / 1000} s`);
    const workers = 16;
    const max = await client.load({
      kind: 'closed-loop',
      url: locus.url,
      requests: Array.from({ length: workers }, (_, w) =>
        queries.filter((_, i) => i % workers === w),
      ),
      durationMs: sizes.maxMs,
    });
    figures.push(loadFigure('http/port-query-max', max, { ...params, workers }));

    // Commands: create ports, then report their interfaces on chassis A.
    const commandWorkers = 8;
    const perWorker = 20_000;
    const switches = Math.ceil(sizes.ports / DEFAULT_LAYOUT.portsPerSwitch);
    const newPort = (w: number, k: number) => sizes.ports + 1_000_000 + w * perWorker + k;
    const creates: RequestSpec[][] = Array.from({ length: commandWorkers }, (_, w) =>
      Array.from({ length: perWorker }, (_, k) => {
        const i = newPort(w, k);
        return {
          method: 'POST',
          path: '/v1/ports',
          body: {
            id: portId(i),
            switchId: switchId(i % switches),
            macs: [mac(i)],
            deviceOwner: 'compute',
          },
        };
      }),
    );
    progress(`  POST /v1/ports, ${commandWorkers} workers, ${sizes.commandMs / 1000} s`);
    const created = await client.load({
      kind: 'closed-loop',
      url: locus.url,
      requests: creates,
      durationMs: sizes.commandMs,
    });
    figures.push(
      loadFigure('http/command/create-port', created, { ...params, workers: commandWorkers }),
    );
    // One agent per chassis, one report in flight each (as HttpSink reports): the new ports
    // are spread over the chassis.
    const chassis = DEFAULT_LAYOUT.chassis;
    const reports: RequestSpec[][] = chassis.map(() => []);
    let n = 0;
    created.perWorker.forEach((count, w) => {
      for (let k = 0; k < count; k++) {
        const i = newPort(w, k);
        const on = n++ % chassis.length;
        reports[on]?.push({
          method: 'POST',
          path: `/v1/chassis/${chassis[on]}/ovsports`,
          body: { name: `tap${i}`, ofport: 2_000 + (i % 60_000), ifaceId: portId(i) },
        });
      }
    });
    progress(`  POST /v1/chassis/:id/ovsports for the ${created.completed} new ports`);
    const reported = await client.load({
      kind: 'closed-loop',
      url: locus.url,
      requests: reports,
      durationMs: sizes.commandMs * 10,
    });
    figures.push(
      loadFigure('http/command/ovsport', reported, { ...params, workers: chassis.length }),
    );
    const drained = await timeIt(() => settled(locus));
    progress(
      `  apps and read model caught up ${(drained / 1000).toFixed(1)} s after the last report`,
    );

    // SSE fan-out.
    progress(`  ${sizes.subscribers} subscribers of /v1/events, ${sizes.changes} changes`);
    const ssePorts = Array.from({ length: sizes.changes }, (_, k) => sizes.ports + 5_000_000 + k);
    for (const i of ssePorts) {
      const response = await fetch(`${locus.url}/v1/ports`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          id: portId(i),
          switchId: switchId(i % switches),
          deviceOwner: 'compute',
        }),
      });
      if (response.status !== 201) throw new Error(`POST /v1/ports: HTTP ${response.status}`);
    }
    await client.ask({ kind: 'sse-open', url: locus.url, clients: sizes.subscribers });
    const fromReport: number[] = [];
    const fromCommit: number[] = [];
    const deliveries: number[] = [];
    const sseStarted = performance.now();
    for (const i of ssePorts) {
      const sent = wallClock();
      const response = await fetch(`${locus.url}/v1/chassis/B/ovsports`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: `tap${i}`, ofport: (i % 60_000) + 1, ifaceId: portId(i) }),
      });
      if (response.status !== 201) throw new Error(`POST ovsports: HTTP ${response.status}`);
      let local: { position: bigint; recordedAt: string } | undefined;
      await until(
        async () => {
          const events = await locus.store.readStream(lportStream(portId(i))).catch(() => []);
          local = events.find((e) => e.type === 'LocalCreated');
          return local !== undefined;
        },
        30_000,
        `LocalCreated of ${portId(i)}`,
        2,
      );
      const id = String(local?.position);
      let arrivals: number[] = [];
      await until(
        async () => {
          arrivals = (await client.arrivals([id]))[id] ?? [];
          // Every subscriber's stamp: a missing one is NaN, and null once it crossed the IPC
          // channel as JSON (it was taken for 0: latencies of −1.8e12 ms).
          return (
            arrivals.length === sizes.subscribers &&
            arrivals.every((t) => typeof t === 'number' && Number.isFinite(t))
          );
        },
        30_000,
        `event ${id} at every subscriber`,
        5,
      );
      const last = Math.max(...arrivals);
      fromReport.push(last - sent);
      fromCommit.push(last - Date.parse(local?.recordedAt ?? ''));
      for (const t of arrivals) deliveries.push(t - sent);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const sseMs = performance.now() - sseStarted;
    await client.ask({ kind: 'sse-close' });
    const sseParams = { ...params, subscribers: sizes.subscribers, changes: sizes.changes };
    figures.push({
      name: 'http/sse-fanout',
      params: sseParams,
      throughput: perSecond(deliveries.length, sseMs),
      unit: 'deliveries',
      latencyMs: percentiles(fromReport),
    });
    figures.push({
      name: 'http/sse-fanout-from-commit',
      params: sseParams,
      throughput: perSecond(deliveries.length, sseMs),
      unit: 'deliveries',
      latencyMs: percentiles(fromCommit),
    });
  } finally {
    await locus.stop();
  }
  return figures;
}

export const benchHttp: Benchmark = async (options: BenchOptions) => {
  const sizes = options.quick ? QUICK : FULL;
  const records: BenchRecord[] = [];
  const tagged = () =>
    records.map((r) => ({ ...r, params: { ...r.params, eventsPerPort: eventsPerPort() } }));
  const client = LoadClient.start();
  // The steps measured before a failure reach the results file (BenchOptions.keep).
  const keepOnFailure = async (
    run: (figures: Figure[]) => Promise<unknown>,
    add: (figures: readonly Figure[]) => void,
  ) => {
    const figures: Figure[] = [];
    try {
      await run(figures);
    } catch (error) {
      add(figures);
      options.keep?.(tagged());
      throw error;
    }
    add(figures);
  };
  try {
    const postgres = new Map<string, Figure>();
    if (!options.quick && findPostgresBinaries() !== undefined) {
      const server = await startPostgres({ durable: true });
      try {
        const url = await createDatabase(server.url, 'bench_http');
        await keepOnFailure(
          (figures) => measure(url, 'postgres', sizes, client, options.progress, figures),
          (figures) => {
            for (const figure of figures) {
              postgres.set(figure.name, figure);
              records.push({ ...figure, peakRssBytes: peakRssBytes() });
            }
          },
        );
      } finally {
        await server.stop();
      }
    } else if (!options.quick) {
      options.progress('PostgreSQL binaries not found; embedded only');
    }
    const folder = await mkdtemp(join(tmpdir(), 'locus-bench-http-'));
    try {
      await keepOnFailure(
        (figures) => measure(folder, 'embedded', sizes, client, options.progress, figures),
        (figures) => {
          for (const figure of figures) {
            const base = postgres.get(figure.name);
            // The feed's figures are latencies at a paced rate: compare p50s (higher = faster).
            const byLatency =
              figure.name.startsWith('http/sse') && base?.latencyMs && figure.latencyMs;
            records.push({
              ...figure,
              ...(base
                ? {
                    baseline: byLatency
                      ? {
                          name: `${base.name} (postgres, p50)`,
                          ratio: (base.latencyMs?.p50 ?? 0) / (figure.latencyMs?.p50 ?? 1),
                        }
                      : {
                          name: `${base.name} (postgres)`,
                          ratio: figure.throughput / base.throughput,
                        },
                  }
                : {}),
              peakRssBytes: peakRssBytes(),
            });
          }
        },
      );
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  } finally {
    await client.stop();
  }
  return tagged();
};
