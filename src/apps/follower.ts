/**
 * dnat and trunk share one shape: a *follower* port is local on its *leader* port's owner (the
 * requested chassis if it claims the leader, else the leader's earliest claim), follows that
 * owner when it moves, and is released when the relation ends.
 *  - dnat: the floating port of a FIP follows the associated fixed port;
 *  - trunk: a sub-port follows its parent trunk port.
 *
 * The follower has one claim, on the leader's owner, and not a copy of the leader's claims:
 * with copies its owner would be the earliest of them, and during a migration (the leader
 * claimed on the source and, as requested, the target) that is the source, while the leader's
 * owner — and OVN's binding of the sub-port — is the target. Reordering copied claims to fix
 * that would delete and re-create a claim on a chassis where nothing changed. With one claim
 * the follower moves exactly when the leader's owner does, and its remote views (toward the
 * owner) follow from the owner as any port's do.
 */

import { isLive, type Topology } from '../domain/topology.js';
import type { DomainEvent } from '../events/index.js';
import type { AppName, LocalityApp } from './app.js';
import { claimChanges } from './app.js';

interface Relation {
  readonly name: AppName;
  /** Event type prefix of the relation's model (`FloatingIp`, `ChildPortSegmentation`). */
  readonly model: string;
  /** Ports with this device owner belong to the app even outside a relation (then: released). */
  readonly deviceOwner: 'floatingip' | 'trunk_subport';
  /** The leader of a follower port, null when the relation has none (a disassociated FIP). */
  leaderOf(topology: Topology, followerId: string): string | null | undefined;
  /** Followers of a leader port. */
  followersOf(topology: Topology, leaderId: string): Iterable<string>;
  /** The follower a relation event is about (read from the topology, before or after). */
  followerOfRelation(topology: Topology, relationId: string): string | undefined;
}

function followerApp(relation: Relation): LocalityApp {
  return {
    name: relation.name,
    claims: true,
    *affected(topology, event: DomainEvent) {
      if (event.type.startsWith(relation.model)) {
        const follower = relation.followerOfRelation(topology, (event.data as { id: string }).id);
        if (follower) yield follower;
        return;
      }
      switch (event.type) {
        case 'LocalCreated':
        case 'LocalDeleted':
          yield* relation.followersOf(topology, event.data.portId);
          return;
        // A requested chassis moved changes the leader's owner without a claim changing.
        case 'LogicalPortUpdated':
        case 'LogicalPortDeleted':
          yield* relation.followersOf(topology, event.data.id);
          return;
        case 'LogicalPortCreated':
          yield event.data.id;
          return;
      }
    },
    reconcile(topology, portId, port) {
      if (!isLive(topology, port, portId)) return [];
      const leader = relation.leaderOf(topology, portId);
      const owned =
        leader !== undefined || topology.ports.get(portId)?.deviceOwner === relation.deviceOwner;
      if (!owned) return [];
      const leaderFacts = leader == null ? undefined : topology.portLocality(leader);
      const owner = leaderFacts && !leaderFacts.deleted ? leaderFacts.owner : null;
      return claimChanges(portId, owner === null ? [] : [owner], port.claims);
    },
  };
}

const first = <T>(values: Iterable<T>): T | undefined => {
  for (const value of values) return value;
  return undefined;
};

export const dnat = followerApp({
  name: 'dnat',
  model: 'FloatingIp',
  deviceOwner: 'floatingip',
  leaderOf(topology, floatingPortId) {
    const fipId = first(topology.fipsByFloatingPort.get(floatingPortId));
    return fipId === undefined ? undefined : (topology.fips.get(fipId)?.fixedPortId ?? null);
  },
  *followersOf(topology, fixedPortId) {
    for (const fipId of topology.fipsByFixedPort.get(fixedPortId)) {
      const fip = topology.fips.get(fipId);
      if (fip) yield fip.floatingPortId;
    }
  },
  followerOfRelation: (topology, fipId) => topology.fips.get(fipId)?.floatingPortId,
});

export const trunk = followerApp({
  name: 'trunk',
  model: 'ChildPortSegmentation',
  deviceOwner: 'trunk_subport',
  leaderOf(topology, childPortId) {
    const segmentationId = first(topology.segmentationsByChild.get(childPortId));
    return segmentationId === undefined
      ? undefined
      : (topology.segmentations.get(segmentationId)?.parentPortId ?? null);
  },
  *followersOf(topology, parentPortId) {
    for (const segmentationId of topology.segmentationsByParent.get(parentPortId)) {
      const segmentation = topology.segmentations.get(segmentationId);
      if (segmentation) yield segmentation.childPortId;
    }
  },
  followerOfRelation: (topology, segmentationId) =>
    topology.segmentations.get(segmentationId)?.childPortId,
});
