/**
 * Bind latency end to end on real Open vSwitch: four chassis (A–D), each its own ovs-vswitchd
 * (dummy datapath) with br-int and a geneve port; the apps run live on an embedded event store
 * with OvsRemoteFlows (the in-process agents' flow reconcilers) as their RemoteFlows, as the
 * agent host wires them.
 *
 * Preloaded: N ports already bound over the four chassis (5,000; 500 quick; every switch has
 * ports on every chassis, so every chassis reaches every port), written to the log in bulk with
 * the apps' checkpoint at its head, each chassis' flows fully synced; the ports measured below
 * are created (unbound) in the same preload.
 *
 * Interfaces are reported by appending OvsPortCreated to the chassis stream, as an in-process
 * agent does (isolating locus from OVSDB):
 *
 *  - bind/latency: one interface appears on A → LocalCreated → A's flows deliver to it →
 *    B, C and D have remote flows to it → their RemoteCreated acks are in the log; the time to
 *    the last of those, one port at a time (200; 50 quick) — target p99 < 50 ms. The record's
 *    parameters carry the p50 of each step;
 *  - bind/bulk: 5,000 interfaces (500 quick) appear on A at once (reported 500 per append):
 *    time until every port is local on A with A's flows, and acked by B, C and D with theirs —
 *    target < 10 s.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { InMemoryCheckpoints } from '../src/apps/checkpoints.js';
import { PortLocalityFold } from '../src/apps/port-locality.js';
import { AppRunner } from '../src/apps/runner.js';
import { openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { Topology } from '../src/domain/topology.js';
import { chassisStream, commandCause, envelope } from '../src/events/index.js';
import type { NewEvent } from '../src/events/metadata.js';
import { OvsRemoteFlows } from '../src/ovs/reconciler/ovs-remote-flows.js';
import type { EventStore } from '../src/store/event-store.js';
import { SqlEventStore } from '../src/store/sql/sql-event-store.js';
import {
  addIntegrationBridge,
  type OvsSandbox,
  ovsAvailable,
  startOvs,
} from '../test/support/ovs.js';
import {
  type Benchmark,
  type BenchOptions,
  type BenchRecord,
  peakRssBytes,
  percentiles,
  perSecond,
  timeIt,
  until,
} from './lib.js';
import { BulkLog } from './support/bulk-log.js';
import {
  cloudEvents,
  DEFAULT_LAYOUT,
  ovsPortCreated,
  portCreated,
  portId,
} from './support/workload.js';

const LATENCY_TARGET_MS = 50;
const BULK_TARGET_S = 10;
const CHASSIS = DEFAULT_LAYOUT.chassis;
const OTHERS = CHASSIS.filter((c) => c !== 'A');
const chassisPorts = { tunnels: { geneve: 100 } };
const logger = pino({ level: 'silent' });

export interface BindSizes {
  readonly bound: number;
  readonly samples: number;
  readonly bulk: number;
  /** OvsPortCreated events per append in the bulk bind. */
  readonly reportSize: number;
  /** The bulk bind gives up (and records how far it got) after this long. */
  readonly bulkDeadlineMs: number;
}

export const FULL_SIZES: BindSizes = {
  bound: 5_000,
  samples: 200,
  bulk: 5_000,
  reportSize: 500,
  bulkDeadlineMs: 300_000,
};
export const QUICK_SIZES: BindSizes = {
  bound: 500,
  samples: 50,
  bulk: 200,
  reportSize: 500,
  bulkDeadlineMs: 60_000,
};

/** What the apps appended for a port, and when (performance.now()). */
interface PortProgress {
  local?: number;
  acks: Set<string>;
  acked?: number;
}

async function startChassis(): Promise<OvsSandbox> {
  const ovs = await startOvs();
  await addIntegrationBridge(ovs);
  return ovs;
}

/**
 * Runs the bind benchmark at one size; `prefix` names its records (`bind` here, `scale/bind`
 * in the scale suite).
 */
