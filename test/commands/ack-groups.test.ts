import { describe, expect, it } from 'vitest';
import { applyEach, lportFacts, refusalOfEach } from '../../machines/lport.facts.js';
import { initialFacts, type PortFacts, toLportEvents } from '../../machines/lport.rules.js';
import { PortLocalityFold } from '../../src/apps/port-locality.js';
import { groupAcks } from '../../src/commands/ack-groups.js';
import { type DomainEvent, parseEvent } from '../../src/events/index.js';
import type { NewEvent } from '../../src/events/metadata.js';

let ids = 0;
function recorded(event: DomainEvent, app = 'tunnel', actor = 'agent'): NewEvent {
  ids++;
  return {
    id: `id-${ids}`,
    type: event.type,
    data: event.data,
    metadata: {
      correlationId: `request-${ids}`,
      causationId: `request-${ids}`,
      app,
      schemaVersion: 1,
      time: '2026-12-02T00:00:00.000Z',
      actor,
    },
  };
}
const ack = (chassis: string, owner = 'a', portId = 'p1', app = 'tunnel') =>
  recorded({ type: 'RemoteCreated', data: { portId, chassis, owner } }, app, `agent-${chassis}`);
const withdraw = (chassis: string) =>
  recorded({ type: 'RemoteDeleted', data: { portId: 'p1', chassis } });

describe('groupAcks', () => {
  it('leaves a lone event, and events with no run of acks, as they are', () => {
    expect(groupAcks([ack('b')])).toBeUndefined();
    expect(groupAcks([ack('b'), withdraw('c'), ack('d')])).toBeUndefined();
    expect(groupAcks([ack('b', 'a'), ack('c', 'x')])).toBeUndefined();
    expect(groupAcks([ack('b', 'a', 'p1'), ack('c', 'a', 'p2')])).toBeUndefined();
    expect(groupAcks([ack('b', 'a', 'p1', 'tunnel'), ack('c', 'a', 'p1', 'provider')])).toBe(
      undefined,
    );
  });

  it('records a run of acks of one owner as one RemotesCreated, its chassis in order', () => {
    const events = [withdraw('x'), ack('c'), ack('b'), ack('d'), withdraw('c'), ack('e'), ack('f')];
    const grouped = groupAcks(events);
    if (grouped === undefined) throw new Error('nothing grouped');
    expect(grouped.events.map((event) => [event.type, event.data])).toEqual([
      ['RemoteDeleted', { portId: 'p1', chassis: 'x' }],
      ['RemotesCreated', { portId: 'p1', chassis: ['c', 'b', 'd'], owner: 'a' }],
      ['RemoteDeleted', { portId: 'p1', chassis: 'c' }],
      ['RemotesCreated', { portId: 'p1', chassis: ['e', 'f'], owner: 'a' }],
    ]);
    expect(grouped.at).toEqual([0, 1, 1, 1, 2, 3, 3]);
    const group = grouped.events[1] as NewEvent;
    // The first ack's id and cause; every chassis' own actor and cause for audit.
    expect(group.id).toBe(events[1]?.id);
    expect(group.metadata).toMatchObject({
      app: 'tunnel',
      correlationId: events[1]?.metadata.correlationId,
      acks: [
        {
          chassis: 'c',
          actor: 'agent-c',
          correlationId: events[1]?.metadata.correlationId,
          causationId: events[1]?.metadata.causationId,
        },
        { chassis: 'b', actor: 'agent-b' },
        { chassis: 'd', actor: 'agent-d' },
      ],
    });
    // What the handler appends is what the log accepts.
    for (const event of grouped.events)
      expect(() => parseEvent(event.type, event.data)).not.toThrow();
  });
});

