/**
 * Read-model rebuild throughput: the disaster-recovery path (Projector.rebuild) replaying a
 * realistic log into empty tables, on embedded PGlite (persisted to a temp folder) and on
 * PostgreSQL (a private cluster, fsync off: see below). The read model shares the event
 * store's database, as in the default deployment.
 *
 * The log is written through the store's batched appends and is realistic per port: created
 * with a placement request, claimed on one chassis, acked by three others, live-migrated (a
 * second claim, the request moves, the owner changes and stale acks drop), released on the old
 * chassis and re-acked; one port in twenty is a distributed router interface instead. Ports are
 * written round by round, so a port's events are spread over the log as in production, and
 * every claim has its OvsPort event on the chassis' stream (not projected: routed past).
 *
 * Besides events/s, each record carries the CPU time per event of locus and of PostgreSQL:
 * on a shared machine wall-clock throughput swings with the neighbours' load, CPU time does
 * not, and the two together bound what a machine with free cores would reach.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { type DatabaseHandle, openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { type DomainEvent, envelope, streamOf } from '../src/events/index.js';
import type { NewEvent } from '../src/events/metadata.js';
import { Projector } from '../src/projections/projector.js';
import type { EventStore } from '../src/store/event-store.js';
import { SqlEventStore } from '../src/store/sql/sql-event-store.js';
import { createDatabase, findPostgresBinaries, startPostgres } from '../test/support/postgres.js';
import { type Benchmark, type BenchOptions, type BenchRecord, peakRssBytes } from './lib.js';
import { clusterCpuMs } from './support/cluster-cpu.js';
import { statementsProbe } from './support/pg-statements.js';

const FULL_EVENTS = 1_000_000;
const QUICK_EVENTS = 20_000;
/** The embedded store appends one transaction at a time: a smaller full log keeps it minutes. */
const FULL_EVENTS_EMBEDDED = 200_000;
const CHASSIS = 50;
const SWITCHES = 100;
/** Events per compute port (10 lport + 2 OvsPort); distributed ports have 2. */
const EVENTS_PER_PORT = 12;
const TARGET = '≥ 100k events/s on PostgreSQL';
/**
 * Overrides the PostgreSQL log's size: `--quick`'s 20 000 events rebuild in a fraction of a
 * second, mostly fixed costs (copies, indexes, swap), too few to compare throughputs.
 */
const EVENTS_OVERRIDE = process.env.LOCUS_BENCH_REBUILD_EVENTS;
/** The rebuild's page size, to compare with the default (DEFAULT_REBUILD_BATCH_SIZE). */
const BATCH_OVERRIDE = process.env.LOCUS_BENCH_REBUILD_BATCH;
/** The rebuild's reads of the log, to compare with the default (REBUILD_READ_SIZE). */
const READ_OVERRIDE = process.env.LOCUS_BENCH_REBUILD_READ;
/** `postgres` or `embedded`: measure that one only (profiling one adapter). */
const ONLY = process.env.LOCUS_BENCH_REBUILD_ONLY;
/*
 * `LOCUS_BENCH_PG_TOP=<n>` (with `LOCUS_TEST_PG_ARGS="-c shared_preload_libraries=pg_stat_statements"`)
 * prints the PostgreSQL rebuild's n costliest statements (support/pg-statements.ts).
 */
/** A pino level (`info`): the projector's log lines on stderr (where the rebuild's time goes). */
const LOG_LEVEL = process.env.LOCUS_BENCH_REBUILD_LOG ?? 'silent';

const chassisId = (n: number) => `chassis-${n % CHASSIS}`;

function newEvent(event: DomainEvent): NewEvent {
  return envelope(event, {
    app: 'bench',
    cause: { correlationId: randomUUID(), causationId: randomUUID() },
  });
}

interface PortPlan {
  readonly portId: string;
  /** Where it starts (claim) and where it migrates to. */
  readonly from: string;
  readonly to: string;
  /** The two events appended in each round. */
  readonly rounds: readonly [DomainEvent[], DomainEvent[]];
}

