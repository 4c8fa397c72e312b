/**
 * The disaster-recovery drill, on every store backend and three real Open vSwitch chassis:
 *
 * 1. Run the scenario through the apps, with OvsRemoteFlows programming each chassis' bridge;
 *    snapshot the read model (every table, as the database renders it) and every flow table.
 * 2. Destroy the read model (its tables dropped) and every flow (`ovs-ofctl del-flows`), then
 *    replay: the projector rebuilds from the log, a fresh app runner folds it, and fresh
 *    reconcilers start with a full sync. The read model must be byte-identical, the flow sets
 *    identical.
 * 3. Restore the log from an export into a fresh store and rebuild everything there: again the
 *    same read model, byte for byte, and the same flows.
 *
 * After each step `verify` (the CLI's check) must find that everything agrees with the log.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamMetadataCheckpoints } from '../../src/apps/checkpoints.js';
import { PortLocalityFold } from '../../src/apps/port-locality.js';
import { AppRunner } from '../../src/apps/runner.js';
import { exportLog } from '../../src/backup/export.js';
import { fileWriter } from '../../src/backup/files.js';
import { importLog } from '../../src/backup/import.js';
import type { DatabaseHandle } from '../../src/db/database.js';
import { migrateDownTo, migrateToLatest } from '../../src/db/migrate.js';
import { Topology } from '../../src/domain/topology.js';
import { OvsRemoteFlows } from '../../src/ovs/reconciler/ovs-remote-flows.js';
import { Projector } from '../../src/projections/projector.js';
import type { EventStore } from '../../src/store/event-store.js';
import { SqlEventStore } from '../../src/store/sql/sql-event-store.js';
import { type OvsTarget, type VerifyReport, verify } from '../../src/verify/index.js';
import { type OvsSandbox, requireOvs, startOvs } from '../support/ovs.js';
import { buildUp, changes, chassisIds, chassisPorts, play } from './scenario.js';
import {
  backends,
  dumpFlows,
  dumpReadModelText,
  type OpenedDatabase,
  setUpBridge,
} from './support.js';

const logger = pino({ level: 'silent' });

interface Services {
  readonly runner: AppRunner;
  readonly flows: OvsRemoteFlows;
  settle(): Promise<void>;
  stop(): Promise<void>;
}

interface Snapshot {
  readonly readModel: Record<string, string>;
  readonly flows: Record<string, string[]>;
}

/** Differences, readably, when verify does not agree. */
const disagreement = (report: VerifyReport) => ({
  readModel: report.readModel.differences,
  flows: report.flows.map(({ chassis, missing, unexpected }) => ({ chassis, missing, unexpected })),
});

