/**
 * The command table's pure deciders, given/when/then: a stream's history, a command (with the
 * references it would have read), the events decided or the rejection.
 */
import { describe, expect, it } from 'vitest';
import { commandTable } from '../../src/commands/index.js';
import type { Chassis, DomainEvent, LogicalPort, OvsPort } from '../../src/events/index.js';
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
