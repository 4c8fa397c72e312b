/**
 * The rows the read model answers reachability from (migrations/0003_reachability.ts): switch
 * rows, the chassis' tunnel types and bridge mappings, and per (switch, chassis) the count of
 * the switch's ports local on the chassis, changed by each batch's view changes.
 */
import { describe, expect, it } from 'vitest';
import type { DomainEvent } from '../../src/events/index.js';
import { ProjectionBatch, route } from '../../src/projections/batch.js';
import type { PortState } from '../../src/projections/ports.js';
import { foldSwitchEvent } from '../../src/projections/switches.js';
import type { ProjectedEvent } from '../../src/store/event-store.js';
import * as harness from '../apps/harness.js';

const { lswitch, port } = harness;
const local = (portId: string, chassis: string) => harness.local(portId, chassis) as DomainEvent;
const localGone = (portId: string, chassis: string) =>
  harness.localGone(portId, chassis) as DomainEvent;

let position = 0n;
const recorded = (streamName: string, event: DomainEvent): ProjectedEvent => {
  position++;
  return {
    id: `00000000-0000-4000-8000-${position.toString().padStart(12, '0')}`,
    type: event.type,
    data: event.data,
    metadata: { correlationId: 'c', causationId: 'c', app: 'test', schemaVersion: 1 },
    streamName,
    revision: 0n,
    position,
    recordedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, Number(position))).toISOString(),
  } as ProjectedEvent;
};

describe('switch rows', () => {
  it('keep the document, flag a deletion, and ignore re-delivery', () => {
    const created = foldSwitchEvent(
      undefined,
      {
        type: 'LogicalSwitchCreated',
        data: { id: 's1', networkType: 'vlan', segmentationId: 42, physicalNetwork: 'physnet1' },
      },
      1n,
    );
    const facts = {
      id: 's1',
      networkType: 'vlan',
      segmentationId: 42,
      physicalNetwork: 'physnet1',
    };
    expect(created).toEqual({ ...facts, deleted: false, position: 1n });
    const deleted = foldSwitchEvent(
      created,
      { type: 'LogicalSwitchDeleted', data: { id: 's1' } },
      2n,
    );
    expect(deleted).toEqual({ ...facts, deleted: true, position: 2n });
    expect(foldSwitchEvent(deleted, { type: 'LogicalSwitchDeleted', data: { id: 's1' } }, 2n)).toBe(
      deleted,
    );
    // Known from its deletion alone: the write keeps what the table holds (null: unknown here).
    expect(
      foldSwitchEvent(undefined, { type: 'LogicalSwitchDeleted', data: { id: 's9' } }, 3n),
    ).toEqual({
      id: 's9',
      networkType: null,
      segmentationId: null,
      physicalNetwork: null,
      deleted: true,
      position: 3n,
    });
  });
});

describe('local ports per switch and chassis', () => {
  it('count claims up and down from the batch’s view changes', () => {
    const first = new ProjectionBatch(new Map(), new Map());
    for (const event of [
      recorded('lswitch-s1', lswitch('s1')),
      recorded('lport-p1', port('p1', 's1')),
      recorded('lport-p1', local('p1', 'A')),
      recorded('lport-p2', port('p2', 's1')),
      recorded('lport-p2', local('p2', 'A')),
      recorded('lport-p2', local('p2', 'B')),
    ])
      first.apply(route(event));
    const changes = first.changes();
    expect(changes.switches).toMatchObject([{ id: 's1', networkType: 'geneve', deleted: false }]);
    expect(changes.localPorts).toEqual([
      { switchId: 's1', chassis: 'A', delta: 2 },
      { switchId: 's1', chassis: 'B', delta: 1 },
    ]);

    // The next batch folds onto the rows the first wrote: only the difference is counted.
    const second = new ProjectionBatch(first.ports as Map<string, PortState>, new Map());
    for (const event of [
      recorded('lport-p2', localGone('p2', 'A')),
      recorded('lport-p1', localGone('p1', 'A')),
      recorded('lport-p1', local('p1', 'A')),
    ])
      second.apply(route(event));
    expect(second.changes().localPorts).toEqual([{ switchId: 's1', chassis: 'A', delta: -1 }]);

    // Deleting a port ends its claims.
    const third = new ProjectionBatch(second.ports as Map<string, PortState>, new Map());
    third.apply(route(recorded('lport-p2', { type: 'LogicalPortDeleted', data: { id: 'p2' } })));
    expect(third.changes().localPorts).toEqual([{ switchId: 's1', chassis: 'B', delta: -1 }]);
  });
});
