/**
 * A thousand chassis on one machine: OVN's scale workload (bench/support/sim-workload.ts:
 * 1,000 chassis, 10,000 ports over 40 switches, 8 routers with an interface on every switch,
 * every port bound; quick: 20 chassis, 200 ports, 4 switches, 2 routers) replayed on locus.
 * The server runs alone in its process (bench/support/sim-server.ts: startLocus on the
 * embedded store, or PostgreSQL with LOCUS_BENCH_SIM_STORE=postgres); this process runs the
 * simulated chassis (bench/support/sim-chassis.ts: the real flow agent, feed, slice, flows,
 * acks, on an in-memory bridge). The model is created through the API, as a cloud controller
 * would; a bind is a chassis reporting its interfaces (POST …/ovsports/batch, as its OVSDB
 * observer does when VMs are plugged).
 *
 *  - scale-sim/converge: every chassis reports its ports at once; the time from the last
 *    report answered until every chassis has converged — read at the agents: every port of
 *    its slice bound elsewhere carries its ack toward the owner, and its slice holds every
 *    bound port of its switch (target < 5 s at 1,000 chassis; OVN 11.4 s). Parameters: the
 *    time from the first report, the server's CPU seconds and peak RSS, the log's appends/s,
 *    the apps' decisions/s;
 *  - scale-sim/bind-4, scale-sim/bind: single binds one at a time (a port created, then its
 *    chassis reports it; ready when every chassis on its switch acked it) at 4 chassis, then at
 *    the full size; target: p99 within 2× of 4 chassis';
 *  - scale-sim/churn: for a while, workers create a port (ready: in every slice of its
 *    switch), bind it (ready: acked by every chassis there), delete it (ready: gone from every
 *    slice); operations a minute and each kind's latency;
 *  - scale-sim/migrate: 100 ports (10 quick) move at once to another chassis on their switch
 *    (the old one reports the interface gone, the new one reports it); until all converged;
 *  - scale-sim/chassis-gone: a chassis stops, its ports and then the chassis are deleted; until
 *    no slice holds its ports;
 *  - scale-sim/feed, scale-sim/agent-memory: bytes and frames each chassis' feed carried
 *    (counted at the agents) per port of its slice, and the agents' heap per chassis.
 *
 * LOCUS_BENCH_SIM_CHASSIS / _PORTS / _SWITCHES override the size; LOCUS_BENCH_SIM_CHURN_S the
 * churn's duration, LOCUS_BENCH_SIM_MIGRATE the ports migrated (0 skips either); LOCUS_BENCH_SIM_DEADLINE_S how long convergence may take before the run
 * records how far it got and stops; LOCUS_BENCH_SIM_SERVER_ARGS Node flags for the server;
 * LOCUS_BENCH_SIM_BIND_SAMPLES the single binds (default 50) at both sizes.
 */
