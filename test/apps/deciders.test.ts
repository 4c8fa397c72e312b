/**
 * The locality apps as pure deciders, given/when/then: the log's history folded into a
 * topology, one more event, the locality events the apps decide (no store, no runner). Remote
 * acks are the chassis agents' (agent(C).given(...).then({put, withdraw})), never the apps'.
 */
import { describe, it } from 'vitest';
import { classification } from '../../src/apps/classification.js';
import { dhcp, l3 } from '../../src/apps/distributed.js';
import { tunnel } from '../../src/apps/remote.js';
import type { DeviceOwner, DomainEvent } from '../../src/events/index.js';
import { agent, react } from '../support/given-when-then.js';

const chassis = (id: string, octet: number): DomainEvent => ({
  type: 'ChassisCreated',
  data: { id, tunnelIp: `192.0.2.${octet}`, tunnelTypes: ['geneve'], bridgeMappings: {} },
});
const lswitch = (id: string): DomainEvent => ({
  type: 'LogicalSwitchCreated',
  data: { id, networkType: 'geneve', segmentationId: 7 },
});
const port = (id: string, switchId: string, deviceOwner: DeviceOwner = 'compute'): DomainEvent => ({
  type: 'LogicalPortCreated',
  data: { id, switchId, macs: [], ips: [], deviceOwner, requestedChassis: null },
});
const plugged = (chassisId: string, name: string, ifaceId: string): DomainEvent => ({
  type: 'OvsPortCreated',
  data: { chassis: chassisId, name, ofport: 1, ifaceId, type: '' },
});
const unplugged = (chassisId: string, name: string): DomainEvent => ({
  type: 'OvsPortDeleted',
  data: { chassis: chassisId, name },
});
const local = (portId: string, chassisId: string): DomainEvent => ({
  type: 'LocalCreated',
  data: { portId, chassis: chassisId },
});
const localGone = (portId: string, chassisId: string): DomainEvent => ({
  type: 'LocalDeleted',
  data: { portId, chassis: chassisId },
});
const remote = (portId: string, chassisId: string, owner: string): DomainEvent => ({
  type: 'RemoteCreated',
  data: { portId, chassis: chassisId, owner },
});
const remoteGone = (portId: string, chassisId: string): DomainEvent => ({
  type: 'RemoteDeleted',
  data: { portId, chassis: chassisId },
});

const twoChassis = [chassis('A', 1), chassis('B', 2), lswitch('s1'), port('p1', 's1')];

describe('classification', () => {
  it('an interface naming a port makes the port local on its chassis', () => {
    react(classification)
      .given(...twoChassis)
      .when(plugged('A', 'tap1', 'p1'))
      .then([local('p1', 'A')]);
  });

  it('an interface seen before its port is acted on once the port is created', () => {
    react(classification)
      .given(chassis('A', 1), lswitch('s1'), plugged('A', 'tap1', 'p1'))
      .when(port('p1', 's1'))
      .then([local('p1', 'A')]);
  });

  it('decides nothing twice: an interface re-reported with a new ofport changes no claim', () => {
    react(classification)
      .given(...twoChassis, plugged('A', 'tap1', 'p1'), local('p1', 'A'))
      .when({
        type: 'OvsPortUpdated',
        data: { chassis: 'A', name: 'tap1', ofport: 9, ifaceId: 'p1', type: '' },
      })
      .then([]);
  });

  it('the interface leaving ends the claim', () => {
    react(classification)
      .given(...twoChassis, plugged('A', 'tap1', 'p1'), local('p1', 'A'))
      .when(unplugged('A', 'tap1'))
      .then([localGone('p1', 'A')]);
  });

  it('leaves ports that other apps decide alone', () => {
    react(classification)
      .given(chassis('A', 1), lswitch('s1'), port('r1-if', 's1', 'router_interface'))
      .when(plugged('A', 'tap1', 'r1-if'))
      .then([]);
  });
});

describe('tunnel', () => {
  const bound = [
    ...twoChassis,
    port('p2', 's1'),
    plugged('A', 'tap1', 'p1'),
    local('p1', 'A'),
    plugged('B', 'tap2', 'p2'),
  ];

  it("a chassis' first local port on a switch makes it and the owners there reach each other: their agents ack, the apps do not", () => {
    react(classification, tunnel)
      .given(...bound)
      .when(local('p2', 'B'))
      .then([]);
    agent('A')
      .given(...bound, local('p2', 'B'))
      .then({ put: [{ portId: 'p2', owner: 'B' }] });
    agent('B')
      .given(...bound, local('p2', 'B'))
      .then({ put: [{ portId: 'p1', owner: 'A' }] });
  });

  it("the app withdraws an ack once the chassis' interest in the switch ends", () => {
    // (p2's own acks went with its last claim, in the fold.)
    react(tunnel)
      .given(...bound, local('p2', 'B'), remote('p2', 'A', 'B'), remote('p1', 'B', 'A'))
      .when(localGone('p2', 'B'))
      .then([remoteGone('p1', 'B')]);
  });
});

describe('l3 and dhcp', () => {
  it("a router's interface port is distributed while the router uses it", () => {
    const router = { id: 'r1', interfacePortIds: ['p1'], gatewayPortId: null };
    const history = [...twoChassis, { type: 'LogicalRouterCreated', data: router } as DomainEvent];
    react(l3)
      .given(...twoChassis)
      .when({ type: 'LogicalRouterCreated', data: router })
      .then([
        { type: 'DistributedCreated', data: { portId: 'p1', reason: 'router-interface:r1' } },
      ]);
    react(l3)
      .given(...history, {
        type: 'DistributedCreated',
        data: { portId: 'p1', reason: 'router-interface:r1' },
      })
      .when({ type: 'LogicalRouterDeleted', data: { id: 'r1' } })
      .then([
        { type: 'DistributedDeleted', data: { portId: 'p1', reason: 'router-interface:r1' } },
      ]);
  });

  it("a switch's DHCP port is distributed while a subnet there has DHCP on", () => {
    const subnet = { id: 'n1', switchId: 's1', cidr: '10.0.0.0/24', dhcpEnabled: true };
    const reason = { portId: 'd1', reason: 'dhcp:s1' };
    react(dhcp)
      .given(lswitch('s1'), port('d1', 's1', 'dhcp'))
      .when({ type: 'SubnetCreated', data: subnet })
      .then([{ type: 'DistributedCreated', data: reason }]);
    react(dhcp)
      .given(
        lswitch('s1'),
        port('d1', 's1', 'dhcp'),
        { type: 'SubnetCreated', data: subnet },
        { type: 'DistributedCreated', data: reason },
      )
      .when({ type: 'SubnetUpdated', data: { ...subnet, dhcpEnabled: false } })
      .then([{ type: 'DistributedDeleted', data: reason }]);
  });
});
