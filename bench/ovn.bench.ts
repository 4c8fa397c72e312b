/**
 * locus against OVN 23.03 — the control plane users would pick instead — on the same workload,
 * back to back in one run, so that only their ratio is compared (the machine is shared).
 *
 * The workload is bench/bind.bench.ts' (bench/support/workload.ts): four chassis A–D, 50 ports
 * a switch, every switch with ports on every chassis; N ports bound (200, 1,000, 5,000; quick:
 * 200), the measured ports created unbound beforehand. OVN runs privately
 * (bench/support/ovn-sandbox.ts): NB and SB, ovn-northd, and per chassis ovsdb-server,
 * ovs-vswitchd (dummy datapath) and ovn-controller; the N ports are logical switch ports, their
 * interfaces plugged on their chassis and up before anything is timed.
 *
 * A bind is what a compute service does, the same command for both systems:
 * `ovs-vsctl add-port br-int tapX -- set Interface tapX type=dummy external_ids:iface-id=pX` on A.
 * Ready (OVN's own signals, bench/support/ovn-observer.ts): `ovn-installed=true` on A's
 * Interface row and the port's remote-output flow in table 39 of B, C and D. locus has two
 * readies, both its bind bench's (each chassis' agent its own process by default,
 * LOCUS_BENCH_BIND_AGENTS=inproc for all in one): "flows" — the port's egress flow seen by
 * `ovs-ofctl monitor` on A and on B, C and D (like for like with OVN's), and "acked" — A's
 * flow and B, C and D's acks in the log (their flows installed and confirmed: a step OVN has
 * no counterpart for).
 *
 *  - ovn/latency, ovn/latency-from-row: single binds one at a time (200; 50 quick), p50/p95/p99
 *    from `ovs-vsctl add-port` and from the Interface row carrying its ofport and iface-id
 *    (seen by support/ovn-row-watcher.ts in its own process, as in locus' bind bench);
 *    parameters: the p50 of each OVN stage (row, SB claim, ovn-installed, last remote flow, up);
 *  - ovn/bulk: N interfaces at once on A (500 per ovs-vsctl call) until ready everywhere;
 *  - ovn/rss: the control plane's VmRSS after the bulk — northd, NB, SB, 4 ovn-controllers
 *    (each chassis' ovsdb-server and ovs-vswitchd are in the parameters: locus has them too);
 *  - ovn/locus/…: locus' bind bench (`measureBind`) at the same size in a fresh process
 *    (bench/support/ovn-locus-child.ts), its records with OVN's as baseline (latency and
 *    latency-from-row: acked; latency-flows and latency-flows-from-row: flows ready);
 *  - ovn/ratio/…: locus/OVN for p50 and p99 (from add-port and from the row), acked
 *    (p50, p99, …) and flows ready (flows-p50, flows-p99, …), the bulk and the RSS (below 1:
 *    locus is ahead);
 *  - the same at 200 ports under pressure: two CPU spinners running beside each system (full
 *    mode only).
 *
 * LOCUS_BENCH_OVN_SIZES=200,1000 picks sizes; LOCUS_BENCH_OVN_SAMPLES sets the single binds;
 * LOCUS_BENCH_OVN_PRESSURE=0 leaves out the run under pressure, =1 adds it in quick mode.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { ovsAvailable } from '../test/support/ovs.js';
import type { BindSizes } from './bind.bench.js';
import {
  type Benchmark,
  type BenchOptions,
  type BenchRecord,
  peakRssBytes,
  percentiles,
  perSecond,
  until,
} from './lib.js';
import type { LocusChildSettings } from './support/ovn-locus-child.js';
import { OvnObserver } from './support/ovn-observer.js';
import { type RowWatch, watchRows } from './support/ovn-row-watcher.js';
import {
  type OvnSandbox,
  ovnAvailable,
  ovnVersion,
  startOvnSandbox,
} from './support/ovn-sandbox.js';
import { serverStart } from './support/server-start.js';
import { DEFAULT_LAYOUT, mac, ownerOf, portId, switchId } from './support/workload.js';
import type { WorkerMessage } from './worker.js';

const here = dirname(fileURLToPath(import.meta.url));
const CHASSIS = DEFAULT_LAYOUT.chassis;
const BINDER = 'A';
/** Logical switch ports per ovn-nbctl call, interfaces per ovs-vsctl call when preloading. */
const NB_BATCH = 500;
const PLUG_BATCH = 250;
/** Interfaces per ovs-vsctl call in the bulk bind (as locus' bind bench). */
const BULK_PER_PLUG = 500;
/** CPU spinners beside each system in the pressure run. */
const SPINNERS = 2;

