/**
 * The explain core, pure: a log written by hand (as the apps and agents would have written it)
 * and the chain of rules it yields, each link citing the events that made it.
 */
import { describe, expect, it } from 'vitest';
import type { ExplainLink, PortExplanation, ViewExplanation } from '../../src/api/responses.js';
import { type DomainEvent, streamOf } from '../../src/events/index.js';
import { explain, foldForExplain } from '../../src/explain/explain.js';
import type { RecordedEvent } from '../../src/store/event-store.js';
import { chassis, lswitch, ovsPort, port } from '../apps/harness.js';

/** Records events in order, as a store would (ids are UUIDs derived from the position). */
function log(...entries: (DomainEvent | [DomainEvent, string])[]): RecordedEvent[] {
  const revisions = new Map<string, bigint>();
  return entries.map((entry, index) => {
    const [event, app] = Array.isArray(entry) ? entry : [entry, 'api'];
    const streamName = streamOf(event);
    const revision = (revisions.get(streamName) ?? -1n) + 1n;
    revisions.set(streamName, revision);
    const id = `00000000-0000-4000-8000-${String(index + 1).padStart(12, '0')}`;
    return {
      id,
      type: event.type,
      data: event.data,
      metadata: {
        correlationId: id,
        causationId: id,
        app,
        schemaVersion: 1,
        time: '2026-01-01T00:00:00.000Z',
      },
      streamName,
      revision,
      position: BigInt(index + 1),
      recordedAt: '2026-01-01T00:00:00.000Z',
    };
  });
}

const local = (portId: string, on: string): [DomainEvent, string] => [
  { type: 'LocalCreated', data: { portId, chassis: on } },
  'classification',
];
const ack = (portId: string, on: string, owner: string): [DomainEvent, string] => [
  { type: 'RemoteCreated', data: { portId, chassis: on, owner } },
  `agent:${on}`,
];

function explained(events: RecordedEvent[], portId: string, of?: string): PortExplanation {
  const result = explain(foldForExplain(events), portId, of);
  if (!result.ok) throw new Error(`unknown ${result.unknown}`);
  return result.explanation;
}

const viewOf = (explanation: PortExplanation, of: string): ViewExplanation => {
  const view = explanation.views.find((v) => v.chassis === of);
  if (view === undefined) throw new Error(`no view of ${of}`);
  return view;
};
const rule = (chain: readonly ExplainLink[], name: string) => chain.filter((l) => l.rule === name);
const positions = (l: ExplainLink | undefined) => l?.events.map((e) => Number(e.position));

/**
 * vm1 on c1 (interface tap1), vm2 on c2 beside it (interest in s1), c3 without geneve, c4 with
 * geneve but no ack: remote on c2, unreachable from c3, pending on c4.
 */
const world = log(
  chassis('c1', 1), // 1
  chassis('c2', 2), // 2
  chassis('c3', 3, { tunnelTypes: ['vxlan'] }), // 3
  chassis('c4', 4), // 4
  lswitch('s1'), // 5
  port('vm1', 's1'), // 6
  port('vm2', 's1'), // 7
  port('vm3', 's1'), // 8
  port('vm4', 's1'), // 9
  ovsPort('c1', 'tap1', 'vm1'), // 10
  local('vm1', 'c1'), // 11
  ovsPort('c2', 'tap2', 'vm2'), // 12
  local('vm2', 'c2'), // 13
  ovsPort('c3', 'tap3', 'vm3'), // 14
  local('vm3', 'c3'), // 15
  ovsPort('c4', 'tap4', 'vm4'), // 16
  local('vm4', 'c4'), // 17
  ack('vm1', 'c2', 'c1'), // 18
);

