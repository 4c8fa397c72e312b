/**
 * The disaster-recovery drill, on every store backend and three real Open vSwitch chassis:
 *
 * 1. Run the scenario through the apps, each chassis' agent (in process: its slice of the log,
 *    its flows by the agent's ChassisFlows on its own bridge, acks from the applied view through
 *    the ack commands) programming its bridge; snapshot the read model (every table, as the
 *    database renders it) and every flow table.
 * 2. Destroy the read model (its tables dropped) and every flow (`ovs-ofctl del-flows`), then
 *    replay: the projector rebuilds from the log, a fresh app runner folds it, and fresh agents
 *    start with a full sync from their slices. The read model must be byte-identical, the flow
 *    sets identical, and nothing acked again.
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
import { decideAcks, factsOf } from '../../src/agent/acks.js';
import { ChassisFlows } from '../../src/agent/chassis-flows.js';
import { SliceState } from '../../src/agent/slice-state.js';
import { StreamMetadataCheckpoints } from '../../src/apps/checkpoints.js';
import { AppRunner } from '../../src/apps/runner.js';
import { exportLog } from '../../src/backup/export.js';
import { fileWriter } from '../../src/backup/files.js';
import { importLog } from '../../src/backup/import.js';
import type { DatabaseHandle } from '../../src/db/database.js';
import { migrateDownTo, migrateToLatest } from '../../src/db/migrate.js';
import { sliceOf } from '../../src/domain/slice.js';
import type { Topology } from '../../src/domain/topology.js';
import { Projector } from '../../src/projections/projector.js';
import type { EventStore } from '../../src/store/event-store.js';
import { SqlEventStore } from '../../src/store/sql/sql-event-store.js';
import { type OvsTarget, type VerifyReport, verify } from '../../src/verify/index.js';
import { type OvsSandbox, requireOvs, startOvs } from '../support/ovs.js';
import { SimulatedAgents } from '../support/simulated-agents.js';
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
  readonly agents: SimulatedAgents;
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
   * The apps, the read-model projector, and each chassis' agent in process: its slice (as its
   * feed would send it) → the agent's ChassisFlows on its bridge → acks decided from the view
   * the bridge holds, sent through the ack commands. With `replaying`, the runner first folds
   * the log (its checkpoint, restored from the log, says every event was decided), so each
   * agent's start is a full sync from its complete slice.
   */
  async function startServices(
    store: EventStore,
    database: DatabaseHandle,
    replaying: boolean,
  ): Promise<Services> {
    const runner = new AppRunner({
      store,
      checkpoints: new StreamMetadataCheckpoints(store),
      logger,
    });
    const projector = new Projector({ store, db: database.db, logger });
    if (replaying) await runner.catchUp();
    const chassisAgents = new Map<string, { slice: SliceState; flows: ChassisFlows }>();
    for (const [chassis, sandbox] of sandboxes) {
      const slice = new SliceState();
      const flows = new ChassisFlows({
        chassis,
        slice,
        ports: () => chassisPorts,
        logger,
        env: { OVS_RUNDIR: sandbox.dir },
        antiEntropyIntervalMs: 0,
        probeIntervalMs: 0,
      });
      chassisAgents.set(chassis, { slice, flows });
    }
    let position = 0;
    /** Chassis C's agent: its slice now, its flows on its bridge, then the acks they warrant. */
    const decide = async (topology: Topology, chassis: string) => {
      const agent = chassisAgents.get(chassis);
      if (agent === undefined) return { put: [], withdraw: [] };
      const { slice, flows } = agent;
      slice.applySnapshot({
        position: String(++position),
        entries: [...sliceOf(topology, chassis).values()],
      });
      if (flows.running) await flows.changed();
      else await flows.start();
      return decideAcks(chassis, flows.applied.ports, factsOf(slice.ports()));
    };
    const agents = new SimulatedAgents({ store, catchUp: () => runner.catchUp(), decide });
    return {
      runner,
      agents,
      async settle() {
        await agents.settle();
        await projector.catchUp();
      },
      async stop() {
        await runner.stop();
        for (const { flows } of chassisAgents.values()) await flows.stop();
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
        // The acks are the agents', sent once their flows were on their bridges.
        expect(live.agents.sent.length).toBeGreaterThan(5);

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
        // The restored checkpoint means nothing was decided again, and no agent acked again.
        expect(replay.runner.metrics.appended).toBe(0);
        expect(replay.agents.sent).toEqual([]);
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
          expect(replay.agents.sent).toEqual([]);
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