import { appendFileSync } from 'node:fs';
import { copyFile, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type PerformanceEntry, PerformanceObserver, performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import type { DomainEvent } from '../src/events/index.js';
import { eachAtMost } from '../src/lib/concurrency.js';
import { createDatabase, dropDatabase, startPostgres } from '../test/support/postgres.js';
import {
  type Benchmark,
  type BenchOptions,
  type BenchRecord,
  canCollect,
  heapAfterGc,
  peakRssBytes,
  percentiles,
  perSecond,
  random,
  until,
} from './lib.js';
import { BulkLog } from './support/bulk-log.js';
import { clusterCpuMs } from './support/cluster-cpu.js';
import { FlowConvergence, type RemoteExpectation } from './support/flows-converged.js';
import { statementsProbe } from './support/pg-statements.js';
import { type BindStages, BindWatch, describeStages, GcLog } from './support/sim-bind-stages.js';
import {
  connectFailures,
  connectRetrying,
  reportsShed,
  type SimChassis,
  type SimInterface,
  startFleet,
} from './support/sim-chassis.js';
import { type SimServer, startSimServer } from './support/sim-server.js';
import {
  chassisDocs,
  chassisId,
  chassisOf,
  modelRequests,
  ofportOf,
  portBody,
  portsPerChassis,
  type SimCloud,
  simPort,
  switchOfChassis,
  switchOfPort,
  tap,
  tunnelIpOf,
} from './support/sim-workload.js';

const CONVERGE_TARGET_S = 5;
/** A single bind not ready everywhere after this long is counted as timed out. */
const BIND_TIMEOUT_MS = 60_000;
/** A single bind at least this slow has its stages printed (bench/support/sim-bind-stages.ts). */
const SLOW_BIND_MS = 500;
/**
 * Larger models are preloaded in bulk (the API takes minutes for them on a busy machine); the
 * 4-chassis cloud goes through the API, which checks the generator's documents.
 */
const API_MODEL_LIMIT = 100;

const EVENT_OF_PATH: Record<string, string> = {
  '/v1/switches': 'LogicalSwitchCreated',
  '/v1/subnets': 'SubnetCreated',
  '/v1/ports': 'LogicalPortCreated',
  '/v1/routers': 'LogicalRouterCreated',
  '/v1/chassis': 'ChassisCreated',
};

/** Writes the model's …Created events (the documents the API would append) to a fresh log. */
async function preloadModel(url: string, model: readonly [string, string, object][]) {
  const database = await openDatabase(url);
  try {
    await migrateToLatest(database.db);
    const log = new BulkLog(database.db);
    for (const [, path, body] of model) {
      const type = EVENT_OF_PATH[path] as string;
      const data = type === 'LogicalRouterCreated' ? { gatewayPortId: null, ...body } : body;
      await log.add({ type, data } as DomainEvent, 'api');
    }
    await log.flush();
  } finally {
    await database.close();
  }
}
const logger = pino({ level: process.env.LOCUS_BENCH_LOG ?? 'silent' }, pino.destination(2));

interface Plan {
  readonly cloud: SimCloud;
  readonly samples: number;
  readonly churnSeconds: number;
  readonly migrate: number;
  readonly convergeDeadlineMs: number;
}

const envNumber = (name: string, fallback: number) => Number(process.env[name] ?? fallback);

function plans(quick: boolean): { small: Plan; large: Plan } {
  const base = quick
    ? { chassis: 20, ports: 200, switches: 4, routers: 2 }
    : { chassis: 1_000, ports: 10_000, switches: 40, routers: 8 };
  const cloud = {
    chassis: envNumber('LOCUS_BENCH_SIM_CHASSIS', base.chassis),
    ports: envNumber('LOCUS_BENCH_SIM_PORTS', base.ports),
    switches: envNumber('LOCUS_BENCH_SIM_SWITCHES', base.switches),
    routers: base.routers,
  };
  const samples = envNumber('LOCUS_BENCH_SIM_BIND_SAMPLES', quick ? 20 : 50);
  return {
    small: {
      cloud: { chassis: 4, ports: 40, switches: 1, routers: 1 },
      samples,
      churnSeconds: 0,
      migrate: 0,
      convergeDeadlineMs: 60_000,
    },
    large: {
      cloud,
      samples,
      churnSeconds: envNumber('LOCUS_BENCH_SIM_CHURN_S', quick ? 4 : 60),
      migrate: envNumber('LOCUS_BENCH_SIM_MIGRATE', quick ? 10 : 100),
      convergeDeadlineMs: envNumber('LOCUS_BENCH_SIM_DEADLINE_S', quick ? 120 : 900) * 1000,
    },
  };
}

/** The API as the cloud controller calls it (no authentication: see sim-server.ts). */
function apiOf(url: string) {
  return async (method: string, path: string, body?: object): Promise<number> => {
    let response: Response;
    let text: string;
    // An overloaded server's 503 says when to come back (src/http/overload.ts): a cloud
    // controller waits and sends it again.
    for (let attempt = 1; ; attempt++) {
      response = await connectRetrying(fetch)(`${url}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      text = await response.text();
      const after = Number(response.headers.get('retry-after'));
      if (response.status !== 503 || !(after > 0) || attempt >= 10) break;
      await new Promise((resolve) => setTimeout(resolve, after * 1000));
    }
    if (response.status >= 300)
      throw new Error(`${method} ${path}: ${response.status} ${text.slice(0, 300)}`);
    return response.status;
  };
}

/** This process' garbage-collection pauses from now until `stop()`: the longest and the sum. */
function gcPauses(): { stop(): { longestMs: number; totalMs: number } } {
  let longestMs = 0;
  let totalMs = 0;
  const take = (entries: readonly PerformanceEntry[]) => {
    for (const entry of entries) {
      longestMs = Math.max(longestMs, entry.duration);
      totalMs += entry.duration;
    }
  };
  const observer = new PerformanceObserver((list) => take(list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  return {
    stop() {
      take(observer.takeRecords());
      observer.disconnect();
      return { longestMs, totalMs };
    },
  };
}

const meanMs = (totalS: number, count: number) =>
  count > 0 ? Number(((totalS / count) * 1000).toFixed(1)) : 0;
const seconds = (ms: number) => Number((ms / 1000).toFixed(2));
const mib = (bytes: number) => Number((bytes / 2 ** 20).toFixed(1));

/** The cloud's chassis, by switch, and the bound ports each switch holds once all are bound. */
function layoutOf(cloud: SimCloud) {
  const chassisOn: number[][] = Array.from({ length: cloud.switches }, () => []);
  for (let c = 0; c < cloud.chassis; c++) chassisOn[switchOfChassis(cloud, c)]?.push(c);
  const boundOn = new Array<number>(cloud.switches).fill(0);
  for (let i = 0; i < cloud.ports; i++) {
    const s = switchOfPort(cloud, i);
    boundOn[s] = (boundOn[s] ?? 0) + 1;
  }
  return { chassisOn, boundOn };
}

/** What chassis `c`'s bridge must forward once every port is bound: its switch's other ports. */
function remotesOf(cloud: SimCloud): (c: number) => RemoteExpectation[] {
  const portsOn: number[][] = Array.from({ length: cloud.switches }, () => []);
  for (let i = 0; i < cloud.ports; i++) portsOn[switchOfPort(cloud, i)]?.push(i);
  return (c) =>
    (portsOn[switchOfChassis(cloud, c)] ?? [])
      .filter((i) => chassisOf(cloud, i) !== c)
      .map((i) => ({ portId: simPort(i), ownerIp: tunnelIpOf(chassisOf(cloud, i)) }));
}

/** Waits until every chassis has converged; a pass resumes at the first one not yet there. */
async function allConverged(
  fleet: readonly (SimChassis | undefined)[],
  expectedBound: (c: number) => number,
  deadlineMs: number,
): Promise<{ ms: number; done: number }> {
  const t0 = performance.now();
  let from = 0;
  let done: number;
  for (;;) {
    let k = 0;
    for (; k < fleet.length; k++) {
      const c = (from + k) % fleet.length;
      const chassis = fleet[c];
      if (chassis === undefined) continue;
      const state = chassis.state();
      if (!state.converged || state.bound !== expectedBound(c)) {
        from = c;
        break;
      }
    }
    if (k === fleet.length) return { ms: performance.now() - t0, done: k };
    if (performance.now() - t0 > deadlineMs) {
      // How many have converged, each checked (the pass above stops at the first that has not).
      done = fleet.filter((chassis, c) => {
        if (chassis === undefined) return true;
        const state = chassis.state();
        return state.converged && state.bound === expectedBound(c);
      }).length;
      return { ms: performance.now() - t0, done };
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * The server's load-shedding counters (src/http/overload.ts) and its command handler's kept
 * states (src/commands/state-cache.ts), from its /metrics.
 */
async function serverCounters(url: string) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const sum = (name: string) =>
    text
      .split('\n')
      .filter((line) => line.startsWith(name))
      .reduce((total, line) => total + Number(line.split(' ').at(-1)), 0);
  return {
    shed: sum('locus_http_shed_total'),
    clientGone: sum('locus_http_client_gone_total'),
    stateHits: sum('locus_command_state_cache_lookups_total{outcome="hit"}'),
    stateMisses: sum('locus_command_state_cache_lookups_total{outcome="miss"}'),
    stateEvicted: sum('locus_command_state_cache_evicted_total'),
    reportS: sum('locus_bind_stage_seconds_sum{stage="report_appended"}'),
    reports: sum('locus_bind_stage_seconds_count{stage="report_appended"}'),
    ackS: sum('locus_bind_stage_seconds_sum{stage="ack_appended"}'),
    acks: sum('locus_bind_stage_seconds_count{stage="ack_appended"}'),
  };
}

/** Bytes of the files under `dir`. */
async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true }))
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size;
  return total;
}

interface SimStore {
  readonly url: string;
  /** The PostgreSQL cluster's folder (its CPU is read from /proc), undefined when embedded. */
  readonly dataDir?: string;
  close(): Promise<void>;
}

async function openStore(folder: string): Promise<SimStore> {
  if (process.env.LOCUS_BENCH_SIM_STORE !== 'postgres')
    return { url: join(folder, 'locus'), close: async () => undefined };
  const server = await startPostgres({ durable: true });
  const url = await createDatabase(server.url, 'locus_sim');
  return {
    url,
    dataDir: join(server.dir, 'data'),
    close: async () => {
      // LOCUS_BENCH_SIM_PGLOG=<file>: PostgreSQL's log kept (e.g. with LOCUS_TEST_PG_ARGS="-c
      // log_checkpoints=on -c log_min_duration_statement=200"), the cluster's folder is removed.
      const keep = process.env.LOCUS_BENCH_SIM_PGLOG;
      if (keep) await copyFile(join(server.dir, 'postgres.log'), keep).catch(() => undefined);
      await dropDatabase(url).catch(() => undefined);
      await server.stop();
    },
  };
}

interface Run {
  readonly records: BenchRecord[];
  readonly bindP99: number;
}

async function runCloud(
  name: 'small' | 'large',
  plan: Plan,
  progress: (m: string) => void,
  baselineP99?: number,
): Promise<Run> {
  const { cloud } = plan;
  const records: BenchRecord[] = [];
  const P = portsPerChassis(cloud);
  const { chassisOn, boundOn } = layoutOf(cloud);
  const folder = await mkdtemp(join(tmpdir(), 'locus-bench-sim-'));
  const store = await openStore(folder);
  let server: SimServer | undefined;
  let fleet: SimChassis[] = [];
  const label = `${cloud.chassis} chassis, ${cloud.ports} ports`;
  const params = {
    chassis: cloud.chassis,
    ports: cloud.ports,
    switches: cloud.switches,
    routers: cloud.routers,
    store: process.env.LOCUS_BENCH_SIM_STORE === 'postgres' ? 'postgres' : 'embedded',
  };
  try {
    let t = performance.now();
    const model: [string, string, object][] = [
      ...modelRequests(cloud),
      ...chassisDocs(cloud).map((doc): [string, string, object] => ['POST', '/v1/chassis', doc]),
      ...Array.from({ length: cloud.ports }, (_, i): [string, string, object] => [
        'POST',
        '/v1/ports',
        portBody(cloud, i),
      ]),
    ];
    const preload = cloud.ports > API_MODEL_LIMIT;
    if (preload) await preloadModel(store.url, model);
    server = await startSimServer(store.url);
    const api = apiOf(server.url);
    if (!preload) {
      // Through the API, which checks it (subnets, unique MACs and IPs): the same documents
      // the preload writes at the full size.
      for (const [method, path, body] of model.slice(0, -cloud.ports - cloud.chassis))
        await api(method, path, body);
      await eachAtMost(model.slice(-cloud.ports - cloud.chassis), 16, ([method, path, body]) =>
        api(method, path, body),
      );
    }
    // The apps (the routers' interfaces are distributed) and the projector have caught up.
    await until(
      async () => {
        const stats = await (server as SimServer).stats();
        return stats.appsPosition >= stats.head;
      },
      600_000,
      'the apps caught up with the model',
      200,
    );
    progress(
      `${label}: model ${preload ? 'preloaded (bulk)' : 'created through the API'} in ${seconds(performance.now() - t)} s`,
    );

    const heapBefore = canCollect() ? await heapAfterGc() : process.memoryUsage().heapUsed;
    t = performance.now();
    fleet = await startFleet(
      Array.from({ length: cloud.chassis }, (_, c) => chassisId(c)),
      { server: server.url, token: 'simulated', logger },
    );
    const heapStarted = canCollect() ? await heapAfterGc() : process.memoryUsage().heapUsed;
    progress(`${label}: agents following their feeds in ${seconds(performance.now() - t)} s`);

    // Every chassis reports its ports at once.
    const before = await server.stats();
    const loadBefore = (await import('node:os')).loadavg()[0] ?? 0;
    // Where the two cores go: the server (its own figure), the simulated chassis (this
    // process) and PostgreSQL's processes.
    const simCpuBefore = process.cpuUsage();
    const pgCpuBefore = store.dataDir ? await clusterCpuMs(store.dataDir) : undefined;
    const statements = store.dataDir ? await statementsProbe(store.url) : undefined;
    await statements?.reset();
    // The data paths, read from the bridges, beside the acks (./support/flows-converged.ts).
    const flowConvergence = new FlowConvergence(fleet, remotesOf(cloud));
    const flowsWatched = flowConvergence.watch(plan.convergeDeadlineMs + 60_000);
    const t0 = performance.now();
    let lastReport = t0;
    const failuresBefore = connectFailures.count;
    const countersBefore = await serverCounters(server.url);
    const shedBefore = reportsShed.count;
    const reportFailures: string[] = [];
    await eachAtMost(fleet, 16, async (chassis) => {
      const c = Number(chassis.id.slice(2));
      const mine: SimInterface[] = [];
      for (let i = c * P; i < Math.min(cloud.ports, (c + 1) * P); i++)
        mine.push({ name: tap(i), ofport: ofportOf(cloud, i), ifaceId: simPort(i) });
      try {
        await chassis.report(mine);
      } catch (error) {
        // Recorded, not fatal: what broke first is the figure (see the converge record).
        reportFailures.push(error instanceof Error ? String(error.cause ?? error.message) : '?');
      }
      lastReport = performance.now();
    });
    // Bound ports per switch as the run goes on (single binds add; the chassis gone removes).
    const boundNow = [...boundOn];
    const expectedBound = (c: number) => boundNow[switchOfChassis(cloud, c)] ?? 0;
    // Every report refused: nothing will converge, so the deadline is not waited out.
    const deadlineMs = reportFailures.length === fleet.length ? 0 : plan.convergeDeadlineMs;
    const converged = await allConverged(fleet, expectedBound, deadlineMs);
    const done = converged.done === fleet.length;
    const end = performance.now();
    flowConvergence.stop();
    const flows = await flowsWatched;
    const after = await server.stats();
    const shedding = await serverCounters(server.url);
    const heapConverged = canCollect() ? await heapAfterGc() : process.memoryUsage().heapUsed;
    const fromLast = end - lastReport;
    const cpuS = (after.cpuMicros - before.cpuMicros) / 1e6;
    const simCpu = process.cpuUsage(simCpuBefore);
    const simCpuS = (simCpu.user + simCpu.system) / 1e6;
    const pgCpuAfter = store.dataDir ? await clusterCpuMs(store.dataDir) : undefined;
    const pgCpuS =
      pgCpuBefore === undefined || pgCpuAfter === undefined
        ? undefined
        : (pgCpuAfter - pgCpuBefore) / 1000;
    const remoteViews = chassisOn.reduce(
      (sum, on, s) => sum + on.length * (boundOn[s] ?? 0) - (boundOn[s] ?? 0),
      0,
    );
    progress(
      `${label}: ${done ? 'converged' : `${converged.done}/${fleet.length} converged at the deadline`} ${seconds(fromLast)} s after the last report (${seconds(end - t0)} s after the first); server CPU ${cpuS.toFixed(1)} s, ${after.head - before.head} events appended; ${shedding.shed} commands shed, ${shedding.clientGone} clients gone`,
    );
    if (name === 'large')
      records.push({
        name: 'scale-sim/converge',
        params: {
          ...params,
          remoteViews,
          connectRetries: connectFailures.count - failuresBefore,
          reportsShed: reportsShed.count - shedBefore,
          commandsShed: shedding.shed,
          clientGone: shedding.clientGone,
          stateCacheHits: shedding.stateHits - countersBefore.stateHits,
          stateCacheMisses: shedding.stateMisses - countersBefore.stateMisses,
          stateCacheEvicted: shedding.stateEvicted - countersBefore.stateEvicted,
          // Mean time a report, an ack request waited in the server until appended.
          reportAppendedMs: meanMs(
            shedding.reportS - countersBefore.reportS,
            shedding.reports - countersBefore.reports,
          ),
          ackAppendedMs: meanMs(
            shedding.ackS - countersBefore.ackS,
            shedding.acks - countersBefore.acks,
          ),
          reportFailures: reportFailures.length,
          ...(reportFailures.length > 0 ? { firstFailure: reportFailures[0]?.slice(0, 80) } : {}),
          converged: `${converged.done}/${fleet.length}`,
          fromFirstReportS: seconds(end - t0),
          reportsS: seconds(lastReport - t0),
          serverCpuS: Number(cpuS.toFixed(1)),
          serverCpuCores: Number((cpuS / ((end - t0) / 1000)).toFixed(2)),
          simCpuS: Number(simCpuS.toFixed(1)),
          ...(pgCpuS === undefined ? {} : { pgCpuS: Number(pgCpuS.toFixed(1)) }),
          serverRssMiB: mib(after.rssBytes),
          appended: after.head - before.head,
          appendsPerS: Math.round(perSecond(after.head - before.head, end - t0)),
          appDecisionsPerS: Math.round(
            perSecond(after.apps.processed - before.apps.processed, end - t0),
          ),
          appAppended: after.apps.appended - before.apps.appended,
          loadBefore: Number(loadBefore.toFixed(1)),
        },
        throughput: perSecond(remoteViews, end - t0),
        unit: 'views',
        value: { amount: fromLast / 1000, unit: 's' },
        target: `< ${CONVERGE_TARGET_S} s (OVN 11.4 s)`,
        met: done && fromLast < CONVERGE_TARGET_S * 1000,
        peakRssBytes: peakRssBytes(),
      });
    for (const line of (await statements?.report()) ?? []) progress(`${label}: pg: ${line}`);
    const flowsFromLast = flows.last === undefined ? undefined : flows.last - lastReport;
    progress(
      `${label}: data paths ${flowsFromLast === undefined ? `${flows.done}/${fleet.length} converged` : `converged ${seconds(flowsFromLast)} s after the last report (${seconds((flows.last ?? 0) - t0)} s after the first)`}`,
    );
    if (name === 'large')
      records.push({
        name: 'scale-sim/converge-flows',
        params: {
          ...params,
          converged: `${flows.done}/${fleet.length}`,
          ...(flows.last === undefined
            ? {}
            : {
                fromFirstReportS: seconds(flows.last - t0),
                acksAfterS: seconds(end - flows.last),
              }),
        },
        throughput: perSecond(remoteViews, (flows.last ?? end) - t0),
        unit: 'views',
        ...(flowsFromLast === undefined
          ? {}
          : { value: { amount: flowsFromLast / 1000, unit: 's' } }),
        target: `< ${CONVERGE_TARGET_S} s (OVN 11.4 s: --wait=hv, each chassis' flows installed)`,
        met: flowsFromLast !== undefined && flowsFromLast < CONVERGE_TARGET_S * 1000,
        peakRssBytes: peakRssBytes(),
      });
    // What broke is in the record; the later phases need a converged cloud.
    if (!done) return { records, bindP99: Number.NaN };

    // Feeds and agents' memory, for the bind of the whole cloud.
    const bytes = fleet.map((c) => c.feedCount.bytes);
    const frames = fleet.map((c) => c.feedFrames);
    const slicePorts = (c: number) => (boundOn[switchOfChassis(cloud, c)] ?? 0) + 1;
    const meanOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    if (name === 'large') {
      records.push({
        name: 'scale-sim/feed',
        params: {
          ...params,
          meanBytes: Math.round(meanOf(bytes)),
          maxBytes: Math.max(...bytes),
          meanFrames: Number(meanOf(frames).toFixed(1)),
          bytesPerSlicePort: Math.round(meanOf(bytes.map((b, c) => b / slicePorts(c)))),
          slicePorts: slicePorts(0),
        },
        throughput: 0,
        unit: 'bytes',
        value: { amount: Math.round(meanOf(bytes)), unit: 'bytes/chassis' },
        peakRssBytes: peakRssBytes(),
      });
      records.push({
        name: 'scale-sim/agent-memory',
        params: {
          ...params,
          startedBytes: Math.round((heapStarted - heapBefore) / cloud.chassis),
          flowsPerChassis: Math.round(meanOf(fleet.map((c) => c.agent.bridge.size('br-int')))),
          gcMeasured: canCollect(),
        },
        throughput: 0,
        unit: 'bytes',
        value: {
          amount: Math.round((heapConverged - heapBefore) / cloud.chassis),
          unit: 'B/chassis',
        },
        peakRssBytes: peakRssBytes(),
      });
    }

    // Single binds, one at a time.
    let nextPort = cloud.ports;
    const ready = (s: number, check: (c: SimChassis) => boolean) =>
      (chassisOn[s] ?? []).every((c) => check(fleet[c] as SimChassis));
    const bindOne = async (c: number, i: number, ofport: number): Promise<number> => {
      const s = switchOfChassis(cloud, c);
      const id = simPort(i);
      const owner = fleet[c] as SimChassis;
      const peers = (chassisOn[s] ?? []).filter((p) => p !== c).map((p) => fleet[p] as SimChassis);
      const watch = new BindWatch(owner, peers, id, gcLog);
      const start = performance.now();
      // Polled while the report is under way: the stages are when each first held.
      let failed: unknown;
      const reported = owner.report([{ name: tap(i), ofport, ifaceId: id }]).then(
        () => watch.reported(),
        (error: unknown) => {
          failed = error;
        },
      );
      try {
        await until(
          () => {
            if (failed !== undefined) throw failed;
            return watch.poll();
          },
          BIND_TIMEOUT_MS,
          `bind of ${id}`,
        );
        await reported;
      } catch (error) {
        if (failed !== undefined) throw failed;
        // Counted, and kept as a sample of the timeout: one slow bind is a finding, not the end
        // of the run (the records after it still come).
        progress(`${label}: ${(error as Error).message}`);
        bindsTimedOut++;
      }
      const ms = performance.now() - start;
      const stages = watch.stages();
      bindStages.push({ ms, ...stages });
      if (ms >= SLOW_BIND_MS)
        progress(`${label}: slow bind of ${id}: ${describeStages(ms, stages)}`);
      return ms;
    };
    const bindStages: (BindStages & { ms: number })[] = [];
    const gcLog = new GcLog();
    let bindsTimedOut = 0;
    const draw = random(20);
    const samples: number[] = [];
    // This process simulates every chassis: its own GC pauses delay what it measures (a real
    // chassis has a process of its own), so they are recorded beside the latencies.
    const gc = gcPauses();
    for (let k = 0; k < plan.samples; k++) {
      const c = Math.floor(draw() * cloud.chassis);
      const i = nextPort++;
      await api('POST', '/v1/ports', portBody(cloud, i, switchOfChassis(cloud, c)));
      samples.push(await bindOne(c, i, ofportOf(cloud, i)));
      const s = switchOfChassis(cloud, c);
      boundNow[s] = (boundNow[s] ?? 0) + 1;
    }
    const pauses = gc.stop();
    gcLog.stop();
    if (process.env.LOCUS_BENCH_SIM_BINDS)
      appendFileSync(
        process.env.LOCUS_BENCH_SIM_BINDS,
        bindStages
          .map((b) => `${JSON.stringify({ label, ...b, startUs: String(b.startUs) })}\n`)
          .join(''),
      );
    const latency = percentiles(samples);
    progress(
      `${label}: bind p50/p99 ${latency.p50.toFixed(1)}/${latency.p99.toFixed(1)} ms; this process' GC: longest pause ${pauses.longestMs.toFixed(0)} ms, ${pauses.totalMs.toFixed(0)} ms in all`,
    );
    const peersOnSwitch = (chassisOn[0]?.length ?? 1) - 1;
    records.push({
      name: name === 'small' ? 'scale-sim/bind-4' : 'scale-sim/bind',
      params: {
        ...params,
        samples: plan.samples,
        acksPerBind: peersOnSwitch,
        bindsTimedOut,
        simGcLongestMs: Math.round(pauses.longestMs),
        simGcTotalMs: Math.round(pauses.totalMs),
      },
      throughput: perSecond(
        samples.length,
        samples.reduce((a, b) => a + b, 0),
      ),
      unit: 'binds',
      latencyMs: latency,
      ...(baselineP99 === undefined
        ? {}
        : {
            baseline: { name: 'scale-sim/bind-4', ratio: latency.p99 / baselineP99 },
            target: 'p99 ≤ 2× at 4 chassis',
            met: latency.p99 <= 2 * baselineP99,
          }),
      peakRssBytes: peakRssBytes(),
    });
    if (name === 'small') return { records, bindP99: latency.p99 };

    // Churn: workers create, bind and delete ports.
    if (plan.churnSeconds > 0) {
      const times = { create: [] as number[], bind: [] as number[], delete: [] as number[] };
      const churnBefore = await server.stats();
      const churnStart = performance.now();
      const stopAt = churnStart + plan.churnSeconds * 1000;
      const worker = async (w: number) => {
        const rnd = random(100 + w);
        while (performance.now() < stopAt) {
          const c = Math.floor(rnd() * cloud.chassis);
          const s = switchOfChassis(cloud, c);
          const i = nextPort++;
          const id = simPort(i);
          let start = performance.now();
          await api('POST', '/v1/ports', portBody(cloud, i, s));
          await until(() => ready(s, (x) => x.holds(id)), 30_000, `create of ${id}`);
          times.create.push(performance.now() - start);
          times.bind.push(await bindOne(c, i, ofportOf(cloud, i)));
          start = performance.now();
          await (fleet[c] as SimChassis).report([], [tap(i)]);
          await api('DELETE', `/v1/ports/${id}`);
          await until(() => ready(s, (x) => !x.holds(id)), 30_000, `delete of ${id}`);
          times.delete.push(performance.now() - start);
        }
      };
      await Promise.all(Array.from({ length: 4 }, (_, w) => worker(w)));
      const churnMs = performance.now() - churnStart;
      const churnAfter = await server.stats();
      const ops = times.create.length + times.bind.length + times.delete.length;
      const p = (xs: number[]) => percentiles(xs);
      progress(
        `${label}: churn ${Math.round(perSecond(ops, churnMs) * 60)} ops/min; p99 create/bind/delete ${p(times.create).p99.toFixed(0)}/${p(times.bind).p99.toFixed(0)}/${p(times.delete).p99.toFixed(0)} ms`,
      );
      const cpuChurn = (churnAfter.cpuMicros - churnBefore.cpuMicros) / 1e6;
      records.push({
        name: 'scale-sim/churn',
        params: {
          ...params,
          workers: 4,
          seconds: seconds(churnMs),
          createsPerMin: Math.round(perSecond(times.create.length, churnMs) * 60),
          bindsPerMin: Math.round(perSecond(times.bind.length, churnMs) * 60),
          deletesPerMin: Math.round(perSecond(times.delete.length, churnMs) * 60),
          createP50: Number(p(times.create).p50.toFixed(1)),
          createP99: Number(p(times.create).p99.toFixed(1)),
          bindP50: Number(p(times.bind).p50.toFixed(1)),
          bindP99: Number(p(times.bind).p99.toFixed(1)),
          deleteP50: Number(p(times.delete).p50.toFixed(1)),
          deleteP99: Number(p(times.delete).p99.toFixed(1)),
          serverCpuCores: Number((cpuChurn / (churnMs / 1000)).toFixed(2)),
          appendsPerS: Math.round(perSecond(churnAfter.head - churnBefore.head, churnMs)),
        },
        throughput: perSecond(ops, churnMs),
        unit: 'ops',
        latencyMs: percentiles([...times.create, ...times.bind, ...times.delete]),
        peakRssBytes: peakRssBytes(),
      });
    }

    // Migration: ports of distinct chassis move to the next chassis on their switch.
    if (plan.migrate > 0 && cloud.chassis > cloud.switches) {
      const moves: { i: number; from: number; to: number }[] = [];
      for (let k = 0; k < plan.migrate; k++) {
        const from = (k * 7) % cloud.chassis;
        // The next chassis on its switch (the first one after the last).
        const next = from + cloud.switches;
        const to = next < cloud.chassis ? next : from % cloud.switches;
        moves.push({ i: from * P + (k % P), from, to });
      }
      const t1 = performance.now();
      await Promise.all(
        moves.flatMap(({ i, from, to }) => [
          (fleet[from] as SimChassis).report([], [tap(i)]),
          (fleet[to] as SimChassis).report([
            { name: tap(i), ofport: 30_000 + (i % 30_000), ifaceId: simPort(i) },
          ]),
        ]),
      );
      const reported = performance.now() - t1;
      await until(
        () =>
          moves.every(({ i, to }) =>
            ready(switchOfChassis(cloud, to), (x) => x.sees(simPort(i), chassisId(to))),
          ),
        plan.convergeDeadlineMs,
        'the migration',
        10,
      );
      const migrateMs = performance.now() - t1;
      progress(`${label}: ${moves.length} ports migrated, converged in ${seconds(migrateMs)} s`);
      records.push({
        name: 'scale-sim/migrate',
        params: { ...params, moved: moves.length, reportedS: seconds(reported) },
        throughput: perSecond(moves.length, migrateMs),
        unit: 'ports',
        value: { amount: migrateMs / 1000, unit: 's' },
        peakRssBytes: peakRssBytes(),
      });
    }

    // A chassis disappears: its agent stops, then the cloud deletes its ports and the chassis.
    {
      const gone = cloud.chassis - 1;
      const s = switchOfChassis(cloud, gone);
      const ids: string[] = [];
      for (let i = gone * P; i < Math.min(cloud.ports, (gone + 1) * P); i++) {
        if (chassisOf(cloud, i) === gone) ids.push(simPort(i));
      }
      const goneChassis = fleet[gone] as SimChassis;
      const stillHeld = ids.filter((id) => goneChassis.sees(id, chassisId(gone)));
      await goneChassis.stop();
      const rest = fleet.map((c, k) => (k === gone ? undefined : c));
      const t2 = performance.now();
      await eachAtMost(stillHeld, 16, (id) => api('DELETE', `/v1/ports/${id}`));
      let chassisDeleted = 'yes';
      await api('DELETE', `/v1/chassis/${chassisId(gone)}`).catch((error: unknown) => {
        chassisDeleted = error instanceof Error ? error.message.slice(0, 80) : 'no';
      });
      await until(
        () =>
          (chassisOn[s] ?? []).every(
            (c) => c === gone || stillHeld.every((id) => !(fleet[c] as SimChassis).holds(id)),
          ),
        plan.convergeDeadlineMs,
        'the chassis gone',
        10,
      );
      const goneMs = performance.now() - t2;
      boundNow[s] = (boundNow[s] ?? 0) - stillHeld.length;
      const settled = await allConverged(rest, expectedBound, 30_000);
      progress(
        `${label}: chassis ${chassisId(gone)} gone, its ports out of every slice in ${seconds(goneMs)} s`,
      );
      records.push({
        name: 'scale-sim/chassis-gone',
        params: {
          ...params,
          ports: stillHeld.length,
          chassisDeleted,
          restConverged: settled.done === rest.length,
        },
        throughput: 0,
        unit: 's',
        value: { amount: goneMs / 1000, unit: 's' },
        peakRssBytes: peakRssBytes(),
      });
    }
    const final = await server.stats();
    // The embedded store's folder: the log and the read model, per event in the log.
    const diskBytes =
      params.store === 'embedded' ? await folderBytes(join(folder, 'locus')) : undefined;
    records.push({
      name: 'scale-sim/server',
      params: {
        ...params,
        heapUsedMiB: mib(final.heapUsedBytes),
        logEvents: final.head,
        appsProcessed: final.apps.processed,
        appsAppended: final.apps.appended,
        appsRefused: final.apps.refused,
        appsConflicts: final.apps.conflicts,
        ...(diskBytes === undefined
          ? {}
          : { diskMiB: mib(diskBytes), diskBytesPerEvent: Math.round(diskBytes / final.head) }),
      },
      throughput: 0,
      unit: 'MiB',
      value: { amount: mib(final.rssBytes), unit: 'MiB rss' },
      peakRssBytes: peakRssBytes(),
    });
    return { records, bindP99: latency.p99 };
  } finally {
    await Promise.all(fleet.map((c) => c.stop().catch(() => undefined)));
    await server?.stop();
    await store.close();
    await rm(folder, { recursive: true, force: true });
  }
}

export const benchScaleSim: Benchmark = async (options: BenchOptions) => {
  const { small, large } = plans(options.quick);
  const baseline = await runCloud('small', small, options.progress);
  const full = await runCloud('large', large, options.progress, baseline.bindP99);
  return [...baseline.records, ...full.records];
};
