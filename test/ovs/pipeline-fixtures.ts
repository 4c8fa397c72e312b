/**
 * Topologies for the pipeline and reconciler tests, folded straight from events (no store, no
 * apps): model events plus the locality facts the apps would have decided.
 */
import { PortLocalityFold } from '../../src/apps/port-locality.js';
import { Topology } from '../../src/domain/topology.js';
import type { DomainEvent, LogicalPort, LogicalSwitch } from '../../src/events/index.js';

export function topologyOf(events: readonly DomainEvent[]): Topology {
  const topology = new Topology(new PortLocalityFold());
  apply(topology, events);
  return topology;
}

let revision = 0n;
export function apply(topology: Topology, events: readonly DomainEvent[]): void {
  for (const event of events) topology.apply(event, revision++);
}

export const ev = {
  chassis: (id: string, octet: number, tunnelTypes: ('geneve' | 'vxlan')[] = ['geneve']) =>
    ({
      type: 'ChassisCreated',
      data: {
        id,
        tunnelIp: `192.0.2.${octet}`,
        tunnelTypes,
        bridgeMappings: { physnet1: 'br-provider' },
      },
    }) as const satisfies DomainEvent,
  chassisUpdated: (id: string, octet: number) =>
    ({
      type: 'ChassisUpdated',
      data: {
        id,
        tunnelIp: `192.0.2.${octet}`,
        tunnelTypes: ['geneve'],
        bridgeMappings: { physnet1: 'br-provider' },
      },
    }) as const satisfies DomainEvent,
  lswitch: (id: string, extra: Partial<LogicalSwitch> = {}) =>
    ({
      type: 'LogicalSwitchCreated',
      data: { id, networkType: 'geneve', segmentationId: 100, ...extra },
    }) as const satisfies DomainEvent,
  port: (
    id: string,
    switchId: string,
    mac: string,
    extra: Partial<LogicalPort> = {},
    type: 'LogicalPortCreated' | 'LogicalPortUpdated' = 'LogicalPortCreated',
  ): DomainEvent => ({
    type,
    data: {
      id,
      switchId,
      macs: [mac],
      ips: [],
      deviceOwner: 'compute',
      requestedChassis: null,
      ...extra,
    },
  }),
  portDeleted: (id: string): DomainEvent => ({ type: 'LogicalPortDeleted', data: { id } }),
  ovsPort: (chassis: string, name: string, ifaceId: string, ofport: number): DomainEvent => ({
    type: 'OvsPortCreated',
    data: { chassis, name, ofport, ifaceId, type: '' },
  }),
  ovsPortGone: (chassis: string, name: string): DomainEvent => ({
    type: 'OvsPortDeleted',
    data: { chassis, name },
  }),
  local: (portId: string, chassis: string): DomainEvent => ({
    type: 'LocalCreated',
    data: { portId, chassis },
  }),
  localGone: (portId: string, chassis: string): DomainEvent => ({
    type: 'LocalDeleted',
    data: { portId, chassis },
  }),
  distributed: (portId: string, reason: string): DomainEvent => ({
    type: 'DistributedCreated',
    data: { portId, reason },
  }),
  subnet: (id: string, switchId: string, dhcpEnabled = true): DomainEvent => ({
    type: 'SubnetCreated',
    data: { id, switchId, cidr: '10.0.0.0/24', gatewayIp: '10.0.0.1', dhcpEnabled },
  }),
  router: (id: string, interfacePortIds: string[]): DomainEvent => ({
    type: 'LogicalRouterCreated',
    data: { id, interfacePortIds, gatewayPortId: null },
  }),
  segmentation: (id: string, parentPortId: string, childPortId: string, vlan: number) =>
    ({
      type: 'ChildPortSegmentationCreated',
      data: { id, parentPortId, childPortId, segmentationType: 'vlan', segmentationId: vlan },
    }) as const satisfies DomainEvent,
};

