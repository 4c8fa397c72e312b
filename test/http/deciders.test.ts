/** The pure command deciders: (command, folded state, references) → events | rejection. */
import { describe, expect, it } from 'vitest';
import {
  chassisFold,
  createChassis,
  deleteChassis,
  removeOvsPort,
  reportOvsPort,
  updateChassis,
} from '../../src/commands/chassis.js';
import type { Decision } from '../../src/commands/decision.js';
import { associateFloatingIp, createFloatingIp } from '../../src/commands/floating-ips.js';
import { absent, documentFold, type StreamFold } from '../../src/commands/lifecycle.js';
import { createPort, deletePort, portFold, updatePort } from '../../src/commands/ports.js';
import {
  addInterface,
  clearGateway,
  createRouter,
  removeInterface,
  setGateway,
} from '../../src/commands/routers.js';
import { createSegmentation } from '../../src/commands/segmentations.js';
import { updateSubnet } from '../../src/commands/subnets.js';
import { deleteSwitch } from '../../src/commands/switches.js';
import type { Chassis, DomainEvent, LogicalPort, OvsPort } from '../../src/events/index.js';

const fold = <S>(f: StreamFold<S>, events: readonly DomainEvent[]): S =>
  events.reduce((state, event) => f.evolve(state, event), f.initial);

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

const events = <R>(decision: Decision<R>) => {
  if (!decision.ok) throw new Error(`rejected: ${decision.error.detail}`);
  return decision.events;
};
const rejection = <R>(decision: Decision<R>) => {
  if (decision.ok) throw new Error('accepted');
  return decision.error;
};

describe('ports', () => {
  const created = fold(portFold, [{ type: 'LogicalPortCreated', data: port }]);
  const deleted = fold(portFold, [
    { type: 'LogicalPortCreated', data: port },
    { type: 'LogicalPortDeleted', data: { id: 'p1' } },
  ]);

  it('creates a port on a live switch', () => {
    const decision = createPort(port, portFold.initial, { switchLive: true });
    expect(events(decision)).toEqual([{ type: 'LogicalPortCreated', data: port }]);
    expect(decision.ok && decision.created).toBe(true);
  });

  it('names the unknown switch', () => {
    expect(rejection(createPort(port, portFold.initial, { switchLive: false }))).toMatchObject({
      kind: 'not-found',
      errors: [{ field: '/switchId', reason: 'no switch s1' }],
    });
  });

  it('refuses a duplicate id', () => {
    expect(rejection(createPort(port, created, { switchLive: true })).kind).toBe('already-exists');
  });

  it('refuses to resurrect a deleted port: the machine says deleted is final', () => {
    const error = rejection(createPort(port, deleted, { switchLive: true }));
    expect(error).toMatchObject({ kind: 'refused', code: 'port-deleted' });
    expect(error.detail).toBe(
      'port p1: view port in state deleted refuses LogicalPortCreated{requestedChassis=null}: the port is deleted',
    );
  });

  it('merges a PATCH into the current document and emits the whole version', () => {
    const decision = updatePort('p1', { requestedChassis: 'c2' }, created);
    expect(events(decision)).toEqual([
      { type: 'LogicalPortUpdated', data: { ...port, requestedChassis: 'c2' } },
    ]);
  });

  it('appends nothing for a PATCH that changes nothing', () => {
    expect(events(updatePort('p1', { ips: ['10.0.0.5'] }, created))).toEqual([]);
  });

  it('updates and deletes of an unknown port are 404, of a deleted port refused', () => {
    expect(rejection(updatePort('p1', { ips: [] }, portFold.initial)).kind).toBe('not-found');
    expect(rejection(deletePort('p1', portFold.initial)).kind).toBe('not-found');
    expect(rejection(updatePort('p1', { ips: [] }, deleted))).toMatchObject({
      kind: 'refused',
      code: 'port-deleted',
    });
    expect(rejection(deletePort('p1', deleted)).kind).toBe('refused');
  });

  it('folds locality events into the machine facts', () => {
    const state = fold(portFold, [
      { type: 'LogicalPortCreated', data: port },
      { type: 'LocalCreated', data: { portId: 'p1', chassis: 'c1' } },
    ]);
    expect(state.facts.claims).toEqual(['c1']);
    expect(events(deletePort('p1', state))).toEqual([
      { type: 'LogicalPortDeleted', data: { id: 'p1' } },
    ]);
  });
});

