/**
 * Read-model rebuild throughput: the disaster-recovery path (Projector.rebuild) replaying a
 * realistic log into empty tables, on embedded PGlite (persisted to a temp folder) and on
 * PostgreSQL (a private durable cluster: fsync on). The read model shares the event store's
 * database, as in the default deployment.
 *
 * The log is written through the store's batched appends and is realistic per port: created
 * with a placement request, claimed on one chassis, acked by three others, live-migrated (a
 * second claim, the request moves, the owner changes and stale acks drop), released on the old
 * chassis and re-acked; one port in twenty is a distributed router interface instead. Ports are
 * written round by round, so a port's events are spread over the log as in production, and
 * every port has an OvsPort event on its chassis' stream (not projected: routed past).
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { type DatabaseHandle, openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { type DomainEvent, envelope, schemaVersionOf, streamOf } from '../src/events/index.js';
import { Projector } from '../src/projections/projector.js';
import type { EventStore, NewEvent } from '../src/store/event-store.js';
import { SqlEventStore } from '../src/store/sql/sql-event-store.js';
import { createDatabase, findPostgresBinaries, startPostgres } from '../test/support/postgres.js';
import { type Benchmark, type BenchOptions, type BenchRecord, peakRssBytes } from './lib.js';

const FULL_EVENTS = 1_000_000;
const QUICK_EVENTS = 50_000;
/** The embedded store appends one transaction at a time: a smaller full log keeps it minutes. */
const FULL_EVENTS_EMBEDDED = 200_000;
const CHASSIS = 50;
const SWITCHES = 100;
/** Events per compute port (10 lport + 1 OvsPort); distributed ports have 2. */
const EVENTS_PER_PORT = 11;
const TARGET = '≥ 100k events/s on PostgreSQL';

const chassisId = (n: number) => `chassis-${n % CHASSIS}`;

function newEvent(event: DomainEvent): NewEvent {
  return envelope(event, {
    app: 'bench',
    cause: { correlationId: randomUUID(), causationId: randomUUID() },
  });
}

