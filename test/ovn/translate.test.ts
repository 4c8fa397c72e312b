/** OVN rows → the locus model (src/ovn/translate.ts), one OVN concept at a time. */
import { describe, expect, it } from 'vitest';
import { diff } from '../../src/ovn/diff.js';
import { emptyModel } from '../../src/ovn/locus-model.js';
import { causeKey, translate } from '../../src/ovn/translate.js';
import { binding, chassis, dhcp, encap, lr, lrp, ls, lsp, nat, snapshot } from './ovn-rows.js';

const reasonsOf = (skipped: readonly { name?: string; table: string; reason: string }[]) =>
  skipped.map((s) => `${s.table} ${s.name ?? ''}: ${s.reason}`);

describe('switches', () => {
  it('is an overlay (geneve) without a localnet port, its VNI from requested-tnl-key', () => {
    const net = ls('net1', [], { other_config: new Map([['requested-tnl-key', '7001']]) });
    const { model, causes } = translate(snapshot({ switches: [net] }));
    expect(model.switches.get('net1')).toEqual({
      id: 'net1',
      networkType: 'geneve',
      segmentationId: 7001,
    });
    expect(causes.get(causeKey('switches', 'net1'))).toEqual({
      source: 'ovn-nb',
      table: 'Logical_Switch',
      uuid: net._uuid,
    });
  });

  it("takes ovn-northd's tunnel key from the Southbound Datapath_Binding; the NB's requested key wins", () => {
    const plain = ls('plain');
    const requested = ls('req', [], { other_config: new Map([['requested-tnl-key', '7001']]) });
    const { model, unkeyed, held } = translate(
      snapshot({
        switches: [plain, requested],
        bindings: [binding(plain._uuid, 5), binding(requested._uuid, 6)],
      }),
    );
    expect(model.switches.get('plain')).toEqual({
      id: 'plain',
      networkType: 'geneve',
      segmentationId: 5,
    });
    expect(model.switches.get('req')?.segmentationId).toBe(7001);
    expect(unkeyed).toEqual([]);
    expect(held).toEqual([]);
  });

  it('holds a switch back, with what sits on it, until its Datapath_Binding appears', () => {
    const vm = lsp('vm', { addresses: ['fa:16:3e:00:00:01 10.0.0.5'] });
    const child = lsp('child', { parent_name: 'vm', tag: 10 });
    const rNet = lsp('net-r', { type: 'router', options: { 'router-port': 'r-net' } });
    const rExt = lsp('ext-r', { type: 'router', options: { 'router-port': 'r-ext' } });
    const lrpNet = lrp('r-net', 'fa:16:3e:00:01:01', ['10.0.0.1/24']);
    const lrpExt = lrp('r-ext', 'fa:16:3e:00:01:02', ['172.24.4.1/24'], {
      gateway_chassis: ['gc'],
    });
    const fip = nat({
      type: 'dnat_and_snat',
      external_ip: '172.24.4.100',
      logical_ip: '10.0.0.5',
      logical_port: 'vm',
    });
    const options = dhcp('10.0.0.0/24');
    const vmWithDhcp = { ...vm, dhcpv4_options: options._uuid };
    const net = ls('net', [vmWithDhcp, child, rNet]);
    const ln = lsp('ext-ln', { type: 'localnet', options: { network_name: 'physnet1' } });
    const ext = ls('ext', [ln, rExt]);
    const rows = {
      switches: [net, ext],
      ports: [vmWithDhcp, child, rNet, rExt, ln],
      routers: [lr('r', [lrpNet, lrpExt], [fip])],
      routerPorts: [lrpNet, lrpExt],
      nats: [fip],
      dhcp: [options],
    };

    const before = translate(snapshot({ ...rows, bindings: [] }));
    expect(before.unkeyed).toEqual([{ uuid: net._uuid, name: 'net', id: 'net', waiting: true }]);
    expect([...before.model.switches.keys()]).toEqual(['ext']);
    expect([...before.model.ports.keys()]).toEqual(['ext-r', `fip-${fip._uuid}`]);
    expect(before.model.subnets.size + before.model.routers.size).toBe(0);
    expect(before.model.fips.size + before.model.segmentations.size).toBe(0);
    expect(before.held.map((h) => `${h.kind}:${h.id}`).sort()).toEqual(
      [
        'switches:net',
        'ports:vm',
        'ports:child',
        'ports:net-r',
        `subnets:${options._uuid}`,
        'segmentations:child',
        `fips:${fip._uuid}`,
        'routers:r',
      ].sort(),
    );
    // Nothing of it is created; what locus already holds of it stays as it is.
    const commands = diff(before.model, emptyModel(), {
      followsChassis: true,
      held: before.held,
    });
    expect(commands.map((c) => c.name)).toEqual(['createSwitch', 'createPort', 'createPort']);
    const holding = {
      ...emptyModel(),
      switches: new Map([['net', { id: 'net', networkType: 'geneve' as const }]]),
      ports: new Map([
        [
          'vm',
          {
            id: 'vm',
            switchId: 'net',
            macs: [],
            ips: [],
            deviceOwner: 'compute' as const,
            requestedChassis: null,
          },
        ],
      ]),
      unknownAddresses: new Set(['vm']),
    };
    expect(
      diff(before.model, holding, { followsChassis: true, held: before.held })
        .map((c) => c.name)
        .filter((name) => name.startsWith('delete') || name === 'updatePort'),
    ).toEqual([]);

    const after = translate(snapshot({ ...rows, bindings: [binding(net._uuid, 3)] }));
    expect(after.unkeyed).toEqual([]);
    expect(after.held).toEqual([]);
    expect(after.model.switches.get('net')).toEqual({
      id: 'net',
      networkType: 'geneve',
      segmentationId: 3,
    });
    expect(after.model.routers.get('r')?.interfacePortIds).toEqual(['net-r']);
    expect(after.model.fips.get(fip._uuid)?.fixedPortId).toBe('vm');
    expect(after.model.segmentations.has('child')).toBe(true);
  });

  it('without a Southbound, or once the wait is over, wants the switch without segmentation id', () => {
    const vm = lsp('vm');
    const net = ls('net', [vm]);
    const noSb = translate(snapshot({ switches: [net], ports: [vm] }));
    expect(noSb.model.switches.get('net')).toEqual({ id: 'net', networkType: 'geneve' });
    expect(noSb.model.ports.has('vm')).toBe(true);
    expect(noSb.unkeyed).toEqual([{ uuid: net._uuid, name: 'net', id: 'net', waiting: false }]);
    // Unknown is not "none": a segmentation id locus holds is left alone.
    expect(noSb.held).toEqual([{ kind: 'switches', id: 'net' }]);
    const holding = {
      ...emptyModel(),
      switches: new Map([
        ['net', { id: 'net', networkType: 'geneve' as const, segmentationId: 4 }],
      ]),
    };
    expect(
      diff(noSb.model, holding, { followsChassis: false, held: noSb.held }).map((c) => c.name),
    ).toEqual(['createPort']);

    const over = translate(snapshot({ switches: [net], ports: [vm], bindings: [] }), {
      bindingWaitOver: new Set([net._uuid]),
    });
    expect(over.model.switches.get('net')).toEqual({ id: 'net', networkType: 'geneve' });
    expect(over.model.ports.has('vm')).toBe(true);
    expect(over.unkeyed[0]?.waiting).toBe(false);
  });

  it('is a provider network from its localnet port: vlan with a tag, flat without', () => {
    const vlanLn = lsp('prov-ln', {
      type: 'localnet',
      tag: 100,
      options: { network_name: 'physnet1' },
    });
    const requested = lsp('req-ln', {
      type: 'localnet',
      tag_request: 200,
      options: { network_name: 'physnet2' },
    });
    const flatLn = lsp('ext-ln', {
      type: 'localnet',
      addresses: ['unknown'],
      options: { network_name: 'physnet1' },
    });
    const { model } = translate(
      snapshot({
        switches: [ls('prov', [vlanLn]), ls('req', [requested]), ls('ext', [flatLn])],
        ports: [vlanLn, requested, flatLn],
      }),
    );
    expect(model.switches.get('prov')).toEqual({
      id: 'prov',
      networkType: 'vlan',
      segmentationId: 100,
      physicalNetwork: 'physnet1',
    });
    expect(model.switches.get('req')).toMatchObject({ networkType: 'vlan', segmentationId: 200 });
    expect(model.switches.get('ext')).toEqual({
      id: 'ext',
      networkType: 'flat',
      physicalNetwork: 'physnet1',
    });
    // A localnet port is the switch's provider network, not a port.
    expect(model.ports.size).toBe(0);
  });

  it('stays an overlay, saying why, when its localnet port names no network', () => {
    const ln = lsp('bad-ln', { type: 'localnet' });
    const result = translate(snapshot({ switches: [ls('net', [ln])], ports: [ln] }));
    expect(result.model.switches.get('net')?.networkType).toBe('geneve');
    expect(reasonsOf(result.skipped)).toEqual([
      'Logical_Switch_Port bad-ln: localnet port has no valid options:network_name (""): switch net is followed as an overlay',
    ]);
  });

  it('takes the row uuid as id when the name is not a valid or unique locus id', () => {
    const a = ls('dup');
    const b = ls('dup');
    const spaced = ls('has space');
    const { model } = translate(snapshot({ switches: [a, b, spaced] }));
    expect([...model.switches.keys()].sort()).toEqual([a._uuid, b._uuid, spaced._uuid].sort());
  });
});

