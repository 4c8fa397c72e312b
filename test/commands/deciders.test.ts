/**
 * The command table's pure deciders, given/when/then: a stream's history, a command (with the
 * references it would have read), the events decided or the rejection.
 */
import { describe, expect, it } from 'vitest';
import { commandTable } from '../../src/commands/index.js';
import type {
  Chassis,
  DomainEvent,
  LogicalPort,
  LogicalSwitch,
  OvsPort,
} from '../../src/events/index.js';
import { decide } from '../support/given-when-then.js';

const port: LogicalPort = {
  id: 'p1',
  switchId: 's1',
  macs: ['fa:16:3e:00:00:01'],
  ips: ['10.0.0.5'],
  deviceOwner: 'compute',
  requestedChassis: null,
};
const chassis: Chassis = {
  id: 'c1',
  tunnelIp: '192.0.2.1',
  tunnelTypes: ['geneve'],
  bridgeMappings: {},
};
const tap = (name: string): OvsPort => ({
  chassis: 'c1',
  name,
  ofport: 5,
  ifaceId: 'p1',
  type: '',
});

const portCreated: DomainEvent = { type: 'LogicalPortCreated', data: port };
const portDeleted: DomainEvent = { type: 'LogicalPortDeleted', data: { id: 'p1' } };

describe('the table and its given/when/then', () => {
  it('names every entry by its key', () => {
    for (const [key, entry] of Object.entries(commandTable)) expect(entry.name).toBe(key);
  });

  it('given/when/then fails on other events, or on the other outcome', () => {
    const create = (switchLive: boolean) => decide('createPort').given().when(port, { switchLive });
    expect(() => create(true).then([])).toThrow();
    expect(() => create(true).then({ kind: 'not-found' })).toThrow(/expected a rejection/);
    expect(() => create(false).then([portCreated])).toThrow(/rejected: port p1 names/);
    expect(() => create(false).then({ kind: 'conflict' })).toThrow();
  });
});

describe('ports', () => {
  it('creates a port on a live switch', () => {
    const decision = decide('createPort')
      .given()
      .when(port, { switchLive: true })
      .then([{ type: 'LogicalPortCreated', data: port }]);
    expect(decision.ok && decision.created).toBe(true);
  });

  it('names the unknown switch', () => {
    decide('createPort')
      .given()
      .when(port, { switchLive: false })
      .then({ kind: 'not-found', errors: [{ field: '/switchId', reason: 'no switch s1' }] });
  });

  it('refuses a duplicate id', () => {
    decide('createPort')
      .given(portCreated)
      .when(port, { switchLive: true })
      .then({ kind: 'already-exists' });
  });

  it('refuses to resurrect a deleted port: the machine says deleted is final', () => {
    decide('createPort').given(portCreated, portDeleted).when(port, { switchLive: true }).then({
      kind: 'refused',
      code: 'port-deleted',
      detail:
        'port p1: view port in state deleted refuses LogicalPortCreated{requestedChassis=null}: the port is deleted',
    });
  });

  it('merges a PATCH into the current document and emits the whole version', () => {
    decide('updatePort')
      .given(portCreated)
      .when({ id: 'p1', changes: { requestedChassis: 'c2' } }, {})
      .then([{ type: 'LogicalPortUpdated', data: { ...port, requestedChassis: 'c2' } }]);
  });

  it('appends nothing for a PATCH that changes nothing', () => {
    decide('updatePort')
      .given(portCreated)
      .when({ id: 'p1', changes: { ips: ['10.0.0.5'] } }, {})
      .then([]);
  });

  it('updates and deletes of an unknown port are 404, of a deleted port refused', () => {
    decide('updatePort')
      .given()
      .when({ id: 'p1', changes: { ips: [] } }, {})
      .then({ kind: 'not-found' });
    decide('deletePort').given().when({ id: 'p1' }).then({ kind: 'not-found' });
    decide('updatePort')
      .given(portCreated, portDeleted)
      .when({ id: 'p1', changes: { ips: [] } }, {})
      .then({ kind: 'refused', code: 'port-deleted' });
    decide('deletePort')
      .given(portCreated, portDeleted)
      .when({ id: 'p1' })
      .then({ kind: 'refused' });
  });

  it('folds locality events into the machine facts', () => {
    const claimed = decide('deletePort').given(portCreated, {
      type: 'LocalCreated',
      data: { portId: 'p1', chassis: 'c1' },
    });
    expect(claimed.state.facts.claims).toEqual(['c1']);
    claimed.when({ id: 'p1' }).then([portDeleted]);
  });
});

