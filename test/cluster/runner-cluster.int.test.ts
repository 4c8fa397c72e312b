/**
 * The Cluster driving live app runners, as the composition root wires them (docs/cluster.md,
 * Wiring): alone on embedded PGlite the instance decides everything; two instances on one
 * PostgreSQL each decide their share, and on a graceful stop the survivor takes over from the
 * checkpoints the leaver saved, deciding what comes next.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { StreamMetadataCheckpoints } from '../../src/apps/checkpoints.js';
import {
  partitionCheckpointName,
  VIRTUAL_PARTITIONS,
  virtualPartitionOf,
} from '../../src/apps/partitions.js';
import { AppRunner } from '../../src/apps/runner.js';
import { Cluster } from '../../src/cluster/cluster.js';
import { type DatabaseHandle, openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import {
  commandCause,
  type DomainEvent,
  envelope,
  lportStream,
  streamOf,
} from '../../src/events/index.js';
import type { EventStore } from '../../src/store/event-store.js';
import { SqlEventStore } from '../../src/store/sql/sql-event-store.js';
import { chassis, lswitch, ovsPort, port } from '../apps/harness.js';
import { createDatabase, dropDatabase } from '../support/postgres.js';
import { required } from '../support/requirements.js';

const logger = pino({ level: 'silent' });
const postgres = inject('postgres');

interface Instance {
  readonly database: DatabaseHandle;
  readonly store: EventStore;
  readonly runner: AppRunner;
  readonly cluster: Cluster;
}

const instances: Instance[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const { cluster, runner, store, database } of instances.splice(0)) {
    await cluster.stop();
    await runner.stop();
    await store.close();
    await database.close().catch(() => undefined);
  }
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function instance(
  url: string,
  id: string,
  sole = false,
  timing: { heartbeatMs?: number; ttlMs?: number } = { heartbeatMs: 150, ttlMs: 900 },
): Promise<Instance> {
  const database = await openDatabase(url, { poolSize: 4 });
  await migrateToLatest(database.db);
  const store = new SqlEventStore(database);
  const runner = new AppRunner({
    store,
    checkpoints: new StreamMetadataCheckpoints(store),
    logger,
    managed: true,
    checkpointIntervalMs: 0,
  });
  const cluster = new Cluster({
    db: database.db,
    logger,
    instanceId: id,
    partitions: runner,
    sole,
    ...timing,
  });
  await runner.start();
  await cluster.start();
  const opened = { database, store, runner, cluster };
  instances.push(opened);
  return opened;
}

async function append(store: EventStore, event: DomainEvent): Promise<void> {
  await store.appendToStream(streamOf(event), [
    envelope(event, { app: 'api', cause: commandCause() }),
  ]);
}

async function claimed(store: EventStore, portId: string): Promise<boolean> {
  const events = await store.readStream(lportStream(portId)).catch(() => []);
  return events.some((event) => event.type === 'LocalCreated');
}

const setup: DomainEvent[] = [chassis('A', 1), chassis('B', 2), lswitch('s1')];

describe('the cluster driving live runners', () => {
  it('alone on embedded PGlite, decides every partition', async () => {
    const { store, runner, cluster } = await instance('memory://', 'solo', true, {});
    expect(cluster.role.partitions.size).toBe(VIRTUAL_PARTITIONS);
    await vi.waitFor(() => expect(runner.partitions).toHaveLength(VIRTUAL_PARTITIONS), {
      timeout: 10_000,
    });
    for (const event of [...setup, port('p1', 's1'), ovsPort('A', 'tap1', 'p1')])
      await append(store, event);
    await vi.waitFor(async () => expect(await claimed(store, 'p1')).toBe(true), {
      timeout: 20_000,
    });
  }, 120_000);

  describe.skipIf(!required(postgres.available, 'PostgreSQL 15', 'postgresql-15'))(
    'on PostgreSQL',
    () => {
      it('shares the ports between two instances; a graceful stop hands over through the checkpoints', async () => {
        if (!postgres.available) return;
        const url = await createDatabase(postgres.url, 'runner_cluster');
        cleanups.push(() => dropDatabase(url));
        const a = await instance(url, 'a');
        const b = await instance(url, 'b');
        await vi.waitFor(
          () => {
            expect(a.runner.partitions.length + b.runner.partitions.length).toBe(
              VIRTUAL_PARTITIONS,
            );
            expect(b.runner.partitions.length).toBeGreaterThan(0);
          },
          { timeout: 15_000 },
        );
        const ports = Array.from({ length: 12 }, (_, i) => `p${i}`);
        for (const event of setup) await append(a.store, event);
        for (const id of ports) await append(a.store, port(id, 's1'));
        for (const [i, id] of ports.entries())
          await append(b.store, ovsPort(i % 2 === 0 ? 'A' : 'B', `tap${i}`, id));
        await vi.waitFor(
          async () => {
            for (const id of ports) expect(await claimed(a.store, id), id).toBe(true);
          },
          { timeout: 30_000, interval: 200 },
        );
        // Both decided: each holds part of the partitions of these ports.
        const partitionsOf = (runner: AppRunner) =>
          ports.filter((id) => runner.partitions.includes(virtualPartitionOf(id)));
        expect(partitionsOf(a.runner).length + partitionsOf(b.runner).length).toBe(ports.length);

        const aHeld = a.runner.partitions;
        const opened = instances.splice(instances.indexOf(a), 1)[0] as Instance;
        await opened.cluster.stop();
        await opened.runner.stop();
        // The leaver saved a checkpoint for every partition it held.
        const checkpoints = new StreamMetadataCheckpoints(b.store);
        for (const partition of aHeld)
          expect(await checkpoints.load(partitionCheckpointName(partition))).toBeGreaterThan(0n);
        await opened.store.close();
        await opened.database.close();
        await vi.waitFor(() => expect(b.runner.partitions).toHaveLength(VIRTUAL_PARTITIONS), {
          timeout: 5_000,
        });
        // A port of a partition a held: b decides it now.
        const next = Array.from({ length: 200 }, (_, i) => `q${i}`).find((id) =>
          aHeld.includes(virtualPartitionOf(id)),
        ) as string;
        await append(b.store, port(next, 's1'));
        await append(b.store, ovsPort('A', 'tapq', next));
        await vi.waitFor(async () => expect(await claimed(b.store, next)).toBe(true), {
          timeout: 20_000,
        });
      }, 120_000);
    },
  );
});
