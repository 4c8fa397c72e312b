/**
 * Random events of the model and locality streams over the small pipeline world's ids (so
 * ports share switches, MACs, interfaces and trunks), and the chassis port layouts the flow
 * computation is tried with: for property tests of a chassis' flows.
 */
import fc from 'fast-check';
import { applyEach, lportFacts } from '../../machines/lport.facts.js';
import {
  initialFacts,
  lportIdOf,
  type PortFacts,
  toLportEvents,
} from '../../machines/lport.rules.js';
import type { DomainEvent } from '../../src/events/index.js';
import type { ChassisPorts } from '../../src/ovs/chassis-view.js';
import { ev, mac, portsOfA } from './pipeline-fixtures.js';

export const chassisIds = ['A', 'B', 'C'] as const;
const portIds = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'a1', 't1', 'sp', 'b1'] as const;
const switchIds = ['s1', 's2', 's3', 's4'] as const;
const reasons = ['router-interface:r1', 'dhcp:s1'] as const;

export const pick = <T>(values: readonly T[]) => fc.constantFrom(...values);

/** Any event of the model and locality streams over the small world's ids. */
export const anEvent: fc.Arbitrary<DomainEvent> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .tuple(
        pick(portIds),
        pick(switchIds),
        fc.integer({ min: 0, max: 3 }),
        pick([
          'compute',
          'compute',
          'router_interface',
          'dhcp',
          'floatingip',
          'trunk_subport',
        ] as const),
        fc.boolean(),
        fc.boolean(),
      )
      .map(([id, switchId, m, deviceOwner, created, twoMacs]) =>
        ev.port(
          id,
          switchId,
          mac(m),
          {
            deviceOwner,
            ips: ['10.0.0.9'],
            macs: twoMacs ? [mac(m), mac(m + 7).toUpperCase()] : [mac(m)],
          },
          created ? 'LogicalPortCreated' : 'LogicalPortUpdated',
        ),
      ),
  },
  { weight: 1, arbitrary: pick(portIds).map((id) => ev.portDeleted(id)) },
  {
    weight: 5,
    arbitrary: fc
      .tuple(pick(portIds), pick(chassisIds), fc.boolean())
      .map(([id, chassis, created]) =>
        created ? ev.local(id, chassis) : ev.localGone(id, chassis),
      ),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(pick(portIds), pick(chassisIds), pick(chassisIds), fc.boolean())
      .map(
        ([portId, chassis, owner, created]): DomainEvent =>
          created
            ? { type: 'RemoteCreated', data: { portId, chassis, owner } }
            : { type: 'RemoteDeleted', data: { portId, chassis } },
      ),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(pick(portIds), pick(reasons), fc.boolean()).map(
      ([portId, reason, created]): DomainEvent => ({
        type: created ? 'DistributedCreated' : 'DistributedDeleted',
        data: { portId, reason },
      }),
    ),
  },
  {
    weight: 4,
    arbitrary: fc
      .tuple(
        pick(chassisIds),
        fc.integer({ min: 0, max: 3 }),
        fc.option(pick(portIds)),
        fc.option(fc.integer({ min: 1, max: 4 })),
        fc.boolean(),
      )
      .map(
        ([chassis, n, ifaceId, ofport, gone]): DomainEvent =>
          gone
            ? ev.ovsPortGone(chassis, `tap${n}`)
            : {
                type: 'OvsPortUpdated',
                data: {
                  chassis,
                  name: `tap${n}`,
                  ofport: ofport ?? null,
                  ifaceId: ifaceId ?? null,
                  type: '',
                },
              },
      ),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.integer({ min: 0, max: 1 }),
        pick(portIds),
        pick(portIds),
        fc.integer({ min: 1, max: 3 }),
        fc.boolean(),
      )
      .map(
        ([n, parent, child, vlan, gone]): DomainEvent =>
          gone
            ? { type: 'ChildPortSegmentationDeleted', data: { id: `seg${n}` } }
            : ev.segmentation(`seg${n}`, parent, child, 100 + vlan),
      ),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        pick(switchIds),
        pick(['geneve', 'vxlan', 'vlan', 'flat'] as const),
        fc.option(fc.integer({ min: 1, max: 3 })),
        fc.boolean(),
      )
      .map(
        ([id, networkType, segmentationId, gone]): DomainEvent =>
          gone
            ? { type: 'LogicalSwitchDeleted', data: { id } }
            : {
                type: 'LogicalSwitchUpdated',
                data: {
                  id,
                  networkType,
                  ...(segmentationId === null ? {} : { segmentationId }),
                  ...(networkType === 'vlan' || networkType === 'flat'
                    ? { physicalNetwork: 'physnet1' }
                    : {}),
                },
              },
      ),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        pick(chassisIds),
        fc.integer({ min: 1, max: 2 }),
        fc.constantFrom('created', 'updated', 'deleted'),
      )
      .map(
        ([id, octet, kind]): DomainEvent =>
          kind === 'deleted'
            ? { type: 'ChassisDeleted', data: { id } }
            : kind === 'created'
              ? ev.chassis(id, octet)
              : ev.chassisUpdated(id, octet),
      ),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(pick(portIds), fc.option(pick(portIds))).map(
      ([floatingPortId, fixedPortId]): DomainEvent => ({
        type: 'FloatingIpUpdated',
        data: { id: 'f1', floatingPortId, fixedPortId },
      }),
    ),
  },
);

export const portsChoices: readonly ChassisPorts[] = [
  portsOfA,
  { tunnels: { geneve: 100, vxlan: 101 }, patches: { physnet1: 200 } },
  { tunnels: { geneve: 100 } },
];

/**
 * What a log can hold, as a stateful filter over events in log order: port events the lport
 * machine accepts (the store refuses the others at append), and no port moved to another switch
 * (a port's switch is fixed for life).
 */
export function loggable(): (event: DomainEvent) => boolean {
  const switchOf = new Map<string, string>();
  const facts = new Map<string, PortFacts>();
  return (event) => {
    if (event.type === 'LogicalPortCreated' || event.type === 'LogicalPortUpdated') {
      const known = switchOf.get(event.data.id);
      if (known !== undefined && known !== event.data.switchId) return false;
    }
    const lport = toLportEvents(event);
    const portId = lportIdOf(event);
    if (lport === undefined || portId === undefined) return true;
    const next = applyEach(lportFacts, facts.get(portId) ?? initialFacts(), lport);
    if (next === undefined) return false;
    facts.set(portId, next);
    if (event.type === 'LogicalPortCreated') switchOf.set(event.data.id, event.data.switchId);
    return true;
  };
}

/** The events a log could hold, in order (see `loggable`). */
export const realistic = (events: readonly DomainEvent[]): DomainEvent[] =>
  events.filter(loggable());
