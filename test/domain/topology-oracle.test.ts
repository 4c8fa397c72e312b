/**
 * The compact topology (interned strings and facts, one-value index keys without a Set,
 * interfaces stored per chassis) answers exactly as the plain one it replaced
 * (reference-topology.ts), for random event sequences over a small cloud: the same documents,
 * facts, owners, revisions, interfaces and index contents in the same order, after every event.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PortLocalityFold } from '../../src/apps/port-locality.js';
import { ovsKey } from '../../src/domain/interface-table.js';
import { Topology } from '../../src/domain/topology.js';
import type { DeviceOwner, DomainEvent, LogicalPort } from '../../src/events/index.js';
import { ReferenceTopology } from './reference-topology.js';

const CHASSIS = ['A', 'B', 'C'] as const;
const SWITCHES = ['s0', 's1'] as const;
const PORTS = ['p0', 'p1', 'p2', 'p3'] as const;
const NAMES = ['tap0', 'tap1', 'tap2'] as const;
const RELATIONS = ['x0', 'x1'] as const;
const REASONS = ['dhcp:s0', 'router-interface:x0', 'router-gateway:x1'] as const;
const OWNERS: readonly DeviceOwner[] = ['compute', 'dhcp', 'floatingip', 'trunk_subport'];

/** A fresh copy of a string, as every decoded event carries its own. */
const copy = (s: string): string => `${s}!`.slice(0, -1);

/** One step: an event (built when it is applied, some from the reference's current facts). */
type Step =
  | { readonly kind: 'event'; readonly make: (ref: ReferenceTopology) => DomainEvent }
  | { readonly kind: 'skip'; readonly port: string };

const chassis = fc.constantFrom(...CHASSIS);
const sw = fc.constantFrom(...SWITCHES);
const port = fc.constantFrom(...PORTS);
const name = fc.constantFrom(...NAMES);
const relation = fc.constantFrom(...RELATIONS);
const reason = fc.constantFrom(...REASONS);
const ev = (make: (ref: ReferenceTopology) => DomainEvent): Step => ({ kind: 'event', make });

