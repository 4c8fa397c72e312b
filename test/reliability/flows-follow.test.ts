/**
 * Found by the OVS crash test (restarted locus, c1's flows stuck without its newest local
 * ports until the next anti-entropy, a minute later): when a chassis' reconciler starts, its
 * first full sync computes the desired flows from the apps' topology as it is at that moment —
 * typically while the runner is still catching up after a restart. Changes to the topology
 * during that sync must trigger another one; they were missed because following the runner's
 * position began only once the first sync had finished.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { PortLocalityFold } from '../../src/apps/port-locality.js';
import { Topology } from '../../src/domain/topology.js';
import type { DomainEvent } from '../../src/events/index.js';
import type { Ofctl } from '../../src/ovs/reconciler/ofctl.js';
import { OvsRemoteFlows } from '../../src/ovs/reconciler/ovs-remote-flows.js';

const events: DomainEvent[] = [
  {
    type: 'ChassisCreated',
    data: { id: 'c1', tunnelIp: '192.0.2.1', tunnelTypes: ['geneve'], bridgeMappings: {} },
  },
  { type: 'LogicalSwitchCreated', data: { id: 's1', networkType: 'geneve', segmentationId: 9 } },
];

const port = (id: string, ofport: number): DomainEvent[] => [
  {
    type: 'LogicalPortCreated',
    data: {
      id,
      switchId: 's1',
      macs: [`fa:16:3e:00:00:${ofport.toString(16).padStart(2, '0')}`],
      ips: [],
      deviceOwner: 'compute',
      requestedChassis: null,
    },
  },
  {
    type: 'OvsPortCreated',
    data: { chassis: 'c1', name: `vif-${id}`, ofport, ifaceId: id, type: '' },
  },
  { type: 'LocalCreated', data: { portId: id, chassis: 'c1' } },
];

let flows: OvsRemoteFlows | undefined;
afterEach(async () => {
  await flows?.stop();
});

describe('a chassis reconciler starting while the topology moves', () => {
  it('syncs again after its first sync when the topology moved during it', async () => {
    const topology = new Topology(new PortLocalityFold());
    let revision = 0n;
    const apply = (list: readonly DomainEvent[]) => {
      for (const event of list) topology.apply(event, revision++);
    };
    apply([...events, ...port('pA', 5)]);
    let bundles = 0;
    let firstSyncStarted: () => void = () => undefined;
    const started = new Promise<void>((resolve) => {
      firstSyncStarted = resolve;
    });
    const ofctl: Ofctl = {
      async bundle() {
        bundles++;
        firstSyncStarted();
        // A slow ovs-ofctl (a loaded machine): the runner moves on meanwhile.
        await new Promise((resolve) => setTimeout(resolve, 300));
      },
      dumpFlows: async () => '',
    };
    flows = new OvsRemoteFlows({
      topology,
      logger: pino({ level: 'silent' }),
    });
    const adding = flows.addChassis({
      chassis: 'c1',
      ofctl,
      ports: { tunnels: { geneve: 100 } },
      probe: async () => 'same',
      antiEntropyIntervalMs: 0,
    });
    await started;
    // During the first sync, the runner folds another local port and moves on.
    apply(port('pB', 6));
    const reconciler = await adding;
    await expect
      .poll(() => reconciler.applied?.context.ports.has('pB'), { timeout: 3_000, interval: 20 })
      .toBe(true);
    expect(reconciler.applied?.context.ports.has('pA')).toBe(true);
    expect(bundles).toBeGreaterThanOrEqual(2);
  });
});
