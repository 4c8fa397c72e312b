/**
 * A chassis' slice of the topology: exactly what its agent needs to compute its flows, and no
 * more — the selective topology. For chassis C:
 *  - the switches where C has a local port (its claims);
 *  - every live port on those switches, with its locality facts (claims, reasons, and C's own
 *    ack);
 *  - the chassis documents of C and of every chassis claiming one of those ports (the owners'
 *    tunnel endpoints and the facts reachability reads);
 *  - the trunk segmentations whose child is one of those ports;
 *  - C's own observed interfaces.
 * It grows with the ports on C's switches, not with the cloud.
 *
 * The slice is plain JSON (the per-chassis feed sends it as keyed entries), and
 * `topologyOfSlice` folds it back into a Topology for which the chassis' flow computation
 * answers what it answers on the whole topology (test/domain/slice.test.ts checks this
 * against random topologies).
 */

import type { Ack } from '../../machines/lport.rules.js';
import type {
  Chassis,
  ChildPortSegmentation,
  DomainEvent,
  LogicalPort,
  LogicalSwitch,
  OvsPort,
} from '../events/index.js';
import type { LocalityFold } from './locality.js';
import { isLive, Topology } from './topology.js';

/** A live port of the slice: its document and its locality facts. */
export interface SlicePort {
  readonly port: LogicalPort;
  /** Active local claims, earliest first (the owner rule reads the order). */
  readonly claims: readonly string[];
  /**
   * This chassis' own ack, if it holds one: what its agent compares its applied flows with.
   * Other chassis' acks change nothing in its flows, so they stay out of its slice (else every
   * ack on a switch would be a diff to every agent there).
   */
  readonly acks: readonly Ack[];
  readonly reasons: readonly string[];
}

/** One keyed entry of a slice: how the feed sends it and the agent keeps it. */
export type SliceEntry =
  | { readonly kind: 'chassis'; readonly value: Chassis }
  | { readonly kind: 'switch'; readonly value: LogicalSwitch }
  | { readonly kind: 'port'; readonly value: SlicePort }
  | { readonly kind: 'segmentation'; readonly value: ChildPortSegmentation }
  | { readonly kind: 'interface'; readonly value: OvsPort };

export type SliceKind = SliceEntry['kind'];

/** The entries of chassis `chassisId`'s slice, by key (`<kind>/<id>`), in a stable order. */
export type Slice = ReadonlyMap<string, SliceEntry>;

export const sliceKey = (entry: SliceEntry): string => {
  switch (entry.kind) {
    case 'port':
      return `port/${entry.value.port.id}`;
    case 'interface':
      return `interface/${entry.value.name}`;
    default:
      return `${entry.kind}/${entry.value.id}`;
  }
};

const plainChassis = (c: Chassis): Chassis => ({
  id: c.id,
  tunnelIp: c.tunnelIp,
  tunnelTypes: [...c.tunnelTypes],
  bridgeMappings: { ...c.bridgeMappings },
});

const plainSwitch = (s: LogicalSwitch): LogicalSwitch => ({
  id: s.id,
  networkType: s.networkType,
  ...(s.segmentationId === undefined ? {} : { segmentationId: s.segmentationId }),
  ...(s.physicalNetwork === undefined ? {} : { physicalNetwork: s.physicalNetwork }),
});

const plainPort = (p: LogicalPort): LogicalPort => ({
  id: p.id,
  switchId: p.switchId,
  macs: [...p.macs],
  ips: [...p.ips],
  deviceOwner: p.deviceOwner,
  requestedChassis: p.requestedChassis,
});

const plainSegmentation = (s: ChildPortSegmentation): ChildPortSegmentation => ({
  id: s.id,
  parentPortId: s.parentPortId,
  childPortId: s.childPortId,
  segmentationType: s.segmentationType,
  segmentationId: s.segmentationId,
});

const plainInterface = (o: OvsPort): OvsPort => ({
  chassis: o.chassis,
  name: o.name,
  ofport: o.ofport,
  ifaceId: o.ifaceId,
  type: o.type,
});

const ownAcks = (acks: readonly Ack[], chassisId: string): Ack[] => {
  const own: Ack[] = [];
  for (const ack of acks)
    if (ack.chassis === chassisId) own.push({ chassis: ack.chassis, owner: ack.owner });
  return own;
};

/**
 * The entry of port `portId` in chassis `chassisId`'s slice when the port is live (the slice
 * holds it when it is on one of the chassis' switches); undefined when it is not.
 */
export function slicePortOf(
  topology: Topology,
  chassisId: string,
  portId: string,
): Extract<SliceEntry, { kind: 'port' }> | undefined {
  const facts = topology.portLocality(portId);
  const port = topology.ports.get(portId);
  if (port === undefined || !isLive(topology, facts, portId)) return undefined;
  return {
    kind: 'port',
    value: {
      port: plainPort(port),
      claims: [...facts.claims],
      acks: ownAcks(facts.acks, chassisId),
      reasons: [...facts.reasons],
    },
  };
}