describe('chassis and interfaces', () => {
  const live = fold(chassisFold, [
    { type: 'ChassisCreated', data: chassis },
    { type: 'OvsPortCreated', data: tap('tap1') },
    { type: 'OvsPortCreated', data: tap('tap2') },
  ]);

  it('deleting a chassis deletes its interfaces in the same append', () => {
    expect(events(deleteChassis('c1', live))).toEqual([
      { type: 'OvsPortDeleted', data: { chassis: 'c1', name: 'tap1' } },
      { type: 'OvsPortDeleted', data: { chassis: 'c1', name: 'tap2' } },
      { type: 'ChassisDeleted', data: { id: 'c1' } },
    ]);
  });

  it('a deleted chassis may register again, without stale interfaces', () => {
    const gone = fold(chassisFold, [
      { type: 'ChassisCreated', data: chassis },
      { type: 'OvsPortCreated', data: tap('tap1') },
      { type: 'ChassisDeleted', data: { id: 'c1' } },
    ]);
    expect(events(createChassis(chassis, gone))).toEqual([
      { type: 'OvsPortDeleted', data: { chassis: 'c1', name: 'tap1' } },
      { type: 'ChassisCreated', data: chassis },
    ]);
    expect(rejection(createChassis(chassis, live)).kind).toBe('already-exists');
  });

  it('merges chassis changes', () => {
    expect(events(updateChassis('c1', { tunnelIp: '192.0.2.9' }, live))).toEqual([
      { type: 'ChassisUpdated', data: { ...chassis, tunnelIp: '192.0.2.9' } },
    ]);
    expect(rejection(updateChassis('c9', {}, chassisFold.initial)).kind).toBe('not-found');
  });

  it('interface reports are upserts', () => {
    const fresh = reportOvsPort('c1', tap('tap3'), live);
    expect(events(fresh)).toEqual([{ type: 'OvsPortCreated', data: tap('tap3') }]);
    expect(fresh.ok && fresh.created).toBe(true);
    expect(events(reportOvsPort('c1', tap('tap1'), live))).toEqual([]);
    const moved = { ...tap('tap1'), ofport: 7 };
    expect(events(reportOvsPort('c1', moved, live))).toEqual([
      { type: 'OvsPortUpdated', data: moved },
    ]);
  });

  it('interfaces need a live chassis; unknown interfaces are 404', () => {
    expect(rejection(reportOvsPort('c1', tap('tap1'), chassisFold.initial))).toMatchObject({
      kind: 'not-found',
      errors: [{ field: 'id', in: 'path' }],
    });
    expect(rejection(removeOvsPort('c1', 'nope', live))).toMatchObject({
      kind: 'not-found',
      errors: [{ field: 'name', in: 'path' }],
    });
    expect(events(removeOvsPort('c1', 'tap2', live))).toEqual([
      { type: 'OvsPortDeleted', data: { chassis: 'c1', name: 'tap2' } },
    ]);
  });
});

describe('switches and subnets', () => {
  const lswitch = fold(documentFold('switch'), [
    { type: 'LogicalSwitchCreated', data: { id: 's1', networkType: 'geneve', segmentationId: 7 } },
  ]);

  it('a switch in use cannot be deleted', () => {
    const error = rejection(deleteSwitch('s1', lswitch, { ports: ['p1', 'p2'], subnets: ['n1'] }));
    expect(error.kind).toBe('conflict');
    expect(error.detail).toBe('switch s1 is in use by ports p1, p2 and subnets n1');
    expect(events(deleteSwitch('s1', lswitch, { ports: [], subnets: [] }))).toEqual([
      { type: 'LogicalSwitchDeleted', data: { id: 's1' } },
    ]);
    expect(rejection(deleteSwitch('s1', absent, { ports: [], subnets: [] })).kind).toBe(
      'not-found',
    );
  });

  it('a subnet PATCH with gatewayIp null removes the gateway', () => {
    const subnet = fold(documentFold('subnet'), [
      {
        type: 'SubnetCreated',
        data: {
          id: 'n1',
          switchId: 's1',
          cidr: '10.0.0.0/24',
          gatewayIp: '10.0.0.1',
          dhcpEnabled: true,
        },
      },
    ]);
    expect(events(updateSubnet('n1', { gatewayIp: null, dhcpEnabled: false }, subnet))).toEqual([
      {
        type: 'SubnetUpdated',
        data: { id: 'n1', switchId: 's1', cidr: '10.0.0.0/24', dhcpEnabled: false },
      },
    ]);
  });
});

