/**
 * The machine is in charge: a variant of the lport machine with one transition removed,
 * compiled exactly as production compiles the real one, makes the port command refuse the
 * event and the projection record the refusal, where the real machine accepts it.
 */
import { describe, expect, it } from 'vitest';
import { lportFacts, type PortMachine } from '../../machines/lport.facts.js';
import { initialFacts, toLportEvents } from '../../machines/lport.rules.js';
import { type PortStream, portFoldOf, updatePort } from '../../src/commands/ports.js';
import type { DomainEvent } from '../../src/events/index.js';
import { ProjectionBatch, route } from '../../src/projections/batch.js';
import { foldPortEvent, unknownPort } from '../../src/projections/ports.js';
import type { RecordedEvent } from '../../src/store/event-store.js';
import { port } from '../apps/harness.js';
import { variantOf, withoutUnboundUpdate } from './variants.js';

const created = port('p1', 's1');
const update = port('p1', 's1', { requestedChassis: 'A' }, 'LogicalPortUpdated');

/** The command-side state of p1 after its creation, folded under `machine`. */
function streamAfterCreate(machine: PortMachine): PortStream {
  const fold = portFoldOf(machine);
  return fold.evolve(fold.initial, created);
}

let position = 0n;
const recorded = (event: DomainEvent): RecordedEvent => {
  position++;
  const time = new Date(Date.UTC(2026, 0, 1, 0, 0, Number(position))).toISOString();
  return {
    id: `00000000-0000-4000-8000-${position.toString().padStart(12, '0')}`,
    type: event.type,
    data: event.data,
    metadata: { correlationId: 'c', causationId: 'c', app: 'test', schemaVersion: 1, time },
    streamName: 'lport-p1',
    revision: position - 1n,
    position,
    recordedAt: time,
  };
};

describe('a variant machine with one transition removed', () => {
  const variant = withoutUnboundUpdate();

  it('compiles to a table without that transition, and only that one', () => {
    expect(variant.compiled.states.unbound.on.LogicalPortUpdated).toEqual([]);
    expect(lportFacts.compiled.states.unbound.on.LogicalPortUpdated).toHaveLength(1);
    expect(variant.compiled.states.local.on.LogicalPortUpdated).toHaveLength(1);
  });

  it('makes the port command refuse the event the real machine accepts', () => {
    const accepted = updatePort('p1', { requestedChassis: 'A' }, streamAfterCreate(lportFacts));
    expect(accepted.ok).toBe(true);

    const refused = updatePort(
      'p1',
      { requestedChassis: 'A' },
      streamAfterCreate(variant),
      variant,
    );
    expect(refused).toMatchObject({
      ok: false,
      error: { kind: 'refused', code: 'no-transition' },
    });
    if (refused.ok) return;
    expect(refused.error.detail).toMatch(
      /port p1: view port in state unbound refuses LogicalPortUpdated/,
    );
  });

  it('makes the projection record the refusal instead of folding the event', () => {
    const lport = toLportEvents(update);
    if (lport === undefined) throw new Error('not a port event');
    const at = { position: 2n, revision: 1n, time: '2026-01-01T00:00:02.000Z' };
    const before = foldPortEvent(unknownPort, 'p1', created, toLportEvents(created) as never, {
      position: 1n,
      revision: 0n,
      time: '2026-01-01T00:00:01.000Z',
    });
    expect(foldPortEvent(before.state, 'p1', update, lport, at).outcome).toBe('applied');
    expect(foldPortEvent(before.state, 'p1', update, lport, at, variant)).toMatchObject({
      outcome: 'refused',
      code: 'no-transition',
    });

    const batch = new ProjectionBatch(new Map(), new Map(), variant);
    for (const event of [created, update]) batch.apply(route(recorded(event)));
    expect(batch.counts).toEqual({ applied: 1, refused: 1 });
    const changes = batch.changes();
    expect(changes.history.map((row) => [row.type, row.refusal])).toEqual([
      ['LogicalPortCreated', null],
      ['LogicalPortUpdated', 'no-transition'],
    ]);
    expect(changes.ports.map((row) => row.requestedChassis)).toEqual([null]);
  });
});

describe('a variant machine whose target contradicts the facts', () => {
  it('fails loudly on the first such step instead of folding wrongly', () => {
    // DistributedCreated now leaves the view unbound, while its facts say distributed.
    const variant = variantOf((states) => ({
      ...states,
      unbound: {
        ...states.unbound,
        on: {
          ...states.unbound?.on,
          DistributedCreated: { guard: 'accepts', actions: 'applyFacts' },
        },
      },
    }));
    const live = variant.apply(initialFacts(), {
      type: 'LogicalPortCreated',
      requestedChassis: null,
    });
    if (live === undefined) throw new Error('the variant refused the creation');
    expect(() => variant.apply(live, { type: 'DistributedCreated', reason: 'dhcp:s1' })).toThrow(
      /goes from unbound to unbound, but its facts make it distributed/,
    );
  });
});