describe('switch ports', () => {
  it('a VM port: MAC and IPs, requested chassis; unknown is no address', () => {
    const vm = lsp('vm1', {
      addresses: ['fa:16:3e:00:00:01 10.0.0.11 fd00::11', 'unknown'],
      options: { 'requested-chassis': 'hv1,hv2' },
    });
    const { model, causes } = translate(snapshot({ switches: [ls('net1', [vm])], ports: [vm] }));
    expect(model.ports.get('vm1')).toEqual({
      id: 'vm1',
      switchId: 'net1',
      macs: ['fa:16:3e:00:00:01'],
      ips: ['10.0.0.11', 'fd00::11'],
      deviceOwner: 'compute',
      requestedChassis: 'hv1',
    });
    expect(causes.get(causeKey('ports', 'vm1'))?.uuid).toBe(vm._uuid);
  });

  it('a requested chassis named by its hostname is that chassis', () => {
    const g = encap('e2e4f0c2', 'geneve', '192.0.2.11');
    const hv = { ...chassis('e2e4f0c2', [g]), hostname: 'compute-1.example' };
    const vm = lsp('vm', { options: { 'requested-chassis': 'compute-1.example' } });
    const { model } = translate(
      snapshot({
        switches: [ls('net', [vm], { other_config: new Map([['requested-tnl-key', '9']]) })],
        ports: [vm],
        chassis: [hv],
        encaps: [g],
      }),
    );
    expect(model.ports.get('vm')?.requestedChassis).toBe('e2e4f0c2');
  });

  it('dynamic addresses are what ovn-northd assigned, none until it has', () => {
    const assigned = lsp('a', {
      addresses: ['dynamic'],
      dynamic_addresses: '0a:00:00:00:00:05 10.0.0.5',
    });
    const macOnly = lsp('b', { addresses: ['fa:16:3e:00:00:07 dynamic'], dynamic_addresses: null });
    const { model } = translate(
      snapshot({ switches: [ls('net', [assigned, macOnly])], ports: [assigned, macOnly] }),
    );
    expect(model.ports.get('a')).toMatchObject({ macs: ['0a:00:00:00:00:05'], ips: ['10.0.0.5'] });
    expect(model.ports.get('b')).toMatchObject({ macs: ['fa:16:3e:00:00:07'], ips: [] });
  });

  it('leaves out an address locus refuses, and says so', () => {
    const vm = lsp('vm', {
      addresses: ['01:00:5e:00:00:01 10.0.0.9', 'fa:16:3e:00:00:02 10.0.0.300'],
    });
    const result = translate(snapshot({ switches: [ls('net', [vm])], ports: [vm] }));
    expect(result.model.ports.get('vm')).toMatchObject({ macs: ['fa:16:3e:00:00:02'], ips: [] });
    expect(result.skipped).toHaveLength(2);
  });

  it('a localport is the switch-wide DHCP/metadata port; other types are left out', () => {
    const md = lsp('md', { type: 'localport', addresses: ['fa:16:3e:00:00:0a 10.0.0.2'] });
    const vtep = lsp('vtep', { type: 'vtep' });
    const result = translate(snapshot({ switches: [ls('net', [md, vtep])], ports: [md, vtep] }));
    expect(result.model.ports.get('md')?.deviceOwner).toBe('dhcp');
    expect(result.model.ports.has('vtep')).toBe(false);
    expect(reasonsOf(result.skipped)).toEqual([
      'Logical_Switch_Port vtep: type vtep has no locus counterpart',
    ]);
  });

  it('a sub-port (parent_name and tag) is a trunk sub-port carried on its parent', () => {
    const parent = lsp('trunk', { addresses: ['fa:16:3e:00:00:01 10.0.0.11'] });
    const child = lsp('child', {
      parent_name: 'trunk',
      tag_request: 101,
      addresses: ['fa:16:3e:00:00:03 10.0.0.13'],
    });
    const orphan = lsp('orphan', { parent_name: 'nothere', tag: 5 });
    const { model, skipped } = translate(
      snapshot({ switches: [ls('net', [parent, child, orphan])], ports: [parent, child, orphan] }),
    );
    expect(model.ports.get('child')?.deviceOwner).toBe('trunk_subport');
    expect(model.segmentations.get('child')).toEqual({
      id: 'child',
      parentPortId: 'trunk',
      childPortId: 'child',
      segmentationType: 'vlan',
      segmentationId: 101,
    });
    expect(model.segmentations.has('orphan')).toBe(false);
    expect(reasonsOf(skipped)).toEqual([
      'Logical_Switch_Port orphan: parent_name nothere is no followed port: no segmentation',
    ]);
  });

  it("DHCP options a switch's ports use are its DHCP subnet; other_config:subnet a plain one", () => {
    const options = dhcp('10.0.0.0/24', { router: '10.0.0.1', lease_time: '3600' });
    const unused = dhcp('10.9.0.0/24');
    const vm = lsp('vm', {
      addresses: ['fa:16:3e:00:00:01 10.0.0.11'],
      dhcpv4_options: options._uuid,
    });
    const plain = ls('plain', [], { other_config: new Map([['subnet', '10.5.0.0/16']]) });
    const result = translate(
      snapshot({ switches: [ls('net', [vm]), plain], ports: [vm], dhcp: [options, unused] }),
    );
    expect(result.model.subnets.get(options._uuid)).toEqual({
      id: options._uuid,
      switchId: 'net',
      cidr: '10.0.0.0/24',
      gatewayIp: '10.0.0.1',
      dhcpEnabled: true,
    });
    expect(result.model.subnets.get(`${plain._uuid}-subnet`)).toEqual({
      id: `${plain._uuid}-subnet`,
      switchId: 'plain',
      cidr: '10.5.0.0/16',
      dhcpEnabled: false,
    });
    expect(result.model.subnets.size).toBe(2);
    expect(result.skipped.map((s) => s.uuid)).toEqual([unused._uuid]);
  });
});

