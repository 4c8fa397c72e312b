/**
 * classification: an interface on chassis C whose `iface-id` names port P makes P local on C.
 * Interfaces and ports arrive in any order: an interface naming an unknown port is kept in the
 * topology and acted on when the port is created. Ports owned by other apps (floating ports,
 * trunk sub-ports) and distributed device owners are left alone.
 */
import { isLive, type Topology } from '../domain/topology.js';
import type { LocalityApp } from './app.js';
import { claimChanges } from './app.js';

/** Device owners whose claims other apps decide (l3, dhcp, dnat, trunk). */
const ownedElsewhere = new Set([
  'router_interface',
  'router_gateway',
  'dhcp',
  'floatingip',
  'trunk_subport',
]);

/** Whether classification decides this port's claims (and not dnat, trunk, l3 or dhcp). */
export function classifies(topology: Topology, portId: string): boolean {
  const port = topology.ports.get(portId);
  if (!port || ownedElsewhere.has(port.deviceOwner)) return false;
  return (
    topology.segmentationsByChild.get(portId).size === 0 &&
    topology.fipsByFloatingPort.get(portId).size === 0
  );
}

export const classification: LocalityApp = {
  name: 'classification',
  claims: true,
  *affected(topology, event) {
    switch (event.type) {
      case 'OvsPortCreated':
      case 'OvsPortUpdated': {
        if (event.data.ifaceId) yield event.data.ifaceId;
        // Asked before folding too: an interface re-pointed to another port (its iface-id
        // changed) releases the port it carried until now.
        const observed = topology.ovsPorts.get(`${event.data.chassis}\u0000${event.data.name}`);
        if (observed?.ifaceId && observed.ifaceId !== event.data.ifaceId) yield observed.ifaceId;
        return;
      }
      case 'OvsPortDeleted': {
        const observed = topology.ovsPorts.get(`${event.data.chassis}\u0000${event.data.name}`);
        if (observed?.ifaceId) yield observed.ifaceId;
        return;
      }
      case 'ChassisCreated':
      case 'ChassisDeleted':
        for (const ovsPort of topology.ovsPorts.values())
          if (ovsPort.chassis === event.data.id && ovsPort.ifaceId) yield ovsPort.ifaceId;
        return;
      case 'LogicalPortCreated':
      case 'LogicalPortUpdated':
        yield event.data.id;
        return;
      case 'LogicalPortDeleted':
        yield event.data.id;
        return;
      // A port leaving a FIP or a trunk comes back to classification (asked before and after).
      case 'FloatingIpCreated':
      case 'FloatingIpUpdated':
      case 'FloatingIpDeleted': {
        const fip = topology.fips.get(event.data.id);
        if (fip) yield fip.floatingPortId;
        return;
      }
      case 'ChildPortSegmentationCreated':
      case 'ChildPortSegmentationUpdated':
      case 'ChildPortSegmentationDeleted': {
        const segmentation = topology.segmentations.get(event.data.id);
        if (segmentation) yield segmentation.childPortId;
        return;
      }
    }
  },
  reconcile(topology, portId, port) {
    if (!isLive(topology, port, portId) || !classifies(topology, portId)) return [];
    const desired = [...new Set(topology.interfacesOf(portId).map((i) => i.chassis))];
    return claimChanges(portId, desired, port.claims);
  },
};
