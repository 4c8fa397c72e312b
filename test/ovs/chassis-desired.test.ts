/**
 * The incremental desired state (src/ovs/chassis-desired.ts) against the full computation it
 * replaces, `flowsFor(chassisViewOf(...))`, kept as the oracle: after random event sequences over
 * a small world (so ports share switches, MACs, interfaces and trunks), every chassis'
 * incremental flows and applied view equal the oracle's, and the reconciler's incremental plans
 * (planDelta) bring an installed table to the desired one.
 */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { PortLocalityFold } from '../../src/apps/port-locality.js';
import { Topology } from '../../src/domain/topology.js';
import { ChassisDesired } from '../../src/ovs/chassis-desired.js';
import { type ChassisPorts, chassisViewOf, portsById } from '../../src/ovs/chassis-view.js';
import { flowsFor, parseDumpedFlow } from '../../src/ovs/pipeline/index.js';
import { planDelta } from '../../src/ovs/reconciler/plan.js';
import { ViewChangeTracker } from '../../src/ovs/view-changes.js';
import { ev, mac, portsOfA, topologyOf, world } from './pipeline-fixtures.js';
import { anEvent, chassisIds, pick, portsChoices } from './world-events.js';

/** A chassis' bridge as the reconciler drives it: add by key, delete by cookie or strictly. */
function applyOps(table: Map<string, string>, ops: readonly string[]): void {
  for (const op of ops) {
    const space = op.indexOf(' ');
    const command = op.slice(0, space);
    const rest = op.slice(space + 1);
    if (command === 'add') {
      const flow = parseDumpedFlow(rest);
      if (flow) table.set(flow.key, flow.text);
    } else if (command === 'delete_strict') table.delete(rest);
    else if (command === 'delete') {
      const cookie = BigInt(/^cookie=(0x[0-9a-f]+)\/-1$/.exec(rest)?.[1] ?? '-1');
      for (const [key, text] of table)
        if (parseDumpedFlow(text)?.cookie === cookie) table.delete(key);
    } else throw new Error(`unexpected flow mod ${op}`);
  }
}

const texts = (flows: ReadonlyMap<string, { text: string }>) =>
  new Map([...flows].map(([key, flow]) => [key, flow.text]));

/** Follows the topology for every chassis at once: each one's desired state marked by the tracker. */
function follow(topology: Topology, chassis: readonly string[]) {
  const desired = new Map(chassis.map((id) => [id, new ChassisDesired(id)]));
  const bridges = new Map(chassis.map((id) => [id, new Map<string, string>()]));
  topology.listen(
    new ViewChangeTracker({
      port: (t, id) => {
        for (const d of desired.values()) d.markPort(t, id);
      },
      switch: (t, id) => {
        for (const d of desired.values()) d.markSwitch(t, id);
      },
      everything: () => {
        for (const d of desired.values()) d.markAll();
      },
    }),
  );
  /** Syncs chassis `id` and checks it against the oracle. */
  const sync = (id: string, ports: ChassisPorts) => {
    const state = desired.get(id) as ChassisDesired;
    const bridge = bridges.get(id) as Map<string, string>;
    const handout = state.next(topology, ports);
    const view = chassisViewOf(topology, id, ports);
    const oracle = flowsFor(view);
    expect(texts(handout.flows.flows)).toEqual(texts(oracle.flows));
    applyOps(bridge, planDelta(handout.delta).ops);
    expect(bridge).toEqual(texts(oracle.flows));
    handout.commit();
    expect(new Map(state.applied.ports)).toEqual(portsById(view));
    expect(new Map(state.applied.unreachable)).toEqual(
      new Map(view.unreachable.map((u) => [u.portId, u.reason])),
    );
    return handout;
  };
  return { sync };
}

