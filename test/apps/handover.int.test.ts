/**
 * Partitions moving between runners (issue 17; docs/cluster.md). Every runner folds the whole
 * log and decides the virtual partitions it holds; a partition released resumes on its next
 * holder from its own checkpoint, one revoked (its holder killed) from whatever checkpoint was
 * saved last.
 *
 * - Over a log one runner built, runners of the new scheme append nothing: not with the single
 *   `apps` checkpoint to start from, and not even with no checkpoint at all (the first
 *   partitioned start once re-decided history on a historical topology and appended 49
 *   RemoteDeleted, re-creating them a second later).
 * - Property: random commands, run once by one runner and once by two or three runners on one
 *   store with partitions handed over at random points (gracefully or by revocation, between
 *   commands and in the middle of their cascades), and lease flaps (a runner losing all its
 *   partitions and taking them back): every port's locality events are the same,
 *   in the same order — no view withdrawn and re-created whose facts did not change.
 */
import fc from 'fast-check';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { InMemoryCheckpoints } from '../../src/apps/checkpoints.js';
import { VIRTUAL_PARTITIONS } from '../../src/apps/partitions.js';
import { AppRunner } from '../../src/apps/runner.js';
import {
  commandCause,
  type DomainEvent,
  envelope,
  localityEventTypes,
  streamOf,
} from '../../src/events/index.js';
import type { EventStore } from '../../src/store/event-store.js';
import { openEventStore } from '../../src/store/open-event-store.js';
import { nightly, Rng } from '../support/chaos/rng.js';
import { SimulatedAgents } from '../support/simulated-agents.js';
import { chassis, lswitch, ovsPort, ovsPortGone, port, Scenario } from './harness.js';

const logger = pino({ level: 'silent' });
const locality = new Set<string>(localityEventTypes);
const ALL = Array.from({ length: VIRTUAL_PARTITIONS }, (_, partition) => partition);

type Locality = { type: string; data: unknown };

async function localityOf(store: EventStore): Promise<Locality[]> {
  return (await store.readAll())
    .filter((r) => locality.has(r.type))
    .map((r) => ({ type: r.type, data: r.data }));
}

/** Each port's locality events in order (ports' streams interleave freely between runs). */
function byPort(events: readonly Locality[]): Map<string, Locality[]> {
  const ports = new Map<string, Locality[]>();
  for (const event of events) {
    const portId = (event.data as { portId: string }).portId;
    ports.set(portId, [...(ports.get(portId) ?? []), event]);
  }
  return new Map([...ports].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

const CHASSIS = ['A', 'B', 'C'] as const;

/** A random but valid sequence of model events: ports created, bound, moved, unbound, deleted. */
function randomScript(rng: Rng, steps: number): DomainEvent[] {
  const script: DomainEvent[] = [
    chassis('A', 1),
    chassis('B', 2),
    chassis('C', 3),
    lswitch('s1'),
    lswitch('v1', { networkType: 'vlan', segmentationId: 5, physicalNetwork: 'physnet1' }),
  ];
  const ports = new Map<string, { switchId: string }>();
  const taps = new Map<string, { chassis: string; portId: string }>();
  let next = 0;
  let tap = 0;
  for (let step = 0; step < steps; step++) {
    const existing = [...ports.keys()];
    const action = rng.weighted<string>([
      [existing.length < 10 ? 3 : 0, 'create'],
      [existing.length > 0 ? 4 : 0, 'bind'],
      [taps.size > 0 ? 2 : 0, 'unbind'],
      [existing.length > 0 ? 1 : 0, 'request'],
      [existing.length > 2 ? 1 : 0, 'delete'],
      [1, 'create'],
    ]);
    if (action === 'create') {
      const id = `p${next++}`;
      const switchId = rng.chance(0.3) ? 'v1' : 's1';
      ports.set(id, { switchId });
      script.push(port(id, switchId));
    } else if (action === 'bind') {
      const portId = rng.pick(existing);
      const on = rng.pick(CHASSIS);
      const name = `tap${tap++}`;
      taps.set(name, { chassis: on, portId });
      script.push(ovsPort(on, name, portId));
    } else if (action === 'unbind') {
      const name = rng.pick([...taps.keys()]);
      const gone = taps.get(name) as { chassis: string };
      taps.delete(name);
      script.push(ovsPortGone(gone.chassis, name));
    } else if (action === 'request') {
      const portId = rng.pick(existing);
      const { switchId } = ports.get(portId) as { switchId: string };
      const requested = rng.chance(0.3) ? null : rng.pick(CHASSIS);
      script.push(port(portId, switchId, { requestedChassis: requested }, 'LogicalPortUpdated'));
    } else {
      const portId = rng.pick(existing);
      ports.delete(portId);
      script.push({ type: 'LogicalPortDeleted', data: { id: portId } });
    }
  }
  return script;
}

const stores: EventStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
});

async function freshStore(): Promise<EventStore> {
  const store = await openEventStore('memory://');
  stores.push(store);
  return store;
}

/** The single-instance run: one runner, the harness's agents. */
async function singleRun(script: readonly DomainEvent[]): Promise<Scenario> {
  const scenario = new Scenario(await freshStore());
  for (const event of script) await scenario.given(event);
  return scenario;
}

const managed = (store: EventStore, checkpoints: InMemoryCheckpoints) =>
  new AppRunner({ store, checkpoints, logger, managed: true });

