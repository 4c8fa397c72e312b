/**
 * tunnel and provider: the server side of chassis C's acknowledgement that it reaches port P,
 * local on another chassis. C's agent acks (RemoteCreated{chassis: C, owner}, through the API)
 * once its own flows toward P's owner are installed; the server never acks for anyone. These
 * apps only withdraw (RemoteDeleted) an ack that is no longer wanted — C lost interest in P's
 * switch, stopped reaching the owner, or was deleted — which C's agent cannot do itself: the
 * port has left its slice. tunnel serves geneve/vxlan switches, provider vlan/flat ones.
 *
 * Which acknowledgements C may hold is the domain's selective topology
 * (src/domain/remote-acks.ts), which the chassis' flow computation follows too: C must have a
 * local port on P's switch and reach P's owner over it (src/domain/reachability.ts: a shared
 * tunnel type, or both mapping the provider network).
 */
import { wantedAck } from '../domain/remote-acks.js';
import { isLive, type Topology } from '../domain/topology.js';
import type { DomainEvent, NetworkType } from '../events/index.js';
import type { LocalityApp } from './app.js';

function remoteApp(name: 'tunnel' | 'provider', networkTypes: readonly NetworkType[]): LocalityApp {
  const serves = (topology: Topology, portId: string) => {
    const switchId = topology.ports.get(portId)?.switchId;
    const networkType =
      switchId === undefined ? undefined : topology.switches.get(switchId)?.networkType;
    return networkType !== undefined && networkTypes.includes(networkType);
  };
  return {
    name,
    *affected(topology, event) {
      switch (event.type) {
        case 'LocalCreated':
        case 'LocalDeleted': {
          yield event.data.portId;
          // C's first or last local port on a switch changes its interest in every port there.
          const switchId = topology.ports.get(event.data.portId)?.switchId;
          if (
            switchId !== undefined &&
            topology.localPortsOn(event.data.chassis, switchId).size <= 1
          )
            yield* topology.portsBySwitch.get(switchId);
          return;
        }
        case 'LogicalPortDeleted': {
          // Deleting a chassis' last local port on a switch ends its interest there too (asked
          // before the fold, while the port and its claims are still known).
          const switchId = topology.ports.get(event.data.id)?.switchId;
          if (switchId === undefined) return;
          for (const chassis of topology.portLocality(event.data.id).claims)
            if (topology.localPortsOn(chassis, switchId).size <= 1) {
              yield* topology.portsBySwitch.get(switchId);
              return;
            }
          return;
        }
        case 'LogicalPortCreated':
        case 'LogicalPortUpdated':
        case 'DistributedDeleted':
          yield portOfData(event);
          return;
        case 'ChassisCreated':
        case 'ChassisDeleted':
        case 'ChassisUpdated':
          yield* portsOfInterest(topology, event.data.id);
          return;
        case 'LogicalSwitchCreated':
        case 'LogicalSwitchUpdated':
        case 'LogicalSwitchDeleted':
          yield* topology.portsBySwitch.get(event.data.id);
          return;
      }
    },
    reconcile(topology, portId, port) {
      if (!isLive(topology, port, portId) || !serves(topology, portId)) return [];
      const events: DomainEvent[] = [];
      for (const { chassis, owner } of port.acks)
        if (wantedAck(topology, portId, port, chassis) !== owner)
          events.push({ type: 'RemoteDeleted', data: { portId, chassis } });
      return events;
    },
  };
}

function portOfData(event: DomainEvent): string {
  const data = event.data as { id?: string; portId?: string };
  return (data.portId ?? data.id) as string;
}

/** Every port on a switch where `chassis` has a local port, and every port it claims. */
function* portsOfInterest(topology: Topology, chassis: string): Iterable<string> {
  const switches = new Set<string>();
  for (const portId of topology.claimedPortsByChassis.get(chassis)) {
    yield portId;
    const switchId = topology.ports.get(portId)?.switchId;
    if (switchId !== undefined) switches.add(switchId);
  }
  for (const switchId of switches) yield* topology.portsBySwitch.get(switchId);
}

export const tunnel = remoteApp('tunnel', ['geneve', 'vxlan']);
export const provider = remoteApp('provider', ['vlan', 'flat']);