describe("a port's addresses on its switch", () => {
  const addressing = {
    subnets: [
      { id: 'v4', cidr: '10.0.0.0/24' },
      { id: 'v6', cidr: '2001:db8::/64' },
    ],
    ports: new Map([['p2', { macs: ['FA:16:3E:00:00:02'], ips: ['10.0.0.6', '2001:db8::6'] }]]),
  };

  it('inside one of the subnets; none known, any', () => {
    decide('createPort')
      .given()
      .when({ ...port, ips: ['10.0.0.5', '2001:db8::5'] }, { switchLive: true, addressing })
      .then([{ type: 'LogicalPortCreated', data: { ...port, ips: ['10.0.0.5', '2001:db8::5'] } }]);
    decide('createPort')
      .given()
      .when({ ...port, ips: ['10.0.0.5', '10.0.1.5'] }, { switchLive: true, addressing })
      .then({
        kind: 'invalid',
        errors: [
          {
            field: '/ips/1',
            reason:
              'port p1: 10.0.1.5 is in none of the subnets of switch s1 (10.0.0.0/24, 2001:db8::/64)'.slice(
                9,
              ),
          },
        ],
      });
    const bare = { subnets: [], ports: new Map() };
    decide('createPort')
      .given()
      .when({ ...port, ips: ['192.168.7.7'] }, { switchLive: true, addressing: bare })
      .then([{ type: 'LogicalPortCreated', data: { ...port, ips: ['192.168.7.7'] } }]);
  });

  it("another port's MAC (any case) or IP (any spelling) on the switch is a conflict", () => {
    decide('createPort')
      .given()
      .when(
        { ...port, macs: ['fa:16:3e:00:00:02'], ips: ['2001:DB8:0:0::6'] },
        { switchLive: true, addressing },
      )
      .then({
        kind: 'conflict',
        errors: [
          { field: '/macs/0', reason: "MAC fa:16:3e:00:00:02 is already port p2's on switch s1" },
          { field: '/ips/0', reason: "IP 2001:DB8:0:0::6 is already port p2's on switch s1" },
        ],
      });
  });

  it('a PATCH is checked on the lists it changes, against the other ports only', () => {
    const mine = { ...addressing, ports: new Map([...addressing.ports, ['p1', port]]) };
    decide('updatePort')
      .given(portCreated)
      .when({ id: 'p1', changes: { ips: ['10.0.0.6'] } }, { addressing: mine })
      .then({ kind: 'conflict', errors: [{ field: '/ips/0' }] });
    decide('updatePort')
      .given(portCreated)
      .when({ id: 'p1', changes: { ips: ['10.0.0.5', '10.0.0.7'] } }, { addressing: mine })
      .then([{ type: 'LogicalPortUpdated', data: { ...port, ips: ['10.0.0.5', '10.0.0.7'] } }]);
    // A port written with a MAC another port has since taken keeps it through other changes.
    const clash = { ...port, macs: ['fa:16:3e:00:00:02'] };
    decide('updatePort')
      .given({ type: 'LogicalPortCreated', data: clash })
      .when({ id: 'p1', changes: { requestedChassis: 'c2' } }, { addressing })
      .then([{ type: 'LogicalPortUpdated', data: { ...clash, requestedChassis: 'c2' } }]);
  });

  it('a value the port lists twice', () => {
    decide('createPort')
      .given()
      .when({ ...port, ips: ['10.0.0.5', '10.0.0.5'] }, { switchLive: true })
      .then({
        kind: 'invalid',
        errors: [{ field: '/ips/1', reason: '10.0.0.5 is already listed at /ips/0' }],
      });
  });

  it('refuses a value of bad syntax as invalid input, keeps one the log already holds', () => {
    decide('createPort')
      .given()
      .when({ ...port, ips: ['10.0.0.300'] }, { switchLive: true })
      .then({ kind: 'invalid', errors: [{ field: '/ips/0' }] });
    const legacy = { ...port, ips: ['10.0.0'] };
    decide('updatePort')
      .given({ type: 'LogicalPortCreated', data: legacy })
      .when({ id: 'p1', changes: { requestedChassis: 'c2' } }, {})
      .then([{ type: 'LogicalPortUpdated', data: { ...legacy, requestedChassis: 'c2' } }]);
  });
});