describe('RemotesCreated in the lport machine', () => {
  const owned: PortFacts = (() => {
    let facts: PortFacts = initialFacts();
    for (const event of [
      parseEvent('LogicalPortCreated', {
        id: 'p1',
        switchId: 's1',
        macs: ['fa:16:3e:00:00:01'],
        ips: [],
        deviceOwner: 'compute',
        requestedChassis: null,
      }),
      parseEvent('LocalCreated', { portId: 'p1', chassis: 'a' }),
    ])
      facts = applyEach(lportFacts, facts, toLportEvents(event) ?? []) as PortFacts;
    return facts;
  })();

  it('stands for one RemoteCreated per chassis, in order', () => {
    const group = parseEvent('RemotesCreated', { portId: 'p1', chassis: ['c', 'b'], owner: 'a' });
    expect(toLportEvents(group)).toEqual([
      { type: 'RemoteCreated', chassis: 'c', owner: 'a' },
      { type: 'RemoteCreated', chassis: 'b', owner: 'a' },
    ]);
    const after = applyEach(lportFacts, owned, toLportEvents(group) ?? []);
    expect(after?.acks).toEqual([
      { chassis: 'b', owner: 'a' },
      { chassis: 'c', owner: 'a' },
    ]);
    expect(lportFacts.stateOf(after as PortFacts, 'b')).toBe('remote');
  });

  it('is refused whole when one of its acks is: the facts stay as they were', () => {
    const withB = applyEach(lportFacts, owned, [
      { type: 'RemoteCreated', chassis: 'b', owner: 'a' },
    ]) as PortFacts;
    const group = toLportEvents(
      parseEvent('RemotesCreated', { portId: 'p1', chassis: ['c', 'b'], owner: 'a' }),
    ) as never;
    expect(refusalOfEach(lportFacts, 'p1', withB, group)).toMatchObject({
      code: 'already-acked',
      view: 'b',
    });
    expect(applyEach(lportFacts, withB, group)).toBeUndefined();
    const stale = toLportEvents(
      parseEvent('RemotesCreated', { portId: 'p1', chassis: ['c', 'd'], owner: 'x' }),
    ) as never;
    expect(refusalOfEach(lportFacts, 'p1', owned, stale)).toMatchObject({ code: 'stale-ack' });
  });

  it('is folded by the apps all or none, in one pass', () => {
    const fold = new PortLocalityFold();
    fold.apply(
      parseEvent('LogicalPortCreated', {
        id: 'p1',
        switchId: 's1',
        macs: ['fa:16:3e:00:00:01'],
        ips: [],
        deviceOwner: 'compute',
        requestedChassis: null,
      }),
      0n,
    );
    fold.apply(parseEvent('LocalCreated', { portId: 'p1', chassis: 'a' }), 1n);
    fold.apply(parseEvent('RemotesCreated', { portId: 'p1', chassis: ['c', 'b'], owner: 'a' }), 2n);
    expect(fold.get('p1')).toMatchObject({
      owner: 'a',
      revision: 2n,
      acks: [
        { chassis: 'b', owner: 'a' },
        { chassis: 'c', owner: 'a' },
      ],
    });
    // d is new, b already acks: refused whole, d's ack is not folded either.
    fold.apply(parseEvent('RemotesCreated', { portId: 'p1', chassis: ['d', 'b'], owner: 'a' }), 3n);
    expect(fold.get('p1').acks.map((ack) => ack.chassis)).toEqual(['b', 'c']);
    expect(fold.get('p1').revision).toBe(3n);
  });

  it("names two chassis or more, each once (a chassis twice is the machine's refusal)", () => {
    expect(() =>
      parseEvent('RemotesCreated', { portId: 'p1', chassis: ['b'], owner: 'a' }),
    ).toThrow();
    const twice = toLportEvents(
      parseEvent('RemotesCreated', { portId: 'p1', chassis: ['b', 'b'], owner: 'a' }),
    ) as never;
    expect(refusalOfEach(lportFacts, 'p1', owned, twice)).toMatchObject({
      code: 'already-acked',
      view: 'b',
    });
  });
});