describe('explain', () => {
  it('a classified port: the claim by its interface, the owner rule', () => {
    const e = explained(world, 'vm1');
    expect(e).toMatchObject({ portId: 'vm1', switchId: 's1', owner: 'c1', position: '18' });
    const [claim] = rule(e.chain, 'claim');
    expect(claim?.says).toContain('c1 claims the port: its interface tap1 (ofport 1)');
    expect(positions(claim)).toEqual([10, 11]);
    expect(claim?.events[1]).toMatchObject({
      type: 'LocalCreated',
      stream: 'lport-vm1',
      revision: '1',
      app: 'classification',
      href: '/v1/events/00000000-0000-4000-8000-000000000011',
    });
    const [owner] = rule(e.chain, 'owner');
    expect(owner?.holds).toBe(true);
    expect(owner?.says).toContain('c1 is the owner: the earliest active claim');
  });

  it('every chassis with a view: local, remote (acked), unreachable, pending', () => {
    const e = explained(world, 'vm1');
    expect(e.views.map((v) => [v.chassis, v.locality, v.remote])).toEqual([
      ['c1', 'local', null],
      ['c2', 'remote', 'acked'],
      ['c3', 'unbound', 'unreachable'],
      ['c4', 'unbound', 'pending'],
    ]);
    const c2 = viewOf(e, 'c2');
    expect(positions(rule(c2.chain, 'interest')[0])).toEqual([13]);
    expect(rule(c2.chain, 'reachability')[0]?.says).toContain('c2 and c1 both have geneve tunnels');
    expect(rule(c2.chain, 'ack')[0]).toMatchObject({ holds: true });
    expect(positions(rule(c2.chain, 'ack')[0])).toEqual([18]);
    expect(rule(c2.chain, 'ack')[0]?.events[0]?.app).toBe('agent:c2');
    const c3 = viewOf(e, 'c3');
    expect(rule(c3.chain, 'reachability')[0]).toMatchObject({
      holds: false,
      says: 'chassis c3 has no geneve tunnel (switch s1 is geneve)',
    });
    const c4 = viewOf(e, 'c4');
    expect(rule(c4.chain, 'ack')[0]?.holds).toBe(false);
    expect(c4.conclusion).toContain('unbound until c4 acks');
  });

  it('a chassis with no local port on the switch does not want the port', () => {
    const events = log(...world.map(unrecord), chassis('c5', 5));
    const c5 = viewOf(explained(events, 'vm1', 'c5'), 'c5');
    expect(c5.locality).toBe('unbound');
    expect(rule(c5.chain, 'interest')[0]).toMatchObject({
      holds: false,
      says: 'c5 has no local port on switch s1: c5 does not want the port remotely (selective topology)',
    });
  });

  it('the requested chassis is the owner when it claims the port (a live migration)', () => {
    const events = log(
      ...world.map(unrecord),
      port('vm1', 's1', { requestedChassis: 'c2' }, 'LogicalPortUpdated'), // 19
      ovsPort('c2', 'tap1', 'vm1'), // 20
      local('vm1', 'c2'), // 21
    );
    const e = explained(events, 'vm1');
    expect(e.owner).toBe('c2');
    const [owner] = rule(e.chain, 'owner');
    expect(owner?.says).toContain('c2 is the owner: the requested chassis claims the port');
    expect(owner?.says).toContain('c1 claims it too');
    expect(positions(owner)).toEqual([19, 21]);
    expect(viewOf(e, 'c1').conclusion).toContain('the owner is c2');
  });

  it('a requested chassis that does not claim the port (nor exists) is not the owner', () => {
    const events = log(
      ...world.map(unrecord),
      port('vm1', 's1', { requestedChassis: 'c9' }, 'LogicalPortUpdated'), // 19
    );
    const [owner] = rule(explained(events, 'vm1').chain, 'owner');
    expect(owner?.says).toBe(
      'c1 is the owner: the earliest active claim (claims in order: c1; requested chassis c9 does not claim it, and is not a registered chassis)',
    );
    expect(positions(owner)).toEqual([11, 19]);
  });

  it('an unbound port: no interface anywhere, no owner', () => {
    const e = explained(log(chassis('c1', 1), lswitch('s1'), port('vm9', 's1')), 'vm9');
    expect(e.owner).toBeNull();
    expect(rule(e.chain, 'interface')[0]).toMatchObject({ holds: false });
    expect(rule(e.chain, 'interface')[0]?.says).toContain('no interface on any chassis');
    expect(rule(e.chain, 'owner')[0]?.holds).toBe(false);
    expect(e.views).toEqual([]);
  });

  it('a floating port follows its fixed port (dnat)', () => {
    const events = log(
      ...world.map(unrecord),
      port('fp', 's1', { deviceOwner: 'floatingip' }), // 19
      { type: 'FloatingIpCreated', data: { id: 'fip1', floatingPortId: 'fp', fixedPortId: 'vm1' } }, // 20
      [{ type: 'LocalCreated', data: { portId: 'fp', chassis: 'c1' } }, 'dnat'], // 21
    );
    const e = explained(events, 'fp');
    expect(rule(e.chain, 'leader')[0]).toMatchObject({ holds: true });
    expect(positions(rule(e.chain, 'leader')[0])).toEqual([20]);
    const [claim] = rule(e.chain, 'claim');
    expect(claim?.says).toContain('c1 claims the port because it owns its leader vm1 (dnat)');
    expect(positions(claim)).toEqual([11, 21]);
  });

  it("a sub-port during its parent's migration: on the parent's owner (the requested chassis), not its earliest claim (trunk)", () => {
    const trunkPort = (id: string, on: string, app = 'trunk'): [DomainEvent, string] => [
      { type: 'LocalCreated', data: { portId: id, chassis: on } },
      app,
    ];
    const migrating = [
      chassis('c1', 1), // 1
      chassis('c2', 2), // 2
      lswitch('s1'), // 3
      lswitch('s2', { segmentationId: 200 }), // 4
      port('tp', 's1', { requestedChassis: 'c2' }), // 5
      port('sp', 's2', { deviceOwner: 'trunk_subport' }), // 6
      ovsPort('c1', 'tap-tp', 'tp'), // 7
      trunkPort('tp', 'c1', 'classification'), // 8
      {
        type: 'ChildPortSegmentationCreated',
        data: {
          id: 'seg1',
          parentPortId: 'tp',
          childPortId: 'sp',
          segmentationType: 'vlan',
          segmentationId: 101,
        },
      }, // 9
      trunkPort('sp', 'c1'), // 10
      ovsPort('c2', 'tap-tp', 'tp'), // 11
      trunkPort('tp', 'c2', 'classification'), // 12
    ] as const;

    // The log as the trunk app left it: the sub-port moved to c2, the parent's owner.
    const decided = explained(
      log(
        ...migrating,
        [{ type: 'LocalDeleted', data: { portId: 'sp', chassis: 'c1' } }, 'trunk'], // 13
        trunkPort('sp', 'c2'), // 14
      ),
      'sp',
    );
    expect(decided.owner).toBe('c2');
    expect(rule(decided.chain, 'leader')[0]?.says).toContain("local on its parent's owner");
    const [claim, ...more] = rule(decided.chain, 'claim');
    expect(more).toEqual([]);
    expect(claim?.says).toBe(
      'c2 claims the port because it owns its leader tp (trunk); c1 claims the leader too, and the port is not local there',
    );
    expect(positions(claim)).toEqual([5, 12, 14]);
    expect(rule(decided.chain, 'owner')[0]?.says).toContain('c2 is the owner');
    expect(rule(decided.chain, 'pending-decision')).toEqual([]);
    expect(decided.views.map((v) => [v.chassis, v.locality])).toEqual([['c2', 'local']]);

    // Before the app decided: the sub-port's claim on c1 is still to move, and the decision
    // named is the app's own.
    const ahead = explained(log(...migrating), 'sp');
    expect(ahead.owner).toBe('c1');
    expect(rule(ahead.chain, 'claim')[0]?.says).toContain(
      'c1 claims the port, but its leader tp is owned by c2: the claim is still to move (trunk)',
    );
    expect(rule(ahead.chain, 'pending-decision')[0]?.says).toBe(
      'the apps have yet to decide on the latest events: trunk: LocalDeleted c1; trunk: LocalCreated c2',
    );
  });

  it('a router interface is distributed (l3), on every live chassis', () => {
    const events = log(
      ...world.map(unrecord),
      port('ri', 's1', { deviceOwner: 'router_interface' }), // 19
      {
        type: 'LogicalRouterCreated',
        data: { id: 'r1', interfacePortIds: ['ri'], gatewayPortId: null },
      }, // 20
      [{ type: 'DistributedCreated', data: { portId: 'ri', reason: 'router-interface:r1' } }, 'l3'], // 21
    );
    const e = explained(events, 'ri');
    expect(e.reasons).toEqual(['router-interface:r1']);
    expect(positions(rule(e.chain, 'distributed')[0])).toEqual([20, 21]);
    expect(e.views.map((v) => v.locality)).toEqual(Array(4).fill('distributed'));
  });

  it('names what an app has yet to decide when the log is ahead of it', () => {
    const events = log(
      chassis('c1', 1),
      lswitch('s1'),
      port('vm1', 's1'),
      ovsPort('c1', 't', 'vm1'),
    );
    const pending = rule(explained(events, 'vm1').chain, 'pending-decision')[0];
    expect(pending?.says).toContain('classification: LocalCreated c1');
  });

  it('a deleted port: every view is deleted', () => {
    const events = log(...world.map(unrecord), { type: 'LogicalPortDeleted', data: { id: 'vm1' } });
    const e = explained(events, 'vm1', 'c1');
    expect(e.deleted).toBe(true);
    expect(rule(e.chain, 'deleted')[0]?.events[0]?.type).toBe('LogicalPortDeleted');
    expect(e.views[0]?.locality).toBe('deleted');
  });

  it('unknown port, unknown chassis', () => {
    const state = foldForExplain(world);
    expect(explain(state, 'nope')).toEqual({ ok: false, unknown: 'port' });
    expect(explain(state, 'vm1', 'c9')).toEqual({ ok: false, unknown: 'chassis' });
  });
});

/** A recorded event back to what it records, with its app (to build a longer log). */
function unrecord(recorded: RecordedEvent): [DomainEvent, string] {
  return [{ type: recorded.type, data: recorded.data } as DomainEvent, recorded.metadata.app];
}
