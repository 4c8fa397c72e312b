/**
 * The scenario the recovery drills and CLI tests run: three chassis and every locality
 * category — local VMs, remote peers over geneve and over a VLAN provider network, a router
 * with interfaces and a gateway, a DHCP port, a floating IP following its fixed port, a trunk
 * with a sub-port — then a live migration and a port deletion, so the log holds claims, acks,
 * owner changes, releases and a deleted port.
 *
 * Model events are appended as the API would (one command each); the apps decide the locality
 * events and every chassis' agent acks what its flows reach (`settle` lets them, and whatever
 * else follows the log, catch up).
 */
import { pino } from 'pino';
import { InMemoryCheckpoints, StreamMetadataCheckpoints } from '../../src/apps/checkpoints.js';
import { AppRunner } from '../../src/apps/runner.js';
import { commandCause, type DomainEvent, envelope, streamOf } from '../../src/events/index.js';
import type { EventStore } from '../../src/store/event-store.js';
import { ev, mac } from '../ovs/pipeline-fixtures.js';
import { SimulatedAgents } from '../support/simulated-agents.js';

/** The chassis' own OpenFlow ports, as the agent's bridge setup names and numbers them. */
export const chassisPorts = { tunnels: { geneve: 65001 }, patches: { physnet1: 200 } } as const;
export const chassisIds = ['A', 'B', 'C'] as const;

/** A chassis' interfaces: name, the lport it carries, ofport. */
export const interfaces: Record<string, [string, string, number][]> = {
  A: [
    ['tap1', 'a1', 1],
    ['tap2', 'a2', 2],
    ['tap3', 'va', 3],
    ['tap4', 'tp', 4],
  ],
  B: [
    ['tap1', 'b1', 1],
    ['tap3', 'vb', 3],
  ],
  C: [
    ['tap1', 'c1', 1],
    ['tap2', 'b1', 2],
  ],
};

const fip = (id: string, floatingPortId: string, fixedPortId: string | null): DomainEvent => ({
  type: 'FloatingIpCreated',
  data: { id, floatingPortId, fixedPortId },
});

/** The first phase: the topology comes up. */
export function buildUp(): DomainEvent[] {
  return [
    ev.chassis('A', 1),
    ev.chassis('B', 2),
    ev.chassis('C', 3),
    ev.lswitch('s1'),
    ev.lswitch('v1', { networkType: 'vlan', segmentationId: 42, physicalNetwork: 'physnet1' }),
    ev.lswitch('ext', {
      networkType: 'flat',
      segmentationId: undefined,
      physicalNetwork: 'physnet1',
    }),
    ev.subnet('sub1', 's1'),
    ev.port('a1', 's1', mac(0xa1), { ips: ['10.0.0.11'] }),
    ev.port('a2', 's1', mac(0xa2), { ips: ['10.0.0.12'] }),
    ev.port('b1', 's1', mac(0xb1), { ips: ['10.0.0.21'], requestedChassis: 'B' }),
    ev.port('c1', 's1', mac(0xc1), { ips: ['10.0.0.31'] }),
    ev.port('rp', 's1', mac(0x01), { ips: ['10.0.0.1'], deviceOwner: 'router_interface' }),
    ev.port('gw', 'ext', mac(0x03), { ips: ['203.0.113.1'], deviceOwner: 'router_gateway' }),
    ev.port('dh', 's1', mac(0x02), { ips: ['10.0.0.2'], deviceOwner: 'dhcp' }),
    ev.port('va', 'v1', mac(0x4a)),
    ev.port('vb', 'v1', mac(0x4b)),
    ev.port('tp', 'v1', mac(0x70)),
    ev.port('ts', 's1', mac(0x71), { deviceOwner: 'trunk_subport' }),
    ev.port('fp', 'ext', mac(0xf1), { ips: ['203.0.113.10'], deviceOwner: 'floatingip' }),
    {
      type: 'LogicalRouterCreated',
      data: { id: 'r1', interfacePortIds: ['rp'], gatewayPortId: 'gw' },
    },
    ev.segmentation('seg1', 'tp', 'ts', 101),
    fip('fip1', 'fp', 'a1'),
    ...(['A', 'B', 'C'] as const).flatMap((chassis) =>
      (interfaces[chassis] ?? [])
        .filter(([, portId]) => !(chassis === 'C' && portId === 'b1'))
        .map(([name, portId, ofport]) => ev.ovsPort(chassis, name, portId, ofport)),
    ),
  ];
}

/** The second phase: b1 live-migrates from B to C; a2 goes away. */
export function changes(): DomainEvent[] {
  return [
    ev.port(
      'b1',
      's1',
      mac(0xb1),
      { ips: ['10.0.0.21'], requestedChassis: 'C' },
      'LogicalPortUpdated',
    ),
    ev.ovsPort('C', 'tap2', 'b1', 2),
    ev.ovsPortGone('B', 'tap1'),
    ev.ovsPortGone('A', 'tap2'),
    ev.portDeleted('a2'),
  ];
}

/** Appends one model event as the API would. */
export async function command(store: EventStore, event: DomainEvent): Promise<void> {
  await store.appendToStream(streamOf(event), [
    envelope(event, { app: 'api', cause: commandCause() }),
  ]);
}

/** Appends the events one by one, letting `settle` run the apps (and the rest) after each. */
export async function play(
  store: EventStore,
  events: readonly DomainEvent[],
  settle: () => Promise<void>,
): Promise<void> {
  for (const event of events) {
    await command(store, event);
    await settle();
  }
}

/**
 * Runs the whole scenario with the apps and simulated agents (acks as the agents decide them,
 * through the ack commands): for tests without OVS.
 */
export async function runScenario(
  store: EventStore,
  options: { durableCheckpoints?: boolean } = {},
): Promise<AppRunner> {
  const runner = new AppRunner({
    store,
    checkpoints: options.durableCheckpoints
      ? new StreamMetadataCheckpoints(store)
      : new InMemoryCheckpoints(),
    logger: pino({ level: 'silent' }),
  });
  const agents = new SimulatedAgents({ store, catchUp: () => runner.catchUp() });
  const settle = () => agents.settle();
  await play(store, buildUp(), settle);
  await play(store, changes(), settle);
  await runner.stop();
  return runner;
}
