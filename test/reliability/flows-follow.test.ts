/**
 * Found by the OVS crash test (restarted locus, c1's flows stuck without its newest local
 * ports until the next anti-entropy, a minute later): when a chassis' flows start, the first
 * full sync computes the desired flows from what is known at that moment — typically while the
 * feed is still catching up. A change arriving during that sync must trigger another one.
 *
 * The flows are the agent's own now (src/agent/chassis-flows.ts, from its slice): a slice diff
 * applied while the first, slow sync runs must reach the bridge without waiting for the
 * anti-entropy.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ChassisFlows } from '../../src/agent/chassis-flows.js';
import { SliceState } from '../../src/agent/slice-state.js';
import { PortLocalityFold } from '../../src/apps/port-locality.js';
import { sliceOf } from '../../src/domain/slice.js';
import { Topology } from '../../src/domain/topology.js';
import type { DomainEvent } from '../../src/events/index.js';
import type { Ofctl } from '../../src/ovs/reconciler/ofctl.js';

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

let flows: ChassisFlows | undefined;
afterEach(async () => {
  await flows?.stop();
});

describe("a chassis' flows starting while its slice moves", () => {
  it('syncs again after its first sync when the slice moved during it', async () => {
    // The server's log, and c1's slice of it as the feed sends it.
    const topology = new Topology(new PortLocalityFold());
    let revision = 0n;
    const apply = (list: readonly DomainEvent[]) => {
      for (const event of list) topology.apply(event, revision++);
    };
    const slice = new SliceState();
    let position = 0;
    const snapshot = () => ({
      position: String(++position),
      entries: [...sliceOf(topology, 'c1').values()],
    });
    apply([...events, ...port('pA', 5)]);
    slice.applySnapshot(snapshot());

    let bundles = 0;
    let firstSyncStarted: () => void = () => undefined;
    const started = new Promise<void>((resolve) => {
      firstSyncStarted = resolve;
    });
    const ofctl: Ofctl = {
      async bundle() {
        bundles++;
        firstSyncStarted();
        // A slow ovs-ofctl (a loaded machine): the feed moves on meanwhile.
        await new Promise((resolve) => setTimeout(resolve, 300));
      },
      dumpFlows: async () => '',
    };
    flows = new ChassisFlows({
      chassis: 'c1',
      slice,
      ports: () => ({ tunnels: { geneve: 100 } }),
      logger: pino({ level: 'silent' }),
      ofctl,
      probe: async () => 'same',
      antiEntropyIntervalMs: 0,
    });
    const starting = flows.start();
    await started;
    // During the first sync, the feed delivers another local port.
    apply(port('pB', 6));
    slice.applySnapshot(snapshot());
    flows.changed();
    await starting;
    const running = flows;
    await expect
      .poll(() => running.applied.ports.has('pB'), { timeout: 3_000, interval: 20 })
      .toBe(true);
    expect(running.applied.ports.has('pA')).toBe(true);
    expect(bundles).toBeGreaterThanOrEqual(2);
  });
});
