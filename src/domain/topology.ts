/**
 * The topology the apps fold and the chassis' flow computation reads: the model (chassis,
 * switches, subnets, ports, routers, FIPs, trunk segmentations, observed OVS interfaces) and
 * each port's locality facts, folded from the log in order, with the indices the apps need to
 * find what an event affects.
 *
 * It is mutated in place by `apply` (a fold over 10^5–10^6 ports cannot copy maps per event),
 * but only by `apply`: apps and flow computation read it and never write.
 *
 * The ports' locality facts are folded by the fold it is given (the lport machine's, built by
 * the apps), so the topology holds no decision of its own.
 */
import type {
  Chassis,
  ChildPortSegmentation,
  DeviceOwner,
  DomainEvent,
  FloatingIp,
  LogicalPort,
  LogicalRouter,
  LogicalSwitch,
  OvsPort,
  Subnet,
} from '../events/index.js';
import { CompactPort } from './compact-port.js';
import { InterfaceTable } from './interface-table.js';
import type { LocalityFold, PortLocality } from './locality.js';
import { Index } from './multimap.js';

/** Told about every applied event before and after it is folded (e.g. to track what it dirtied). */
export interface TopologyListener {
  before(topology: Topology, event: DomainEvent): void;
  after(topology: Topology, event: DomainEvent): void;
}

/**
 * The device owners, to share one string each among the ports. Listed here rather than read
 * from the DeviceOwner schema so that the topology (and the agent, which folds its slice with
 * it) imports no TypeBox; the Record type keeps the list complete.
 */
const ownerStrings: Record<DeviceOwner, DeviceOwner> = {
  compute: 'compute',
  router_interface: 'router_interface',
  router_gateway: 'router_gateway',
  floatingip: 'floatingip',
  dhcp: 'dhcp',
  trunk_subport: 'trunk_subport',
};
const deviceOwners = new Map<DeviceOwner, DeviceOwner>(
  Object.entries(ownerStrings) as [DeviceOwner, DeviceOwner][],
);

export class Topology {
  readonly chassis = new Map<string, Chassis>();
  readonly switches = new Map<string, LogicalSwitch>();
  readonly subnets = new Map<string, Subnet>();
  readonly ports = new Map<string, LogicalPort>();
  readonly routers = new Map<string, LogicalRouter>();
  readonly fips = new Map<string, FloatingIp>();
  readonly segmentations = new Map<string, ChildPortSegmentation>();
  /** Observed interfaces, keyed by `chassis\0name`, in observation order per chassis. */
  readonly ovsPorts = new InterfaceTable();

  readonly portsBySwitch = new Index<string, string>();
  readonly subnetsBySwitch = new Index<string, string>();
  readonly ovsPortsByIface = new Index<string, OvsPort>();
  readonly routersByPort = new Index<string, string>();
  readonly fipsByFixedPort = new Index<string, string>();
  readonly fipsByFloatingPort = new Index<string, string>();
  readonly segmentationsByParent = new Index<string, string>();
  readonly segmentationsByChild = new Index<string, string>();
  /** `chassis\0switch` → ports claimed local on that chassis (selective topology). */
  private readonly localPortsByChassisSwitch = new Index<string, string>();
  readonly claimedPortsByChassis = new Index<string, string>();
  private readonly listeners = new Set<TopologyListener>();

  /** @param locality folds the locality facts of every port whose stream has events. */
  constructor(readonly locality: LocalityFold) {}

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
    for (const ovsPort of this.ovsPortsByIface.get(portId))
      if (this.chassis.has(ovsPort.chassis)) result.push(ovsPort);
    return result;
  }

  /** Calls `listener` around every event applied from now on; returns its removal. */
  listen(listener: TopologyListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  apply(event: DomainEvent, revision = -1n): void {
    if (this.listeners.size === 0) {
      this.fold(event, revision);
      return;
    }
    for (const listener of this.listeners) listener.before(this, event);
    this.fold(event, revision);
    for (const listener of this.listeners) listener.after(this, event);
  }

  private fold(event: DomainEvent, revision: bigint): void {
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
        const port = this.sharedPort(event.data, previous);
        this.ports.set(port.id, port);
        this.portsBySwitch.add(port.switchId, port.id);
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
        const previous = this.ovsPorts.find(event.data.chassis, event.data.name);
        if (previous?.ifaceId) this.ovsPortsByIface.delete(previous.ifaceId, previous);
        const ovsPort = this.sharedOvsPort(event.data, previous);
        this.ovsPorts.set(ovsPort);
        if (ovsPort.ifaceId) this.ovsPortsByIface.add(ovsPort.ifaceId, ovsPort);
        return;
      }
      case 'OvsPortDeleted': {
        const previous = this.ovsPorts.find(event.data.chassis, event.data.name);
        if (previous?.ifaceId) this.ovsPortsByIface.delete(previous.ifaceId, previous);
        this.ovsPorts.remove(event.data.chassis, event.data.name);
        return;
      }
      case 'LocalCreated': {
        const port = this.ports.get(event.data.portId);
        if (port)
          this.localPortsByChassisSwitch.add(
            `${event.data.chassis}\u0000${port.switchId}`,
            port.id,
          );
        this.claimedPortsByChassis.add(
          this.sharedChassisId(event.data.chassis),
          port?.id ?? event.data.portId,
        );
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
      case 'RemotesCreated':
      case 'RemoteDeleted':
      case 'DistributedCreated':
      case 'DistributedDeleted':
        this.locality.apply(event, revision);
        return;
    }
  }

  /**
   * Decoded events carry their own copy of every string; a topology of 10^6 ports keeps the
   * strings many documents repeat (switch, chassis, device owner, port ids) as one copy each,
   * taken from the document that defines it. Equal strings: nothing a reader sees changes.
   */
  private sharedChassisId(id: string): string {
    return this.chassis.get(id)?.id ?? id;
  }

  private sharedPort(data: LogicalPort, previous: LogicalPort | undefined): LogicalPort {
    return new CompactPort(
      previous?.id ?? data.id,
      this.switches.get(data.switchId)?.id ?? data.switchId,
      data.macs,
      data.ips,
      deviceOwners.get(data.deviceOwner) ?? data.deviceOwner,
      data.requestedChassis === null ? null : this.sharedChassisId(data.requestedChassis),
    );
  }

  private sharedOvsPort(data: OvsPort, previous: OvsPort | undefined): OvsPort {
    return {
      ...data,
      chassis: previous?.chassis ?? this.sharedChassisId(data.chassis),
      name: previous?.name ?? data.name,
      ifaceId: data.ifaceId === null ? null : (this.ports.get(data.ifaceId)?.id ?? data.ifaceId),
    };
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
export function routerPorts(router: LogicalRouter): string[] {
  return router.gatewayPortId
    ? [...router.interfacePortIds, router.gatewayPortId]
    : [...router.interfacePortIds];
}

/** A port the topology knows, that exists and is not deleted. */
export function isLive(topology: Topology, port: PortLocality, portId: string): boolean {
  return port.exists && !port.deleted && topology.ports.has(portId);
}
