/**
 * The benchmarks' shared workload: a cloud of compute ports bound over a few chassis, as the
 * controller and the apps would have written it. Port `i` is `p<i>`, on switch `s<k>`; every
 * switch has ports on every chassis (so every chassis wants remote flows to every other
 * chassis' ports on it: the selective topology at its densest), and a bound port's history is
 *
 *   LogicalPortCreated → OvsPortCreated (chassis stream) → LocalCreated on its chassis →
 *   RemoteCreated acks by every other chassis (owner = its chassis).
 */
import type { DomainEvent } from '../../src/events/index.js';

export interface Layout {
  readonly chassis: readonly string[];
  /** Ports per switch in the preloaded cloud. */
  readonly portsPerSwitch: number;
}

export const DEFAULT_LAYOUT: Layout = { chassis: ['A', 'B', 'C', 'D'], portsPerSwitch: 50 };

export const portId = (i: number): string => `p${i}`;
export const switchId = (s: number): string => `s${s}`;

/** A locally administered MAC from the port number (unique up to 2^32 ports). */
export const mac = (n: number): string =>
  `fa:16:${[24, 16, 8, 0].map((shift) => ((n >>> shift) & 255).toString(16).padStart(2, '0')).join(':')}`;

const ipOf = (n: number): string => `10.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;

/** The chassis port `i` of the preloaded cloud is bound to. */
export const ownerOf = (i: number, layout: Layout = DEFAULT_LAYOUT): string =>
  layout.chassis[i % layout.chassis.length] as string;

/** The switch port `i` of the preloaded cloud is on. */
export const switchOf = (i: number, layout: Layout = DEFAULT_LAYOUT): number =>
  Math.floor(i / layout.portsPerSwitch);

/** OpenFlow port numbers stay below OVS' 65280 reserved range. */
export const ofportOf = (i: number, layout: Layout = DEFAULT_LAYOUT): number =>
  (Math.floor(i / layout.chassis.length) % 60_000) + 1;

export function chassisCreated(layout: Layout = DEFAULT_LAYOUT): DomainEvent[] {
  return layout.chassis.map((id, n) => ({
    type: 'ChassisCreated',
    data: {
      id,
      tunnelIp: `192.0.2.${n + 1}`,
      tunnelTypes: ['geneve'],
      bridgeMappings: {},
    },
  }));
}

export function switchCreated(s: number): DomainEvent {
  return {
    type: 'LogicalSwitchCreated',
    data: { id: switchId(s), networkType: 'geneve', segmentationId: 1000 + s },
  };
}

export function portCreated(i: number, s: number): DomainEvent {
  return {
    type: 'LogicalPortCreated',
    data: {
      id: portId(i),
      switchId: switchId(s),
      macs: [mac(i)],
      ips: [ipOf(i)],
      deviceOwner: 'compute',
      requestedChassis: null,
    },
  };
}

export function ovsPortCreated(i: number, chassis: string, ofport: number): DomainEvent {
  return {
    type: 'OvsPortCreated',
    data: { chassis, name: `tap${i}`, ofport, ifaceId: portId(i), type: '' },
  };
}

/** Where port `i` goes: explicit owner, switch and ofport (defaults: the preloaded cloud's). */
export interface Placement {
  readonly owner: string;
  readonly switch: number;
  readonly ofport: number;
}

export function placementOf(i: number, layout: Layout = DEFAULT_LAYOUT): Placement {
  return { owner: ownerOf(i, layout), switch: switchOf(i, layout), ofport: ofportOf(i, layout) };
}

/** The whole history of one bound port, in log order (see the module comment). */
export function boundPortEvents(
  i: number,
  placement: Placement,
  layout: Layout = DEFAULT_LAYOUT,
): DomainEvent[] {
  const id = portId(i);
  const events: DomainEvent[] = [
    portCreated(i, placement.switch),
    ovsPortCreated(i, placement.owner, placement.ofport),
    { type: 'LocalCreated', data: { portId: id, chassis: placement.owner } },
  ];
  for (const chassis of layout.chassis)
    if (chassis !== placement.owner)
      events.push({
        type: 'RemoteCreated',
        data: { portId: id, chassis, owner: placement.owner },
      });
  return events;
}

/** Chassis, switches and `ports` bound ports: the preloaded cloud, in log order. */
export function* cloudEvents(
  ports: number,
  layout: Layout = DEFAULT_LAYOUT,
): Iterable<DomainEvent> {
  yield* chassisCreated(layout);
  const switches = Math.ceil(ports / layout.portsPerSwitch);
  for (let s = 0; s < switches; s++) yield switchCreated(s);
  for (let i = 0; i < ports; i++) yield* boundPortEvents(i, placementOf(i, layout), layout);
}

/** Events in the log per bound port (model, interface, claim, acks). */
export const eventsPerPort = (layout: Layout = DEFAULT_LAYOUT): number =>
  3 + layout.chassis.length - 1;

/** `ovs-vsctl add-port` arguments plugging interface `i` (iface-id p<i>), as a compute service. */
export function plugArgs(i: number, ofport?: number): string[] {
  const name = `tap${i}`;
  return [
    '--',
    '--may-exist',
    'add-port',
    'br-int',
    name,
    '--',
    'set',
    'Interface',
    name,
    'type=dummy',
    `external_ids:iface-id=${portId(i)}`,
    ...(ofport === undefined ? [] : [`ofport_request=${ofport}`]),
  ];
}

/** `ovs-vsctl` arguments adding br-int on the dummy datapath, as the agent benches' bridges are. */
export const addDummyBrInt: readonly string[] = [
  '--may-exist',
  'add-br',
  'br-int',
  '--',
  'set',
  'Bridge',
  'br-int',
  'datapath_type=dummy',
];
