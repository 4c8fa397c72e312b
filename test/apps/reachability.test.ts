/**
 * A chassis is offered a remote view only when it reaches the owner (src/domain/reachability.ts):
 * its agent acks only what it reaches, and the server's tunnel and provider apps, which never
 * ack, withdraw an ack once the chassis stops reaching the owner. Given/when/then over the pure
 * deciders (the apps) and the agent's own ack decision.
 */
import { describe, it } from 'vitest';
import { provider, tunnel } from '../../src/apps/remote.js';
import type { Chassis, DomainEvent, LogicalSwitch } from '../../src/events/index.js';
import { agent, react } from '../support/given-when-then.js';

const chassisDoc = (id: string, octet: number, extra: Partial<Chassis> = {}): Chassis => ({
  id,
  tunnelIp: `192.0.2.${octet}`,
  tunnelTypes: ['geneve'],
  bridgeMappings: {},
  ...extra,
});
const chassis = (id: string, octet: number, extra: Partial<Chassis> = {}): DomainEvent => ({
  type: 'ChassisCreated',
  data: chassisDoc(id, octet, extra),
});
const lswitch = (id: string, extra: Partial<LogicalSwitch> = {}): DomainEvent => ({
  type: 'LogicalSwitchCreated',
  data: { id, networkType: 'geneve', segmentationId: 7, ...extra },
});
const port = (id: string, switchId: string): DomainEvent => ({
  type: 'LogicalPortCreated',
  data: { id, switchId, macs: [], ips: [], deviceOwner: 'compute', requestedChassis: null },
});
const local = (portId: string, chassisId: string): DomainEvent => ({
  type: 'LocalCreated',
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

describe('tunnel: shared tunnel type', () => {
  // A owns p1 on geneve switch s1; B (geneve) and C (vxlan only) each get a local port there.
  const history = [
    chassis('A', 1, { tunnelTypes: ['geneve', 'vxlan'] }),
    chassis('B', 2),
    chassis('C', 3, { tunnelTypes: ['vxlan'] }),
    lswitch('s1'),
    port('p1', 's1'),
    port('p2', 's1'),
    port('p3', 's1'),
    local('p1', 'A'),
  ];

  it('a vxlan-only chassis on a geneve switch is never offered a remote view', () => {
    react(tunnel)
      .given(...history)
      .when(local('p3', 'C'))
      .then([]);
    agent('C')
      .given(...history, local('p3', 'C'))
      .then({});
    // Nor does the owner's agent reach C's port.
    agent('A')
      .given(...history, local('p3', 'C'))
      .then({});
  });

  it('a chassis sharing the type is, both ways: both agents ack, the app decides nothing', () => {
    react(tunnel)
      .given(...history, local('p3', 'C'))
      .when(local('p2', 'B'))
      .then([]);
    agent('A')
      .given(...history, local('p3', 'C'), local('p2', 'B'))
      .then({ put: [{ portId: 'p2', owner: 'B' }] });
    agent('B')
      .given(...history, local('p3', 'C'), local('p2', 'B'))
      .then({ put: [{ portId: 'p1', owner: 'A' }] });
  });

  it('a chassis that gains the type is offered the views; one that loses it loses them', () => {
    const acked = [...history, local('p3', 'C'), local('p2', 'B')];
    const geneveC = {
      type: 'ChassisUpdated',
      data: chassisDoc('C', 3, { tunnelTypes: ['geneve'] }),
    } as const;
    react(tunnel)
      .given(...acked, remote('p2', 'A', 'B'), remote('p1', 'B', 'A'))
      .when(geneveC)
      .then([]);
    const gained = [...acked, remote('p2', 'A', 'B'), remote('p1', 'B', 'A'), geneveC];
    agent('A')
      .given(...gained)
      .then({ put: [{ portId: 'p3', owner: 'C' }] });
    agent('B')
      .given(...gained)
      .then({ put: [{ portId: 'p3', owner: 'C' }] });
    agent('C')
      .given(...gained)
      .then({
        put: [
          { portId: 'p1', owner: 'A' },
          { portId: 'p2', owner: 'B' },
        ],
      });
    react(tunnel)
      .given(...acked, remote('p2', 'A', 'B'), remote('p1', 'B', 'A'))
      .when({ type: 'ChassisUpdated', data: chassisDoc('B', 2, { tunnelTypes: ['vxlan'] }) })
      .then([remoteGone('p2', 'A'), remoteGone('p1', 'B')]);
  });

  it('a switch that changes to a type the chassis lack withdraws the views', () => {
    react(tunnel)
      .given(...history, local('p2', 'B'), remote('p2', 'A', 'B'), remote('p1', 'B', 'A'))
      .when({
        type: 'LogicalSwitchUpdated',
        data: { id: 's1', networkType: 'vxlan', segmentationId: 7 },
      })
      .then([remoteGone('p1', 'B'), remoteGone('p2', 'A')]);
  });
});

describe('provider: both map the physnet', () => {
  const history = [
    chassis('A', 1, { bridgeMappings: { physnet1: 'br-ex' } }),
    chassis('B', 2, { bridgeMappings: { physnet1: 'br-ex' } }),
    chassis('D', 4, { bridgeMappings: { physnet2: 'br-other' } }),
    lswitch('v1', { networkType: 'vlan', segmentationId: 42, physicalNetwork: 'physnet1' }),
    port('p1', 'v1'),
    port('p2', 'v1'),
    port('p4', 'v1'),
    local('p1', 'A'),
  ];

  it('a chassis without a bridge mapping for the physnet is never offered a remote view', () => {
    react(provider)
      .given(...history)
      .when(local('p4', 'D'))
      .then([]);
  });

  it('a chassis without the mapping acks nothing: its agent has no way there', () => {
    agent('D')
      .given(...history, local('p4', 'D'), local('p2', 'B'))
      .then({});
  });

  it('a chassis mapping it is, both ways: both agents ack, the app decides nothing', () => {
    react(provider)
      .given(...history, local('p4', 'D'))
      .when(local('p2', 'B'))
      .then([]);
    agent('A')
      .given(...history, local('p4', 'D'), local('p2', 'B'))
      .then({ put: [{ portId: 'p2', owner: 'B' }] });
    agent('B')
      .given(...history, local('p4', 'D'), local('p2', 'B'))
      .then({ put: [{ portId: 'p1', owner: 'A' }] });
  });

  it('a flat network needs the mapping too', () => {
    const flat = [
      ...history.slice(0, 3),
      lswitch('f1', { networkType: 'flat', physicalNetwork: 'physnet2' }),
      port('q1', 'f1'),
      port('q2', 'f1'),
      local('q1', 'D'),
    ];
    react(provider)
      .given(...flat)
      .when(local('q2', 'A'))
      .then([]);
    agent('A')
      .given(...flat, local('q2', 'A'))
      .then({});
  });
});
