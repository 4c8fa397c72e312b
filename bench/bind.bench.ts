/**
 * Bind latency end to end through the agents: locus as `npm start` runs it (startLocus on an
 * embedded store, LOCUS_AGENTS=ovs), its four chassis (A–D) each a private ovs-vswitchd (dummy
 * datapath) driven by its in-process agent — the same agent a hypervisor runs, over the API on
 * the loopback: it observes br-int over OVSDB and reports, follows its chassis feed, installs
 * its flows and acks them through the API.
 *
 * Preloaded: N ports already bound over the four chassis (5,000; 500 quick; every switch has
 * ports on every chassis, so every chassis reaches every port), written to the log in bulk with
 * the apps' checkpoint at its head, their interfaces plugged into each chassis' Open vSwitch
 * before locus starts (so the agents find what the log holds and report nothing); the ports
 * measured below are created (unbound) in the same preload.
 *
 * Interfaces are plugged as a compute service does: `ovs-vsctl add-port br-int tapX -- set
 * Interface tapX external_ids:iface-id=X` on A.
 *
 *  - bind/latency: one interface appears on A → A's agent reports it → LocalCreated → A's
 *    flows deliver to it → B, C and D's agents get it in their feeds, install their flows to it
 *    and ack → their RemoteCreated are in the log; the time to the last of those, one port at a
 *    time (200; 50 quick) — target p99 < 50 ms. The record's parameters carry the p50 of each
 *    step;
 *  - bind/latency-from-row: the same binds, timed from the moment A's Interface row carries
 *    both its ofport and its iface-id (the first moment any agent can know the port), seen by
 *    an OVSDB monitor in its own idle process (support/ovn-row-watcher.ts: not behind locus'
 *    event loop) — OVN's suite (bench/ovn.bench.ts) times its binds from the same two instants
 *    with the same watcher;
 *  - bind/bulk: 5,000 interfaces (500 quick) appear on A at once (500 per ovs-vsctl call): time
 *    until every port is local on A with A's flows, and acked by B, C and D with theirs —
 *    target < 10 s;
 *  - bind/rss: this process' RSS after the bulk (locus, its four in-process agents, the bench's
 *    own monitors) plus its child processes' (the ovs-ofctl helper): the server side of the
 *    control plane, to set against OVN's daemons.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { pino } from 'pino';
import type { HostedChassis } from '../src/agent/host.js';
import { StreamMetadataCheckpoints } from '../src/apps/checkpoints.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import type { Chassis, DomainEvent } from '../src/events/index.js';
import { httpConfig } from '../src/http/config.js';
import { packagePath } from '../src/lib/package-root.js';
import { type Locus, startLocus } from '../src/locus.js';
import type { Subscription } from '../src/store/event-store.js';
import { SqlEventStore } from '../src/store/sql/sql-event-store.js';
import { ovsAvailable } from '../test/support/ovs.js';
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
import { type RowWatch, watchRows } from './support/ovn-row-watcher.js';
import {
  chassisCreated,
  cloudEvents,
  DEFAULT_LAYOUT,
  placementOf,
  portCreated,
  portId,
} from './support/workload.js';

const run = promisify(execFile);
const sandboxScript = packagePath('ops', 'ovs', 'sandbox.sh');
const LATENCY_TARGET_MS = 50;
const BULK_TARGET_S = 10;
const CHASSIS = DEFAULT_LAYOUT.chassis;
const OTHERS = CHASSIS.filter((c) => c !== 'A');
/** LOCUS_BENCH_LOG=warn (or debug…) shows what locus and its agents log, on stderr. */
const logger = pino({ level: process.env.LOCUS_BENCH_LOG ?? 'silent' }, pino.destination(2));
/** Interfaces per ovs-vsctl transaction when plugging the preloaded cloud. */
const PLUG_BATCH = 250;
export interface BindSizes {
  readonly bound: number;
  readonly samples: number;
  readonly bulk: number;
  /** Interfaces per ovs-vsctl call in the bulk bind. */
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

/** What the log holds of a port, and when it got there (performance.now()). */
interface PortProgress {
  /** The agent's report of its interface (OvsPortCreated) in the log. */
  reported?: number;
  local?: number;
  acks: Set<string>;
  acked?: number;
}

/** VmRSS (or another /proc/<pid>/status field) in bytes; 0 when the process is gone. */
function statusBytes(pid: number | 'self', field: string): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/** RSS of this process' children (the ovs-ofctl helper, any tool running right now). */
function childrenRss(except: readonly (number | undefined)[]): number {
  try {
    return readFileSync(`/proc/self/task/${process.pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter((pid) => pid !== '' && !except.includes(Number(pid)))
      .reduce((sum, pid) => sum + statusBytes(Number(pid), 'VmRSS'), 0);
  } catch {
    return 0;
  }
}

const mib = (bytes: number) => Number((bytes / 2 ** 20).toFixed(1));

/** `ovs-vsctl add-port` arguments plugging interface `i` (iface-id p<i>), as a compute service. */
function plugArgs(i: number, ofport?: number): string[] {
  const name = `tap${i}`;
  return [
    '--',
    '--may-exist',
    'add-port',
    'br-int',
    name,
    '--',
    'set',
    'Interface',
    name,
    'type=dummy',
    `external_ids:iface-id=${portId(i)}`,
    ...(ofport === undefined ? [] : [`ofport_request=${ofport}`]),
  ];
}

const vsctl = (dir: string, args: readonly string[]) =>
  run('ovs-vsctl', [`--db=unix:${dir}/db.sock`, '--timeout=60', ...args], {
    maxBuffer: 16 * 1024 * 1024,
  });

/**
 * The cloud's interfaces as plugCloud plugs them (`type=dummy`: the sandboxes' datapath), so
 * the agents find in the log what their Open vSwitch holds and report nothing at start.
 */
function* asPlugged(events: Iterable<DomainEvent>): Iterable<DomainEvent> {
  for (const event of events)
    yield event.type === 'OvsPortCreated'
      ? { ...event, data: { ...event.data, type: 'dummy' } }
      : event;
}

/**
 * Starts each chassis' Open vSwitch (locus adopts it) with br-int and the preloaded cloud's
 * interfaces of that chassis, at the ofports the log holds.
 */
async function plugCloud(ovsDir: string, bound: number): Promise<void> {
  await Promise.all(
    CHASSIS.map(async (chassis) => {
      const dir = join(ovsDir, chassis);
      await run('bash', [sandboxScript, 'start', dir]);
      await vsctl(dir, [
        '--may-exist',
        'add-br',
        'br-int',
        '--',
        'set',
        'Bridge',
        'br-int',
        'datapath_type=dummy',
      ]);
      const mine: string[][] = [];
      for (let i = 0; i < bound; i++) {
        const placement = placementOf(i);
        if (placement.owner === chassis) mine.push(plugArgs(i, placement.ofport));
      }
      for (let k = 0; k < mine.length; k += PLUG_BATCH)
        await vsctl(dir, mine.slice(k, k + PLUG_BATCH).flat());
    }),
  );
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
  const folder = await mkdtemp(join(tmpdir(), 'locus-bench-bind-'));
  // Short: unix socket paths under it must stay below ~100 bytes.
  const ovsDir = await mkdtemp('/tmp/lbb-');
  const storeUrl = join(folder, 'locus');
  let locus: Locus | undefined;
  let subscription: Subscription | undefined;
  let rows: RowWatch | undefined;
  try {
    // The log: the bound cloud, then the ports measured below (created, not bound).
    const switches = Math.ceil(sizes.bound / DEFAULT_LAYOUT.portsPerSwitch);
    const sampleIds = Array.from({ length: sizes.samples }, (_, k) => sizes.bound + k);
    const bulkIds = Array.from({ length: sizes.bulk }, (_, k) => sizes.bound + sizes.samples + k);
    let head = 0n;
    const database = await openDatabase(storeUrl);
    try {
      await migrateToLatest(database.db);
      const log = new BulkLog(database.db);
      const loadMs = await timeIt(async () => {
        await log.addAll(asPlugged(cloudEvents(sizes.bound)));
        for (const i of [...sampleIds, ...bulkIds]) await log.add(portCreated(i, i % switches));
        head = await log.flush();
        // The apps decided everything preloaded (the acks are in the log).
        await new StreamMetadataCheckpoints(new SqlEventStore(database)).save('apps', head);
      });
      progress(`log: ${log.written} events in ${(loadMs / 1000).toFixed(1)} s (bulk)`);
    } finally {
      await database.close();
    }

    progress(`starting ${CHASSIS.length} Open vSwitch sandboxes, plugging the bound interfaces`);
    const plugMs = await timeIt(() => plugCloud(ovsDir, sizes.bound));
    progress(`plugged ${sizes.bound} interfaces in ${(plugMs / 1000).toFixed(1)} s`);

    let hosted: readonly HostedChassis[] = [];
    const startMs = await timeIt(async () => {
      locus = await startLocus({
        config: { ...loadConfig({ LOCUS_STORE_URL: storeUrl }), httpPort: 0 },
        http: httpConfig({ insecureNoAuth: true, logRequests: false, docs: false }),
        logger,
        agents: {
          mode: 'ovs',
          chassis: chassisCreated().map((event) => event.data as Chassis),
          ovsDir,
        },
      });
      hosted = locus.agents.hosted;
      await Promise.all(hosted.map((host) => host.agent?.flows?.ready()));
      // Every agent has compared its Open vSwitch with the log (and reported any difference).
      await until(
        () => hosted.every((host) => host.agent?.agent.isSettled !== false),
        60_000,
        'the agents settled',
        10,
      );
    });
    const agentOf = (id: string) => {
      const flows = hosted.find((host) => host.chassis.id === id)?.agent?.flows;
      if (!flows) throw new Error(`no agent for ${id}`);
      return flows;
    };
    const flowCount = (id: string) => agentOf(id).flows.reconciler.applied?.flows.flows.size ?? 0;
    progress(
      `locus and 4 agents up, first full syncs done in ${(startMs / 1000).toFixed(1)} s (${CHASSIS.map(flowCount).join('/')} flows)`,
    );
    const running = locus as unknown as Locus;

    // Watches the log: when each port's LocalCreated and acks are in.
    const progressOf = new Map<string, PortProgress>();
    subscription = running.store.subscribeToAll({ after: head });
    const watched = subscription;
    void (async () => {
      for await (const recorded of watched) {
        const now = performance.now();
        const data = recorded.data as { portId?: string; chassis?: string; ifaceId?: string };
        const id = recorded.type === 'OvsPortCreated' ? data.ifaceId : data.portId;
        if (!id) continue;
        let entry = progressOf.get(id);
        if (!entry) {
          entry = { acks: new Set() };
          progressOf.set(id, entry);
        }
        if (recorded.type === 'OvsPortCreated') entry.reported ??= now;
        if (recorded.type === 'LocalCreated') entry.local ??= now;
        if (recorded.type === 'RemoteCreated' && data.chassis) {
          entry.acks.add(data.chassis);
          if (entry.acks.size === OTHERS.length) entry.acked ??= now;
        }
      }
    })().catch(() => undefined);

    const localOnA = (id: string) =>
      agentOf('A').flows.applied.ports.get(id)?.destination.kind === 'local';
    const remoteOn = (chassis: string, id: string) => {
      const destination = agentOf(chassis).flows.applied.ports.get(id)?.destination;
      return destination?.kind === 'tunnel' && destination.owner === 'A';
    };
    const dirA = join(ovsDir, 'A');
    rows = await watchRows(`unix:${dirA}/db.sock`);
    const rowAt = rows.rowAt;
    const plug = (ids: readonly number[]) =>
      vsctl(
        dirA,
        ids.flatMap((i) => plugArgs(i)),
      );

    if (process.env.LOCUS_BENCH_TRACE)
      for (const host of hosted)
        progress(
          `${host.chassis.id}: acks ${JSON.stringify(host.agent?.flows?.acks.stats)} settled ${host.agent?.agent.isSettled} flows ${JSON.stringify(host.agent?.flows?.flows.stats)}`,
        );
    // One bind at a time.
    progress(`${sizes.samples} binds, one at a time`);
    const total: number[] = [];
    const fromRow: number[] = [];
    const toRow: number[] = [];
    const toReported: number[] = [];
    const toLocal: number[] = [];
    const toFlowsA: number[] = [];
    /** B, C and D's remote flows to the port all applied: OVN's "ready" has no ack after it. */
    const toFlowsRemote: number[] = [];
    const toAcks: number[] = [];
    for (const i of sampleIds) {
      const id = portId(i);
      const t0 = performance.now();
      await plug([i]);
      let flowsA: number | undefined;
      let flowsRemote: number | undefined;
      await until(
        () => {
          if (flowsA === undefined && localOnA(id)) flowsA = performance.now();
          if (flowsRemote === undefined && OTHERS.every((chassis) => remoteOn(chassis, id)))
            flowsRemote = performance.now();
          const entry = progressOf.get(id);
          return flowsA !== undefined && entry?.acked !== undefined && entry.local !== undefined;
        },
        30_000,
        `bind of ${id}`,
        1,
      );
      const entry = progressOf.get(id) as Required<PortProgress>;
      const end = Math.max(flowsA as number, entry.acked);
      // The report needs the ofport, so the watcher has seen the row (its message may still be
      // queued behind the bind's own work on this event loop: wait for it).
      await until(() => rowAt.has(id), 5_000, `${id}'s Interface row`, 1);
      const row = rowAt.get(id) as number;
      toRow.push(row - t0);
      fromRow.push(end - row);
      toReported.push(entry.reported - t0);
      toLocal.push(entry.local - t0);
      toFlowsA.push((flowsA as number) - t0);
      toFlowsRemote.push((flowsRemote ?? entry.acked) - t0);
      toAcks.push(entry.acked - t0);
      total.push(end - t0);
      if (process.env.LOCUS_BENCH_TRACE)
        progress(
          `${id}: reported ${(entry.reported - t0).toFixed(0)} local ${(entry.local - t0).toFixed(0)} flows on A ${((flowsA as number) - t0).toFixed(0)} acked ${(entry.acked - t0).toFixed(0)} ms`,
        );
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
        from: 'add-port',
        rowP50: p50(toRow),
        reportedP50: p50(toReported),
        localP50: p50(toLocal),
        flowsAP50: p50(toFlowsA),
        flowsRemoteP50: p50(toFlowsRemote),
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
    const latencyFromRow = percentiles(fromRow);
    records.push({
      name: `${prefix}/latency-from-row`,
      params: {
        bound: sizes.bound,
        chassis: CHASSIS.length,
        samples: sizes.samples,
        from: 'row',
        reportedP50: p50(toReported.map((t, k) => t - (toRow[k] as number))),
        localP50: p50(toLocal.map((t, k) => t - (toRow[k] as number))),
        flowsAP50: p50(toFlowsA.map((t, k) => t - (toRow[k] as number))),
        flowsRemoteP50: p50(toFlowsRemote.map((t, k) => t - (toRow[k] as number))),
        acksP50: p50(toAcks.map((t, k) => t - (toRow[k] as number))),
      },
      throughput: perSecond(
        fromRow.length,
        fromRow.reduce((a, b) => a + b, 0),
      ),
      unit: 'binds',
      latencyMs: latencyFromRow,
      peakRssBytes: peakRssBytes(),
    });
    progress(
      `bind p50/p99 ${latency.p50.toFixed(1)}/${latency.p99.toFixed(1)} ms from add-port, ${latencyFromRow.p50.toFixed(1)}/${latencyFromRow.p99.toFixed(1)} ms from the row`,
    );

    if (sizes.bulk === 0) return records;
    // Bulk: every interface at once.
    progress(`bulk bind of ${sizes.bulk} ports on A`);
    const t0 = performance.now();
    for (let k = 0; k < bulkIds.length; k += sizes.reportSize)
      await plug(bulkIds.slice(k, k + sizes.reportSize));
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
    /** When the last bulk port reached a stage (s after the first plug). */
    const lastAt = (stage: 'reported' | 'local') => {
      let last = t0;
      for (const id of bulkNames) last = Math.max(last, progressOf.get(id)?.[stage] ?? t0);
      return Number(((last - t0) / 1000).toFixed(2));
    };
    let lastRow = t0;
    for (const id of bulkNames) lastRow = Math.max(lastRow, rowAt.get(id) ?? t0);
    progress(
      done
        ? `bulk bind converged in ${(bulkMs / 1000).toFixed(2)} s (plugged in ${(reportedMs / 1000).toFixed(2)} s, acked in ${(ackedMs / 1000).toFixed(2)} s)`
        : `bulk bind: ${converged} of ${bulkNames.length} ports converged at the ${sizes.bulkDeadlineMs / 1000} s deadline`,
    );
    records.push({
      name: `${prefix}/bulk`,
      params: {
        bound: sizes.bound,
        ports: sizes.bulk,
        perPlug: sizes.reportSize,
        converged: `${converged}/${sizes.bulk}`,
        rowSeconds: Number(((lastRow - t0) / 1000).toFixed(2)),
        reportedSeconds: lastAt('reported'),
        localSeconds: lastAt('local'),
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
    const rss = statusBytes('self', 'VmRSS');
    const helpers = childrenRss([rows?.pid]);
    records.push({
      name: `${prefix}/rss`,
      params: {
        bound: sizes.bound,
        ports: sizes.bound + sizes.samples + sizes.bulk,
        processMiB: mib(rss),
        hwmMiB: mib(statusBytes('self', 'VmHWM')),
        heapUsedMiB: mib(process.memoryUsage().heapUsed),
        helpersMiB: mib(helpers),
      },
      throughput: 0,
      unit: 'MiB',
      value: { amount: mib(rss + helpers), unit: 'MiB' },
      peakRssBytes: peakRssBytes(),
    });
  } finally {
    await rows?.close().catch(() => undefined);
    await subscription?.close().catch(() => undefined);
    // Stops the agents, then the sandboxes it adopted; any left (locus did not start) after.
    await (locus as Locus | undefined)?.stop().catch(() => undefined);
    for (const chassis of CHASSIS)
      await run('bash', [sandboxScript, 'stop', join(ovsDir, chassis)]).catch(() => undefined);
    await rm(folder, { recursive: true, force: true });
    await rm(ovsDir, { recursive: true, force: true });
  }
  return records;
}

export const benchBind: Benchmark = async (options: BenchOptions) => {
  if (!ovsAvailable()) {
    options.progress('Open vSwitch is not installed (openvswitch-switch): skipped');
    return [];
  }
  const sizes = options.quick ? QUICK_SIZES : FULL_SIZES;
  // Profiling a full-size cloud without the whole run: fewer samples, a smaller bulk.
  const samples = Number(process.env.LOCUS_BENCH_BIND_SAMPLES ?? sizes.samples);
  const bulk = Number(process.env.LOCUS_BENCH_BIND_BULK ?? sizes.bulk);
  return measureBind({ ...sizes, samples, bulk }, options.progress);
};
