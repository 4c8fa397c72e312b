/**
 * Several locus servers on one PostgreSQL (docs/cluster.md), as real processes (src/main.ts,
 * bundled; test/support/chaos/locus-process.ts):
 *
 * - `failover/kill-9`: three instances under a light load (the chaos workload, one client per
 *   survivor). A random instance is SIGKILLed; the figure is the time from the kill to the first
 *   decision of one of its partitions by another instance — a bind (an OvsPort report) of a
 *   port in that partition is sent through a survivor right after the kill, and the
 *   LocalCreated it causes is read from the log with its commit time. p50/p99 over 20 kills
 *   (quick: 5); the killed instance is restarted and the partitions spread again between kills.
 * - `failover/binds-N`: binds per second with 1, 2 and 3 instances on one PostgreSQL: ports
 *   created first, then one OvsPort report per port, spread round-robin over the instances,
 *   eight at a time, until every LocalCreated is in the log. The ratio to one instance is the
 *   baseline. Every instance folds the whole log and decides its share: on one machine the
 *   instances also share its cores.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import type { ClusterStatus } from '../src/api/cluster.js';
import { virtualPartitionOf } from '../src/apps/partitions.js';
import { type DatabaseHandle, openDatabase } from '../src/db/database.js';
import { chaosTokenList, chaosTokens, Workload } from '../test/support/chaos/load.js';
import { LocusProcess } from '../test/support/chaos/locus-process.js';
import { Rng } from '../test/support/chaos/rng.js';
import {
  createDatabase,
  dropDatabase,
  findPostgresBinaries,
  startPostgres,
} from '../test/support/postgres.js';
import {
  type Benchmark,
  type BenchOptions,
  type BenchRecord,
  peakRssBytes,
  percentiles,
  perSecond,
} from './lib.js';

const QUICK = { kills: 5, binds: 150 };
const FULL = { kills: 20, binds: 600 };
const CHASSIS = ['c1', 'c2', 'c3'];

async function call(base: string, method: string, path: string, body?: unknown, token?: string) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token ?? chaosTokens.operator}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  if (response.status >= 300 && response.status !== 409)
    throw new Error(`${method} ${path} → ${response.status} ${text.slice(0, 300)}`);
  return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
}

async function clusterOf(url: string): Promise<ClusterStatus | undefined> {
  try {
    return (await call(url, 'GET', '/v1/cluster', undefined, chaosTokens.reader)) as ClusterStatus;
  } catch {
    return undefined;
  }
}

/** Every partition held once by `instances` live instances, each holding some; one projector. */
async function settle(url: string, instances: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const cluster = await clusterOf(url);
    const held = cluster?.instances.flatMap((instance) => instance.partitions) ?? [];
    if (
      cluster !== undefined &&
      cluster.instances.length === instances &&
      held.length === cluster.self.partitionCount &&
      new Set(held).size === held.length &&
      cluster.instances.every((instance) => instance.partitions.length > 0) &&
      cluster.instances.filter((instance) => instance.projector).length === 1
    )
      return;
    if (Date.now() > deadline)
      throw new Error(`the cluster did not settle: ${JSON.stringify(cluster)}`);
    await sleep(100);
  }
}

async function setup(url: string): Promise<void> {
  for (const [index, id] of CHASSIS.entries())
    await call(url, 'POST', '/v1/chassis', {
      id,
      tunnelIp: `192.0.2.${11 + index}`,
      tunnelTypes: ['geneve'],
      bridgeMappings: {},
    });
  await call(url, 'POST', '/v1/switches', { id: 'bs', networkType: 'geneve', segmentationId: 9 });
}

/** Commit time (ms since the epoch) of the port's first LocalCreated, when there is one. */
async function decidedAt(db: DatabaseHandle, portId: string): Promise<number | undefined> {
  const { rows } = await sql<{ at: number }>`
    select (extract(epoch from recorded_at) * 1000)::float8 as at from events
    where stream_name = ${`lport-${portId}`} and type = 'LocalCreated' limit 1
  `.execute(db.db);
  return rows[0]?.at;
}

/** A port id in `partition`. */
function portIn(partition: number, prefix: string): string {
  for (let n = 0; ; n++) {
    const id = `${prefix}-${n}`;
    if (virtualPartitionOf(id) === partition) return id;
  }
}

async function startAll(processes: readonly LocusProcess[]): Promise<void> {
  const [first, ...others] = processes as [LocusProcess, ...LocusProcess[]];
  await first.start();
  await Promise.all(others.map((locus) => locus.start()));
}