describe('routers and floating IPs', () => {
  const world = () => {
    const inside = lrp('r1-net', 'fa:16:3e:00:01:01', ['10.0.0.1/24']);
    const outside = lrp('r1-ext', 'fa:16:3e:00:01:02', ['172.24.4.1/24'], {
      gateway_chassis: ['gc1'],
    });
    const insidePort = lsp('net-r1', {
      type: 'router',
      addresses: ['router'],
      options: { 'router-port': 'r1-net' },
    });
    const outsidePort = lsp('ext-r1', {
      type: 'router',
      addresses: ['router'],
      options: { 'router-port': 'r1-ext' },
    });
    const vm = lsp('vm', { addresses: ['fa:16:3e:00:00:01 10.0.0.11'] });
    const vm2 = lsp('vm2', { addresses: ['fa:16:3e:00:00:02 10.0.0.12'] });
    const fip = nat({
      type: 'dnat_and_snat',
      external_ip: '172.24.4.100',
      logical_ip: '10.0.0.11',
      logical_port: 'vm',
      external_mac: 'fa:16:3e:00:02:01',
    });
    const centralized = nat({
      type: 'dnat_and_snat',
      external_ip: '172.24.4.101',
      logical_ip: '10.0.0.12',
    });
    const snat = nat({ type: 'snat', external_ip: '172.24.4.1', logical_ip: '10.0.0.0/24' });
    const router = lr('r1', [inside, outside], [fip, centralized, snat]);
    return {
      rows: {
        switches: [ls('net', [vm, vm2, insidePort]), ls('ext', [outsidePort])],
        ports: [vm, vm2, insidePort, outsidePort],
        routers: [router],
        routerPorts: [inside, outside],
        nats: [fip, centralized, snat],
      },
      fip,
      centralized,
      snat,
    };
  };

  it('router-type switch ports are its interfaces; the one with a gateway chassis its gateway', () => {
    const { model } = translate(snapshot(world().rows));
    expect(model.routers.get('r1')).toEqual({
      id: 'r1',
      interfacePortIds: ['net-r1'],
      gatewayPortId: 'ext-r1',
    });
    expect(model.ports.get('net-r1')).toEqual({
      id: 'net-r1',
      switchId: 'net',
      macs: ['fa:16:3e:00:01:01'],
      ips: ['10.0.0.1'],
      deviceOwner: 'router_interface',
      requestedChassis: null,
    });
    expect(model.ports.get('ext-r1')?.deviceOwner).toBe('router_gateway');
  });

  it('an HA chassis group makes a gateway port too', () => {
    const outside = lrp('r-ext', 'fa:16:3e:00:01:02', ['172.24.4.1/24'], { ha_chassis_group: 'g' });
    const port = lsp('ext-r', {
      type: 'router',
      addresses: ['router'],
      options: { 'router-port': 'r-ext' },
    });
    const { model } = translate(
      snapshot({
        switches: [ls('ext', [port])],
        ports: [port],
        routers: [lr('r', [outside])],
        routerPorts: [outside],
      }),
    );
    expect(model.routers.get('r')).toEqual({
      id: 'r',
      interfacePortIds: [],
      gatewayPortId: 'ext-r',
    });
  });

  it('dnat_and_snat is a floating IP with a port of its own on the external switch', () => {
    const { fip, centralized, snat, rows } = world();
    const result = translate(snapshot(rows));
    expect(result.model.fips.get(fip._uuid)).toEqual({
      id: fip._uuid,
      floatingPortId: `fip-${fip._uuid}`,
      fixedPortId: 'vm',
    });
    expect(result.model.ports.get(`fip-${fip._uuid}`)).toEqual({
      id: `fip-${fip._uuid}`,
      switchId: 'ext',
      macs: ['fa:16:3e:00:02:01'],
      ips: ['172.24.4.100'],
      deviceOwner: 'floatingip',
      requestedChassis: null,
    });
    // Without logical_port, the fixed port is the one holding the logical IP.
    expect(result.model.fips.get(centralized._uuid)?.fixedPortId).toBe('vm2');
    expect(result.model.fips.has(snat._uuid)).toBe(false);
    expect(result.skipped.map((s) => s.uuid)).toEqual([snat._uuid]);
    expect(result.causes.get(causeKey('fips', fip._uuid))).toEqual({
      source: 'ovn-nb',
      table: 'NAT',
      uuid: fip._uuid,
    });
  });

  it('a floating IP needs a gateway port to hold its port', () => {
    const inside = lrp('r-net', 'fa:16:3e:00:01:01', ['10.0.0.1/24']);
    const fip = nat({
      type: 'dnat_and_snat',
      external_ip: '172.24.4.100',
      logical_ip: '10.0.0.11',
    });
    const result = translate(
      snapshot({ routers: [lr('r', [inside], [fip])], routerPorts: [inside], nats: [fip] }),
    );
    expect(result.model.fips.size).toBe(0);
    expect(reasonsOf(result.skipped)).toContain(
      'NAT : router r has no gateway port on a switch to hold the floating port',
    );
  });
});