describe.skipIf(!requireOvs())('disaster recovery drill', { timeout: 120_000 }, () => {
  const sandboxes = new Map<string, OvsSandbox>();
  let workDir: string;

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'locus-drill-'));
    const started = await Promise.all(
      chassisIds.map(async (id) => [id, await startOvs()] as const),
    );
    for (const [id, sandbox] of started) sandboxes.set(id, sandbox);
    await Promise.all(started.map(([id, sandbox]) => setUpBridge(sandbox, id)));
  });

  afterAll(async () => {
    await Promise.all([...sandboxes.values()].map((sandbox) => sandbox.stop()));
    await rm(workDir, { recursive: true, force: true });
  });

  const targets = (): OvsTarget[] =>
    [...sandboxes].map(([chassis, sandbox]) => ({ chassis, rundir: sandbox.dir }));

  /**
   * The apps with a reconciler per chassis, and the read-model projector. With `replaying`,
   * the runner first folds the log (its checkpoint, restored from the log, says every event was
   * decided), so each reconciler's start is a full sync from the complete topology.
   */
  async function startServices(
    store: EventStore,
    database: DatabaseHandle,
    replaying: boolean,
  ): Promise<Services> {
    const topology = new Topology(new PortLocalityFold());
    const flows = new OvsRemoteFlows({ topology, logger });
    const runner = new AppRunner({
      store,
      topology,
      remoteFlows: flows,
      checkpoints: new StreamMetadataCheckpoints(store),
      logger,
    });
    const projector = new Projector({ store, db: database.db, logger });
    if (replaying) await runner.catchUp();
    for (const [chassis, sandbox] of sandboxes) {
      await flows.addChassis({
        chassis,
        env: { OVS_RUNDIR: sandbox.dir },
        ports: chassisPorts,
        antiEntropyIntervalMs: 0,
        probeIntervalMs: 0,
      });
    }
    return {
      runner,
      flows,
      async settle() {
        await runner.catchUp();
        await flows.refresh();
        await projector.catchUp();
      },
      async stop() {
        await runner.stop();
        await flows.stop();
      },
    };
  }

  async function snapshot(database: DatabaseHandle): Promise<Snapshot> {
    const flows: Record<string, string[]> = {};
    for (const [chassis, sandbox] of sandboxes) flows[chassis] = await dumpFlows(sandbox);
    return { readModel: await dumpReadModelText(database), flows };
  }

  async function destroyFlows(): Promise<void> {
    for (const sandbox of sandboxes.values()) await sandbox.ofctl('del-flows', 'br-int');
    for (const sandbox of sandboxes.values()) expect(await dumpFlows(sandbox)).toEqual([]);
  }

  async function expectAgreement(store: EventStore, database: DatabaseHandle): Promise<void> {
    const report = await verify({ store, db: database.db, ovs: targets() });
    expect(disagreement(report)).toEqual({
      readModel: [],
      flows: chassisIds.map((chassis) => ({ chassis, missing: [], unexpected: [] })),
    });
    expect(report.agree).toBe(true);
  }

  for (const backend of backends()) {
    describe(backend.kind, () => {
      const opened: OpenedDatabase[] = [];
      let source: OpenedDatabase;
      let store: SqlEventStore;
      let before: Snapshot;

      afterAll(async () => {
        await store?.close();
        for (const database of opened.reverse()) await database.dispose();
      });

      it('runs the scenario on real Open vSwitch; read model and flows agree with the log', async () => {
        source = await backend.create('drill');
        opened.push(source);
        store = new SqlEventStore(source.database, { pollIntervalMs: 50 });
        const live = await startServices(store, source.database, false);
        await play(store, buildUp(), () => live.settle());
        await play(store, changes(), () => live.settle());
        await live.stop();
        before = await snapshot(source.database);

        // Every locality is there, and each chassis is really programmed.
        for (const locality of ['local', 'remote']) {
          expect(before.readModel.rm_port_views).toContain(`"locality": "${locality}"`);
        }
        expect(before.readModel.rm_ports).toContain('"distributed": true');
        expect(before.readModel.rm_ports).toContain('"deleted": true');
        for (const chassis of chassisIds) {
          expect(before.flows[chassis]?.length ?? 0).toBeGreaterThan(10);
        }
        // b1 moved to C: B and A reach it there now.
        expect(before.flows.A?.some((f) => f.includes('set_field:192.0.2.3->tun_dst'))).toBe(true);
        await expectAgreement(store, source.database);
      });

      it('drop the read model and every flow, replay: byte-identical read model, same flows', async () => {
        await migrateDownTo(source.database.db, '0001_event_store');
        await migrateToLatest(source.database.db);
        await destroyFlows();
        const emptied = await dumpReadModelText(source.database);
        expect(Object.values(emptied).every((rows) => rows === '')).toBe(true);

        const rebuilt = await new Projector({ store, db: source.database.db, logger }).rebuild();
        expect(rebuilt.position).toBe(await store.headPosition());
        const replay = await startServices(store, source.database, true);
        await replay.settle();
        // The restored checkpoint means nothing was decided again.
        expect(replay.runner.metrics.appended).toBe(0);
        const after = await snapshot(source.database);
        await replay.stop();

        expect(after.readModel).toEqual(before.readModel);
        expect(after.flows).toEqual(before.flows);
        await expectAgreement(store, source.database);
      });

      it('restore from an export into a fresh store and rebuild there: the same state', async () => {
        const file = join(workDir, `${backend.kind}.ndjson`);
        const writer = fileWriter(file);
        const exported = await exportLog(source.database.db, writer, { source: 'drill' });
        await writer.close();

        const restored = await backend.create('restored');
        opened.push(restored);
        const imported = await importLog(restored.database.db, file);
        expect(imported.sha256).toBe(exported.sha256);
        expect(imported.events).toBe(exported.events);
        expect(imported.streams).toBeGreaterThanOrEqual(1); // the apps' checkpoint

        await destroyFlows();
        const restoredStore = new SqlEventStore(restored.database, { pollIntervalMs: 50 });
        try {
          await new Projector({ store: restoredStore, db: restored.database.db, logger }).rebuild();
          const replay = await startServices(restoredStore, restored.database, true);
          await replay.settle();
          expect(replay.runner.metrics.appended).toBe(0);
          const after = await snapshot(restored.database);
          await replay.stop();

          expect(after.readModel).toEqual(before.readModel);
          expect(after.flows).toEqual(before.flows);
          await expectAgreement(restoredStore, restored.database);

          // And the restored log exports to the very same body, line for line.
          const again = join(workDir, `${backend.kind}-again.ndjson`);
          const second = fileWriter(again);
          await exportLog(restored.database.db, second, { source: 'drill' });
          await second.close();
          const body = async (path: string) => (await readFile(path, 'utf8')).split('\n').slice(1);
          expect(await body(again)).toEqual(await body(file));
        } finally {
          await restoredStore.close();
        }
      });
    });
  }
});
