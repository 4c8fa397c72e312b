/**
 * Honest acks, decided without I/O: from the view chassis A's bridge holds and the acks its
 * slice's facts show, which acks A must give (PUT) and withdraw (DELETE).
 */
import { describe, expect, it } from 'vitest';
import { decideAcks, factsOf } from '../../src/agent/acks.js';
import { type SlicePort, sliceOf } from '../../src/domain/slice.js';
import type { DomainEvent } from '../../src/events/index.js';
import { chassisViewOf, portsById } from '../../src/ovs/chassis-view.js';
import { portsOfA, topologyOf, world } from '../ovs/pipeline-fixtures.js';

const ack = (portId: string, chassis: string, owner: string): DomainEvent => ({
  type: 'RemoteCreated',
  data: { portId, chassis, owner },
});

/** A's applied view and its slice's facts after `events` on top of the world. */
function stateOfA(applied: readonly DomainEvent[], facts: readonly DomainEvent[] = applied) {
  const view = chassisViewOf(topologyOf([...world(), ...applied]), 'A', portsOfA);
  const slice = sliceOf(topologyOf([...world(), ...facts]), 'A');
  const ports = [...slice.values()]
    .filter((entry) => entry.kind === 'port')
    .map((entry) => entry.value as SlicePort);
  return { applied: portsById(view), facts: factsOf(ports) };
}

describe('decideAcks', () => {
  it('puts an ack for every port the applied view reaches remotely, toward its owner', () => {
    const { applied, facts } = stateOfA([]);
    // b1 (B) and c1 (C) by tunnel on s1, v1 (B) over the provider network s2. x2 (s3, vxlan)
    // is unreachable from A, rp/dh are distributed, a1/t1/sp/fp local: no ack for those.
    expect(decideAcks('A', applied, facts)).toEqual({
      put: [
        { portId: 'b1', owner: 'B' },
        { portId: 'c1', owner: 'C' },
        { portId: 'v1', owner: 'B' },
      ],
      withdraw: [],
    });
  });

  it('puts nothing the facts already show acked by this chassis for that owner', () => {
    const { applied, facts } = stateOfA([ack('b1', 'A', 'B'), ack('c1', 'A', 'C')]);
    expect(decideAcks('A', applied, facts).put).toEqual([{ portId: 'v1', owner: 'B' }]);
    // Another chassis' ack is not this chassis' ack.
    const other = stateOfA([ack('b1', 'C', 'B')]);
    expect(decideAcks('A', other.applied, other.facts).put).toContainEqual({
      portId: 'b1',
      owner: 'B',
    });
  });

  it('withdraws an ack whose port the applied view no longer reaches toward that owner', () => {
    // The log still holds A's ack for b1 on B, but A's bridge no longer has b1's remote flows
    // (b1 left B: its owner is nobody) — the ack must go.
    const acked = [ack('b1', 'A', 'B'), ack('c1', 'A', 'C'), ack('v1', 'A', 'B')];
    const gone: DomainEvent = { type: 'LocalDeleted', data: { portId: 'b1', chassis: 'B' } };
    const { applied } = stateOfA([...acked, gone]);
    const { facts } = stateOfA(acked);
    expect(decideAcks('A', applied, facts)).toEqual({ put: [], withdraw: ['b1'] });
  });

  it('does not ack from a view the bridge does not hold yet: the facts alone decide nothing', () => {
    const { facts } = stateOfA([]);
    expect(decideAcks('A', new Map(), facts)).toEqual({ put: [], withdraw: [] });
  });

  it('a moved owner: the old ack goes first, the new one follows once the slice shows it gone', () => {
    // Applied: b1 now on C. Facts: A still holds its ack for B (the slice lags).
    const moved: DomainEvent[] = [
      { type: 'LocalDeleted', data: { portId: 'b1', chassis: 'B' } },
      { type: 'LocalCreated', data: { portId: 'b1', chassis: 'C' } },
    ];
    const { applied } = stateOfA(moved);
    const { facts } = stateOfA([ack('b1', 'A', 'B')]);
    expect(decideAcks('A', applied, facts)).toEqual({
      put: [
        { portId: 'c1', owner: 'C' },
        { portId: 'v1', owner: 'B' },
      ],
      withdraw: ['b1'],
    });
    const after = stateOfA(moved);
    expect(decideAcks('A', applied, after.facts).put).toContainEqual({ portId: 'b1', owner: 'C' });
  });

  it('ignores applied ports the slice no longer holds', () => {
    const { applied } = stateOfA([]);
    expect(decideAcks('A', applied, new Map())).toEqual({ put: [], withdraw: [] });
  });
});
