/**
 * The topology and the port locality fold as they were before they were made compact (commit
 * 1753fe7), kept verbatim as the oracle the compact ones must answer exactly like
 * (test/domain/topology-oracle.test.ts): plain Maps, a Set per index key, each port's facts as
 * mutable arrays and a bigint revision.
 */

import {
  applyFactsInPlace,
  cloneFacts,
  initialFacts,
  type MutablePortFacts,
  ownerOf,
  type PortFacts,
  refusalCodeOf,
  toLportEvents,
} from '../../machines/lport.rules.js';
import type {
  Chassis,
  ChildPortSegmentation,
  DomainEvent,
  FloatingIp,
  LogicalPort,
  LogicalRouter,
  LogicalSwitch,
  OvsPort,
  Subnet,
} from '../../src/events/index.js';

interface PortLocality extends PortFacts {
  readonly owner: string | null;
  /** Revision of the last event folded from the port's stream; -1n when it has none. */
  readonly revision: bigint;
}

const unknownPort: PortLocality = { ...initialFacts(), owner: null, revision: -1n };

const withOwner = (facts: PortFacts, revision: bigint): PortLocality => ({
  ...facts,
  owner: ownerOf(facts),
  revision,
});

/** Folds the lport streams' events into per-port facts, in place. */
export class ReferencePortLocalityFold {
  private readonly ports = new Map<string, { facts: MutablePortFacts; revision: bigint }>();

  get size(): number {
    return this.ports.size;
  }

  get(portId: string): PortLocality {
    const entry = this.ports.get(portId);
    return entry ? withOwner(entry.facts, entry.revision) : unknownPort;
  }

  /** Folds one event of `lport-<portId>` recorded at `revision`. Events the log holds were
   *  accepted at append time; one the rules refuse (a foreign writer) is not folded. */
  apply(event: DomainEvent, revision: bigint): void {
    const lportEvents = toLportEvents(event);
    if (!lportEvents) return;
    const portId = event.type.startsWith('LogicalPort')
      ? (event.data as { id: string }).id
      : (event.data as { portId: string }).portId;
    let entry = this.ports.get(portId);
    if (!entry) {
      entry = { facts: initialFacts(), revision: -1n };
      this.ports.set(portId, entry);
    }
    entry.revision = revision;
    // A group (RemotesCreated) is all or none: checked on a copy, then folded.
    const copy = cloneFacts(entry.facts);
    for (const lportEvent of lportEvents) {
      if (refusalCodeOf(copy, lportEvent) !== null) return;
      applyFactsInPlace(copy, lportEvent);
    }
    for (const lportEvent of lportEvents) applyFactsInPlace(entry.facts, lportEvent);
  }

  /**
   * An event of `lport-<portId>` this version cannot read (unknown type, newer schema): its
   * content is not folded, but it holds a revision of the stream, which the next append must
   * expect — else every append to the port would conflict forever.
   */
  skip(portId: string, revision: bigint): void {
    const entry = this.ports.get(portId);
    if (entry) entry.revision = revision;
    else this.ports.set(portId, { facts: initialFacts(), revision });
  }
}

/** A multimap whose value sets keep insertion order. */
class Index<K, V> {
  private readonly map = new Map<K, Set<V>>();
  add(key: K, value: V): void {
    let set = this.map.get(key);
    if (!set) {
      set = new Set();
      this.map.set(key, set);
    }
    set.add(value);
  }
  delete(key: K, value: V): void {
    const set = this.map.get(key);
    if (!set) return;
    set.delete(value);
    if (set.size === 0) this.map.delete(key);
  }
  get(key: K): ReadonlySet<V> {
    return this.map.get(key) ?? empty;
  }
}
const empty: ReadonlySet<never> = new Set();

const ovsKey = (chassis: string, name: string) => `${chassis}\u0000${name}`;

