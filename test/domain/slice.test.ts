/**
 * A chassis' slice is enough: after random events over a small world, the topology folded back
 * from chassis C's slice gives C the same view (hence the same flows) as the whole topology,
 * for every port layout; the slice holds nothing from switches where C has no local port; and
 * the slice diff sends only what changed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PortLocalityFold } from '../../src/apps/port-locality.js';
import { diffSlices, type Slice, sliceOf, topologyOfSlice } from '../../src/domain/slice.js';
import { chassisViewOf } from '../../src/ovs/chassis-view.js';
import { ev, mac, topologyOf, world } from '../ovs/pipeline-fixtures.js';
import { anEvent, chassisIds, portsChoices, realistic } from '../ovs/world-events.js';

const encoded = (slice: Slice) =>
  new Map([...slice].map(([key, entry]) => [key, JSON.stringify(entry)]));

describe('a chassis slice', () => {
  it('gives its chassis the view the whole topology gives it', () => {
    fc.assert(
      fc.property(fc.array(anEvent, { minLength: 1, maxLength: 60 }), (events) => {
        const topology = topologyOf(realistic([...world(), ...events]));
        for (const chassis of chassisIds) {
          const slice = sliceOf(topology, chassis);
          // Through JSON, as the feed sends it.
          const sent = JSON.parse(JSON.stringify([...slice.values()]));
          const rebuilt = topologyOfSlice(sent, new PortLocalityFold());
          for (const ports of portsChoices) {
            expect(chassisViewOf(rebuilt, chassis, ports)).toEqual(
              chassisViewOf(topology, chassis, ports),
            );
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it('holds only the switches where the chassis has a local port', () => {
    const topology = topologyOf([...world(), ev.port('x1', 's9', mac(9)), ev.local('x1', 'B')]);
    const slice = sliceOf(topology, 'A');
    const switches = [...slice.values()].filter((e) => e.kind === 'switch').map((e) => e.value);
    expect(switches.map((s) => (s as { id: string }).id)).not.toContain('s9');
    expect([...slice.keys()]).not.toContain('port/x1');
  });

  it('is empty for an unknown chassis', () => {
    expect(sliceOf(topologyOf(world()), 'nobody').size).toBe(0);
  });

  it('diffs to nothing when nothing changed, and to the changed entries otherwise', () => {
    const topology = topologyOf(world());
    const before = sliceOf(topology, 'A');
    expect(diffSlices(encoded(before), sliceOf(topology, 'A')).diff).toEqual({
      upserts: [],
      removes: [],
    });
    topology.apply(ev.localGone('a1', 'A'));
    const { diff } = diffSlices(encoded(before), sliceOf(topology, 'A'));
    expect(diff.upserts.length + diff.removes.length).toBeGreaterThan(0);
    expect(diff.upserts.length).toBeLessThan(before.size);
  });
});