interface Plan {
  readonly sizes: readonly number[];
  readonly samples: number;
  /** Sizes also measured under pressure. */
  readonly pressure: readonly number[];
  readonly bulkDeadlineMs: number;
}

const FULL: Plan = {
  sizes: [200, 1_000, 5_000],
  samples: 200,
  pressure: [200],
  bulkDeadlineMs: 300_000,
};
/** Quick (CI) leaves the run under pressure out, to stay near two minutes. */
const QUICK: Plan = { sizes: [200], samples: 50, pressure: [], bulkDeadlineMs: 60_000 };

/** One run's setting: N ports bound, with or without spinners beside. */
interface Run {
  readonly bound: number;
  readonly samples: number;
  readonly bulk: number;
  readonly pressure: number;
  readonly bulkDeadlineMs: number;
}

const ipOf = (n: number): string => `10.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;

/** The interface of port `i`, plugged as a compute service does (locus' bind bench too). */
const plugArgs = (i: number): string[] => [
  '--',
  'add-port',
  'br-int',
  `tap${i}`,
  '--',
  'set',
  'Interface',
  `tap${i}`,
  'type=dummy',
  `external_ids:iface-id=${portId(i)}`,
];

/** Two (or n) busy loops; the returned function kills exactly them. */
function startSpinners(n: number): () => Promise<void> {
  const spinners: ChildProcess[] = [];
  for (let k = 0; k < n; k++)
    spinners.push(spawn('/bin/sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }));
  return async () => {
    await Promise.all(
      spinners.map(
        (spinner) =>
          new Promise<void>((resolve) => {
            if (spinner.exitCode !== null || spinner.signalCode !== null) return resolve();
            spinner.once('exit', () => resolve());
            spinner.kill('SIGKILL');
          }),
      ),
    );
  };
}

/** The NB: switches, the bound ports and the measured ones (created, not bound). */
async function preloadNorthbound(ovn: OvnSandbox, run: Run): Promise<void> {
  const switches = Math.ceil(run.bound / DEFAULT_LAYOUT.portsPerSwitch);
  const commands: string[][] = [];
  for (let s = 0; s < switches; s++) commands.push(['ls-add', switchId(s)]);
  const total = run.bound + run.samples + run.bulk;
  for (let i = 0; i < total; i++) {
    // As locus' bind bench: bound ports 50 a switch, the measured ones spread over all switches.
    const s = i < run.bound ? Math.floor(i / DEFAULT_LAYOUT.portsPerSwitch) : i % switches;
    commands.push(
      ['lsp-add', switchId(s), portId(i)],
      ['lsp-set-addresses', portId(i), `${mac(i)} ${ipOf(i)}`],
    );
  }
  for (let k = 0; k < commands.length; k += NB_BATCH * 2)
    await ovn.nbctl(commands.slice(k, k + NB_BATCH * 2).flatMap((command) => ['--', ...command]));
}

/** Plugs the bound ports' interfaces on their chassis, and waits until OVN has them all up. */
async function plugBound(ovn: OvnSandbox, observer: OvnObserver, run: Run): Promise<void> {
  await Promise.all(
    CHASSIS.map(async (chassis) => {
      const mine: number[] = [];
      for (let i = 0; i < run.bound; i++) if (ownerOf(i) === chassis) mine.push(i);
      for (let k = 0; k < mine.length; k += PLUG_BATCH)
        await ovn.vsctl(chassis, mine.slice(k, k + PLUG_BATCH).flatMap(plugArgs));
    }),
  );
  const bound = Array.from({ length: run.bound }, (_, i) => portId(i));
  await until(
    () => observer.countUp(bound) === run.bound,
    600_000,
    `OVN: ${run.bound} ports up`,
    50,
  );
  await ovn.nbctl(['--wait=hv', 'sync']);
}

interface OvnResult {
  readonly records: BenchRecord[];
  readonly latency: BenchRecord;
  readonly fromRow: BenchRecord;
  readonly bulk: BenchRecord;
  readonly rss: BenchRecord;
}

async function measureOvn(run: Run, progress: (m: string) => void): Promise<OvnResult> {
  const started = performance.now();
  const ovn = await startOvnSandbox({ chassis: CHASSIS });
  let observer: OvnObserver | undefined;
  let rows: RowWatch | undefined;
  let stopSpinners: (() => Promise<void>) | undefined;
  try {
    observer = await OvnObserver.start(ovn);
    const watched = observer;
    await preloadNorthbound(ovn, run);
    await plugBound(ovn, watched, run);
    const label = run.pressure > 0 ? ` (${run.pressure} spinners)` : '';
    progress(
      `OVN up with ${run.bound} ports bound over ${CHASSIS.length} chassis in ${((performance.now() - started) / 1000).toFixed(1)} s${label}`,
    );
    // A's rows timed by the same watcher process as in locus' bind bench.
    rows = await watchRows(ovn.chassis.find((c) => c.name === BINDER)?.ovsdb as string);
    const rowAt = rows.rowAt;
    if (run.pressure > 0) stopSpinners = startSpinners(run.pressure);

    const sampleIds = Array.from({ length: run.samples }, (_, k) => run.bound + k);
    const bulkIds = Array.from({ length: run.bulk }, (_, k) => run.bound + run.samples + k);
    const total: number[] = [];
    const fromRow: number[] = [];
    const stages = { row: [], claimed: [], installed: [], remote: [], up: [] } as Record<
      'row' | 'claimed' | 'installed' | 'remote' | 'up',
      number[]
    >;
    for (const i of sampleIds) {
      const id = portId(i);
      const t0 = performance.now();
      await ovn.vsctl(BINDER, plugArgs(i));
      await until(() => watched.readyAt(BINDER, id) !== undefined, 30_000, `OVN bind of ${id}`);
      // `up` follows ovn-installed through the SB; a stage, not part of ready.
      await until(() => watched.upAt.has(id), 30_000, `OVN: ${id} up`);
      await until(() => rowAt.has(id), 5_000, `${id}'s Interface row`);
      const ready = watched.readyAt(BINDER, id) as number;
      const row = rowAt.get(id) as number;
      total.push(ready - t0);
      fromRow.push(ready - row);
      stages.row.push(row - t0);
      stages.claimed.push((watched.claimedAt.get(id) as number) - t0);
      stages.installed.push((watched.installedAt(BINDER, id) as number) - t0);
      stages.remote.push((watched.remoteReadyAt(BINDER, id) as number) - t0);
      stages.up.push((watched.upAt.get(id) as number) - t0);
    }
    const p50 = (samples: readonly number[]) => Number(percentiles(samples).p50.toFixed(2));
    const less = (samples: readonly number[], base: readonly number[]) =>
      samples.map((t, k) => t - (base[k] as number));
    const params = {
      bound: run.bound,
      chassis: CHASSIS.length,
      samples: run.samples,
      pressure: run.pressure,
    };
    const latencyMs = percentiles(total);
    const latency: BenchRecord = {
      name: 'ovn/latency',
      params: {
        ...params,
        from: 'add-port',
        rowP50: p50(stages.row),
        claimedP50: p50(stages.claimed),
        installedP50: p50(stages.installed),
        remoteP50: p50(stages.remote),
        upP50: p50(stages.up),
      },
      throughput: perSecond(
        total.length,
        total.reduce((a, b) => a + b, 0),
      ),
      unit: 'binds',
      latencyMs,
      peakRssBytes: peakRssBytes(),
    };
    const fromRowMs = percentiles(fromRow);
    const latencyFromRow: BenchRecord = {
      name: 'ovn/latency-from-row',
      params: {
        ...params,
        from: 'row',
        claimedP50: p50(less(stages.claimed, stages.row)),
        installedP50: p50(less(stages.installed, stages.row)),
        remoteP50: p50(less(stages.remote, stages.row)),
      },
      throughput: perSecond(
        fromRow.length,
        fromRow.reduce((a, b) => a + b, 0),
      ),
      unit: 'binds',
      latencyMs: fromRowMs,
      peakRssBytes: peakRssBytes(),
    };
    progress(
      `OVN bind p50/p99 ${latencyMs.p50.toFixed(1)}/${latencyMs.p99.toFixed(1)} ms from add-port, ${fromRowMs.p50.toFixed(1)}/${fromRowMs.p99.toFixed(1)} ms from the row${label}`,
    );

    progress(`OVN bulk bind of ${run.bulk} ports on ${BINDER}`);
    const t0 = performance.now();
    for (let k = 0; k < bulkIds.length; k += BULK_PER_PLUG)
      await ovn.vsctl(BINDER, bulkIds.slice(k, k + BULK_PER_PLUG).flatMap(plugArgs));
    const pluggedMs = performance.now() - t0;
    const bulkNames = bulkIds.map(portId);
    let converged = 0;
    const deadline = t0 + run.bulkDeadlineMs;
    while (converged < bulkNames.length && performance.now() < deadline) {
      while (
        converged < bulkNames.length &&
        watched.readyAt(BINDER, bulkNames[converged] as string) !== undefined
      )
        converged++;
      if (converged < bulkNames.length) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const done = converged === bulkNames.length;
    let last = t0;
    const lastOf = (at: (id: string) => number | undefined) => {
      let latest = t0;
      for (const id of bulkNames) latest = Math.max(latest, at(id) ?? t0);
      return Number(((latest - t0) / 1000).toFixed(2));
    };
    for (const id of bulkNames) last = Math.max(last, watched.readyAt(BINDER, id) ?? t0);
    const bulkMs = done ? last - t0 : performance.now() - t0;
    progress(
      done
        ? `OVN bulk bind ready in ${(bulkMs / 1000).toFixed(2)} s`
        : `OVN bulk bind: ${converged} of ${run.bulk} ready at the ${run.bulkDeadlineMs / 1000} s deadline`,
    );
    const bulk: BenchRecord = {
      name: 'ovn/bulk',
      params: {
        bound: run.bound,
        ports: run.bulk,
        perPlug: BULK_PER_PLUG,
        pressure: run.pressure,
        converged: `${converged}/${run.bulk}`,
        pluggedSeconds: Number((pluggedMs / 1000).toFixed(2)),
        rowSeconds: lastOf((id) => rowAt.get(id)),
        claimedSeconds: lastOf((id) => watched.claimedAt.get(id)),
        installedSeconds: lastOf((id) => watched.installedAt(BINDER, id)),
        remoteSeconds: lastOf((id) => watched.remoteReadyAt(BINDER, id)),
      },
      throughput: perSecond(converged, bulkMs),
      unit: 'ports',
      value: { amount: bulkMs / 1000, unit: 's' },
      peakRssBytes: peakRssBytes(),
    };

    const memory = await ovn.memory();
    const sum = (roles: readonly string[], field: 'rssBytes' | 'hwmBytes' = 'rssBytes') =>
      [...memory].reduce((total, [d, m]) => (roles.includes(d.role) ? total + m[field] : total), 0);
    const mib = (bytes: number) => Number((bytes / 2 ** 20).toFixed(1));
    const controlPlane = ['nb', 'sb', 'northd', 'ovn-controller'];
    const rss: BenchRecord = {
      name: 'ovn/rss',
      params: {
        bound: run.bound,
        ports: run.bound + run.samples + run.bulk,
        pressure: run.pressure,
        nbMiB: mib(sum(['nb'])),
        sbMiB: mib(sum(['sb'])),
        northdMiB: mib(sum(['northd'])),
        controllersMiB: mib(sum(['ovn-controller'])),
        hwmMiB: mib(sum(controlPlane, 'hwmBytes')),
        ovsdbServersMiB: mib(sum(['ovsdb-server'])),
        vswitchdsMiB: mib(sum(['ovs-vswitchd'])),
      },
      throughput: 0,
      unit: 'MiB',
      value: { amount: mib(sum(controlPlane)), unit: 'MiB' },
      peakRssBytes: peakRssBytes(),
    };
    return {
      records: [latency, latencyFromRow, bulk, rss],
      latency,
      fromRow: latencyFromRow,
      bulk,
      rss,
    };
  } finally {
    await stopSpinners?.();
    await rows?.close().catch(() => undefined);
    await observer?.stop().catch(() => undefined);
    await ovn.stop();
  }
}

