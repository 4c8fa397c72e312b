/**
 * Does the cost stay linear? The same measurements at a small and a large size (10k and 100k
 * ports; 1k and 10k quick), and the ratio between them:
 *
 *  - scale/fold: the compiled lport fold (bench/fold.bench.ts' workload), events/s;
 *  - scale/apps-fold: the app runner folding a log of bound ports (its start-up), events/s;
 *  - scale/rebuild: the read-model projector's rebuild on embedded PGlite, events/s;
 *  - scale/bind: bind latency on real Open vSwitch (bench/bind.bench.ts, fewer samples) with
 *    that many ports already bound — per-bind work should not grow with the ports.
 *
 * `…/ratio` records: for rates, large ÷ small throughput (1.00 = linear; lower = superlinear
 * cost); for bind, large ÷ small p50 latency (1.00 = flat).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { InMemoryCheckpoints } from '../src/apps/checkpoints.js';
import { AppRunner } from '../src/apps/runner.js';
import { openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { Projector } from '../src/projections/projector.js';
import { SqlEventStore } from '../src/store/sql/sql-event-store.js';
import { ovsAvailable } from '../test/support/ovs.js';
import { measureBind } from './bind.bench.js';
import { measure as measureFold, viaCompiled, workload } from './fold.bench.js';
import {
  type Benchmark,
  type BenchOptions,
  type BenchRecord,
  peakRssBytes,
  perSecond,
  timeIt,
} from './lib.js';
import { BulkLog } from './support/bulk-log.js';
import { SyntheticLog } from './support/synthetic-log.js';
import { cloudEvents } from './support/workload.js';

/** Events per port in the fold workload (streams of 20–80 events, about 48 on average). */
const FOLD_EVENTS_PER_PORT = 48;
const logger = pino({ level: 'silent' });

type Measure = (ports: number, progress: (m: string) => void) => Promise<BenchRecord>;

/** The in-memory folds are measured after a warm-up run, so the small size is not all JIT. */
const warmedUp =
  (measure: Measure): Measure =>
  async (ports, progress) => {
    await measure(ports, progress);
    return measure(ports, progress);
  };

const fold: Measure = async (ports) => {
  const streams = workload(ports * FOLD_EVENTS_PER_PORT);
  const events = streams.reduce((n, s) => n + s.events.length, 0);
  const { elapsedMs } = await measureFold(viaCompiled, streams, 3);
  return {
    name: 'scale/fold',
    params: { ports: streams.length, events },
    throughput: perSecond(events, elapsedMs),
    unit: 'events',
    peakRssBytes: peakRssBytes(),
  };
};

const appsFold: Measure = async (ports) => {
  const log = new SyntheticLog(ports);
  const checkpoints = new InMemoryCheckpoints();
  await checkpoints.save('apps', log.head);
  const runner = new AppRunner({
    store: log.asStore(),
    checkpoints,
    logger,
  });
  const elapsedMs = await timeIt(() => runner.catchUp());
  return {
    name: 'scale/apps-fold',
    params: { ports, events: Number(log.head) },
    throughput: perSecond(Number(log.head), elapsedMs),
    unit: 'events',
    peakRssBytes: peakRssBytes(),
  };
};

const rebuild: Measure = async (ports, progress) => {
  const folder = await mkdtemp(join(tmpdir(), 'locus-bench-scale-'));
  try {
    const database = await openDatabase(folder);
    try {
      await migrateToLatest(database.db);
      const log = new BulkLog(database.db);
      await log.addAll(cloudEvents(ports));
      await log.flush();
      progress(`  rebuild: ${log.written} events written`);
      const store = new SqlEventStore(database);
      const projector = new Projector({ store, db: database.db, logger });
      const report = await projector.rebuild();
      await store.close();
      return {
        name: 'scale/rebuild',
        params: { adapter: 'embedded', ports, events: report.events },
        throughput: report.ratePerSecond,
        unit: 'events',
        peakRssBytes: peakRssBytes(),
      };
    } finally {
      await database.close();
    }
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
};

const bind: Measure = async (ports, progress) => {
  const [latency] = await measureBind(
    { bound: ports, samples: ports < 10_000 ? 10 : 20, bulk: 0, reportSize: 1, bulkDeadlineMs: 0 },
    (m) => progress(`  bind: ${m}`),
    'scale/bind',
  );
  if (!latency) throw new Error('the bind benchmark returned no latency');
  return latency;
};

export const benchScale: Benchmark = async (options: BenchOptions) => {
  const [small, large] = options.quick ? [1_000, 10_000] : [10_000, 100_000];
  const measures: [string, Measure, number, number][] = [
    ['fold', warmedUp(fold), small, large],
    ['apps-fold', warmedUp(appsFold), small, large],
    ['rebuild', rebuild, small, large],
  ];
  // Quick (CI): bind at a tenth of the sizes. Plugging every port into four OVS and their
  // first full syncs dominate (at 2,500 ports 38 s of the suite's 163 s, load 13); the bind
  // suite measures the single bind at quick size already.
  if (ovsAvailable())
    measures.push([
      'bind',
      bind,
      options.quick ? small / 10 : small,
      options.quick ? large / 10 : large,
    ]);
  else options.progress('Open vSwitch is not installed: scale/bind skipped');
  const records: BenchRecord[] = [];
  for (const [name, measure, small, large] of measures) {
    options.progress(`${name} at ${small} ports`);
    const a = await measure(small, options.progress);
    options.progress(`${name} at ${large} ports`);
    const b = await measure(large, options.progress);
    records.push(a, b);
    const latency = name === 'bind';
    const ratio =
      latency && a.latencyMs && b.latencyMs
        ? b.latencyMs.p50 / a.latencyMs.p50
        : b.throughput / a.throughput;
    records.push({
      name: `scale/${name}/ratio`,
      params: { small, large, compares: latency ? 'p50 latency' : 'throughput' },
      throughput: 0,
      unit: latency ? 'binds' : 'events',
      value: { amount: ratio, unit: latency ? '× p50 (1 = flat)' : '× rate (1 = linear)' },
      peakRssBytes: peakRssBytes(),
    });
  }
  return records;
};
