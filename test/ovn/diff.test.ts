/** The wanted model against the held one → ordered locus commands (src/ovn/diff.ts). */
import { describe, expect, it } from 'vitest';
import type {
  Chassis,
  ChildPortSegmentation,
  FloatingIp,
  LogicalPort,
  LogicalRouter,
  LogicalSwitch,
  Subnet,
} from '../../src/events/index.js';
import { diff, type LocusCommand } from '../../src/ovn/diff.js';
import { emptyModel, type LocusModel } from '../../src/ovn/locus-model.js';

const hv1: Chassis = {
  id: 'hv1',
  tunnelIp: '192.0.2.11',
  tunnelTypes: ['geneve'],
  bridgeMappings: {},
};
const net: LogicalSwitch = { id: 'net', networkType: 'geneve' };
const ext: LogicalSwitch = { id: 'ext', networkType: 'flat', physicalNetwork: 'physnet1' };
const subnet: Subnet = {
  id: 'sn',
  switchId: 'net',
  cidr: '10.0.0.0/24',
  gatewayIp: '10.0.0.1',
  dhcpEnabled: true,
};
const port = (id: string, extra: Partial<LogicalPort> = {}): LogicalPort => ({
  id,
  switchId: 'net',
  macs: [],
  ips: [],
  deviceOwner: 'compute',
  requestedChassis: null,
  ...extra,
});
const vm = port('vm', { macs: ['fa:16:3e:00:00:01'], ips: ['10.0.0.11'], requestedChassis: 'hv1' });
const child = port('child', { deviceOwner: 'trunk_subport' });
const rif = port('net-r', { deviceOwner: 'router_interface', ips: ['10.0.0.1'] });
const gw = port('ext-r', { switchId: 'ext', deviceOwner: 'router_gateway' });
const fport = port('fip-1', { switchId: 'ext', deviceOwner: 'floatingip', ips: ['172.24.4.100'] });
const router: LogicalRouter = { id: 'r', interfacePortIds: ['net-r'], gatewayPortId: 'ext-r' };
const fip: FloatingIp = { id: 'f1', floatingPortId: 'fip-1', fixedPortId: 'vm' };
const seg: ChildPortSegmentation = {
  id: 'child',
  parentPortId: 'vm',
  childPortId: 'child',
  segmentationType: 'vlan',
  segmentationId: 101,
};

const byId = <T extends { id: string }>(...items: T[]) =>
  new Map(items.map((item) => [item.id, item]));

/** The whole world: a chassis, two switches, a subnet, five ports, a router, a FIP, a trunk. */
const world = (): LocusModel => ({
  chassis: byId(hv1),
  switches: byId(net, ext),
  subnets: byId(subnet),
  ports: byId(vm, child, rif, gw, fport),
  routers: byId(router),
  fips: byId(fip),
  segmentations: byId(seg),
});

const with_ = (model: LocusModel, changes: Partial<LocusModel>): LocusModel => ({
  ...model,
  ...changes,
});
const names = (commands: LocusCommand[]) =>
  commands.map(
    (c) =>
      `${c.name} ${'id' in c.input ? c.input.id : `${(c.input as { routerId: string }).routerId}`}`,
  );