const arms: fc.Arbitrary<Step>[] = [
  fc
    .tuple(fc.constantFrom('ChassisCreated', 'ChassisUpdated', 'ChassisDeleted'), chassis)
    .map(([type, id]) =>
      ev(() =>
        type === 'ChassisDeleted'
          ? { type, data: { id: copy(id) } }
          : {
              type,
              data: {
                id: copy(id),
                tunnelIp: '192.0.2.1',
                tunnelTypes: ['geneve'],
                bridgeMappings: {},
              },
            },
      ),
    ),
  fc
    .tuple(
      fc.constantFrom('LogicalSwitchCreated', 'LogicalSwitchUpdated', 'LogicalSwitchDeleted'),
      sw,
      fc.integer({ min: 1, max: 3 }),
    )
    .map(([type, id, vni]) =>
      ev(() =>
        type === 'LogicalSwitchDeleted'
          ? { type, data: { id: copy(id) } }
          : { type, data: { id: copy(id), networkType: 'geneve', segmentationId: vni } },
      ),
    ),
  fc
    .tuple(
      fc.constantFrom('SubnetCreated', 'SubnetUpdated', 'SubnetDeleted'),
      relation,
      sw,
      fc.boolean(),
    )
    .map(([type, id, switchId, dhcpEnabled]) =>
      ev(() =>
        type === 'SubnetDeleted'
          ? { type, data: { id: copy(id) } }
          : {
              type,
              data: { id: copy(id), switchId: copy(switchId), cidr: '10.0.0.0/24', dhcpEnabled },
            },
      ),
    ),
  fc
    .tuple(
      fc.constantFrom('LogicalPortCreated', 'LogicalPortUpdated', 'LogicalPortDeleted'),
      port,
      sw,
      fc.constantFrom(...OWNERS),
      fc.option(chassis, { nil: null }),
      fc.integer({ min: 0, max: 2 }),
    )
    .map(([type, id, switchId, deviceOwner, requested, addresses]) =>
      ev(() =>
        type === 'LogicalPortDeleted'
          ? { type, data: { id: copy(id) } }
          : {
              type,
              data: {
                id: copy(id),
                switchId: copy(switchId),
                macs: Array.from({ length: addresses }, (_, i) => `fa:16:3e:00:00:0${i}`),
                ips: Array.from({ length: addresses }, (_, i) => `10.0.0.${i + 1}`),
                deviceOwner: copy(deviceOwner) as DeviceOwner,
                requestedChassis: requested === null ? null : copy(requested),
              },
            },
      ),
    ),
  fc
    .tuple(
      fc.constantFrom('LogicalRouterCreated', 'LogicalRouterUpdated', 'LogicalRouterDeleted'),
      relation,
      fc.uniqueArray(port, { maxLength: 2 }),
      fc.option(port, { nil: null }),
    )
    .map(([type, id, interfacePortIds, gatewayPortId]) =>
      ev(() =>
        type === 'LogicalRouterDeleted'
          ? { type, data: { id: copy(id) } }
          : { type, data: { id: copy(id), interfacePortIds, gatewayPortId } },
      ),
    ),
  fc
    .tuple(
      fc.constantFrom('FloatingIpCreated', 'FloatingIpUpdated', 'FloatingIpDeleted'),
      relation,
      port,
      fc.option(port, { nil: null }),
    )
    .map(([type, id, floatingPortId, fixedPortId]) =>
      ev(() =>
        type === 'FloatingIpDeleted'
          ? { type, data: { id: copy(id) } }
          : { type, data: { id: copy(id), floatingPortId: copy(floatingPortId), fixedPortId } },
      ),
    ),
  fc
    .tuple(
      fc.constantFrom(
        'ChildPortSegmentationCreated',
        'ChildPortSegmentationUpdated',
        'ChildPortSegmentationDeleted',
      ),
      relation,
      port,
      port,
    )
    .map(([type, id, parentPortId, childPortId]) =>
      ev(() =>
        type === 'ChildPortSegmentationDeleted'
          ? { type, data: { id: copy(id) } }
          : {
              type,
              data: {
                id: copy(id),
                parentPortId: copy(parentPortId),
                childPortId: copy(childPortId),
                segmentationType: 'vlan',
                segmentationId: 100,
              },
            },
      ),
    ),
  fc
    .tuple(
      fc.constantFrom('OvsPortCreated', 'OvsPortUpdated', 'OvsPortDeleted'),
      chassis,
      name,
      fc.option(port, { nil: null }),
      fc.option(fc.integer({ min: 1, max: 9 }), { nil: null }),
    )
    .map(([type, on, ifname, ifaceId, ofport]) =>
      ev(() =>
        type === 'OvsPortDeleted'
          ? { type, data: { chassis: copy(on), name: copy(ifname) } }
          : {
              type,
              data: {
                chassis: copy(on),
                name: copy(ifname),
                ofport,
                ifaceId: ifaceId === null ? null : copy(ifaceId),
                type: '',
              },
            },
      ),
    ),
  fc
    .tuple(fc.constantFrom('LocalCreated', 'LocalDeleted', 'RemoteDeleted'), port, chassis)
    .map(([type, portId, on]) =>
      ev(() => ({ type, data: { portId: copy(portId), chassis: copy(on) } })),
    ),
  fc.tuple(port, chassis, fc.option(chassis, { nil: null })).map(([portId, on, owner]) =>
    ev((ref) => ({
      type: 'RemoteCreated',
      data: {
        portId: copy(portId),
        chassis: copy(on),
        // Mostly an ack of the current owner: random owners are refused as stale.
        owner: copy(owner ?? ref.portLocality(portId).owner ?? 'A'),
      },
    })),
  ),
  fc
    .tuple(fc.constantFrom('DistributedCreated', 'DistributedDeleted'), port, reason)
    .map(([type, portId, why]) =>
      ev(() => ({ type, data: { portId: copy(portId), reason: copy(why) } })),
    ),
  port.map((p): Step => ({ kind: 'skip', port: p })),
];
/** Per arm above: ports, claims and acks weighted up, so the facts go deep (owners, stale acks). */
const weights = [1, 1, 1, 3, 1, 1, 1, 2, 4, 5, 1, 1];
const stepArb = fc.oneof(...arms.map((arbitrary, i) => ({ arbitrary, weight: weights[i] ?? 1 })));

