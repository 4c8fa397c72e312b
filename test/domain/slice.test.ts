/**
 * A chassis' slice is enough: after random events over a small world, the topology folded back
 * from chassis C's slice gives C the same view (hence the same flows) as the whole topology,
 * for every port layout; the slice holds nothing from switches where C has no local port; and
 * the slice diff sends only what changed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lportFacts } from '../../machines/lport.facts.js';
import {
  initialFacts,
  lportIdOf,
  type PortFacts,
  toLportEvent,
} from '../../machines/lport.rules.js';
import { PortLocalityFold } from '../../src/apps/port-locality.js';
import { diffSlices, type Slice, sliceOf, topologyOfSlice } from '../../src/domain/slice.js';
import type { DomainEvent } from '../../src/events/index.js';
import { chassisViewOf } from '../../src/ovs/chassis-view.js';
import { ev, mac, topologyOf, world } from '../ovs/pipeline-fixtures.js';
import { anEvent, chassisIds, portsChoices } from '../ovs/world-events.js';

/**
 * What a log can hold: port events the lport machine accepts (the store refuses the others at
 * append), and no port moved to another switch (a port's switch is fixed for life).
 */
function realistic(events: readonly DomainEvent[]): DomainEvent[] {
  const switchOf = new Map<string, string>();
  const facts = new Map<string, PortFacts>();
  return events.filter((event) => {
    if (event.type === 'LogicalPortCreated' || event.type === 'LogicalPortUpdated') {
      const known = switchOf.get(event.data.id);
      if (known !== undefined && known !== event.data.switchId) return false;
    }
    const lport = toLportEvent(event);
    const portId = lportIdOf(event);
    if (lport === undefined || portId === undefined) return true;
    const next = lportFacts.apply(facts.get(portId) ?? initialFacts(), lport);
    if (next === undefined) return false;
    facts.set(portId, next);
    if (event.type === 'LogicalPortCreated') switchOf.set(event.data.id, event.data.switchId);
    return true;
  });
}

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