describe('diff', () => {
  it('asks nothing when locus holds what OVN says (a restart over an unchanged OVN)', () => {
    expect(diff(world(), world(), { followsChassis: true })).toEqual([]);
    expect(diff(emptyModel(), emptyModel(), { followsChassis: true })).toEqual([]);
  });

  it('creates dependencies first: chassis, switches, subnets, ports, routers, FIPs, trunks', () => {
    expect(names(diff(world(), emptyModel(), { followsChassis: true }))).toEqual([
      'createChassis hv1',
      'createSwitch ext',
      'createSwitch net',
      'createSubnet sn',
      'createPort child',
      'createPort ext-r',
      'createPort fip-1',
      'createPort net-r',
      'createPort vm',
      'createRouter r',
      'createFloatingIp f1',
      'createSegmentation child',
    ]);
  });

  it('deletes dependents first: trunks, FIPs, routers, ports, subnets, switches, chassis', () => {
    expect(names(diff(emptyModel(), world(), { followsChassis: true }))).toEqual([
      'deleteSegmentation child',
      'deleteFloatingIp f1',
      'deleteRouter r',
      'deletePort child',
      'deletePort ext-r',
      'deletePort fip-1',
      'deletePort net-r',
      'deletePort vm',
      'deleteSubnet sn',
      'deleteSwitch ext',
      'deleteSwitch net',
      'deleteChassis hv1',
    ]);
  });

  it("leaves locus' chassis alone when chassis are not followed", () => {
    const desired = with_(world(), { chassis: new Map() });
    expect(diff(desired, world(), { followsChassis: false })).toEqual([]);
    expect(names(diff(world(), emptyModel(), { followsChassis: false }))).not.toContain(
      'createChassis hv1',
    );
  });

  it('updates what changed in place, and only the changed fields', () => {
    const moved = { ...vm, ips: ['10.0.0.11', '10.0.0.21'], requestedChassis: 'hv2' };
    const changedChassis = { ...hv1, bridgeMappings: { physnet1: 'br-ex' } };
    const noGateway = { ...subnet, gatewayIp: undefined } as Subnet;
    delete (noGateway as { gatewayIp?: string }).gatewayIp;
    const desired = with_(world(), {
      ports: byId(moved, child, rif, gw, fport),
      chassis: byId(changedChassis),
      subnets: byId(noGateway),
      fips: byId({ ...fip, fixedPortId: null }),
    });
    expect(diff(desired, world(), { followsChassis: true })).toEqual([
      {
        name: 'updateChassis',
        input: {
          id: 'hv1',
          changes: {
            tunnelIp: '192.0.2.11',
            tunnelTypes: ['geneve'],
            bridgeMappings: { physnet1: 'br-ex' },
          },
        },
      },
      {
        name: 'updateSubnet',
        input: { id: 'sn', changes: { cidr: '10.0.0.0/24', gatewayIp: null, dhcpEnabled: true } },
      },
      {
        name: 'updatePort',
        input: { id: 'vm', changes: { ips: ['10.0.0.11', '10.0.0.21'], requestedChassis: 'hv2' } },
      },
      { name: 'associateFloatingIp', input: { id: 'f1', portId: null } },
    ]);
  });

  it('sends the addresses of ports whose addresses it could not read (locus answers unchanged)', () => {
    const held = { ...world(), unknownAddresses: new Set(['vm']) };
    expect(diff(world(), held, { followsChassis: true })).toEqual([
      {
        name: 'updatePort',
        input: { id: 'vm', changes: { macs: ['fa:16:3e:00:00:01'], ips: ['10.0.0.11'] } },
      },
    ]);
  });

  it("moves a router's interfaces and gateway: removals with the deletes, additions after the ports", () => {
    const rif2 = port('net2-r', { deviceOwner: 'router_interface' });
    const gw2 = port('ext2-r', { switchId: 'ext', deviceOwner: 'router_gateway' });
    const desired = with_(world(), {
      ports: byId(vm, child, gw, fport, rif2, gw2),
      routers: byId({ id: 'r', interfacePortIds: ['net2-r'], gatewayPortId: 'ext2-r' }),
    });
    expect(names(diff(desired, world(), { followsChassis: true }))).toEqual([
      'clearRouterGateway r',
      'removeRouterInterface r',
      'deletePort net-r',
      'createPort ext2-r',
      'createPort net2-r',
      'addRouterInterface r',
      'setRouterGateway r',
    ]);
  });

  it('replaces what locus cannot change in place: a switch network, a segmentation', () => {
    const desired = with_(world(), {
      switches: byId({ ...net, networkType: 'vxlan' }, ext),
      segmentations: byId({ ...seg, segmentationId: 102 }),
    });
    expect(names(diff(desired, world(), { followsChassis: true }))).toEqual([
      'deleteSegmentation child',
      'deleteSwitch net',
      'createSwitch net',
      'createSegmentation child',
    ]);
  });

  it("carries each document's OVN row as the cause; a delete names the row that went", () => {
    const cause = { source: 'ovn-nb', table: 'Logical_Switch_Port', uuid: 'u-vm' } as const;
    const gone = { source: 'ovn-nb', table: 'Logical_Switch_Port', uuid: 'u-old' } as const;
    const old = port('old');
    const commands = diff(
      with_(emptyModel(), { switches: byId(net), ports: byId(vm) }),
      with_(emptyModel(), { switches: byId(net), ports: byId(old) }),
      {
        followsChassis: false,
        causes: new Map([['ports:vm', cause]]),
        previousCauses: new Map([['ports:old', gone]]),
      },
    );
    expect(commands).toEqual([
      { name: 'deletePort', input: { id: 'old' }, cause: gone },
      { name: 'createPort', input: vm, cause },
    ]);
  });
});