/** What a reader can see of a topology, as plain data (orders included). */
function observe(t: Topology | ReferenceTopology) {
  const lport = (p: LogicalPort | undefined) =>
    p && {
      id: p.id,
      switchId: p.switchId,
      macs: [...p.macs],
      ips: [...p.ips],
      deviceOwner: p.deviceOwner,
      requestedChassis: p.requestedChassis,
      json: JSON.parse(JSON.stringify(p)),
    };
  const keys = CHASSIS.flatMap((c) => NAMES.map((n) => ovsKey(c, n)));
  const index = (i: { get(key: string): ReadonlySet<unknown> }, domain: readonly string[]) =>
    domain.map((k) => {
      const values = i.get(k);
      const list = [...values];
      return { list, size: values.size, has: list.every((v) => values.has(v)) };
    });
  return {
    chassis: [...t.chassis],
    switches: [...t.switches],
    subnets: [...t.subnets],
    ports: [...t.ports.keys()].map((k) => [k, lport(t.ports.get(k))]),
    portsSize: t.ports.size,
    routers: [...t.routers],
    fips: [...t.fips],
    segmentations: [...t.segmentations],
    ovsPortsPerChassis: CHASSIS.map((c) => [...t.ovsPorts.values()].filter((o) => o.chassis === c)),
    ovsPortsByKey: keys.map((k) => [k, t.ovsPorts.get(k), t.ovsPorts.has(k)]),
    ovsKeys: [...t.ovsPorts.keys()].sort(),
    ovsSize: t.ovsPorts.size,
    ovsPortsByIface: PORTS.map((p) =>
      [...(t.ovsPortsByIface.get(p) as ReadonlySet<unknown>)].map((v) =>
        typeof v === 'string'
          ? v
          : ovsKey((v as { chassis: string }).chassis, (v as { name: string }).name),
      ),
    ),
    locality: PORTS.map((p) => t.portLocality(p)),
    localitySize: t.locality.size,
    interfaces: PORTS.map((p) => t.interfacesOf(p)),
    localPortsOn: CHASSIS.flatMap((c) => SWITCHES.map((s) => [...t.localPortsOn(c, s)])),
    portsBySwitch: index(t.portsBySwitch, SWITCHES),
    subnetsBySwitch: index(t.subnetsBySwitch, SWITCHES),
    routersByPort: index(t.routersByPort, PORTS),
    fipsByFixedPort: index(t.fipsByFixedPort, PORTS),
    fipsByFloatingPort: index(t.fipsByFloatingPort, PORTS),
    segmentationsByParent: index(t.segmentationsByParent, PORTS),
    segmentationsByChild: index(t.segmentationsByChild, PORTS),
    claimedPortsByChassis: index(t.claimedPortsByChassis, CHASSIS),
  };
}

function run(steps: readonly Step[]): void {
  const compact = new Topology(new PortLocalityFold());
  const reference = new ReferenceTopology();
  const revisions = new Map<string, bigint>();
  const nextRevision = (stream: string) => {
    const revision = (revisions.get(stream) ?? -1n) + 1n;
    revisions.set(stream, revision);
    return revision;
  };
  for (const step of steps) {
    if (step.kind === 'skip') {
      const revision = nextRevision(step.port);
      compact.skipUnreadable(step.port, revision);
      reference.skipUnreadable(step.port, revision);
    } else {
      const event = step.make(reference);
      const data = event.data as { id?: string; portId?: string };
      const revision = nextRevision(data.portId ?? data.id ?? event.type);
      compact.apply(event, revision);
      reference.apply(event, revision);
    }
    expect(observe(compact)).toEqual(observe(reference));
  }
}

describe('compact topology against the plain reference fold', () => {
  it('answers exactly as the reference after every event of random sequences', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 80 }), (steps) => run(steps)),
      { numRuns: 300 },
    );
  });

  it('answers exactly as the reference on a bound cloud (claims, then every other chassis acks)', () => {
    const steps: Step[] = [];
    for (const id of CHASSIS)
      steps.push(
        ev(() => ({
          type: 'ChassisCreated',
          data: { id, tunnelIp: '192.0.2.1', tunnelTypes: ['geneve'], bridgeMappings: {} },
        })),
      );
    for (const id of SWITCHES)
      steps.push(ev(() => ({ type: 'LogicalSwitchCreated', data: { id, networkType: 'geneve' } })));
    PORTS.forEach((id, i) => {
      const owner = CHASSIS[i % CHASSIS.length] as string;
      steps.push(
        ev(() => ({
          type: 'LogicalPortCreated',
          data: {
            id: copy(id),
            switchId: copy(SWITCHES[i % 2] as string),
            macs: [`fa:16:3e:00:00:0${i}`],
            ips: [`10.0.0.${i + 1}`],
            deviceOwner: 'compute',
            requestedChassis: null,
          },
        })),
        ev(() => ({
          type: 'OvsPortCreated',
          data: {
            chassis: copy(owner),
            name: `tap${i}`,
            ofport: i + 1,
            ifaceId: copy(id),
            type: '',
          },
        })),
        ev(() => ({ type: 'LocalCreated', data: { portId: copy(id), chassis: copy(owner) } })),
      );
      for (const other of CHASSIS)
        if (other !== owner)
          steps.push(
            // A stale ack first (refused): ports in the same situation share their facts, so
            // what one port's refusal computed must not decide another's accepted ack.
            ev(() => ({
              type: 'RemoteCreated',
              data: { portId: copy(id), chassis: copy(other), owner: copy(other) },
            })),
            ev(() => ({
              type: 'RemoteCreated',
              data: { portId: copy(id), chassis: copy(other), owner: copy(owner) },
            })),
          );
    });
    run(steps);
  });
});