/** locus' bind bench at one size, in a fresh process (its RSS is its own). */
async function measureLocus(run: Run, progress: (m: string) => void): Promise<BenchRecord[]> {
  const sizes: BindSizes = {
    bound: run.bound,
    samples: run.samples,
    bulk: run.bulk,
    reportSize: BULK_PER_PLUG,
    bulkDeadlineMs: run.bulkDeadlineMs,
  };
  const settings: LocusChildSettings = {
    sizes,
    prefix: 'ovn/locus',
    label: `${process.env.LOCUS_BENCH_SUITE ?? 'ovn'}: locus`,
  };
  // The server runs with `npm start`'s flags and environment, as it ships (its memory and its
  // speed both depend on them); the child's own loader flags (tsx) come first.
  const start = await serverStart();
  return new Promise((resolve, reject) => {
    let records: BenchRecord[] | undefined;
    let failure: string | undefined;
    const stopSpinners = run.pressure > 0 ? startSpinners(run.pressure) : undefined;
    const child = fork(join(here, 'support', 'ovn-locus-child.ts'), [], {
      execArgv: [...process.execArgv, ...start.flags],
      env: { ...process.env, ...start.env, LOCUS_BENCH_OVN_LOCUS: JSON.stringify(settings) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.on('message', (message: WorkerMessage) => {
      if (message.kind === 'records') records = [...message.records];
      else if (message.kind === 'error') failure = message.message;
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      void (async () => {
        await stopSpinners?.();
        const flags = process.env.LOCUS_BENCH_SERVER_FLAGS ?? 'npm start';
        if (records && code === 0)
          resolve(records.map((r) => ({ ...r, params: { ...r.params, serverFlags: flags } })));
        else reject(new Error(`locus: ${failure ?? `exited with ${signal ?? `code ${code}`}`}`));
      })();
    });
    progress(
      `locus bind bench, ${run.bound} ports, agents: ${process.env.LOCUS_BENCH_BIND_AGENTS ?? 'processes'}${run.pressure > 0 ? ` (${run.pressure} spinners)` : ''}`,
    );
  });
}

/** locus' records with OVN's as their baseline, and the ratio records. */
function compare(run: Run, ovn: OvnResult, locus: readonly BenchRecord[]): BenchRecord[] {
  const find = (suffix: string) => locus.find((r) => r.name === `ovn/locus/${suffix}`);
  // OVN's ready against both of locus': acked (its own) and flows (like for like).
  const counterpart: Record<string, BenchRecord> = {
    latency: ovn.latency,
    'latency-from-row': ovn.fromRow,
    'latency-flows': ovn.latency,
    'latency-flows-from-row': ovn.fromRow,
    bulk: ovn.bulk,
    rss: ovn.rss,
  };
  const amount = (r: BenchRecord | undefined, what: 'p50' | 'p99' | 'value') =>
    r === undefined ? undefined : what === 'value' ? r.value?.amount : r.latencyMs?.[what];
  const baselined = locus.map((r) => {
    const suffix = r.name.slice('ovn/locus/'.length);
    const other = counterpart[suffix];
    const what = r.latencyMs ? 'p50' : 'value';
    const mine = amount(r, what);
    const theirs = amount(other, what);
    return other && mine !== undefined && theirs !== undefined && theirs > 0
      ? {
          ...r,
          params: { ...r.params, pressure: run.pressure },
          baseline: {
            name: `${other.name}${what === 'p50' ? ' (p50)' : ''}`,
            ratio: mine / theirs,
          },
        }
      : { ...r, params: { ...r.params, pressure: run.pressure } };
  });
  const ratios: BenchRecord[] = [];
  const ratio = (name: string, suffix: string, what: 'p50' | 'p99' | 'value', unit: string) => {
    const mine = amount(find(suffix), what);
    const theirs = amount(counterpart[suffix], what);
    if (mine === undefined || theirs === undefined || theirs <= 0) return;
    const value = mine / theirs;
    ratios.push({
      name: `ovn/ratio/${name}`,
      params: {
        bound: run.bound,
        pressure: run.pressure,
        locus: Number(mine.toFixed(2)),
        ovn: Number(theirs.toFixed(2)),
        unit,
      },
      throughput: 0,
      unit: '× OVN',
      value: { amount: value, unit: '× OVN (locus/OVN)' },
      target: '< 1 (locus ahead)',
      met: value < 1,
      peakRssBytes: peakRssBytes(),
    });
  };
  ratio('p50', 'latency', 'p50', 'ms from add-port');
  ratio('p99', 'latency', 'p99', 'ms from add-port');
  ratio('p50-from-row', 'latency-from-row', 'p50', 'ms from the row');
  ratio('p99-from-row', 'latency-from-row', 'p99', 'ms from the row');
  ratio('flows-p50', 'latency-flows', 'p50', 'ms from add-port to flows ready');
  ratio('flows-p99', 'latency-flows', 'p99', 'ms from add-port to flows ready');
  ratio('flows-p50-from-row', 'latency-flows-from-row', 'p50', 'ms from the row to flows ready');
  ratio('flows-p99-from-row', 'latency-flows-from-row', 'p99', 'ms from the row to flows ready');
  ratio('bulk', 'bulk', 'value', 's');
  ratio('rss', 'rss', 'value', 'MiB');
  return [...baselined, ...ratios];
}

/** The side-by-side summary, on stderr with the progress. */
function summary(rows: readonly BenchRecord[][], progress: (m: string) => void): void {
  const lines = ['ports  load  system  add-port→ready p50/p99  row→ready p50/p99  bulk  rss'];
  for (const records of rows) {
    const get = (name: string) => records.find((r) => r.name === name);
    for (const [system, prefix, ready] of [
      ['OVN', 'ovn', ''],
      ['locus flows', 'ovn/locus', '-flows'],
      ['locus acked', 'ovn/locus', ''],
    ] as const) {
      const latency = get(`${prefix}/latency${ready}`);
      const fromRow = get(`${prefix}/latency${ready}-from-row`);
      const bulk = get(`${prefix}/bulk`);
      const rss = get(`${prefix}/rss`);
      const ms = (r: BenchRecord | undefined) =>
        r?.latencyMs ? `${r.latencyMs.p50.toFixed(0)}/${r.latencyMs.p99.toFixed(0)} ms` : '-';
      lines.push(
        [
          latency?.params.bound ?? '',
          latency?.params.pressure ? `+${latency.params.pressure} spin` : 'as is',
          system,
          ms(latency),
          ms(fromRow),
          bulk?.value ? `${bulk.value.amount.toFixed(2)} s` : '-',
          rss?.value ? `${rss.value.amount.toFixed(0)} MiB` : '-',
        ].join('  '),
      );
    }
    const ratios = records
      .filter((r) => r.name.startsWith('ovn/ratio/'))
      .map((r) => `${r.name.slice('ovn/ratio/'.length)} ${r.value?.amount.toFixed(2)}×`);
    lines.push(`  locus/OVN: ${ratios.join(', ')}`);
  }
  for (const line of lines) progress(line);
}

const envNumbers = (name: string): number[] | undefined =>
  process.env[name]
    ?.split(',')
    .map((n) => Number(n.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);

export const benchOvn: Benchmark = async (options: BenchOptions) => {
  if (!ovsAvailable() || !ovnAvailable()) {
    options.progress(
      'Open vSwitch or OVN is not installed (openvswitch-switch, ovn-central, ovn-host; npm run bench installs them as root): skipped',
    );
    return [];
  }
  const plan = options.quick ? QUICK : FULL;
  const sizes = envNumbers('LOCUS_BENCH_OVN_SIZES') ?? plan.sizes;
  const samples = Number(process.env.LOCUS_BENCH_OVN_SAMPLES ?? plan.samples);
  const pressureEnv = process.env.LOCUS_BENCH_OVN_PRESSURE;
  const pressure =
    pressureEnv === '0'
      ? []
      : pressureEnv === '1' && plan.pressure.length === 0
        ? [200]
        : plan.pressure;
  options.progress(`${await ovnVersion()}; sizes ${sizes.join(', ')}, ${samples} single binds`);
  const runs: Run[] = [
    ...sizes.map((bound) => ({ bound, pressure: 0 })),
    ...pressure.map((bound) => ({ bound, pressure: SPINNERS })),
  ].map(({ bound, pressure }) => ({
    bound,
    samples,
    bulk: bound,
    pressure,
    bulkDeadlineMs: plan.bulkDeadlineMs,
  }));
  const all: BenchRecord[] = [];
  const byRun: BenchRecord[][] = [];
  for (const run of runs) {
    // OVN first, then locus, back to back: each from fresh daemons / a fresh process.
    const ovn = await measureOvn(run, options.progress);
    const locus = await measureLocus(run, options.progress);
    const records = [...ovn.records, ...compare(run, ovn, locus)];
    byRun.push(records);
    all.push(...records);
    options.keep?.(records);
  }
  summary(byRun, options.progress);
  return all;
};
