/**
 * A realistic log for the projection tests: model commands as the API would append them, with
 * the apps' runner deciding every locality event (claims, acks, moves, distributed reasons,
 * deletions), so the projections see exactly what production logs hold.
 */
import type { DomainEvent } from '../../src/events/index.js';
import { chassis, lswitch, ovsPort, ovsPortGone, port } from '../apps/harness.js';

export const script: readonly DomainEvent[] = [
  chassis('A', 1),
  chassis('B', 2),
  chassis('C', 3),
  lswitch('s1'),
  lswitch('v1', { networkType: 'vlan', segmentationId: 5, physicalNetwork: 'physnet1' }),
  port('p1', 's1', { requestedChassis: 'A' }),
  port('p2', 's1'),
  port('p3', 'v1'),
  port('p4', 'v1'),
  port('p5', 's1'),
  ovsPort('A', 'tap1', 'p1'),
  ovsPort('B', 'tap2', 'p2'),
  ovsPort('C', 'tap3', 'p3'),
  ovsPort('A', 'tap4', 'p4'),
  ovsPort('C', 'tap5', 'p5'),
  port('fip', 's1', { deviceOwner: 'floatingip' }),
  { type: 'FloatingIpCreated', data: { id: 'f1', floatingPortId: 'fip', fixedPortId: 'p1' } },
  port('parent', 's1'),
  port('child', 's1', { deviceOwner: 'trunk_subport' }),
  ovsPort('B', 'tap-trunk', 'parent'),
  {
    type: 'ChildPortSegmentationCreated',
    data: {
      id: 'seg1',
      parentPortId: 'parent',
      childPortId: 'child',
      segmentationType: 'vlan',
      segmentationId: 101,
    },
  },
  port('rif', 's1', { deviceOwner: 'router_interface' }),
  {
    type: 'LogicalRouterCreated',
    data: { id: 'r1', interfacePortIds: ['rif'], gatewayPortId: null },
  },
  port('dh', 's1', { deviceOwner: 'dhcp' }),
  {
    type: 'SubnetCreated',
    data: { id: 'sn', switchId: 's1', cidr: '10.0.0.0/24', dhcpEnabled: true },
  },
  // Live migration of p1 from A to C: both claim for a while, the owner follows the request.
  port('p1', 's1', { requestedChassis: 'C' }, 'LogicalPortUpdated'),
  ovsPort('C', 'tap1', 'p1'),
  ovsPortGone('A', 'tap1'),
  // The trunk moves: its child follows.
  ovsPort('C', 'tap-trunk', 'parent'),
  ovsPortGone('B', 'tap-trunk'),
  { type: 'LogicalPortDeleted', data: { id: 'p2' } },
  {
    type: 'SubnetUpdated',
    data: { id: 'sn', switchId: 's1', cidr: '10.0.0.0/24', dhcpEnabled: false },
  },
  { type: 'ChassisDeleted', data: { id: 'B' } },
];
