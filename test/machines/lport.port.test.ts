/**
 * The port aggregate (facts once, a state per chassis) as a decider, the domain-event mapping
 * and the actor API.
 */
import { describe, expect, it } from 'vitest';
import { startLportActor, stateOf } from '../../machines/lport.machine.js';
import {
  ANY_VIEW,
  apply,
  decide,
  evolve,
  foldPort,
  initialPortState,
  lportDecider,
  portOwner,
  viewOf,
} from '../../machines/lport.port.js';
import {
  isRefusal,
  type LportEvent,
  lportIdOf,
  TransitionRefusedError,
  toLportEvents,
} from '../../machines/lport.rules.js';
import { parseEvent } from '../../src/events/catalogue.js';
import { created, dist, local, portDeleted, remote, unlocal, updated } from './support.js';

const migration: LportEvent[] = [
  created('h1'),
  local('h1'),
  remote('h2', 'h1'),
  remote('h3', 'h1'),
  // live migration to h2: h2 claims, the cloud moves the requested chassis
  local('h2'),
  updated('h2'),
  remote('h1', 'h2'),
  remote('h3', 'h2'),
  unlocal('h1'),
];

describe('port aggregate', () => {
  it('folds a live migration: facts once, a state per chassis that appeared', () => {
    const port = foldPort('p1', migration);
    expect(port.version).toBe(migration.length);
    expect(portOwner(port)).toBe('h2');
    expect([...port.views]).toEqual([
      ['h1', 'remote'],
      ['h2', 'local'],
      ['h3', 'remote'],
    ]);
    expect(port.others).toBe('unbound');
    expect(viewOf(port, 'h9')).toBe('unbound');
    expect(port.facts).toEqual({
      exists: true,
      deleted: false,
      requestedChassis: 'h2',
      claims: ['h2'],
      acks: [
        { chassis: 'h1', owner: 'h2' },
        { chassis: 'h3', owner: 'h2' },
      ],
      reasons: [],
    });
  });

  it('drops stale acks when the owner moves: remote views fall back to unbound', () => {
    const port = foldPort('p1', migration.slice(0, 6));
    expect(portOwner(port)).toBe('h2');
    expect(port.facts.acks).toEqual([]);
    expect(viewOf(port, 'h3')).toBe('unbound');
    expect(viewOf(port, 'h1')).toBe('local');
    // h3's old ack toward h1 is now stale
    const stale = decide(port, remote('h3', 'h1'));
    expect(stale).toMatchObject({ ok: false, code: 'stale-ack', view: 'h3', state: 'unbound' });
    expect(isRefusal(stale) && stale.message).toBe(
      'port p1: view h3 in state unbound refuses RemoteCreated{chassis=h3, owner=h1}: stale ack (owner is h2)',
    );
  });

  it('decides without changing anything, and evolve is pure', () => {
    const port = foldPort('p1', [created(), local('a')]);
    const snapshot = structuredClone({ ...port, views: [...port.views] });
    expect(decide(port, local('b'))).toEqual({ ok: true });
    const next = evolve(port, local('b'));
    expect(next).not.toBe(port);
    expect({ ...port, views: [...port.views] }).toEqual(snapshot);
    expect([...next.views]).toEqual([
      ['a', 'local'],
      ['b', 'local'],
    ]);
  });

  it('refuses with a TransitionRefusedError naming port, view, state and event', () => {
    const port = foldPort('p1', [created(), local('a')]);
    expect(() => evolve(port, dist('dhcp:s1'))).toThrow(TransitionRefusedError);
    try {
      evolve(port, dist('dhcp:s1'));
    } catch (error) {
      expect(error).toBeInstanceOf(TransitionRefusedError);
      const refused = error as TransitionRefusedError;
      expect(refused.code).toBe('claims-held');
      expect(refused.view).toBe(ANY_VIEW);
      expect(refused.message).toBe(
        'port p1: view * in state unbound refuses DistributedCreated{reason=dhcp:s1}: refused unless the claims are released first (claims: a; acks: none)',
      );
    }
    // a deciding chassis names itself for port-wide events
    expect(decide(port, dist('dhcp:s1'), 'a')).toMatchObject({ view: 'a', state: 'local' });
    expect(apply(port, dist('dhcp:s1'))).toMatchObject({ ok: false, code: 'claims-held' });
  });

  it('is final once deleted', () => {
    const port = foldPort('p1', [created(), local('a'), portDeleted()]);
    expect(viewOf(port, 'a')).toBe('deleted');
    expect(port.others).toBe('deleted');
    expect(portOwner(port)).toBeNull();
    for (const event of [created(), local('b'), updated(null), portDeleted()]) {
      expect(decide(port, event)).toMatchObject({ ok: false, code: 'port-deleted' });
    }
  });

  it('is an Emmett-style decider', () => {
    const port = [created(), local('a')].reduce(
      lportDecider.evolve,
      lportDecider.initialState('p1'),
    );
    expect(lportDecider.decide(port, remote('b', 'a'))).toEqual({ ok: true });
    expect(initialPortState('p1')).toEqual(lportDecider.initialState('p1'));
  });
});