export class ReferenceTopology {
  readonly chassis = new Map<string, Chassis>();
  readonly switches = new Map<string, LogicalSwitch>();
  readonly subnets = new Map<string, Subnet>();
  readonly ports = new Map<string, LogicalPort>();
  readonly routers = new Map<string, LogicalRouter>();
  readonly fips = new Map<string, FloatingIp>();
  readonly segmentations = new Map<string, ChildPortSegmentation>();
  /** Observed interfaces, keyed by chassis and name, in observation order. */
  readonly ovsPorts = new Map<string, OvsPort>();
  /** Locality facts of every port whose stream has events. */
  readonly locality = new ReferencePortLocalityFold();

  readonly portsBySwitch = new Index<string, string>();
  readonly subnetsBySwitch = new Index<string, string>();
  readonly ovsPortsByIface = new Index<string, string>();
  readonly routersByPort = new Index<string, string>();
  readonly fipsByFixedPort = new Index<string, string>();
  readonly fipsByFloatingPort = new Index<string, string>();
  readonly segmentationsByParent = new Index<string, string>();
  readonly segmentationsByChild = new Index<string, string>();
  /** `chassis\0switch` → ports claimed local on that chassis (selective topology). */
  private readonly localPortsByChassisSwitch = new Index<string, string>();
  readonly claimedPortsByChassis = new Index<string, string>();

  portLocality(portId: string): PortLocality {
    return this.locality.get(portId);
  }

  /** An event of the port's stream this version cannot read: skipped, its revision kept. */
  skipUnreadable(portId: string, revision: bigint): void {
    this.locality.skip(portId, revision);
  }

  /** Ports claimed local by `chassis` on `switchId`. */
  localPortsOn(chassis: string, switchId: string): ReadonlySet<string> {
    return this.localPortsByChassisSwitch.get(`${chassis}\u0000${switchId}`);
  }

  /** Interfaces observed (on chassis that still exist) carrying `portId`, in observation order. */
  interfacesOf(portId: string): OvsPort[] {
    const result: OvsPort[] = [];
    for (const key of this.ovsPortsByIface.get(portId)) {
      const ovsPort = this.ovsPorts.get(key);
      if (ovsPort && this.chassis.has(ovsPort.chassis)) result.push(ovsPort);
    }
    return result;
  }