async function measureFailover(
  serverUrl: string,
  kills: number,
  progress: (message: string) => void,
): Promise<BenchRecord> {
  const url = await createDatabase(serverUrl, 'bench_failover');
  const processes = [0, 1, 2].map(
    () => new LocusProcess({ storeUrl: url, tokens: chaosTokenList(CHASSIS) }),
  );
  const db = await openDatabase(url);
  const rng = new Rng(20_261_201);
  const workload = new Workload(rng);
  const loads: { stop: AbortController; running: Promise<void> }[] = [];
  const samples: number[] = [];
  let projectorKills = 0;
  try {
    await startAll(processes);
    const first = processes[0] as LocusProcess;
    await settle(first.url, 3);
    await workload.setup(first.url);
    await setup(first.url);
    const drive = (locus: LocusProcess) => {
      const stop = new AbortController();
      loads.push({ stop, running: workload.run(locus.url, stop.signal, 1) });
    };
    for (const locus of processes) drive(locus);
    for (let kill = 0; kill < kills; kill++) {
      const victim = processes[rng.int(3)] as LocusProcess;
      const survivor = processes.find((locus) => locus !== victim) as LocusProcess;
      // The victim's leases as the database has them (its own role follows a moment later).
      const held = (await clusterOf(victim.url))?.instances.find((instance) => instance.self);
      if (held === undefined || held.partitions.length === 0)
        throw new Error('the victim holds no partition');
      if (held.projector) projectorKills++;
      const portId = portIn(rng.pick(held.partitions), `fo${kill}`);
      await call(survivor.url, 'POST', '/v1/ports', {
        id: portId,
        switchId: 'bs',
        deviceOwner: 'compute',
      });
      const killedAt = Date.now();
      await victim.kill();
      await call(
        survivor.url,
        'POST',
        `/v1/chassis/c1/ovsports`,
        { name: `tap-${portId}`, ofport: 1 + kill, ifaceId: portId, type: '' },
        chaosTokens.agent('c1'),
      );
      const deadline = Date.now() + 60_000;
      let at = await decidedAt(db, portId);
      while (at === undefined) {
        if (Date.now() > deadline) throw new Error(`${portId} not decided within 60 s`);
        await sleep(20);
        at = await decidedAt(db, portId);
      }
      samples.push(at - killedAt);
      progress(`kill ${kill + 1}/${kills}: decided after ${Math.round(at - killedAt)} ms`);
      await victim.start();
      drive(victim);
      await settle(survivor.url, 3);
    }
  } finally {
    for (const load of loads) load.stop.abort();
    await Promise.all(loads.map((load) => load.running));
    await Promise.all(processes.map((locus) => locus.stop()));
    await Promise.all(processes.map((locus) => locus.close()));
    await db.close();
    await dropDatabase(url).catch(() => undefined);
  }
  const latency = percentiles(samples);
  return {
    name: 'failover/kill-9',
    params: {
      instances: 3,
      kills,
      projectorKills,
      loadAcked: workload.stats.acked,
      maxMs: Math.round(Math.max(...samples)),
    },
    throughput: 0,
    unit: 'ms',
    latencyMs: latency,
    value: { amount: Math.round(latency.p50), unit: 'ms p50 to the first decision' },
    target: 'p99 < 5000 ms',
    met: latency.p99 < 5_000,
    peakRssBytes: peakRssBytes(),
  };
}

async function measureBinds(
  serverUrl: string,
  instances: number,
  binds: number,
  progress: (message: string) => void,
): Promise<{ rate: number; seconds: number }> {
  const url = await createDatabase(serverUrl, `bench_binds_${instances}`);
  const processes = Array.from(
    { length: instances },
    () => new LocusProcess({ storeUrl: url, tokens: chaosTokenList(CHASSIS) }),
  );
  const db = await openDatabase(url);
  try {
    await startAll(processes);
    const urls = processes.map((locus) => locus.url);
    await settle(urls[0] as string, instances);
    await setup(urls[0] as string);
    const ports = Array.from({ length: binds }, (_, n) => `b${n}`);
    const eightAtATime = async (work: (n: number) => Promise<unknown>) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < binds) await work(next++);
        }),
      );
    };
    await eightAtATime((n) =>
      call(urls[n % instances] as string, 'POST', '/v1/ports', {
        id: ports[n],
        switchId: 'bs',
        deviceOwner: 'compute',
      }),
    );
    const started = performance.now();
    await eightAtATime((n) => {
      const chassis = CHASSIS[n % CHASSIS.length] as string;
      return call(
        urls[n % instances] as string,
        'POST',
        `/v1/chassis/${chassis}/ovsports`,
        { name: `tap-${ports[n]}`, ofport: 1 + n, ifaceId: ports[n], type: '' },
        chaosTokens.agent(chassis),
      );
    });
    for (;;) {
      const { rows } = await sql<{ n: string | number }>`
        select count(*) as n from events where type = 'LocalCreated' and stream_name like 'lport-b%'
      `.execute(db.db);
      if (Number(rows[0]?.n ?? 0) >= binds) break;
      if (performance.now() - started > 300_000) throw new Error('binds not decided in 300 s');
      await sleep(10);
    }
    const elapsed = performance.now() - started;
    progress(`${instances} instance(s): ${binds} binds in ${Math.round(elapsed)} ms`);
    return { rate: perSecond(binds, elapsed), seconds: elapsed / 1000 };
  } finally {
    await Promise.all(processes.map((locus) => locus.stop()));
    await Promise.all(processes.map((locus) => locus.close()));
    await db.close();
    await dropDatabase(url).catch(() => undefined);
  }
}

export const benchFailover: Benchmark = async (options: BenchOptions) => {
  if (findPostgresBinaries() === undefined) {
    options.progress('PostgreSQL binaries not found (postgresql): skipped');
    return [];
  }
  const sizes = options.quick ? QUICK : FULL;
  const server = await startPostgres({ durable: true });
  const records: BenchRecord[] = [];
  try {
    records.push(await measureFailover(server.url, sizes.kills, options.progress));
    let one: number | undefined;
    for (const instances of [1, 2, 3]) {
      const { rate, seconds } = await measureBinds(
        server.url,
        instances,
        sizes.binds,
        options.progress,
      );
      one ??= rate;
      records.push({
        name: `failover/binds-${instances}`,
        params: {
          instances,
          binds: sizes.binds,
          concurrency: 8,
          seconds: Number(seconds.toFixed(2)),
        },
        throughput: rate,
        unit: 'binds',
        ...(instances > 1 ? { baseline: { name: 'failover/binds-1', ratio: rate / one } } : {}),
        peakRssBytes: peakRssBytes(),
      });
    }
  } finally {
    await server.stop();
  }
  return records;
};
