/**
 * A follower port (a trunk's sub-port, a floating IP's floating port) during its leader's live
 * migration: the leader is claimed on the source and the target, and its owner is the
 * requested chassis (else the earliest claim). The follower's owner is the leader's owner at
 * every step, whichever chassis claimed first, and it moves only when that owner moves.
 */
import { expect, it } from 'vitest';
import type { DomainEvent } from '../../src/events/index.js';
import {
  chassis,
  local,
  localGone,
  lswitch,
  ovsPort,
  ovsPortGone,
  port,
  remote,
  type Scenario,
  shape,
} from './harness.js';
import { describeOnStores } from './stores.js';

interface Follower {
  readonly name: 'trunk' | 'dnat';
  /** The follower port and the relation that makes `leader` its leader. */
  readonly relation: (leader: string, follower: string) => DomainEvent[];
}

const followers: readonly Follower[] = [
  {
    name: 'trunk',
    relation: (leader, follower) => [
      port(follower, 's2', { deviceOwner: 'trunk_subport' }),
      {
        type: 'ChildPortSegmentationCreated',
        data: {
          id: 'seg1',
          parentPortId: leader,
          childPortId: follower,
          segmentationType: 'vlan',
          segmentationId: 101,
        },
      },
    ],
  },
  {
    name: 'dnat',
    relation: (leader, follower) => [
      port(follower, 's2', { deviceOwner: 'floatingip' }),
      {
        type: 'FloatingIpCreated',
        data: { id: 'fip1', floatingPortId: follower, fixedPortId: leader },
      },
    ],
  },
];

/** The leader `vm` on s1 (requested on A) plugged on A; the follower `f` on s2; C has a port on s2. */
async function world(s: Scenario, follower: Follower): Promise<void> {
  await s.given(
    chassis('A', 1),
    chassis('B', 2),
    chassis('C', 3),
    lswitch('s1'),
    lswitch('s2', { segmentationId: 200 }),
    port('vm', 's1', { requestedChassis: 'A' }),
    port('peer', 's2'),
    ovsPort('A', 'tap-vm', 'vm'),
    ovsPort('C', 'tap-peer', 'peer'),
    ...follower.relation('vm', 'f'),
  );
  expect(s.runner.topology.portLocality('f')).toMatchObject({ owner: 'A', claims: ['A'] });
}

const requested = (chassisId: string | null) =>
  port('vm', 's1', { requestedChassis: chassisId }, 'LogicalPortUpdated');
const ofFollower = (outcomes: Awaited<ReturnType<Scenario['given']>>) =>
  shape(outcomes.filter((o) => o.data.portId === 'f'));

describeOnStores('followers during a migration', (open) => {
  for (const follower of followers) {
    it(`${follower.name}: the follower's owner is its leader's owner (the requested chassis), and it moves once`, async () => {
      const s = await open();
      await world(s, follower);
      const owners = () => {
        const topology = s.runner.topology;
        return [topology.portLocality('vm').owner, topology.portLocality('f').owner];
      };

      // The cloud moves the requested chassis to B: B does not claim the leader yet.
      expect(ofFollower(await s.given(requested('B')))).toEqual([]);
      expect(owners()).toEqual(['A', 'A']);

      // B plugs the leader: claimed on A (earliest) and B (requested), so B owns it; the
      // follower moves to B at once (C, with a port on s2, re-acks toward B).
      const plugged = await s.given(ovsPort('B', 'tap-vm', 'vm'));
      expect(s.runner.topology.portLocality('vm').claims).toEqual(['A', 'B']);
      expect(owners()).toEqual(['B', 'B']);
      expect(ofFollower(plugged)).toEqual([
        localGone('f', 'A'),
        local('f', 'B'),
        remote('f', 'C', 'B'),
      ]);
      expect(plugged.filter((o) => o.data.portId === 'f').map((o) => o.app)).toEqual([
        follower.name,
        follower.name,
        'tunnel',
      ]);
      expect(s.runner.topology.portLocality('f')).toMatchObject({ claims: ['B'] });

      // The requested chassis moves back to A (an aborted migration): both still claim the
      // leader, its owner is A again, and the follower follows.
      const aborted = await s.given(requested('A'));
      expect(owners()).toEqual(['A', 'A']);
      expect(ofFollower(aborted)).toEqual([
        localGone('f', 'B'),
        local('f', 'A'),
        remote('f', 'C', 'A'),
      ]);

      // Forward again, then the source unplugs: the owner stays B, the follower does not flap.
      await s.given(requested('B'));
      expect(owners()).toEqual(['B', 'B']);
      const finished = await s.given(ovsPortGone('A', 'tap-vm'));
      expect(s.runner.topology.portLocality('vm').claims).toEqual(['B']);
      expect(owners()).toEqual(['B', 'B']);
      expect(ofFollower(finished)).toEqual([]);
      expect(s.runner.topology.portLocality('f')).toMatchObject({
        claims: ['B'],
        acks: [{ chassis: 'C', owner: 'B' }],
      });
    });

    it(`${follower.name}: without a requested chassis the earliest claim owns both, until it is released`, async () => {
      const s = await open();
      await world(s, follower);
      await s.given(requested(null));

      // Plugged on B too: A (the earliest claim) still owns the leader; nothing moves.
      expect(ofFollower(await s.given(ovsPort('B', 'tap-vm', 'vm')))).toEqual([]);
      expect(s.runner.topology.portLocality('f')).toMatchObject({ owner: 'A', claims: ['A'] });

      // A unplugs: B owns the leader, and the follower moves to it.
      const moved = await s.given(ovsPortGone('A', 'tap-vm'));
      expect(ofFollower(moved)).toEqual([
        localGone('f', 'A'),
        local('f', 'B'),
        remote('f', 'C', 'B'),
      ]);
      expect(s.runner.topology.portLocality('f')).toMatchObject({ owner: 'B', claims: ['B'] });
    });
  }
});
