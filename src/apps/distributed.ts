/**
 * l3 and dhcp: ports that every chassis handles itself.
 *  - l3: a router's interface ports and its gateway port are distributed while the router
 *    uses them (reasons `router-interface:<router>`, `router-gateway:<router>`);
 *  - dhcp: a switch's DHCP port is distributed while the switch has at least one
 *    DHCP-enabled subnet (reason `dhcp:<switch>`).
 */
import { isLive, routerPorts, type Topology } from '../domain/topology.js';
import type { LocalityApp } from './app.js';
import { reasonChanges } from './app.js';

const l3Reason = /^router-(interface|gateway):/;

export const l3: LocalityApp = {
  name: 'l3',
  *affected(topology, event) {
    switch (event.type) {
      case 'LogicalRouterCreated':
      case 'LogicalRouterUpdated':
      case 'LogicalRouterDeleted': {
        const router = topology.routers.get(event.data.id);
        if (router) yield* routerPorts(router);
        return;
      }
      case 'LogicalPortCreated':
        yield event.data.id;
        return;
    }
  },
  reconcile(topology, portId, port) {
    if (!isLive(topology, port, portId)) return [];
    const desired: string[] = [];
    for (const routerId of topology.routersByPort.get(portId)) {
      const router = topology.routers.get(routerId);
      if (router?.interfacePortIds.includes(portId)) desired.push(`router-interface:${routerId}`);
      if (router?.gatewayPortId === portId) desired.push(`router-gateway:${routerId}`);
    }
    return reasonChanges(portId, desired, port.reasons, (reason) => l3Reason.test(reason));
  },
};

function dhcpPortsOf(topology: Topology, switchId: string): string[] {
  return [...topology.portsBySwitch.get(switchId)].filter(
    (id) => topology.ports.get(id)?.deviceOwner === 'dhcp',
  );
}

export const dhcp: LocalityApp = {
  name: 'dhcp',
  *affected(topology, event) {
    switch (event.type) {
      case 'SubnetCreated':
      case 'SubnetUpdated':
      case 'SubnetDeleted': {
        const subnet = topology.subnets.get(event.data.id);
        if (subnet) yield* dhcpPortsOf(topology, subnet.switchId);
        return;
      }
      case 'LogicalPortCreated':
      case 'LogicalPortUpdated':
        yield event.data.id;
        return;
    }
  },
  reconcile(topology, portId, port) {
    if (!isLive(topology, port, portId)) return [];
    const lport = topology.ports.get(portId);
    const desired: string[] = [];
    if (lport?.deviceOwner === 'dhcp') {
      const enabled = [...topology.subnetsBySwitch.get(lport.switchId)].some(
        (id) => topology.subnets.get(id)?.dhcpEnabled,
      );
      if (enabled) desired.push(`dhcp:${lport.switchId}`);
    }
    return reasonChanges(portId, desired, port.reasons, (reason) => reason.startsWith('dhcp:'));
  },
};
