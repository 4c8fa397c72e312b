/**
 * Which parts of the chassis views an applied event may change, told before and after the event
 * is folded (like the apps' `affected`, so what an event removes is seen too). It names ports and
 * switches for every chassis at once; each chassis' desired state (./chassis-desired.ts) keeps
 * those it handles. Conservative: naming too much costs a recomputation, missing one is a bug.
 *
 * What a port's view entry on chassis X reads (chassis-view.ts: portView, wantedAck, isLive,
 * interfaceOn) and which events change it:
 *  - the port's document and locality facts (claims, acks, reasons, owner): LogicalPort*,
 *    Local*, Remote*, Distributed* → the port;
 *  - X's interfaces carrying it, or carrying its trunk parent: OvsPort* → the old and the new
 *    iface-id port and their trunk children; ChildPortSegmentation* → the old and new child;
 *  - its switch (network type, segmentation, physical network): LogicalSwitch* → the switch;
 *  - whether X has a local port on its switch (wantedAck's `localPortsOn`): Local* and
 *    LogicalPortDeleted → the whole switch when some chassis' set there empties or fills;
 *  - the chassis documents (X's bridge mappings, the owner's tunnel IP and types, existence):
 *    Chassis* → everything (rare).
 * Routers and floating IPs reach the views only through the ports' facts; their events name
 * their ports anyway.
 */

import { portOf } from '../domain/locality.js';
import { routerPorts, type Topology, type TopologyListener } from '../domain/topology.js';
import type { DomainEvent } from '../events/index.js';

/** Where the names go. */
export interface ViewDirt {
  port(topology: Topology, portId: string): void;
  switch(topology: Topology, switchId: string): void;
  everything(topology: Topology): void;
}

/** `chassis → switch` pairs whose local-port set was non-empty before the event. */
type Interest = Map<string, Map<string, boolean>>;

export class ViewChangeTracker implements TopologyListener {
  private interest: Interest | undefined;

  constructor(private readonly dirt: ViewDirt) {}

  before(topology: Topology, event: DomainEvent): void {
    this.interest = interestBefore(topology, event);
    this.name(topology, event, 'before');
  }

  after(topology: Topology, event: DomainEvent): void {
    this.name(topology, event, 'after');
    const interest = this.interest;
    this.interest = undefined;
    if (!interest) return;
    for (const [chassis, switches] of interest)
      for (const [switchId, had] of switches)
        if (had !== topology.localPortsOn(chassis, switchId).size > 0)
          this.dirt.switch(topology, switchId);
  }

  private name(topology: Topology, event: DomainEvent, phase: 'before' | 'after'): void {
    const dirt = this.dirt;
    const port = (id: string | null | undefined) => {
      if (id) dirt.port(topology, id);
    };
    // The port's own document and locality facts (LogicalPort*, Local*, Remote*, Distributed*).
    const own = portOf(event);
    if (own !== undefined) {
      port(own);
      return;
    }
    switch (event.type) {
      case 'ChassisCreated':
      case 'ChassisUpdated':
      case 'ChassisDeleted':
        if (phase === 'after') dirt.everything(topology);
        return;
      case 'LogicalSwitchCreated':
      case 'LogicalSwitchUpdated':
      case 'LogicalSwitchDeleted':
        dirt.switch(topology, event.data.id);
        return;
      case 'LogicalRouterCreated':
      case 'LogicalRouterUpdated':
      case 'LogicalRouterDeleted': {
        const router = topology.routers.get(event.data.id);
        if (router) for (const id of routerPorts(router)) port(id);
        return;
      }
      case 'FloatingIpCreated':
      case 'FloatingIpUpdated':
      case 'FloatingIpDeleted': {
        const fip = topology.fips.get(event.data.id);
        port(fip?.floatingPortId);
        port(fip?.fixedPortId);
        return;
      }
      case 'ChildPortSegmentationCreated':
      case 'ChildPortSegmentationUpdated':
      case 'ChildPortSegmentationDeleted':
        port(topology.segmentations.get(event.data.id)?.childPortId);
        return;
      case 'OvsPortCreated':
      case 'OvsPortUpdated':
      case 'OvsPortDeleted': {
        // The interface this event replaces (before) or records (after), by its key.
        const ifaceId = topology.ovsPorts.get(
          `${event.data.chassis}\u0000${event.data.name}`,
        )?.ifaceId;
        if (!ifaceId) return;
        port(ifaceId);
        for (const segmentationId of topology.segmentationsByParent.get(ifaceId))
          port(topology.segmentations.get(segmentationId)?.childPortId);
        return;
      }
      default:
        return;
    }
  }
}

/** Before an event that can change `localPortsOn`: whether each pair it touches was non-empty. */
function interestBefore(topology: Topology, event: DomainEvent): Interest | undefined {
  let chassisIds: readonly string[];
  let portId: string;
  if (event.type === 'LocalCreated' || event.type === 'LocalDeleted') {
    chassisIds = [event.data.chassis];
    portId = event.data.portId;
  } else if (event.type === 'LogicalPortDeleted') {
    chassisIds = topology.portLocality(event.data.id).claims;
    portId = event.data.id;
  } else return undefined;
  const switchId = topology.ports.get(portId)?.switchId;
  if (switchId === undefined) return undefined;
  const interest: Interest = new Map();
  for (const chassis of chassisIds)
    interest.set(chassis, new Map([[switchId, topology.localPortsOn(chassis, switchId).size > 0]]));
  return interest;
}