/** Port i's life in two appends: bound and acked, then live-migrated and re-acked. */
function planPort(i: number): PortPlan {
  const portId = `port-${i}`;
  const switchId = `switch-${i % SWITCHES}`;
  const [a, b, c, d] = [chassisId(i), chassisId(i + 1), chassisId(i + 2), chassisId(i + 3)];
  const model = (
    type: 'LogicalPortCreated' | 'LogicalPortUpdated',
    requestedChassis: string | null,
    deviceOwner: 'compute' | 'router_interface' = 'compute',
  ): DomainEvent => ({
    type,
    data: {
      id: portId,
      switchId,
      macs: ['fa:16:3e:00:00:01'],
      ips: ['10.0.0.2'],
      deviceOwner,
      requestedChassis,
    },
  });
  if (i % 20 === 19) {
    // A router interface: distributed on every chassis.
    const reason = `router-interface:router-${i % 997}`;
    return {
      portId,
      from: a,
      to: a,
      rounds: [
        [
          model('LogicalPortCreated', null, 'router_interface'),
          { type: 'DistributedCreated', data: { portId, reason } },
        ],
        [],
      ],
    };
  }
  return {
    portId,
    from: a,
    to: b,
    rounds: [
      [
        model('LogicalPortCreated', a),
        { type: 'LocalCreated', data: { portId, chassis: a } },
        { type: 'RemoteCreated', data: { portId, chassis: b, owner: a } },
        { type: 'RemoteCreated', data: { portId, chassis: c, owner: a } },
        { type: 'RemoteCreated', data: { portId, chassis: d, owner: a } },
      ],
      [
        // Live migration to b: b claims too, the request follows, the owner becomes b and
        // every ack for a is stale; a releases its claim, a and c re-ack toward b.
        { type: 'LocalCreated', data: { portId, chassis: b } },
        model('LogicalPortUpdated', b),
        { type: 'LocalDeleted', data: { portId, chassis: a } },
        { type: 'RemoteCreated', data: { portId, chassis: a, owner: b } },
        { type: 'RemoteCreated', data: { portId, chassis: c, owner: b } },
      ],
    ],
  };
}

/** Runs `work(i)` for i in [0, count) on `writers` concurrent workers. */
async function inParallel(count: number, writers: number, work: (i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: writers }, async () => {
      for (let i = next++; i < count; i = next++) await work(i);
    }),
  );
}

/**
 * Writes about `events` events through the store's appends: each round appends every port's
 * events of that round (one append per port), so a port's events are spread over the log;
 * the OvsPorts observed for the claims go to their chassis' streams in batches.
 */
export async function generate(
  store: EventStore,
  events: number,
  writers: number,
  progress: (message: string) => void,
): Promise<bigint> {
  for (let n = 0; n < CHASSIS; n++) {
    const created: DomainEvent = {
      type: 'ChassisCreated',
      data: {
        id: chassisId(n),
        tunnelIp: `192.0.2.${n + 1}`,
        tunnelTypes: ['geneve'],
        bridgeMappings: {},
      },
    };
    await store.appendToStream(streamOf(created), [newEvent(created)]);
  }
  const ports = Math.ceil(events / (EVENTS_PER_PORT - 0.45)); // 1 in 20 ports has only 2 events
  const plans = Array.from({ length: ports }, (_, i) => planPort(i));
  for (const round of [0, 1] as const) {
    await inParallel(ports, writers, async (i) => {
      const plan = plans[i] as PortPlan;
      const batch = plan.rounds[round];
      if (batch.length > 0) await store.appendToStream(`lport-${plan.portId}`, batch.map(newEvent));
    });
    // The interfaces the agents observed for this round's claims, per chassis.
    const observed = new Map<string, DomainEvent[]>();
    for (const plan of plans) {
      if (plan.rounds[1].length === 0) continue;
      const on = round === 0 ? plan.from : plan.to;
      const list = observed.get(on) ?? [];
      list.push({
        type: 'OvsPortCreated',
        data: {
          chassis: on,
          name: `tap-${plan.portId}`.slice(0, 64),
          ofport: (list.length % 60_000) + 1,
          ifaceId: plan.portId,
          type: '',
        },
      });
      observed.set(on, list);
    }
    const chunks: [string, DomainEvent[]][] = [];
    for (const [on, list] of observed) {
      for (let i = 0; i < list.length; i += 500) chunks.push([on, list.slice(i, i + 500)]);
    }
    await inParallel(chunks.length, writers, async (i) => {
      const [on, list] = chunks[i] as [string, DomainEvent[]];
      await store.appendToStream(`chassis-${on}`, list.map(newEvent));
    });
    progress(`generated round ${round + 1}/2 (${await store.headPosition()} events)`);
  }
  return store.headPosition();
}

interface Measured {
  readonly events: number;
  readonly elapsedMs: number;
  readonly ratePerSecond: number;
  /** CPU time per event of this process, and of the PostgreSQL cluster when known. */
  readonly cpu: Readonly<Record<string, number>>;
}

