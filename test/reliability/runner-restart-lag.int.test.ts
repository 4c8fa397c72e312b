/**
 * Found by the crash test: a runner that lags behind the commands appends its decisions after
 * model events it has not handled yet. Killed there and restarted from its checkpoint, the new
 * runner re-decides those model events on a fold of the log that does not contain its
 * predecessor's later decisions (the in-memory "ahead" view died with it), so a decision that
 * should undo one of them (a trunk parent deleted: release the sub-port) was never made — the
 * sub-port stayed local on a chassis for good.
 *
 * Here: every model event is in the log before the runner starts (maximal lag); the runner is
 * killed after each position in turn, and the restarted one must end with the same localities
 * as a runner that was never interrupted. The settled part is acked by every chassis' agent
 * (simulated) first, so the acks the apps must withdraw are in the log too.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { InMemoryCheckpoints } from '../../src/apps/checkpoints.js';
import { PortLocalityFold } from '../../src/apps/port-locality.js';
import { AppRunner } from '../../src/apps/runner.js';
import { type DatabaseHandle, openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import {
  commandCause,
  type DomainEvent,
  decodeEvent,
  envelope,
  streamOf,
} from '../../src/events/index.js';
import type { EventStore } from '../../src/store/event-store.js';
import { SqlEventStore } from '../../src/store/sql/sql-event-store.js';
import { chassis, lswitch, ovsPort, port } from '../apps/harness.js';
import { SimulatedAgents } from '../support/simulated-agents.js';

/** Handled as they come (the runner keeps up). */
const settled: DomainEvent[] = [
  chassis('A', 1),
  chassis('B', 2),
  lswitch('s1'),
  port('parent', 's1', { requestedChassis: 'A' }),
  port('child', 's1', { deviceOwner: 'trunk_subport' }),
  port('fixed', 's1'),
  port('fip', 's1', { deviceOwner: 'floatingip' }),
  port('other', 's1'),
  ovsPort('A', 'tap-parent', 'parent'),
  ovsPort('B', 'tap-fixed', 'fixed'),
];

/** Then a burst the runner lags behind, and is killed in. */
const burst: DomainEvent[] = [
  {
    type: 'ChildPortSegmentationCreated',
    data: {
      id: 'seg',
      parentPortId: 'parent',
      childPortId: 'child',
      segmentationType: 'vlan',
      segmentationId: 10,
    },
  },
  { type: 'FloatingIpCreated', data: { id: 'f', floatingPortId: 'fip', fixedPortId: 'fixed' } },
  ovsPort('A', 'tap-other', 'other'),
  { type: 'LogicalPortDeleted', data: { id: 'parent' } },
  { type: 'LogicalPortDeleted', data: { id: 'fixed' } },
  ovsPort('B', 'tap-other2', 'other'),
];

const silent = pino({ level: 'silent' });
const opened: DatabaseHandle[] = [];

const runnerOn = (store: EventStore, checkpoints: InMemoryCheckpoints) =>
  new AppRunner({
    store,
    checkpoints,
    logger: silent,
  });

const append = async (store: EventStore, events: readonly DomainEvent[]) => {
  for (const event of events)
    await store.appendToStream(streamOf(event), [
      envelope(event, { app: 'api', cause: commandCause() }),
    ]);
};

/** A store with the settled events handled by a runner, and the burst appended after. */
async function lagging(checkpoints: InMemoryCheckpoints): Promise<EventStore> {
  const database = await openDatabase('memory://');
  opened.push(database);
  await migrateToLatest(database.db);
  const store = new SqlEventStore(database);
  await append(store, settled);
  const runner = runnerOn(store, checkpoints);
  await new SimulatedAgents({ store, catchUp: () => runner.catchUp() }).settle();
  await append(store, burst);
  return store;
}

/** Every port's claims, acks, reasons and owner, folded from the log. */
async function localities(store: EventStore) {
  const fold = new PortLocalityFold();
  const ids = new Set<string>();
  for (const recorded of await store.readAll()) {
    if (!recorded.streamName.startsWith('lport-')) continue;
    const decoded = decodeEvent(recorded.type, recorded.data, recorded.metadata.schemaVersion);
    if (!decoded.ok) continue;
    fold.apply(decoded.event, recorded.revision);
    ids.add(recorded.streamName.slice('lport-'.length));
  }
  return [...ids].sort().map((id) => {
    const { claims, acks, reasons, deleted, owner } = fold.get(id);
    return { id, claims, acks, reasons, deleted, owner };
  });
}

afterEach(async () => {
  for (const database of opened.splice(0)) await database.close();
});

describe('app runner killed while lagging behind the commands', () => {
  it('ends with the localities of an uninterrupted runner, wherever it was killed', async () => {
    const referenceCheckpoints = new InMemoryCheckpoints();
    const reference = await lagging(referenceCheckpoints);
    // The agents acked the settled ports (A's parent on B, B's fixed port on A).
    const acks = (await reference.readAll()).filter((r) => r.type === 'RemoteCreated');
    expect(acks.map((r) => r.data)).toEqual([
      { portId: 'fixed', chassis: 'A', owner: 'B' },
      { portId: 'parent', chassis: 'B', owner: 'A' },
    ]);
    await runnerOn(reference, referenceCheckpoints).catchUp();
    const expected = await localities(reference);
    // The trunk sub-port follows its parent and is released when the parent is deleted.
    expect(expected.find((p) => p.id === 'child')?.claims).toEqual([]);
    expect(expected.find((p) => p.id === 'fip')?.claims).toEqual([]);
    expect(expected.find((p) => p.id === 'other')?.claims).toEqual(['A', 'B']);
    // A's ack of B's fixed port went with it; B's ack of A's parent too.
    expect(expected.every((p) => p.acks.length === 0)).toBe(true);

    const from = (await reference.readAll()).findIndex((r) => r.type.startsWith('ChildPort'));
    const head = await reference.headPosition();
    for (let k = BigInt(from + 1); k <= head; k++) {
      const checkpoints = new InMemoryCheckpoints();
      const store = await lagging(checkpoints);
      await runnerOn(store, checkpoints).catchUp({ until: k });
      // Killed here: nothing of it survives but the log and its saved checkpoint.
      await runnerOn(store, checkpoints).catchUp();
      expect(await localities(store), `killed after position ${k}`).toEqual(expected);
      await opened.pop()?.close();
    }
  }, 120_000);
});