describe('ChassisDesired', () => {
  it('equals flowsFor(chassisViewOf(…)) after random events, and its deltas converge a bridge', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.array(anEvent, { minLength: 1, maxLength: 6 }), pick(portsChoices)), {
          minLength: 1,
          maxLength: 25,
        }),
        (steps) => {
          const topology = topologyOf(world());
          let revision = 1000n;
          const { sync } = follow(topology, [...chassisIds, 'D']);
          for (const id of [...chassisIds, 'D']) sync(id, portsOfA);
          for (const [events, ports] of steps) {
            for (const event of events) topology.apply(event, revision++);
            // A keeps its ports; B's change now and then (a full recomputation).
            sync('A', portsOfA);
            sync('B', ports);
            sync('C', portsOfA);
            sync('D', portsOfA);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a sweep, a few ports per sync, recomputes what changes it was not told of left stale', () => {
    fc.assert(
      fc.property(
        fc.array(anEvent, { minLength: 1, maxLength: 20 }),
        fc.array(anEvent, { maxLength: 6 }),
        fc.integer({ min: 1, max: 4 }),
        (missed, told, step) => {
          const topology = topologyOf(world());
          const desired = new ChassisDesired('A');
          desired.next(topology, portsOfA);
          let revision = 1000n;
          // Changes no notification reaches (the tracker not listening yet).
          for (const event of missed) topology.apply(event, revision++);
          const tracker = new ViewChangeTracker({
            port: (t, id) => desired.markPort(t, id),
            switch: (t, id) => desired.markSwitch(t, id),
            everything: () => desired.markAll(),
          });
          topology.listen(tracker);
          let steps = 0;
          for (let done = false; !done; steps++) {
            done = desired.markSweep(topology, step);
            // Told changes meanwhile are recomputed as usual.
            const event = told[steps];
            if (event) topology.apply(event, revision++);
            desired.next(topology, portsOfA).commit();
          }
          for (const event of told.slice(steps)) topology.apply(event, revision++);
          const flows = desired.next(topology, portsOfA).flows.flows;
          expect(texts(flows)).toEqual(
            texts(flowsFor(chassisViewOf(topology, 'A', portsOfA)).flows),
          );
          expect(desired.dirty).toBe(false);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('resolves a MAC two ports want as flowsFor does, whichever changes first', () => {
    const topology = topologyOf(world());
    const { sync } = follow(topology, ['A']);
    sync('A', portsOfA);
    // b1 (B) takes a1's MAC: a1 keeps the L2 flow (first by id); then a1 goes, b1 gets it.
    topology.apply(ev.port('b1', 's1', mac(0xa1), {}, 'LogicalPortUpdated'));
    const first = sync('A', portsOfA);
    expect(first.flows.conflicts).toHaveLength(1);
    topology.apply(ev.localGone('a1', 'A'));
    const second = sync('A', portsOfA);
    expect(second.flows.conflicts).toHaveLength(0);
    expect(second.delta.changes.length).toBeGreaterThan(0);
  });

  it('recomputes only what an event touched: one bind changes one port group and its flood', () => {
    const topology = topologyOf(world());
    const { sync } = follow(topology, ['A']);
    sync('A', portsOfA);
    topology.apply(ev.port('n1', 's1', mac(0x99)));
    topology.apply(ev.ovsPort('B', 'tapn1', 'n1', 9));
    topology.apply(ev.local('n1', 'B'));
    const handout = sync('A', portsOfA);
    const cookies = new Set(
      handout.delta.changes.map((c) => (c.after ?? c.before)?.cookie.toString(16).slice(0, 1)),
    );
    // Port flows (0x03…) only: B already had a port on s1, so the flood list is unchanged.
    expect(cookies).toEqual(new Set(['3']));
    expect(handout.delta.changes).toHaveLength(2); // its L2 lookup and egress
  });
});

describe("ChassisDesired, a switch's flood flows", () => {
  it('are recomputed only when a tunnel endpoint comes or goes, not for every remote port', () => {
    // B claims 200 more ports on s1, beside A's: A reaches them all through one endpoint.
    const ns = Array.from({ length: 200 }, (_, i) => `n${i}`);
    const topology = topologyOf([
      ...world(),
      ...ns.flatMap((id, i) => [ev.port(id, 's1', mac(0x200 + i)), ev.local(id, 'B')]),
    ]);
    const { sync } = follow(topology, ['A']);
    sync('A', portsOfA);
    // Each recomputation lists every view port of the switch (viewPortsOn): O(switch).
    const lists = vi.spyOn(
      ChassisDesired.prototype as unknown as { viewPortsOn: (switchId: string) => unknown },
      'viewPortsOn',
    );
    try {
      topology.apply(ev.portDeleted('n0'));
      sync('A', portsOfA);
      topology.apply(ev.port('m1', 's1', mac(0x99)));
      topology.apply(ev.local('m1', 'B'));
      sync('A', portsOfA);
      expect(lists).not.toHaveBeenCalled();
      // B's last ports on s1 gone: its endpoint leaves the flood list.
      for (const id of ['b1', 'm1', ...ns.slice(1)]) topology.apply(ev.portDeleted(id));
      sync('A', portsOfA);
      expect(lists).toHaveBeenCalledTimes(1);
    } finally {
      lists.mockRestore();
    }
  });
});

describe('ChassisDesired on a new topology', () => {
  it('recomputes everything when handed another topology (a replaced runner)', () => {
    const first = topologyOf(world());
    const desired = new ChassisDesired('A');
    const bridge = new Map<string, string>();
    applyOps(bridge, planDelta(desired.next(first, portsOfA).delta).ops);
    // The same world without A's ports on s1, folded afresh: nothing marked it dirty.
    const second = topologyOf(
      world().filter((e) => !(e.type === 'LocalCreated' && ['a1', 't1'].includes(e.data.portId))),
    );
    const handout = desired.next(second, portsOfA);
    const oracle = flowsFor(chassisViewOf(second, 'A', portsOfA));
    expect(texts(handout.flows.flows)).toEqual(texts(oracle.flows));
    applyOps(bridge, planDelta(handout.delta).ops);
    expect(bridge).toEqual(texts(oracle.flows));
  });
});

describe('ViewChangeTracker', () => {
  it('a port nobody on a chassis handles does not dirty that chassis', () => {
    const topology = topologyOf(world());
    const a = new ChassisDesired('A');
    a.next(topology, portsOfA);
    const marked: string[] = [];
    topology.listen(
      new ViewChangeTracker({
        port: (t, id) => {
          if (a.markPort(t, id)) marked.push(id);
        },
        switch: (t, id) => {
          if (a.markSwitch(t, id)) marked.push(id);
        },
        everything: () => {
          a.markAll();
          marked.push('*');
        },
      }),
    );
    // s4 has no port of A: A is not affected; s1 is.
    topology.apply(ev.port('q3', 's4', mac(0x53)));
    expect(marked).toEqual([]);
    topology.apply(ev.port('n3', 's1', mac(0x54)));
    expect(marked).toEqual(['n3']);
    expect(a.dirty).toBe(true);
  });

  it('keeps up with a topology built by the same events', () => {
    // The tracker reads the topology around each event; the topology folds exactly as before.
    const plain = topologyOf(world());
    const watched = new Topology(new PortLocalityFold());
    watched.listen(
      new ViewChangeTracker({
        port: () => undefined,
        switch: () => undefined,
        everything: () => undefined,
      }),
    );
    for (const event of world()) watched.apply(event);
    expect(flowsFor(chassisViewOf(watched, 'A', portsOfA)).flows.size).toBe(
      flowsFor(chassisViewOf(plain, 'A', portsOfA)).flows.size,
    );
  });
});