export async function measureRebuild(
  database: DatabaseHandle,
  store: EventStore,
  progress: (m: string) => void,
  clusterDir?: string,
): Promise<Measured> {
  const projector = new Projector({
    store,
    db: database.db,
    logger: pino({ level: LOG_LEVEL }, pino.destination(2)),
    ...(BATCH_OVERRIDE === undefined ? {} : { rebuildBatchSize: Number(BATCH_OVERRIDE) }),
    ...(READ_OVERRIDE === undefined ? {} : { rebuildReadSize: Number(READ_OVERRIDE) }),
  });
  let lastShown = 0;
  const clusterBefore = clusterDir === undefined ? undefined : await clusterCpuMs(clusterDir);
  const ownBefore = process.cpuUsage();
  const report = await projector.rebuild({
    progress: (applied, total, rate) => {
      if (applied - lastShown >= total / 10 || applied === total) {
        lastShown = applied;
        progress(`rebuild ${applied}/${total} events, ${Math.round(rate)} events/s`);
      }
    },
  });
  const own = process.cpuUsage(ownBefore);
  const clusterAfter = clusterDir === undefined ? undefined : await clusterCpuMs(clusterDir);
  // The generated lives must be valid for the lport machine, or the figure means nothing.
  if (projector.counters.refused > 0 || projector.counters.skipped > 0) {
    throw new Error(`bench log is not valid: ${JSON.stringify(projector.counters)}`);
  }
  const perEvent = (ms: number) => Number(((ms * 1000) / report.events).toFixed(1));
  const cpu: Record<string, number> = {
    locusCpuUsPerEvent: perEvent((own.user + own.system) / 1000),
  };
  if (clusterBefore !== undefined && clusterAfter !== undefined) {
    cpu.postgresCpuUsPerEvent = perEvent(clusterAfter - clusterBefore);
  }
  return { ...report, cpu };
}

export const benchRebuild: Benchmark = async (options: BenchOptions) => {
  const records: BenchRecord[] = [];
  const record = (adapter: string, measured: Measured, baseline?: BenchRecord): BenchRecord => {
    const full: BenchRecord = {
      name: `rebuild/read-model/${adapter}`,
      params: {
        adapter,
        events: measured.events,
        seconds: Number((measured.elapsedMs / 1000).toFixed(2)),
        ...measured.cpu,
      },
      throughput: measured.ratePerSecond,
      unit: 'events',
      ...(adapter === 'postgres' ? { target: TARGET, met: measured.ratePerSecond >= 100_000 } : {}),
      ...(baseline === undefined
        ? {}
        : {
            baseline: { name: baseline.name, ratio: measured.ratePerSecond / baseline.throughput },
          }),
      peakRssBytes: peakRssBytes(),
    };
    records.push(full);
    return full;
  };

  let postgres: BenchRecord | undefined;
  if (ONLY === 'embedded') {
    // Skipped on request.
  } else if (findPostgresBinaries() === undefined) {
    options.progress('PostgreSQL binaries not found; embedded only');
  } else {
    const events =
      EVENTS_OVERRIDE === undefined
        ? options.quick
          ? QUICK_EVENTS
          : FULL_EVENTS
        : Number(EVENTS_OVERRIDE);
    options.progress(`PostgreSQL (private cluster, fsync off), ${events} events`);
    // fsync off: generating the log commits one append at a time, which a durable cluster
    // turns into minutes of fsyncs. The figure measured is the projector's; its own commits
    // do not wait for the disk anyway (synchronous_commit off per batch).
    const server = await startPostgres({ durable: false });
    try {
      const url = await createDatabase(server.url, 'bench_rebuild');
      const database = await openDatabase(url, { poolSize: 20 });
      await migrateToLatest(database.db);
      const store = new SqlEventStore(database);
      try {
        await generate(store, events, 16, options.progress);
        // LOCUS_BENCH_PG_TOP=<n>: the rebuild's costliest statements, by PostgreSQL's account.
        const statements = await statementsProbe(url);
        await statements?.reset();
        const measured = await measureRebuild(
          database,
          store,
          options.progress,
          join(server.dir, 'data'),
        );
        postgres = record('postgres', measured);
        for (const line of (await statements?.report()) ?? []) options.progress(line);
      } finally {
        await store.close();
        await database.close();
      }
    } finally {
      await server.stop();
    }
  }

  if (ONLY === 'postgres') return records;
  const events = options.quick ? QUICK_EVENTS : FULL_EVENTS_EMBEDDED;
  options.progress(`embedded PGlite (data folder), ${events} events`);
  const folder = await mkdtemp(join(tmpdir(), 'locus-bench-'));
  try {
    const database = await openDatabase(folder);
    await migrateToLatest(database.db);
    const store = new SqlEventStore(database);
    try {
      await generate(store, events, 4, options.progress);
      // PGlite runs in this process: its CPU time is in locusCpuUsPerEvent.
      record('embedded', await measureRebuild(database, store, options.progress), postgres);
    } finally {
      await store.close();
      await database.close();
    }
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
  return records;
};