describe('routers', () => {
  const router = { id: 'r1', interfacePortIds: ['p1'], gatewayPortId: null };
  const live = fold(documentFold('router'), [{ type: 'LogicalRouterCreated', data: router }]);
  const livePorts = new Set(['p1', 'p2']);

  it('names every unknown port by its position in the body', () => {
    const error = rejection(
      createRouter({ id: 'r2', interfacePortIds: ['p1', 'x1'], gatewayPortId: 'x2' }, absent, {
        livePorts,
      }),
    );
    expect(error).toMatchObject({
      kind: 'not-found',
      errors: [
        { field: '/interfacePortIds/1', reason: 'no port x1' },
        { field: '/gatewayPortId', reason: 'no port x2' },
      ],
    });
  });

  it('a port is an interface or the gateway, not both', () => {
    expect(
      rejection(
        createRouter({ id: 'r2', interfacePortIds: ['p1'], gatewayPortId: 'p1' }, absent, {
          livePorts,
        }),
      ),
    ).toMatchObject({ kind: 'invalid', errors: [{ field: '/gatewayPortId' }] });
    expect(rejection(setGateway('r1', 'p1', live, { livePorts })).kind).toBe('conflict');
  });

  it('attaches and detaches interfaces', () => {
    expect(events(addInterface('r1', 'p2', live, { livePorts }))).toEqual([
      { type: 'LogicalRouterUpdated', data: { ...router, interfacePortIds: ['p1', 'p2'] } },
    ]);
    expect(rejection(addInterface('r1', 'p1', live, { livePorts })).kind).toBe('conflict');
    expect(rejection(addInterface('r1', 'x', live, { livePorts }))).toMatchObject({
      kind: 'not-found',
      errors: [{ field: '/portId' }],
    });
    expect(events(removeInterface('r1', 'p1', live))).toEqual([
      { type: 'LogicalRouterUpdated', data: { ...router, interfacePortIds: [] } },
    ]);
    expect(rejection(removeInterface('r1', 'p2', live))).toMatchObject({
      kind: 'not-found',
      errors: [{ field: 'portId', in: 'path' }],
    });
  });

  it('sets and clears the gateway', () => {
    expect(events(setGateway('r1', 'p2', live, { livePorts }))).toEqual([
      { type: 'LogicalRouterUpdated', data: { ...router, gatewayPortId: 'p2' } },
    ]);
    expect(rejection(clearGateway('r1', live)).kind).toBe('not-found');
    expect(rejection(setGateway('r9', 'p2', absent, { livePorts })).kind).toBe('not-found');
  });
});

describe('floating IPs and segmentations', () => {
  const livePorts = new Set(['fp', 'p1']);
  const fip = { id: 'f1', floatingPortId: 'fp', fixedPortId: null };
  const live = fold(documentFold('fip'), [{ type: 'FloatingIpCreated', data: fip }]);

  it('checks both ports of a floating IP', () => {
    expect(
      rejection(
        createFloatingIp({ ...fip, floatingPortId: 'x', fixedPortId: 'y' }, absent, { livePorts }),
      ),
    ).toMatchObject({ errors: [{ field: '/floatingPortId' }, { field: '/fixedPortId' }] });
    expect(
      rejection(createFloatingIp({ ...fip, fixedPortId: 'fp' }, absent, { livePorts })).kind,
    ).toBe('invalid');
  });

  it('associates, re-associates idempotently, disassociates', () => {
    const associated = { ...fip, fixedPortId: 'p1' };
    expect(events(associateFloatingIp('f1', 'p1', live, { livePorts }))).toEqual([
      { type: 'FloatingIpUpdated', data: associated },
    ]);
    expect(events(associateFloatingIp('f1', null, live, { livePorts }))).toEqual([]);
    expect(rejection(associateFloatingIp('f1', 'zz', live, { livePorts }))).toMatchObject({
      kind: 'not-found',
      errors: [{ field: '/portId' }],
    });
    expect(rejection(associateFloatingIp('f1', 'fp', live, { livePorts })).kind).toBe('invalid');
  });

  it('a segmentation needs two distinct live ports', () => {
    const segmentation = {
      id: 'g1',
      parentPortId: 'fp',
      childPortId: 'x',
      segmentationType: 'vlan' as const,
      segmentationId: 100,
    };
    expect(rejection(createSegmentation(segmentation, absent, { livePorts }))).toMatchObject({
      kind: 'not-found',
      errors: [{ field: '/childPortId' }],
    });
    expect(
      rejection(createSegmentation({ ...segmentation, childPortId: 'fp' }, absent, { livePorts }))
        .kind,
    ).toBe('invalid');
  });
});