describe('chassis and interfaces', () => {
  const live: DomainEvent[] = [
    { type: 'ChassisCreated', data: chassis },
    { type: 'OvsPortCreated', data: tap('tap1') },
    { type: 'OvsPortCreated', data: tap('tap2') },
  ];

  it('deleting a chassis deletes its interfaces in the same append', () => {
    decide('deleteChassis')
      .given(...live)
      .when({ id: 'c1' })
      .then([
        { type: 'OvsPortDeleted', data: { chassis: 'c1', name: 'tap1' } },
        { type: 'OvsPortDeleted', data: { chassis: 'c1', name: 'tap2' } },
        { type: 'ChassisDeleted', data: { id: 'c1' } },
      ]);
  });

  it('a deleted chassis may register again, without stale interfaces', () => {
    decide('createChassis')
      .given(
        { type: 'ChassisCreated', data: chassis },
        { type: 'OvsPortCreated', data: tap('tap1') },
        { type: 'ChassisDeleted', data: { id: 'c1' } },
      )
      .when(chassis)
      .then([
        { type: 'OvsPortDeleted', data: { chassis: 'c1', name: 'tap1' } },
        { type: 'ChassisCreated', data: chassis },
      ]);
    decide('createChassis')
      .given(...live)
      .when(chassis)
      .then({ kind: 'already-exists' });
  });

  it('merges chassis changes', () => {
    decide('updateChassis')
      .given(...live)
      .when({ id: 'c1', changes: { tunnelIp: '192.0.2.9' } })
      .then([{ type: 'ChassisUpdated', data: { ...chassis, tunnelIp: '192.0.2.9' } }]);
    decide('updateChassis').given().when({ id: 'c9', changes: {} }).then({ kind: 'not-found' });
  });

  it('interface reports are upserts', () => {
    const fresh = decide('reportOvsPort')
      .given(...live)
      .when(tap('tap3'))
      .then([{ type: 'OvsPortCreated', data: tap('tap3') }]);
    expect(fresh.ok && fresh.created).toBe(true);
    decide('reportOvsPort')
      .given(...live)
      .when(tap('tap1'))
      .then([]);
    const moved = { ...tap('tap1'), ofport: 7 };
    decide('reportOvsPort')
      .given(...live)
      .when(moved)
      .then([{ type: 'OvsPortUpdated', data: moved }]);
  });

  it('interfaces need a live chassis; unknown interfaces are 404', () => {
    decide('reportOvsPort')
      .given()
      .when(tap('tap1'))
      .then({ kind: 'not-found', errors: [{ field: 'id', in: 'path' }] });
    decide('removeOvsPort')
      .given(...live)
      .when({ chassis: 'c1', name: 'nope' })
      .then({ kind: 'not-found', errors: [{ field: 'name', in: 'path' }] });
    decide('removeOvsPort')
      .given(...live)
      .when({ chassis: 'c1', name: 'tap2' })
      .then([{ type: 'OvsPortDeleted', data: { chassis: 'c1', name: 'tap2' } }]);
  });
});