/** The appends of one port in round `round` (0…2): [stream, events][]. */
function appendsOf(i: number, round: number): [string, DomainEvent[]][] {
  const portId = `port-${i}`;
  const switchId = `switch-${i % SWITCHES}`;
  const [a, b, c, d] = [chassisId(i), chassisId(i + 1), chassisId(i + 2), chassisId(i + 3)];
  const portEvent = (
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
  const lport = (events: DomainEvent[]): [string, DomainEvent[]] => [`lport-${portId}`, events];
  if (i % 20 === 19) {
    // A router interface: distributed on every chassis.
    return round === 0
      ? [
          lport([
            portEvent('LogicalPortCreated', null, 'router_interface'),
            {
              type: 'DistributedCreated',
              data: { portId, reason: `router-interface:router-${i % 997}` },
            },
          ]),
        ]
      : [];
  }
  switch (round) {
    case 0:
      return [
        lport([
          portEvent('LogicalPortCreated', a),
          { type: 'LocalCreated', data: { portId, chassis: a } },
        ]),
        [
          `chassis-${a}`,
          [
            {
              type: 'OvsPortCreated',
              data: {
                chassis: a,
                name: `tap${i}`,
                ofport: (i % 60000) + 1,
                ifaceId: portId,
                type: '',
              },
            },
          ],
        ],
      ];
    case 1:
      return [
        lport([
          { type: 'RemoteCreated', data: { portId, chassis: b, owner: a } },
          { type: 'RemoteCreated', data: { portId, chassis: c, owner: a } },
          { type: 'RemoteCreated', data: { portId, chassis: d, owner: a } },
          // Live migration to b: b claims, the request follows, the owner becomes b.
          { type: 'LocalCreated', data: { portId, chassis: b } },
          portEvent('LogicalPortUpdated', b),
        ]),
      ];
    default:
      return [
        lport([
          { type: 'LocalDeleted', data: { portId, chassis: a } },
          { type: 'RemoteCreated', data: { portId, chassis: a, owner: b } },
          { type: 'RemoteCreated', data: { portId, chassis: c, owner: b } },
        ]),
      ];
  }
}

/** Writes about `events` events; returns the log's head. */
async function generate(
  store: EventStore,
  events: number,
  writers: number,
  progress: (m: string) => void,
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
  for (let round = 0; round < 3; round++) {
    let next = 0;
    await Promise.all(
      Array.from({ length: writers }, async () => {
        for (let i = next++; i < ports; i = next++) {
          for (const [stream, batch] of appendsOf(i, round)) {
            await store.appendToStream(stream, batch.map(newEvent));
          }
        }
      }),
    );
    progress(`  generated round ${round + 1}/3 (${await store.headPosition()} events)`);
  }
  return store.headPosition();
}

async function measureRebuild(
  database: DatabaseHandle,
  store: EventStore,
  progress: (m: string) => void,
) {
  const projector = new Projector({ store, db: database.db, logger: pino({ level: 'silent' }) });
  let lastShown = 0;
  const report = await projector.rebuild({
    progress: (applied, total, rate) => {
      if (applied - lastShown >= total / 10 || applied === total) {
        lastShown = applied;
        progress(`  rebuild ${applied}/${total} events, ${Math.round(rate)} events/s`);
      }
    },
  });
  return report;
}

function ensureVersions(): void {
  // Fails loudly if the catalogue's versions moved past what the generator writes.
  for (const type of ['LogicalPortCreated', 'LocalCreated', 'RemoteCreated'] as const) {
    if (schemaVersionOf(type) !== 1) throw new Error(`bench writes ${type} v1`);
  }
}

export const benchRebuild: Benchmark = async (options: BenchOptions) => {
  ensureVersions();
  const records: BenchRecord[] = [];
  const record = (
    adapter: string,
    events: number,
    rate: number,
    elapsedMs: number,
    baseline?: BenchRecord,
  ): BenchRecord => {
    const full: BenchRecord = {
      name: `rebuild/read-model/${adapter}`,
      params: { adapter, events, seconds: Number((elapsedMs / 1000).toFixed(2)) },
      throughput: rate,
      unit: 'events',
      target: TARGET,
      ...(baseline === undefined
        ? {}
        : { baseline: { name: baseline.name, ratio: rate / baseline.throughput } }),
      peakRssBytes: peakRssBytes(),
    };
    records.push(full);
    return full;
  };

  let postgres: BenchRecord | undefined;
  if (findPostgresBinaries() === undefined) {
    options.progress('rebuild: PostgreSQL binaries not found; embedded only');
  } else {
    const events = options.quick ? QUICK_EVENTS : FULL_EVENTS;
    options.progress(`rebuild: PostgreSQL (private cluster, fsync on), ${events} events`);
    const server = await startPostgres({ durable: true });
    try {
      const database = await openDatabase(await createDatabase(server.url, 'bench_rebuild'), {
        poolSize: 20,
      });
      await migrateToLatest(database.db);
      const store = new SqlEventStore(database);
      try {
        await generate(store, events, 16, options.progress);
        const report = await measureRebuild(database, store, options.progress);
        postgres = record('postgres', report.events, report.ratePerSecond, report.elapsedMs);
      } finally {
        await store.close();
        await database.close();
      }
    } finally {
      await server.stop();
    }
  }

  const events = options.quick ? QUICK_EVENTS : FULL_EVENTS_EMBEDDED;
  options.progress(`rebuild: embedded PGlite (data folder), ${events} events`);
  const folder = await mkdtemp(join(tmpdir(), 'locus-bench-'));
  try {
    const database = await openDatabase(folder);
    await migrateToLatest(database.db);
    const store = new SqlEventStore(database);
    try {
      await generate(store, events, 4, options.progress);
      const report = await measureRebuild(database, store, options.progress);
      record('embedded', report.events, report.ratePerSecond, report.elapsedMs, postgres);
    } finally {
      await store.close();
      await database.close();
    }
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
  return records;
};