  apply(event: DomainEvent, revision = -1n): void {
    switch (event.type) {
      case 'ChassisCreated':
      case 'ChassisUpdated':
        this.chassis.set(event.data.id, event.data);
        return;
      case 'ChassisDeleted':
        this.chassis.delete(event.data.id);
        return;
      case 'LogicalSwitchCreated':
      case 'LogicalSwitchUpdated':
        this.switches.set(event.data.id, event.data);
        return;
      case 'LogicalSwitchDeleted':
        this.switches.delete(event.data.id);
        return;
      case 'SubnetCreated':
      case 'SubnetUpdated':
        this.removeSubnet(event.data.id);
        this.subnets.set(event.data.id, event.data);
        this.subnetsBySwitch.add(event.data.switchId, event.data.id);
        return;
      case 'SubnetDeleted':
        this.removeSubnet(event.data.id);
        return;
      case 'LogicalPortCreated':
      case 'LogicalPortUpdated': {
        const previous = this.ports.get(event.data.id);
        if (previous) this.portsBySwitch.delete(previous.switchId, previous.id);
        this.ports.set(event.data.id, event.data);
        this.portsBySwitch.add(event.data.switchId, event.data.id);
        this.locality.apply(event, revision);
        return;
      }
      case 'LogicalPortDeleted': {
        const previous = this.ports.get(event.data.id);
        if (previous) this.portsBySwitch.delete(previous.switchId, previous.id);
        this.releaseClaims(event.data.id);
        this.ports.delete(event.data.id);
        this.locality.apply(event, revision);
        return;
      }
      case 'LogicalRouterCreated':
      case 'LogicalRouterUpdated':
        this.removeRouter(event.data.id);
        this.routers.set(event.data.id, event.data);
        for (const portId of routerPorts(event.data)) this.routersByPort.add(portId, event.data.id);
        return;
      case 'LogicalRouterDeleted':
        this.removeRouter(event.data.id);
        return;
      case 'FloatingIpCreated':
      case 'FloatingIpUpdated':
        this.removeFip(event.data.id);
        this.fips.set(event.data.id, event.data);
        this.fipsByFloatingPort.add(event.data.floatingPortId, event.data.id);
        if (event.data.fixedPortId) this.fipsByFixedPort.add(event.data.fixedPortId, event.data.id);
        return;
      case 'FloatingIpDeleted':
        this.removeFip(event.data.id);
        return;
      case 'ChildPortSegmentationCreated':
      case 'ChildPortSegmentationUpdated':
        this.removeSegmentation(event.data.id);
        this.segmentations.set(event.data.id, event.data);
        this.segmentationsByParent.add(event.data.parentPortId, event.data.id);
        this.segmentationsByChild.add(event.data.childPortId, event.data.id);
        return;
      case 'ChildPortSegmentationDeleted':
        this.removeSegmentation(event.data.id);
        return;
      case 'OvsPortCreated':
      case 'OvsPortUpdated': {
        const key = ovsKey(event.data.chassis, event.data.name);
        const previous = this.ovsPorts.get(key);
        if (previous?.ifaceId) this.ovsPortsByIface.delete(previous.ifaceId, key);
        this.ovsPorts.set(key, event.data);
        if (event.data.ifaceId) this.ovsPortsByIface.add(event.data.ifaceId, key);
        return;
      }
      case 'OvsPortDeleted': {
        const key = ovsKey(event.data.chassis, event.data.name);
        const previous = this.ovsPorts.get(key);
        if (previous?.ifaceId) this.ovsPortsByIface.delete(previous.ifaceId, key);
        this.ovsPorts.delete(key);
        return;
      }
      case 'LocalCreated': {
        const port = this.ports.get(event.data.portId);
        if (port)
          this.localPortsByChassisSwitch.add(
            `${event.data.chassis}\u0000${port.switchId}`,
            port.id,
          );
        this.claimedPortsByChassis.add(event.data.chassis, event.data.portId);
        this.locality.apply(event, revision);
        return;
      }
      case 'LocalDeleted': {
        const port = this.ports.get(event.data.portId);
        if (port)
          this.localPortsByChassisSwitch.delete(
            `${event.data.chassis}\u0000${port.switchId}`,
            port.id,
          );
        this.claimedPortsByChassis.delete(event.data.chassis, event.data.portId);
        this.locality.apply(event, revision);
        return;
      }
      case 'RemoteCreated':
      case 'RemoteDeleted':
      case 'DistributedCreated':
      case 'DistributedDeleted':
        this.locality.apply(event, revision);
        return;
    }
  }

  private releaseClaims(portId: string): void {
    const port = this.ports.get(portId);
    for (const chassis of this.portLocality(portId).claims) {
      if (port) this.localPortsByChassisSwitch.delete(`${chassis}\u0000${port.switchId}`, portId);
      this.claimedPortsByChassis.delete(chassis, portId);
    }
  }

  private removeSubnet(id: string): void {
    const previous = this.subnets.get(id);
    if (previous) this.subnetsBySwitch.delete(previous.switchId, id);
    this.subnets.delete(id);
  }

  private removeRouter(id: string): void {
    const previous = this.routers.get(id);
    if (previous) for (const portId of routerPorts(previous)) this.routersByPort.delete(portId, id);
    this.routers.delete(id);
  }

  private removeFip(id: string): void {
    const previous = this.fips.get(id);
    if (previous) {
      this.fipsByFloatingPort.delete(previous.floatingPortId, id);
      if (previous.fixedPortId) this.fipsByFixedPort.delete(previous.fixedPortId, id);
    }
    this.fips.delete(id);
  }

  private removeSegmentation(id: string): void {
    const previous = this.segmentations.get(id);
    if (previous) {
      this.segmentationsByParent.delete(previous.parentPortId, id);
      this.segmentationsByChild.delete(previous.childPortId, id);
    }
    this.segmentations.delete(id);
  }
}

/** Every port a router uses: its interfaces and its gateway. */
function routerPorts(router: LogicalRouter): string[] {
  return router.gatewayPortId
    ? [...router.interfacePortIds, router.gatewayPortId]
    : [...router.interfacePortIds];
}
