/** The functional core of the projections: pure folds from rows and an event to rows. */
import { describe, expect, it } from 'vitest';
import { toLportEvents } from '../../machines/lport.rules.js';
import type { DomainEvent } from '../../src/events/index.js';
import { keysOf, ProjectionBatch, route } from '../../src/projections/batch.js';
import { foldChassisEvent } from '../../src/projections/chassis.js';
import {
  diffViews,
  foldPortEvent,
  type PortState,
  unknownPort,
  type ViewRow,
} from '../../src/projections/ports.js';
import type { RecordedEvent } from '../../src/store/event-store.js';
import { distributed, local, localGone, port, remote, remoteGone } from '../apps/harness.js';

const time = (n: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString();

/** Folds events into one port, event i at position i+1 and second i+1; fails on a refusal. */
function fold(events: readonly DomainEvent[], from: PortState = unknownPort, first = 1): PortState {
  let state = from;
  events.forEach((event, i) => {
    const lport = toLportEvents(event);
    if (lport === undefined) throw new Error(`not a port event: ${event.type}`);
    const n = first + i;
    const step = foldPortEvent(state, 'p1', event, lport, {
      position: BigInt(n),
      revision: BigInt(n - 1),
      time: time(n),
    });
    if (step.outcome !== 'applied') throw new Error(`${event.type} ${step.outcome}`);
    state = step.state;
  });
  return state;
}

const views = (state: PortState) =>
  state.views.map((v) => [v.chassis, v.locality, v.since, v.remoteReady, v.ownerAcked]);

describe('ports projection', () => {
  it('derives the owner and one view per claim or ack, with the time each was entered', () => {
    const state = fold([
      port('p1', 's1', { requestedChassis: 'A' }),
      local('p1', 'A') as DomainEvent,
      remote('p1', 'B', 'A') as DomainEvent,
    ]);
    expect(state.port).toMatchObject({
      id: 'p1',
      switchId: 's1',
      deviceOwner: 'compute',
      owner: 'A',
      requestedChassis: 'A',
      distributed: false,
      deleted: false,
      revision: 2n,
      position: 3n,
    });
    expect(views(state)).toEqual([
      ['A', 'local', time(2), false, null],
      ['B', 'remote', time(3), true, 'A'],
    ]);
  });

  it('keeps `since` through events that leave a view as it was, and drops stale acks on a move', () => {
    const bound = fold([
      port('p1', 's1', { requestedChassis: 'A' }),
      local('p1', 'A') as DomainEvent,
      remote('p1', 'B', 'A') as DomainEvent,
    ]);
    // Live migration to C: C claims, the request moves, the owner becomes C, B's ack is stale.
    const moved = fold(
      [
        local('p1', 'C') as DomainEvent,
        port('p1', 's1', { requestedChassis: 'C' }, 'LogicalPortUpdated'),
      ],
      bound,
      4,
    );
    expect(moved.port?.owner).toBe('C');
    expect(views(moved)).toEqual([
      ['A', 'local', time(2), false, null],
      ['C', 'local', time(4), false, null],
    ]);
    // The A view object survived unchanged: no allocation, no row write.
    expect(moved.views[0]).toBe(bound.views[0]);
    expect(diffViews(bound.views, moved.views)).toEqual({
      upserts: [moved.views[1]],
      deletes: ['B'],
    });

    const left = fold(
      [localGone('p1', 'A') as DomainEvent, remote('p1', 'A', 'C') as DomainEvent],
      moved,
      6,
    );
    expect(views(left)).toEqual([
      ['A', 'remote', time(7), true, 'C'],
      ['C', 'local', time(4), false, null],
    ]);
    const unacked = fold([remoteGone('p1', 'A') as DomainEvent], left, 8);
    expect(views(unacked)).toEqual([['C', 'local', time(4), false, null]]);
  });

  it('makes a distributed port a port-level fact with no view rows, since its first reason', () => {
    const state = fold([
      port('rif', 's1', { deviceOwner: 'router_interface' }),
      distributed('p1', 'router-interface:r1') as DomainEvent,
      distributed('p1', 'dhcp:s1') as DomainEvent,
    ]);
    expect(state.port).toMatchObject({
      distributed: true,
      distributedSince: time(2),
      reasons: ['dhcp:s1', 'router-interface:r1'],
      deviceOwner: 'router_interface',
    });
    expect(state.views).toEqual([]);
  });

  it('ends every view when the port is deleted', () => {
    const state = fold([
      port('p1', 's1'),
      local('p1', 'A') as DomainEvent,
      remote('p1', 'B', 'A') as DomainEvent,
      { type: 'LogicalPortDeleted', data: { id: 'p1' } },
    ]);
    expect(state.port).toMatchObject({ deleted: true, owner: null, distributed: false });
    expect(state.views).toEqual([]);
  });

  it('refuses what the lport machine refuses, and treats re-delivery as a no-op', () => {
    const state = fold([port('p1', 's1'), local('p1', 'A') as DomainEvent]);
    const again = local('p1', 'A') as DomainEvent;
    const lport = toLportEvents(again);
    if (lport === undefined) throw new Error('unreachable');
    const at = { position: 3n, revision: 2n, time: time(3) };
    expect(foldPortEvent(state, 'p1', again, lport, at)).toMatchObject({
      outcome: 'refused',
      code: 'already-claimed',
      state,
    });
    expect(foldPortEvent(unknownPort, 'p1', again, lport, at)).toMatchObject({
      outcome: 'refused',
      code: 'port-unknown',
    });
    const redelivered = { position: 2n, revision: 1n, time: time(2) };
    expect(foldPortEvent(state, 'p1', again, lport, redelivered)).toEqual({
      outcome: 'stale',
      state,
    });
  });

  it('diffs views by value', () => {
    const row = (chassis: string, since: string): ViewRow => ({
      portId: 'p1',
      chassis,
      locality: 'local',
      since,
      remoteReady: false,
      ownerAcked: null,
    });
    expect(diffViews([row('A', time(1))], [row('A', time(1))])).toEqual({
      upserts: [],
      deletes: [],
    });
    expect(diffViews([row('A', time(1))], [row('A', time(2)), row('B', time(2))])).toEqual({
      upserts: [row('A', time(2)), row('B', time(2))],
      deletes: [],
    });
  });
});

describe('chassis projection', () => {
  it('upserts on create and update, flags on delete, ignores re-delivery', () => {
    const created = foldChassisEvent(
      undefined,
      {
        type: 'ChassisCreated',
        data: { id: 'A', tunnelIp: '192.0.2.1', tunnelTypes: ['geneve'], bridgeMappings: {} },
      },
      1n,
    );
    const facts = { id: 'A', tunnelIp: '192.0.2.1', tunnelTypes: ['geneve'], bridgeMappings: {} };
    expect(created).toEqual({ ...facts, deleted: false, position: 1n });
    const deleted = foldChassisEvent(created, { type: 'ChassisDeleted', data: { id: 'A' } }, 2n);
    // A deleted chassis keeps its document's facts.
    expect(deleted).toEqual({ ...facts, deleted: true, position: 2n });
    expect(foldChassisEvent(deleted, { type: 'ChassisDeleted', data: { id: 'A' } }, 2n)).toBe(
      deleted,
    );
  });
});

describe('routing and batches', () => {
  let position = 0n;
  const recorded = (
    streamName: string,
    type: string,
    data: unknown,
    schemaVersion = 1,
  ): RecordedEvent => {
    position++;
    return {
      id: `00000000-0000-4000-8000-${position.toString().padStart(12, '0')}`,
      type,
      data,
      metadata: {
        correlationId: 'c',
        causationId: 'c',
        app: 'test',
        schemaVersion,
        time: time(Number(position)),
      },
      streamName,
      revision: 0n,
      position,
      recordedAt: time(Number(position)),
    };
  };

  it('routes by category, and skips what this version cannot read', () => {
    const created = port('p1', 's1');
    expect(route(recorded('lport-p1', created.type, created.data))).toMatchObject({
      kind: 'port',
      portId: 'p1',
    });
    // Routers (like subnets, floating IPs, segmentations) are topology rows (rm_topology).
    expect(route(recorded('router-r1', 'LogicalRouterDeleted', { id: 'r1' }))).toMatchObject({
      kind: 'topology',
    });
    expect(route(recorded('chassis-A', 'OvsPortDeleted', { chassis: 'A', name: 'tap1' }))).toEqual({
      kind: 'ignored',
    });
    expect(route(recorded('lport-p1', 'PortTeleported', {}))).toMatchObject({
      kind: 'skipped',
      reason: 'unknown-type',
    });
    expect(
      route(recorded('lport-p1', 'LocalCreated', { portId: 'p1', chassis: 'A' }, 2)),
    ).toMatchObject({ kind: 'skipped', reason: 'future-version' });
    expect(route(recorded('lport-p1', 'LocalCreated', { portId: 'p1' }))).toMatchObject({
      kind: 'skipped',
      reason: 'invalid',
    });
  });

  it('folds a batch onto the loaded rows and reports only the difference', () => {
    const events = [
      recorded('lport-p1', 'LogicalPortCreated', port('p1', 's1').data),
      recorded('lport-p1', 'LocalCreated', { portId: 'p1', chassis: 'A' }),
      recorded('lport-p1', 'LocalCreated', { portId: 'p1', chassis: 'A' }),
      recorded('chassis-A', 'ChassisDeleted', { id: 'A' }),
    ].map(route);
    expect(keysOf(events)).toEqual({ ports: ['p1'], chassis: ['A'], switches: [], topology: [] });
    const batch = new ProjectionBatch(new Map(), new Map());
    for (const r of events) batch.apply(r);
    expect(batch.counts).toEqual({ applied: 3, refused: 1 });
    const changes = batch.changes();
    expect(changes.ports.map((p) => [p.id, p.owner])).toEqual([['p1', 'A']]);
    expect(changes.viewUpserts.map((v) => [v.chassis, v.locality])).toEqual([['A', 'local']]);
    expect(changes.history.map((h) => [h.type, h.chassis, h.refusal])).toEqual([
      ['LogicalPortCreated', null, null],
      ['LocalCreated', 'A', null],
      ['LocalCreated', 'A', 'already-claimed'],
    ]);
    expect(changes.chassis).toMatchObject([{ id: 'A', deleted: true, tunnelIp: null }]);
  });
});