describe('domain events', () => {
  const lp = {
    id: 'p1',
    switchId: 's1',
    macs: ['fa:16:3e:00:00:01'],
    ips: ['10.0.0.5'],
    deviceOwner: 'compute',
    requestedChassis: 'h1',
  };

  it.each([
    [parseEvent('LogicalPortCreated', lp), created('h1')],
    [parseEvent('LogicalPortUpdated', { ...lp, requestedChassis: null }), updated(null)],
    [parseEvent('LogicalPortDeleted', { id: 'p1' }), portDeleted()],
    [parseEvent('LocalCreated', { portId: 'p1', chassis: 'h1' }), local('h1')],
    [parseEvent('LocalDeleted', { portId: 'p1', chassis: 'h1' }), unlocal('h1')],
    [parseEvent('RemoteCreated', { portId: 'p1', chassis: 'h2', owner: 'h1' }), remote('h2', 'h1')],
    [
      parseEvent('RemoteDeleted', { portId: 'p1', chassis: 'h2' }),
      { type: 'RemoteDeleted', chassis: 'h2' },
    ],
    [parseEvent('DistributedCreated', { portId: 'p1', reason: 'dhcp:s1' }), dist('dhcp:s1')],
    [
      parseEvent('DistributedDeleted', { portId: 'p1', reason: 'dhcp:s1' }),
      { type: 'DistributedDeleted', reason: 'dhcp:s1' },
    ],
  ])('maps %s', (domain, expected) => {
    expect(toLportEvents(domain)).toEqual([expected]);
    expect(lportIdOf(domain)).toBe('p1');
  });

  it('ignores events of other streams', () => {
    const chassis = parseEvent('ChassisDeleted', { id: 'h1' });
    expect(toLportEvents(chassis)).toBeUndefined();
    expect(lportIdOf(chassis)).toBeUndefined();
  });
});

describe('actor API', () => {
  it('runs the same machine as an actor', () => {
    const actor = startLportActor({ portId: 'p1', chassis: 'h3' });
    for (const event of migration.slice(0, 4)) actor.send(event);
    expect(stateOf(actor.getSnapshot())).toBe('remote');
    actor.send(updated('h2')); // owner unchanged: h2 does not claim yet
    expect(stateOf(actor.getSnapshot())).toBe('remote');
    actor.send(local('h2')); // now it does: the owner moves, h3's ack is stale
    expect(stateOf(actor.getSnapshot())).toBe('unbound');
    actor.send(local('h3')); // the port moves here too
    expect(stateOf(actor.getSnapshot())).toBe('local');
    actor.send(portDeleted());
    expect(actor.getSnapshot().status).toBe('done');
    actor.stop();
  });
});