describe('switches and subnets', () => {
  const switchCreated: DomainEvent = {
    type: 'LogicalSwitchCreated',
    data: { id: 's1', networkType: 'geneve', segmentationId: 7 },
  };

  it('a switch in use cannot be deleted', () => {
    decide('deleteSwitch')
      .given(switchCreated)
      .when({ id: 's1' }, { ports: ['p1', 'p2'], subnets: ['n1'] })
      .then({ kind: 'conflict', detail: 'switch s1 is in use by ports p1, p2 and subnets n1' });
    decide('deleteSwitch')
      .given(switchCreated)
      .when({ id: 's1' }, { ports: [], subnets: [] })
      .then([{ type: 'LogicalSwitchDeleted', data: { id: 's1' } }]);
    decide('deleteSwitch')
      .given()
      .when({ id: 's1' }, { ports: [], subnets: [] })
      .then({ kind: 'not-found' });
  });

  it('a subnet needs a live switch', () => {
    const subnet = { id: 'n1', switchId: 's1', cidr: '10.0.0.0/24', dhcpEnabled: true };
    decide('createSubnet')
      .given()
      .when(subnet, { switchLive: false })
      .then({ kind: 'not-found', errors: [{ field: '/switchId' }] });
    decide('createSubnet')
      .given()
      .when(subnet, { switchLive: true })
      .then([{ type: 'SubnetCreated', data: subnet }]);
  });

  it('a segmentation id within its network type', () => {
    const cases: [LogicalSwitch, string | undefined][] = [
      [{ id: 's1', networkType: 'geneve', segmentationId: 16_777_215 }, undefined],
      [
        { id: 's1', networkType: 'vxlan', segmentationId: 0 },
        '0 is not a vxlan VNI: it must be from 1 to 16777215',
      ],
      [{ id: 's1', networkType: 'vlan', segmentationId: 4094, physicalNetwork: 'p' }, undefined],
      [
        { id: 's1', networkType: 'vlan', segmentationId: 4095 },
        '4095 is not a VLAN id: it must be from 1 to 4094',
      ],
      [{ id: 's1', networkType: 'flat', physicalNetwork: 'p' }, undefined],
      [
        { id: 's1', networkType: 'flat', segmentationId: 3 },
        'a flat network has no segmentation id; leave it out',
      ],
    ];
    for (const [lswitch, reason] of cases)
      decide('createSwitch')
        .given()
        .when(lswitch)
        .then(
          reason === undefined
            ? [{ type: 'LogicalSwitchCreated', data: lswitch }]
            : { kind: 'invalid', errors: [{ field: '/segmentationId', reason }] },
        );
  });

  it("a subnet's gateway inside it, when the network or the gateway changes", () => {
    const subnet = { id: 'n1', switchId: 's1', cidr: '10.0.0.0/24', dhcpEnabled: true };
    decide('createSubnet')
      .given()
      .when({ ...subnet, gatewayIp: '10.0.1.1' }, { switchLive: true })
      .then({
        kind: 'invalid',
        errors: [{ field: '/gatewayIp', reason: 'the gateway 10.0.1.1 is not in 10.0.0.0/24' }],
      });
    const created: DomainEvent = {
      type: 'SubnetCreated',
      data: { ...subnet, gatewayIp: '10.0.0.1' },
    };
    decide('updateSubnet')
      .given(created)
      .when({ id: 'n1', changes: { cidr: '10.0.8.0/24' } })
      .then({ kind: 'invalid', errors: [{ field: '/gatewayIp' }] });
    decide('updateSubnet')
      .given(created)
      .when({ id: 'n1', changes: { cidr: '10.0.8.0/24', gatewayIp: '10.0.8.1' } })
      .then([
        { type: 'SubnetUpdated', data: { ...subnet, cidr: '10.0.8.0/24', gatewayIp: '10.0.8.1' } },
      ]);
  });

  it('a subnet PATCH with gatewayIp null removes the gateway', () => {
    decide('updateSubnet')
      .given({
        type: 'SubnetCreated',
        data: {
          id: 'n1',
          switchId: 's1',
          cidr: '10.0.0.0/24',
          gatewayIp: '10.0.0.1',
          dhcpEnabled: true,
        },
      })
      .when({ id: 'n1', changes: { gatewayIp: null, dhcpEnabled: false } })
      .then([
        {
          type: 'SubnetUpdated',
          data: { id: 'n1', switchId: 's1', cidr: '10.0.0.0/24', dhcpEnabled: false },
        },
      ]);
  });
});

