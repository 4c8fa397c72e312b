/**
 * The demo topology, as data: what a small cloud would hold — three tenant networks, subnets
 * with DHCP, a router with interfaces and an external gateway, 200 VMs over the chassis,
 * floating IPs, and a trunk with VLAN sub-ports. Pure: the loader sends it.
 */
import type {
  ChildPortSegmentation,
  FloatingIp,
  LogicalPort,
  LogicalRouter,
  LogicalSwitch,
  Subnet,
} from '../events/index.js';

export interface DemoTopology {
  readonly switches: LogicalSwitch[];
  readonly subnets: Subnet[];
  readonly ports: LogicalPort[];
  readonly routers: LogicalRouter[];
  readonly floatingIps: FloatingIp[];
  readonly segmentations: ChildPortSegmentation[];
  /** Interfaces to plug: chassis → [interface name, port id]. */
  readonly interfaces: ReadonlyMap<string, [string, string][]>;
}

const mac = (n: number) =>
  `fa:16:3e:${[(n >> 16) & 255, (n >> 8) & 255, n & 255].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;

export function demoTopology(chassis: readonly string[], vmCount = 200): DemoTopology {
  const networks = [
    { id: 'net-web', type: 'geneve' as const, vni: 1001, cidr: '10.1.0', dhcp: true },
    { id: 'net-app', type: 'geneve' as const, vni: 1002, cidr: '10.2.0', dhcp: true },
    { id: 'net-db', type: 'vxlan' as const, vni: 1003, cidr: '10.3.0', dhcp: false },
  ];
  const switches: LogicalSwitch[] = [
    ...networks.map((n) => ({ id: n.id, networkType: n.type, segmentationId: n.vni })),
    { id: 'ext-net', networkType: 'vlan', segmentationId: 100, physicalNetwork: 'physnet1' },
  ];
  const subnets: Subnet[] = [
    ...networks.map((n) => ({
      id: `${n.id}-v4`,
      switchId: n.id,
      cidr: `${n.cidr}.0/24`,
      gatewayIp: `${n.cidr}.1`,
      dhcpEnabled: n.dhcp,
    })),
    {
      id: 'ext-v4',
      switchId: 'ext-net',
      cidr: '203.0.113.0/24',
      gatewayIp: '203.0.113.1',
      dhcpEnabled: false,
    },
  ];
  let macs = 0;
  const port = (id: string, switchId: string, ip: string, extra: Partial<LogicalPort> = {}) => ({
    id,
    switchId,
    macs: [mac(++macs)],
    ips: [ip],
    deviceOwner: 'compute' as const,
    requestedChassis: null,
    ...extra,
  });
  const ports: LogicalPort[] = [];
  for (const n of networks) {
    ports.push(port(`rif-${n.id}`, n.id, `${n.cidr}.1`, { deviceOwner: 'router_interface' }));
    if (n.dhcp) ports.push(port(`dhcp-${n.id}`, n.id, `${n.cidr}.2`, { deviceOwner: 'dhcp' }));
  }
  ports.push(port('rgw-1', 'ext-net', '203.0.113.2', { deviceOwner: 'router_gateway' }));

  const interfaces = new Map<string, [string, string][]>(chassis.map((c) => [c, []]));
  for (let i = 1; i <= vmCount; i++) {
    const id = `vm-${String(i).padStart(3, '0')}`;
    const network = networks[i % networks.length] as (typeof networks)[number];
    const host = chassis[Math.floor(i / networks.length) % chassis.length] as string;
    ports.push(
      port(id, network.id, `${network.cidr}.${10 + Math.floor(i / 3)}`, { requestedChassis: host }),
    );
    interfaces.get(host)?.push([`tap${String(i).padStart(3, '0')}`, id]);
  }

  const floatingIps: FloatingIp[] = [];
  for (let i = 1; i <= 10; i++) {
    const id = `fip-${String(i).padStart(2, '0')}`;
    ports.push(
      port(`${id}-port`, 'ext-net', `203.0.113.${100 + i}`, { deviceOwner: 'floatingip' }),
    );
    floatingIps.push({
      id,
      floatingPortId: `${id}-port`,
      fixedPortId: `vm-${String(i).padStart(3, '0')}`,
    });
  }

  // A trunk: its parent is a VM interface on the first chassis, two VLAN sub-ports.
  const trunkHost = chassis[0] as string;
  ports.push(port('trunk-1', 'net-web', '10.1.0.250', { requestedChassis: trunkHost }));
  interfaces.get(trunkHost)?.push(['tap-trunk1', 'trunk-1']);
  const segmentations: ChildPortSegmentation[] = [
    ['sub-1', 'net-app', '10.2.0.250', 101],
    ['sub-2', 'net-db', '10.3.0.250', 102],
  ].map(([id, switchId, ip, vlan]) => {
    ports.push(
      port(id as string, switchId as string, ip as string, { deviceOwner: 'trunk_subport' }),
    );
    return {
      id: `seg-${id}`,
      parentPortId: 'trunk-1',
      childPortId: id as string,
      segmentationType: 'vlan' as const,
      segmentationId: vlan as number,
    };
  });

  const routers: LogicalRouter[] = [
    {
      id: 'router-1',
      interfacePortIds: networks.map((n) => `rif-${n.id}`),
      gatewayPortId: 'rgw-1',
    },
  ];
  return { switches, subnets, ports, routers, floatingIps, segmentations, interfaces };
}
