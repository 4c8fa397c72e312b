/**
 * The agent's kept topology (src/agent/slice-topology.ts) against a fresh fold of the slice:
 * after random events over a small world, each chassis' slice applied change by change (as the
 * feed's diffs reach SliceState) gives the incrementally kept desired flows and applied view
 * of a fresh `topologyOfSlice` of the slice; and an ack landing in the slice recomputes one
 * port, builds no topology and changes no flow.
 */
import fc from 'fast-check';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ChassisFlows } from '../../src/agent/chassis-flows.js';
import { SliceState } from '../../src/agent/slice-state.js';
import { SliceTopology } from '../../src/agent/slice-topology.js';
import { PortLocalityFold } from '../../src/apps/port-locality.js';
import { sliceOf, topologyOfSlice } from '../../src/domain/slice.js';
import type { DomainEvent } from '../../src/events/index.js';
import { ChassisDesired } from '../../src/ovs/chassis-desired.js';
import { chassisViewOf } from '../../src/ovs/chassis-view.js';
import { flowsFor } from '../../src/ovs/pipeline/index.js';
import type { Ofctl } from '../../src/ovs/reconciler/ofctl.js';
import { ViewChangeTracker } from '../../src/ovs/view-changes.js';
import { portsOfA, topologyOf, world } from '../ovs/pipeline-fixtures.js';
import { anEvent, chassisIds, portsChoices, realistic } from '../ovs/world-events.js';

/** A's ack of B's port b1 (A reaches it on s1). */
const ackOfB1: DomainEvent = {
  type: 'RemoteCreated',
  data: { portId: 'b1', chassis: 'A', owner: 'B' },
};

const texts = (flows: ReadonlyMap<string, { text: string }>) =>
  new Map([...flows].map(([key, flow]) => [key, flow.text]));

/** An agent's flow state without a bridge: its slice, kept topology and desired flows. */
function agentOf(chassis: string) {
  const state = new SliceState();
  const desired = new ChassisDesired(chassis);
  const kept = new SliceTopology({
    fold: () => new PortLocalityFold(),
    listener: new ViewChangeTracker({
      port: (topology, id) => desired.markPort(topology, id),
      switch: (topology, id) => desired.markSwitch(topology, id),
      everything: () => desired.markAll(),
    }),
  });
  let position = 0;
  return {
    state,
    desired,
    kept,
    /** The feed's snapshot of the whole topology's slice (unchanged entries keep their object). */
    receive(events: readonly DomainEvent[]) {
      const entries = JSON.parse(
        JSON.stringify([...sliceOf(topologyOf(events), chassis).values()]),
      );
      state.applySnapshot({ position: String(++position), entries });
      // As ChassisFlows does: after the first build, only the keys the feed changed.
      const changed = state.takeChanged();
      kept.update(state.texts, kept.topology === undefined ? undefined : changed);
    },
  };
}

describe("the agent's kept slice topology", () => {
  it('gives the flows and applied view of a fresh fold of the slice, change after change', () => {
    const updates = { rebuilds: 0, incremental: 0 };
    fc.assert(
      fc.property(
        fc.array(anEvent, { minLength: 1, maxLength: 50 }),
        fc.integer({ min: 1, max: 6 }),
        (generated, step) => {
          const events = realistic([...world(), ...generated]);
          const base = world().length;
          for (const chassis of chassisIds)
            for (const ports of portsChoices) {
              const agent = agentOf(chassis);
              for (let end = base; end <= events.length; end += step) {
                agent.receive(events.slice(0, end));
                const handout = agent.desired.next(agent.kept.topology as never, ports);
                handout.commit();
                const fresh = topologyOfSlice(
                  [...agent.state.entries.values()],
                  new PortLocalityFold(),
                );
                const view = chassisViewOf(fresh, chassis, ports);
                expect(texts(handout.flows.flows)).toEqual(texts(flowsFor(view).flows));
                expect(new Map(agent.desired.applied.ports)).toEqual(
                  new Map(view.ports.map((p) => [p.id, p])),
                );
              }
              updates.rebuilds += agent.kept.stats.rebuilds - 1;
              updates.incremental += agent.kept.stats.incremental;
            }
        },
      ),
      { numRuns: 60 },
    );
    // After the first build, changes are applied as events (a rebuild is the rare fallback).
    expect(updates.incremental).toBeGreaterThan(10 * updates.rebuilds);
  });

  it('applies an ack landing in the slice as one event: no rebuild, one port recomputed, no flow', () => {
    const events = world();
    const agent = agentOf('A');
    agent.receive(events);
    agent.desired.next(agent.kept.topology as never, portsOfA).commit();
    const rebuilds = agent.kept.stats.rebuilds;
    agent.receive([...events, ackOfB1]);
    expect(agent.kept.stats).toMatchObject({ rebuilds, incremental: 1, events: 1 });
    const handout = agent.desired.next(agent.kept.topology as never, portsOfA);
    expect(handout.delta.changes).toEqual([]);
    expect(handout.delta.goneCookies.size).toBe(0);
  });
});

describe('ChassisFlows', () => {
  it('sends no flow mod for an ack-only slice change, and builds no topology for it', async () => {
    const bundles: string[][] = [];
    const ofctl: Ofctl = {
      bundle: async (_bridge: string, ops: readonly string[]) => {
        if (ops.length > 0) bundles.push([...ops]);
      },
      dumpFlows: async () => '',
    };
    const slice = new SliceState();
    const events = world();
    const snapshot = (all: DomainEvent[], position: string) => ({
      position,
      entries: JSON.parse(JSON.stringify([...sliceOf(topologyOf(all), 'A').values()])),
    });
    slice.applySnapshot(snapshot(events, '1'));
    const flows = new ChassisFlows({
      chassis: 'A',
      slice,
      ports: () => portsOfA,
      logger: pino({ level: 'silent' }),
      ofctl,
      antiEntropyIntervalMs: 0,
      probeIntervalMs: 0,
    });
    await flows.start();
    bundles.length = 0;
    slice.applySnapshot(snapshot([...events, ackOfB1], '2'));
    await flows.changed();
    expect(bundles).toEqual([]);
    expect(flows.stats).toMatchObject({ rebuilds: 1, incremental: 1, events: 1 });
    expect(flows.computedFrom).toBe(slice.version);
    await flows.stop();
  });
});