describe('routers', () => {
  const router = { id: 'r1', interfacePortIds: ['p1'], gatewayPortId: null };
  const live: DomainEvent = { type: 'LogicalRouterCreated', data: router };
  const livePorts = new Set(['p1', 'p2']);

  it('names every unknown port by its position in the body', () => {
    decide('createRouter')
      .given()
      .when({ id: 'r2', interfacePortIds: ['p1', 'x1'], gatewayPortId: 'x2' }, { livePorts })
      .then({
        kind: 'not-found',
        errors: [
          { field: '/interfacePortIds/1', reason: 'no port x1' },
          { field: '/gatewayPortId', reason: 'no port x2' },
        ],
      });
  });

  it('a port is an interface or the gateway, not both', () => {
    decide('createRouter')
      .given()
      .when({ id: 'r2', interfacePortIds: ['p1'], gatewayPortId: 'p1' }, { livePorts })
      .then({ kind: 'invalid', errors: [{ field: '/gatewayPortId' }] });
    decide('setRouterGateway')
      .given(live)
      .when({ routerId: 'r1', portId: 'p1' }, { livePorts })
      .then({ kind: 'conflict' });
  });

  it('attaches and detaches interfaces', () => {
    const added = decide('addRouterInterface')
      .given(live)
      .when({ routerId: 'r1', portId: 'p2' }, { livePorts })
      .then([
        { type: 'LogicalRouterUpdated', data: { ...router, interfacePortIds: ['p1', 'p2'] } },
      ]);
    expect(added.ok && added.created).toBe(true); // 201: an interface came into being
    decide('addRouterInterface')
      .given(live)
      .when({ routerId: 'r1', portId: 'p1' }, { livePorts })
      .then({ kind: 'conflict' });
    decide('addRouterInterface')
      .given(live)
      .when({ routerId: 'r1', portId: 'x' }, { livePorts })
      .then({ kind: 'not-found', errors: [{ field: '/portId' }] });
    decide('removeRouterInterface')
      .given(live)
      .when({ routerId: 'r1', portId: 'p1' })
      .then([{ type: 'LogicalRouterUpdated', data: { ...router, interfacePortIds: [] } }]);
    decide('removeRouterInterface')
      .given(live)
      .when({ routerId: 'r1', portId: 'p2' })
      .then({ kind: 'not-found', errors: [{ field: 'portId', in: 'path' }] });
  });

  it('sets and clears the gateway', () => {
    decide('setRouterGateway')
      .given(live)
      .when({ routerId: 'r1', portId: 'p2' }, { livePorts })
      .then([{ type: 'LogicalRouterUpdated', data: { ...router, gatewayPortId: 'p2' } }]);
    decide('clearRouterGateway').given(live).when({ routerId: 'r1' }).then({ kind: 'not-found' });
    decide('setRouterGateway')
      .given()
      .when({ routerId: 'r9', portId: 'p2' }, { livePorts })
      .then({ kind: 'not-found' });
  });
});

describe('floating IPs and segmentations', () => {
  const livePorts = new Set(['fp', 'p1']);
  const fip = { id: 'f1', floatingPortId: 'fp', fixedPortId: null };
  const live: DomainEvent = { type: 'FloatingIpCreated', data: fip };

  it('checks both ports of a floating IP', () => {
    decide('createFloatingIp')
      .given()
      .when({ ...fip, floatingPortId: 'x', fixedPortId: 'y' }, { livePorts })
      .then({
        kind: 'not-found',
        errors: [{ field: '/floatingPortId' }, { field: '/fixedPortId' }],
      });
    decide('createFloatingIp')
      .given()
      .when({ ...fip, fixedPortId: 'fp' }, { livePorts })
      .then({ kind: 'invalid' });
  });

  it('associates, re-associates idempotently, disassociates', () => {
    const associated = { ...fip, fixedPortId: 'p1' };
    decide('associateFloatingIp')
      .given(live)
      .when({ id: 'f1', portId: 'p1' }, { livePorts })
      .then([{ type: 'FloatingIpUpdated', data: associated }]);
    decide('associateFloatingIp')
      .given(live)
      .when({ id: 'f1', portId: null }, { livePorts })
      .then([]);
    decide('associateFloatingIp')
      .given(live, { type: 'FloatingIpUpdated', data: associated })
      .when({ id: 'f1', portId: null }, { livePorts })
      .then([{ type: 'FloatingIpUpdated', data: fip }]);
    decide('associateFloatingIp')
      .given(live)
      .when({ id: 'f1', portId: 'zz' }, { livePorts })
      .then({ kind: 'not-found', errors: [{ field: '/portId' }] });
    decide('associateFloatingIp')
      .given(live)
      .when({ id: 'f1', portId: 'fp' }, { livePorts })
      .then({ kind: 'invalid' });
  });

  it('a segmentation needs two distinct live ports', () => {
    const segmentation = {
      id: 'g1',
      parentPortId: 'fp',
      childPortId: 'x',
      segmentationType: 'vlan' as const,
      segmentationId: 100,
    };
    decide('createSegmentation')
      .given()
      .when(segmentation, { livePorts })
      .then({ kind: 'not-found', errors: [{ field: '/childPortId' }] });
    decide('createSegmentation')
      .given()
      .when({ ...segmentation, childPortId: 'fp' }, { livePorts })
      .then({ kind: 'invalid' });
    decide('createSegmentation')
      .given()
      .when({ ...segmentation, childPortId: 'p1' }, { livePorts })
      .then([
        { type: 'ChildPortSegmentationCreated', data: { ...segmentation, childPortId: 'p1' } },
      ]);
  });
});