/** A chassis document's entry in a slice (a claimant of one of its ports, or its own). */
export const sliceChassisOf = (chassis: Chassis): Extract<SliceEntry, { kind: 'chassis' }> => ({
  kind: 'chassis',
  value: plainChassis(chassis),
});

/** An observed interface's entry in its chassis' slice. */
export const sliceInterfaceOf = (ovsPort: OvsPort): Extract<SliceEntry, { kind: 'interface' }> => ({
  kind: 'interface',
  value: plainInterface(ovsPort),
});

/** Chassis `chassisId`'s slice of `topology`. */
export function sliceOf(topology: Topology, chassisId: string): Slice {
  const entries = new Map<string, SliceEntry>();
  const add = (entry: SliceEntry) => entries.set(sliceKey(entry), entry);
  const me = topology.chassis.get(chassisId);
  if (me === undefined) return entries;

  const switchIds = new Set<string>();
  for (const portId of topology.claimedPortsByChassis.get(chassisId)) {
    const switchId = topology.ports.get(portId)?.switchId;
    if (switchId !== undefined && topology.switches.has(switchId)) switchIds.add(switchId);
  }
  const chassisIds = new Set<string>([chassisId]);
  const portIds: string[] = [];
  for (const switchId of [...switchIds].sort()) {
    add({ kind: 'switch', value: plainSwitch(topology.switches.get(switchId) as LogicalSwitch) });
    for (const portId of [...topology.portsBySwitch.get(switchId)].sort()) {
      const entry = slicePortOf(topology, chassisId, portId);
      if (entry === undefined) continue;
      portIds.push(portId);
      for (const claimant of entry.value.claims) chassisIds.add(claimant);
      add(entry);
    }
  }
  for (const id of [...chassisIds].sort()) {
    const doc = topology.chassis.get(id);
    if (doc !== undefined) add(sliceChassisOf(doc));
  }
  for (const portId of portIds) {
    for (const segmentationId of topology.segmentationsByChild.get(portId)) {
      const segmentation = topology.segmentations.get(segmentationId);
      if (segmentation !== undefined)
        add({ kind: 'segmentation', value: plainSegmentation(segmentation) });
    }
  }
  for (const ovsPort of topology.ovsPorts.ofChassis(chassisId)) add(sliceInterfaceOf(ovsPort));
  return entries;
}

/**
 * The events that rebuild a slice in an empty topology: documents first, then each port's
 * claims in order (so the owner rule picks the same owner), its distributed reasons, then its
 * acks (each for the owner the claims imply).
 */
export function* sliceEvents(slice: Iterable<SliceEntry>): Iterable<DomainEvent> {
  const byKind = (kind: SliceKind) => [...slice].filter((entry) => entry.kind === kind);
  for (const entry of byKind('chassis'))
    yield { type: 'ChassisCreated', data: entry.value as Chassis };
  for (const entry of byKind('switch'))
    yield { type: 'LogicalSwitchCreated', data: entry.value as LogicalSwitch };
  const ports = byKind('port').map((entry) => entry.value as SlicePort);
  for (const { port } of ports) yield { type: 'LogicalPortCreated', data: port };
  for (const { port, claims, reasons, acks } of ports) {
    for (const chassis of claims)
      yield { type: 'LocalCreated', data: { portId: port.id, chassis } };
    for (const reason of reasons)
      yield { type: 'DistributedCreated', data: { portId: port.id, reason } };
    for (const ack of acks)
      yield {
        type: 'RemoteCreated',
        data: { portId: port.id, chassis: ack.chassis, owner: ack.owner },
      };
  }
  for (const entry of byKind('segmentation'))
    yield { type: 'ChildPortSegmentationCreated', data: entry.value as ChildPortSegmentation };
  for (const entry of byKind('interface'))
    yield { type: 'OvsPortCreated', data: entry.value as OvsPort };
}

/** A topology holding exactly the slice, its ports' facts folded by `fold`. */
export function topologyOfSlice(slice: Iterable<SliceEntry>, fold: LocalityFold): Topology {
  const topology = new Topology(fold);
  for (const event of sliceEvents(slice)) topology.apply(event);
  return topology;
}

/** What changed between two slices: entries to upsert (new or different) and keys to drop. */
export interface SliceDiff {
  readonly upserts: readonly SliceEntry[];
  readonly removes: readonly string[];
}

/**
 * The diff from `before` to `after`. Entries are compared by their JSON (plain documents in a
 * stable field order), so an entry whose content did not change is not sent again.
 */
export function diffSlices(
  before: ReadonlyMap<string, string>,
  after: Slice,
): { readonly diff: SliceDiff; readonly encoded: Map<string, string> } {
  const encoded = new Map<string, string>();
  const upserts: SliceEntry[] = [];
  for (const [key, entry] of after) {
    const json = JSON.stringify(entry);
    encoded.set(key, json);
    if (before.get(key) !== json) upserts.push(entry);
  }
  const removes: string[] = [];
  for (const key of before.keys()) if (!after.has(key)) removes.push(key);
  return { diff: { upserts, removes }, encoded };
}