/** MAC of a test port: fa:16:3e:00:<n>. */
export const mac = (n: number) =>
  `fa:16:3e:00:${(n >> 8).toString(16).padStart(2, '0')}:${(n & 255).toString(16).padStart(2, '0')}`;

/**
 * Three chassis; chassis A takes part in every kind of port:
 *  s1 geneve 100: a1 (A, ofport 1), t1 (A, ofport 3, trunk parent), b1 (B), c1 (C),
 *                 rp (router interface 10.0.0.1), dh (DHCP port, DHCP-enabled subnet);
 *  s2 vlan 42 on physnet1: sp (A, sub-port of t1, VLAN 101), v1 (B), fp (floating IP port, A);
 *  s3 vxlan 300: x1 (A, ofport 5), x2 (B) — A lists no vxlan tunnel type: unreachable;
 *  s4 geneve 400: q1 (B), q2 (C) — no local port of A: not in A's view (selective topology).
 */
export function world(): DomainEvent[] {
  return [
    ev.chassis('A', 1),
    ev.chassis('B', 2, ['geneve', 'vxlan']),
    ev.chassis('C', 3),
    ev.lswitch('s1'),
    ev.lswitch('s2', { networkType: 'vlan', segmentationId: 42, physicalNetwork: 'physnet1' }),
    ev.lswitch('s3', { networkType: 'vxlan', segmentationId: 300 }),
    ev.lswitch('s4', { segmentationId: 400 }),
    ev.subnet('sub1', 's1'),
    ev.port('a1', 's1', mac(0xa1), { ips: ['10.0.0.11'] }),
    ev.port('t1', 's1', mac(0x71)),
    ev.port('b1', 's1', mac(0xb1)),
    ev.port('c1', 's1', mac(0xc1)),
    ev.port('rp', 's1', mac(0x01), {
      ips: ['10.0.0.1', 'fd00::1'],
      deviceOwner: 'router_interface',
    }),
    ev.port('dh', 's1', mac(0x02), { ips: ['10.0.0.2'], deviceOwner: 'dhcp' }),
    ev.port('sp', 's2', mac(0x5b), { deviceOwner: 'trunk_subport' }),
    ev.port('v1', 's2', mac(0x41)),
    ev.port('fp', 's2', mac(0xf1), { deviceOwner: 'floatingip' }),
    ev.port('x1', 's3', mac(0x31)),
    ev.port('x2', 's3', mac(0x32)),
    ev.port('q1', 's4', mac(0x51)),
    ev.port('q2', 's4', mac(0x52)),
    ev.router('r1', ['rp']),
    ev.segmentation('seg1', 't1', 'sp', 101),
    ev.ovsPort('A', 'tapa1', 'a1', 1),
    ev.ovsPort('A', 'tapt1', 't1', 3),
    ev.ovsPort('A', 'tapx1', 'x1', 5),
    ev.ovsPort('B', 'tapb1', 'b1', 1),
    ev.ovsPort('B', 'tapv1', 'v1', 2),
    ev.ovsPort('B', 'tapx2', 'x2', 3),
    ev.ovsPort('B', 'tapq1', 'q1', 4),
    ev.ovsPort('C', 'tapc1', 'c1', 1),
    ev.ovsPort('C', 'tapq2', 'q2', 2),
    ev.local('a1', 'A'),
    ev.local('t1', 'A'),
    ev.local('sp', 'A'),
    ev.local('fp', 'A'),
    ev.local('x1', 'A'),
    ev.local('b1', 'B'),
    ev.local('v1', 'B'),
    ev.local('x2', 'B'),
    ev.local('q1', 'B'),
    ev.local('c1', 'C'),
    ev.local('q2', 'C'),
    ev.distributed('rp', 'router-interface:r1'),
    ev.distributed('dh', 'dhcp:s1'),
  ];
}

/** Chassis A's own ports in `world`. */
export const portsOfA = { tunnels: { geneve: 100 }, patches: { physnet1: 200 } } as const;