describe('chassis (Southbound)', () => {
  it('its encaps are its tunnel endpoint and types, ovn-bridge-mappings its bridges', () => {
    const g = encap('hv1', 'geneve', '192.0.2.11');
    const v = encap('hv1', 'vxlan', '192.0.2.11');
    const s = encap('hv1', 'stt', '192.0.2.11');
    const hv1 = chassis('hv1', [v, g, s], {
      'ovn-bridge-mappings': 'physnet1:br-ex,physnet2:br-eth1',
    });
    const bare = chassis('hv2', []);
    const result = translate(snapshot({ chassis: [hv1, bare], encaps: [g, v, s] }));
    expect(result.followsChassis).toBe(true);
    expect(result.model.chassis.get('hv1')).toEqual({
      id: 'hv1',
      tunnelIp: '192.0.2.11',
      tunnelTypes: ['geneve', 'vxlan'],
      bridgeMappings: { physnet1: 'br-ex', physnet2: 'br-eth1' },
    });
    expect(result.model.chassis.has('hv2')).toBe(false);
    expect(reasonsOf(result.skipped)).toEqual([
      'Chassis hv1: encap stt left out: locus tunnels are geneve or vxlan',
      'Chassis hv2: no geneve or vxlan encap: locus needs a tunnel endpoint',
    ]);
    expect(result.causes.get(causeKey('chassis', 'hv1'))).toEqual({
      source: 'ovn-sb',
      table: 'Chassis',
      uuid: hv1._uuid,
    });
  });

  it('are not followed without a Southbound', () => {
    const result = translate(snapshot({ switches: [ls('net')] }));
    expect(result.followsChassis).toBe(false);
    expect(result.model.chassis.size).toBe(0);
  });
});