export async function measureBind(
  sizes: BindSizes,
  progress: (m: string) => void,
  prefix = 'bind',
): Promise<BenchRecord[]> {
  const records: BenchRecord[] = [];
  const sandboxes = new Map<string, OvsSandbox>();
  const folder = await mkdtemp(join(tmpdir(), 'locus-bench-bind-'));
  let database: Awaited<ReturnType<typeof openDatabase>> | undefined;
  let flows: OvsRemoteFlows | undefined;
  let runner: AppRunner | undefined;
  try {
    progress(`starting ${CHASSIS.length} Open vSwitch sandboxes`);
    const started = await Promise.all(
      CHASSIS.map(async (id) => [id, await startChassis()] as const),
    );
    for (const [id, sandbox] of started) sandboxes.set(id, sandbox);

    // The log: the bound cloud, then the ports measured below (created, not bound).
    database = await openDatabase(folder);
    await migrateToLatest(database.db);
    const switches = Math.ceil(sizes.bound / DEFAULT_LAYOUT.portsPerSwitch);
    const sampleIds = Array.from({ length: sizes.samples }, (_, k) => sizes.bound + k);
    const bulkIds = Array.from({ length: sizes.bulk }, (_, k) => sizes.bound + sizes.samples + k);
    const log = new BulkLog(database.db);
    let head = 0n;
    const loadMs = await timeIt(async () => {
      await log.addAll(cloudEvents(sizes.bound));
      for (const i of [...sampleIds, ...bulkIds]) await log.add(portCreated(i, i % switches));
      head = await log.flush();
    });
    progress(`log: ${log.written} events in ${(loadMs / 1000).toFixed(1)} s (bulk)`);

    const progressOf = new Map<string, PortProgress>();
    const inner = new SqlEventStore(database);
    // Watches the apps' appends: when each port's LocalCreated and acks are in the log.
    const watch = (events: readonly NewEvent[]) => {
      const now = performance.now();
      for (const event of events) {
        const data = event.data as { portId?: string; chassis?: string };
        if (data.portId === undefined) continue;
        let entry = progressOf.get(data.portId);
        if (!entry) {
          entry = { acks: new Set() };
          progressOf.set(data.portId, entry);
        }
        if (event.type === 'LocalCreated') entry.local ??= now;
        if (event.type === 'RemoteCreated' && data.chassis) {
          entry.acks.add(data.chassis);
          if (entry.acks.size === OTHERS.length) entry.acked ??= now;
        }
      }
    };
    const store: EventStore = new Proxy(inner, {
      get(target, property, receiver) {
        if (property === 'appendToStream')
          return async (...args: Parameters<EventStore['appendToStream']>) => {
            const result = await target.appendToStream(...args);
            watch(args[1]);
            return result;
          };
        if (property === 'appendToStreams')
          return async (...args: Parameters<EventStore['appendToStreams']>) => {
            const outcomes = await target.appendToStreams(...args);
            outcomes.forEach((outcome, index) => {
              if (outcome.ok) watch(args[0][index]?.events ?? []);
            });
            return outcomes;
          };
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const checkpoints = new InMemoryCheckpoints();
    await checkpoints.save('apps', head);
    const topology = new Topology(new PortLocalityFold());
    flows = new OvsRemoteFlows({ topology, logger });
    const appRunner = new AppRunner({ store, topology, remoteFlows: flows, checkpoints, logger });
    runner = appRunner;
    const foldMs = await timeIt(() => appRunner.catchUp());
    progress(`apps folded ${head} events in ${(foldMs / 1000).toFixed(1)} s`);
    const syncMs = await timeIt(async () => {
      for (const [id, sandbox] of sandboxes)
        await flows?.addChassis({
          chassis: id,
          env: { OVS_RUNDIR: sandbox.dir },
          ports: chassisPorts,
          antiEntropyIntervalMs: 0,
          probeIntervalMs: 0,
        });
    });
    const flowCount = (id: string) => flows?.reconciler(id)?.applied?.flows.flows.size ?? 0;
    progress(
      `initial full sync of 4 chassis in ${(syncMs / 1000).toFixed(1)} s (${CHASSIS.map(flowCount).join('/')} flows)`,
    );
    await appRunner.start();

    const reconcilerOf = (id: string) => {
      const reconciler = flows?.reconciler(id);
      if (!reconciler) throw new Error(`no reconciler for ${id}`);
      return reconciler;
    };
    const localOnA = (id: string) =>
      reconcilerOf('A').applied?.context.ports.get(id)?.destination.kind === 'local';
    const remoteOn = (chassis: string, id: string) => {
      const destination = reconcilerOf(chassis).applied?.context.ports.get(id)?.destination;
      return destination?.kind === 'tunnel' && destination.owner === 'A';
    };
    // A's preloaded interfaces use ofports up to bound/4 + 1.
    const report = (ids: readonly number[]) =>
      store.appendToStream(
        chassisStream('A'),
        ids.map((i) =>
          envelope(ovsPortCreated(i, 'A', 2_000 + i - sizes.bound), {
            app: 'agent:A',
            cause: commandCause(),
          }),
        ),
      );

    // One bind at a time.
    progress(`${sizes.samples} binds, one at a time`);
    const total: number[] = [];
    const toLocal: number[] = [];
    const toFlowsA: number[] = [];
    const toAcks: number[] = [];
    for (const i of sampleIds) {
      const id = portId(i);
      const t0 = performance.now();
      await report([i]);
      let flowsA: number | undefined;
      await until(
        () => {
          if (flowsA === undefined && localOnA(id)) flowsA = performance.now();
          const entry = progressOf.get(id);
          return flowsA !== undefined && entry?.acked !== undefined && entry.local !== undefined;
        },
        30_000,
        `bind of ${id}`,
        1,
      );
      const entry = progressOf.get(id) as Required<PortProgress>;
      toLocal.push(entry.local - t0);
      toFlowsA.push((flowsA as number) - t0);
      toAcks.push(entry.acked - t0);
      total.push(Math.max(flowsA as number, entry.acked) - t0);
    }
    for (const chassis of OTHERS)
      for (const i of sampleIds)
        if (!remoteOn(chassis, portId(i)))
          throw new Error(`${chassis} has no flows to ${portId(i)}`);
    const latency = percentiles(total);
    const p50 = (samples: number[]) => Number(percentiles(samples).p50.toFixed(2));
    records.push({
      name: `${prefix}/latency`,
      params: {
        bound: sizes.bound,
        chassis: CHASSIS.length,
        samples: sizes.samples,
        localP50: p50(toLocal),
        flowsAP50: p50(toFlowsA),
        acksP50: p50(toAcks),
      },
      throughput: perSecond(
        total.length,
        total.reduce((a, b) => a + b, 0),
      ),
      unit: 'binds',
      latencyMs: latency,
      target: `p99 < ${LATENCY_TARGET_MS} ms`,
      met: latency.p99 < LATENCY_TARGET_MS,
      peakRssBytes: peakRssBytes(),
    });
    progress(`bind p50/p99 ${latency.p50.toFixed(1)}/${latency.p99.toFixed(1)} ms`);

    if (sizes.bulk === 0) return records;
    // Bulk: every interface at once.
    progress(`bulk bind of ${sizes.bulk} ports on A`);
    const t0 = performance.now();
    for (let k = 0; k < bulkIds.length; k += sizes.reportSize)
      await report(bulkIds.slice(k, k + sizes.reportSize));
    const reportedMs = performance.now() - t0;
    const bulkNames = bulkIds.map(portId);
    // Converged ports stay converged: walk the list once, from the first one not yet there.
    let acked = 0;
    let converged = 0;
    let ackedMs = 0;
    const deadline = t0 + sizes.bulkDeadlineMs;
    while (converged < bulkNames.length && performance.now() < deadline) {
      while (acked < bulkNames.length && progressOf.get(bulkNames[acked] as string)?.acked) acked++;
      if (acked === bulkNames.length) ackedMs ||= performance.now() - t0;
      while (converged < acked) {
        const id = bulkNames[converged] as string;
        if (!localOnA(id) || OTHERS.some((chassis) => !remoteOn(chassis, id))) break;
        converged++;
      }
      if (converged < bulkNames.length) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const bulkMs = performance.now() - t0;
    const done = converged === bulkNames.length;
    progress(
      done
        ? `bulk bind converged in ${(bulkMs / 1000).toFixed(2)} s (reported in ${(reportedMs / 1000).toFixed(2)} s, acked in ${(ackedMs / 1000).toFixed(2)} s)`
        : `bulk bind: ${converged} of ${bulkNames.length} ports converged at the ${sizes.bulkDeadlineMs / 1000} s deadline`,
    );
    records.push({
      name: `${prefix}/bulk`,
      params: {
        bound: sizes.bound,
        ports: sizes.bulk,
        perReport: sizes.reportSize,
        converged: `${converged}/${sizes.bulk}`,
        ...(ackedMs > 0 ? { ackedSeconds: Number((ackedMs / 1000).toFixed(2)) } : {}),
        flows: CHASSIS.map(flowCount).join('/'),
      },
      throughput: perSecond(sizes.bulk, bulkMs),
      unit: 'ports',
      value: { amount: bulkMs / 1000, unit: 's' },
      target: `< ${BULK_TARGET_S} s`,
      met: done && bulkMs < BULK_TARGET_S * 1000,
      peakRssBytes: peakRssBytes(),
    });
  } finally {
    await runner?.stop().catch(() => undefined);
    await flows?.stop().catch(() => undefined);
    await database?.close().catch(() => undefined);
    await Promise.all([...sandboxes.values()].map((sandbox) => sandbox.stop()));
    await rm(folder, { recursive: true, force: true });
  }
  return records;
}

export const benchBind: Benchmark = async (options: BenchOptions) => {
  if (!ovsAvailable()) {
    options.progress('Open vSwitch is not installed (openvswitch-switch): skipped');
    return [];
  }
  return measureBind(options.quick ? QUICK_SIZES : FULL_SIZES, options.progress);
};
