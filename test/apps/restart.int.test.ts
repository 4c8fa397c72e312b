import { expect, it } from 'vitest';
import type { DomainEvent } from '../../src/events/index.js';
import { chassis, lswitch, ovsPort, ovsPortGone, port } from './harness.js';
import { describeOnStores } from './stores.js';

/** A long scenario touching every app. */
const script: DomainEvent[] = [
  chassis('A', 1),
  chassis('B', 2),
  chassis('C', 3),
  lswitch('s1'),
  lswitch('v1', { networkType: 'vlan', segmentationId: 5, physicalNetwork: 'physnet1' }),
  port('p1', 's1', { requestedChassis: 'A' }),
  port('p2', 's1'),
  port('p3', 'v1'),
  port('p4', 'v1'),
  ovsPort('A', 'tap1', 'p1'),
  ovsPort('B', 'tap2', 'p2'),
  ovsPort('C', 'tap3', 'p3'),
  ovsPort('A', 'tap4', 'p4'),
  port('fip', 's1', { deviceOwner: 'floatingip' }),
  { type: 'FloatingIpCreated', data: { id: 'f1', floatingPortId: 'fip', fixedPortId: 'p1' } },
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
  port('p1', 's1', { requestedChassis: 'C' }, 'LogicalPortUpdated'),
  ovsPort('C', 'tap1', 'p1'),
  ovsPortGone('A', 'tap1'),
  { type: 'LogicalPortDeleted', data: { id: 'p2' } },
];

/**
 * Each port's locality events in order. Events of different ports have no order of their own:
 * the runner decides the ports a page of events touched together, and where a restart cuts the
 * pages changes how their appends interleave, not what each port's stream holds.
 */
function byPort(events: { type: string; data: unknown }[]): Map<string, typeof events> {
  const ports = new Map<string, typeof events>();
  for (const event of events) {
    const portId = (event.data as { portId: string }).portId;
    ports.set(portId, [...(ports.get(portId) ?? []), event]);
  }
  return new Map([...ports].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

describeOnStores(
  'runner restart',
  (open, kind) => {
    it('14: a runner restarted after any prefix of the log ends with exactly the uninterrupted events', async () => {
      // Uninterrupted: each command is handled to quiescence before the next one.
      const reference = await open();
      for (const event of script) await reference.given(event);
      const uninterrupted = await reference.allLocality();
      expect(uninterrupted.length).toBeGreaterThan(20);
      // The agents' acks are among them (and the apps' withdrawals of some).
      expect(uninterrupted.filter((e) => e.type === 'RemoteCreated').length).toBeGreaterThan(5);
      const expected = byPort(uninterrupted);
      const total = await reference.store.headPosition();

      // The same, but the runner dies right after handling position k (every k in the log) and a
      // new one, knowing nothing but the saved checkpoint, takes over; the chassis' agents go on
      // acking throughout (they follow the log, not the runner).
      // Every position on PostgreSQL; every third on the embedded store, whose fresh instances
      // cost ~0.5 s each (the same code paths, fewer samples).
      const step = kind === 'embedded' ? 3n : 1n;
      for (let k = 1n; k <= total; k += step) {
        const s = await open();
        s.crashAfter(k);
        for (const event of script) await s.given(event);
        expect(byPort(await s.allLocality()), `restart after position ${k}`).toEqual(expected);
      }
    }, 180_000);
  },
  { kinds: ['embedded', 'postgres'] },
);