/** Follows the log with every runner until none has anything left to add. */
async function settleAll(store: EventStore, runners: readonly AppRunner[]): Promise<void> {
  for (let head = -1n; head !== (await store.headPosition()); ) {
    head = await store.headPosition();
    for (const runner of runners) await runner.catchUp();
  }
}

describe('a partitioned start over a log one runner built', () => {
  const script: DomainEvent[] = [
    chassis('A', 1),
    chassis('B', 2),
    chassis('C', 3),
    lswitch('s1'),
    lswitch('v1', { networkType: 'vlan', segmentationId: 5, physicalNetwork: 'physnet1' }),
    ...Array.from({ length: 10 }, (_, i) => port(`p${i}`, i % 4 === 0 ? 'v1' : 's1')),
    ...Array.from({ length: 10 }, (_, i) => ovsPort(CHASSIS[i % 3] as string, `tap${i}`, `p${i}`)),
    port('p0', 'v1', { requestedChassis: 'B' }, 'LogicalPortUpdated'),
    ovsPort('B', 'tap0b', 'p0'),
    ovsPortGone('A', 'tap0'),
  ];

  for (const start of ['from the single checkpoint', 'with no checkpoint at all'] as const) {
    it(`appends no locality event, ${start}`, async () => {
      const single = await singleRun(script);
      const before = await localityOf(single.store);
      expect(before.filter((e) => e.type === 'RemoteCreated').length).toBeGreaterThan(10);
      const head = await single.store.headPosition();

      const checkpoints =
        start === 'from the single checkpoint' ? single.checkpoints : new InMemoryCheckpoints();
      if (start === 'from the single checkpoint')
        expect(checkpoints.positions.get('apps')).toBeGreaterThan(0n);
      const runners = [managed(single.store, checkpoints), managed(single.store, checkpoints)];
      // The two instances split the partitions as a cluster would, one before it folded anything.
      await (runners[0] as AppRunner).acquire(ALL.filter((p) => p % 2 === 0));
      await settleAll(single.store, runners);
      await (runners[1] as AppRunner).acquire(ALL.filter((p) => p % 2 === 1));
      await settleAll(single.store, runners);

      expect(await localityOf(single.store)).toEqual(before);
      expect(await single.store.headPosition()).toBe(head);
      // Each partition has a checkpoint of its own now: a restart starts from there.
      for (const partition of ALL)
        expect(
          checkpoints.positions.get(`apps-p${String(partition).padStart(2, '0')}`),
        ).toBeDefined();
    }, 120_000);
  }
});

describe('random hand-overs between runners', () => {
  it('leave every port the locality events of a single-instance run', async () => {
    const handovers = { released: 0, revoked: 0, flapped: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.integer({ min: 2, max: 3 }),
        async (seed, count) => {
          const rng = new Rng(seed);
          const script = randomScript(rng, nightly ? 40 : 18);
          const expected = byPort(await localityOf((await singleRun(script)).store));

          const store = await freshStore();
          const checkpoints = new InMemoryCheckpoints();
          const runners = Array.from({ length: count }, () => managed(store, checkpoints));
          const holder = new Map<number, AppRunner>();
          for (const partition of ALL) {
            const runner = rng.pick(runners);
            holder.set(partition, runner);
          }
          for (const runner of runners)
            await runner.acquire(ALL.filter((partition) => holder.get(partition) === runner));

          const moves = { released: 0, revoked: 0, flapped: 0 };
          /**
           * Moves a few partitions from one runner to another, gracefully or not; or a lease
           * flap: a runner loses every partition it holds and takes them all back.
           */
          const handOver = async () => {
            if (rng.chance(0.25)) {
              const flapping = rng.pick(runners);
              const all = ALL.filter((p) => holder.get(p) === flapping);
              if (all.length === 0) return;
              flapping.revoke(all);
              await flapping.acquire(all);
              moves.flapped++;
              return;
            }
            const from = rng.pick(runners);
            const to = rng.pick(runners.filter((runner) => runner !== from));
            const moving = ALL.filter((p) => holder.get(p) === from && rng.chance(0.3));
            if (moving.length === 0) return;
            if (rng.chance(0.3)) {
              from.revoke(moving);
              moves.revoked++;
            } else {
              await from.release(moving);
              moves.released++;
            }
            for (const partition of moving) holder.set(partition, to);
            await to.acquire(moving);
          };
          const agents = new SimulatedAgents({
            store,
            catchUp: async () => {
              for (let head = -1n; head !== (await store.headPosition()); ) {
                head = await store.headPosition();
                for (const runner of runners) {
                  // In the middle of a command's cascade, too.
                  if (rng.chance(0.15)) await handOver();
                  await runner.catchUp();
                }
              }
            },
          });
          for (const event of script) {
            if (rng.chance(0.3)) await handOver();
            await store.appendToStream(streamOf(event), [
              envelope(event, { app: 'api', cause: commandCause() }),
            ]);
            await agents.settle();
          }
          const actual = byPort(await localityOf(store));
          expect(actual, `seed ${seed}, ${count} runners`).toEqual(expected);
          handovers.released += moves.released;
          handovers.revoked += moves.revoked;
          handovers.flapped += moves.flapped;
          // Every runner ends holding what the test gave it.
          for (const runner of runners)
            expect(runner.partitions).toEqual(ALL.filter((p) => holder.get(p) === runner));
        },
      ),
      { numRuns: nightly ? 40 : 4 },
    );
    // The runs moved partitions both ways.
    expect(handovers.released).toBeGreaterThan(0);
    expect(handovers.revoked).toBeGreaterThan(0);
    expect(handovers.flapped).toBeGreaterThan(0);
  }, 300_000);
});
