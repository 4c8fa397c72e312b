/**
 * The chassis stream's whole-stream fold (`foldAll`, used when a command loads the stream)
 * must equal reducing with `evolve`, and stay linear in the number of interfaces; commands keep
 * it between loads and read only the events after it.
 */
import { describe, expect, it } from 'vitest';
import { chassisFold } from '../../src/commands/chassis.js';
import { CommandHandler } from '../../src/commands/handler.js';
import { foldStream } from '../../src/commands/lifecycle.js';
import {
  type Chassis,
  commandCause,
  type DomainEvent,
  envelope,
  type OvsPort,
} from '../../src/events/index.js';
import type { EventStore, ReadStreamOptions } from '../../src/store/event-store.js';
import { openEventStore } from '../../src/store/open-event-store.js';

const chassis: Chassis = {
  id: 'c1',
  tunnelIp: '192.0.2.1',
  tunnelTypes: ['geneve'],
  bridgeMappings: {},
};
const tap = (name: string, ofport = 1): OvsPort => ({
  chassis: 'c1',
  name,
  ofport,
  ifaceId: `port-${name}`,
  type: '',
});

const reduce = (events: readonly DomainEvent[]) =>
  events.reduce((state, event) => chassisFold.evolve(state, event), chassisFold.initial);

describe('chassisFold.foldOnto', () => {
  it('continues a kept state as reducing with evolve would, leaving that state as it was', () => {
    const before: DomainEvent[] = [
      { type: 'ChassisCreated', data: chassis },
      { type: 'OvsPortCreated', data: tap('tap1') },
      { type: 'OvsPortCreated', data: tap('tap2') },
    ];
    const batch: DomainEvent[] = [
      { type: 'OvsPortCreated', data: tap('tap3') },
      { type: 'OvsPortUpdated', data: tap('tap1', 9) },
      { type: 'OvsPortDeleted', data: { chassis: 'c1', name: 'tap2' } },
      { type: 'ChassisUpdated', data: { ...chassis, tunnelIp: '192.0.2.9' } },
    ];
    const kept = reduce(before);
    const keptPorts = [...kept.ovsPorts];
    const onto = chassisFold.foldOnto?.(kept, batch);
    const reduced = reduce([...before, ...batch]);
    expect(onto?.chassis).toEqual(reduced.chassis);
    expect([...(onto?.ovsPorts ?? [])]).toEqual([...reduced.ovsPorts]);
    expect([...kept.ovsPorts]).toEqual(keptPorts);
  });
});

describe('chassisFold.foldAll', () => {
  it('equals reducing with evolve', () => {
    const streams: DomainEvent[][] = [
      [],
      [{ type: 'ChassisCreated', data: chassis }],
      [
        { type: 'ChassisCreated', data: chassis },
        { type: 'OvsPortCreated', data: tap('tap1') },
        { type: 'OvsPortCreated', data: tap('tap2') },
        { type: 'OvsPortUpdated', data: tap('tap1', 7) },
        { type: 'OvsPortDeleted', data: { chassis: 'c1', name: 'tap2' } },
        { type: 'ChassisUpdated', data: { ...chassis, tunnelIp: '192.0.2.9' } },
      ],
      [
        { type: 'ChassisCreated', data: chassis },
        { type: 'OvsPortCreated', data: tap('tap1') },
        { type: 'OvsPortDeleted', data: { chassis: 'c1', name: 'tap1' } },
        { type: 'ChassisDeleted', data: { id: 'c1' } },
        { type: 'ChassisCreated', data: chassis },
      ],
    ];
    for (const events of streams) {
      const all = foldStream(chassisFold, events);
      const reduced = reduce(events);
      expect(all.chassis).toEqual(reduced.chassis);
      expect([...all.ovsPorts]).toEqual([...reduced.ovsPorts]);
    }
  });

  it('does not touch the shared initial state', () => {
    foldStream(chassisFold, [{ type: 'OvsPortCreated', data: tap('tap1') }]);
    expect(chassisFold.initial.ovsPorts.size).toBe(0);
  });

  it('folds 50,000 interfaces in linear time', () => {
    const events: DomainEvent[] = [{ type: 'ChassisCreated', data: chassis }];
    for (let i = 0; i < 50_000; i++)
      events.push({ type: 'OvsPortCreated', data: tap(`tap${i}`, i + 1) });
    // Reducing with evolve copies the map per event: 1.25 billion entry copies, minutes — past
    // the test's timeout, which is the only limit here (the fold's speed is the bench's).
    const state = foldStream(chassisFold, events);
    expect(state.ovsPorts.size).toBe(50_000);
  });
});

describe('the command handler keeps the chassis fold between commands', () => {
  const issuer = { app: 'api', actor: 'test' };

  it('reads only new events, including other writers’ ones', async () => {
    const inner = await openEventStore('memory://');
    const reads: (bigint | undefined)[] = [];
    const store: EventStore = new Proxy(inner, {
      get(target, property, receiver) {
        if (property === 'readStream')
          return (stream: string, options?: ReadStreamOptions) => {
            reads.push(options?.fromRevision);
            return target.readStream(stream, options);
          };
        if (property === 'readStreams')
          return (streams: readonly string[]) => {
            reads.push(undefined);
            return target.readStreams(streams);
          };
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const handler = new CommandHandler(store);
    await handler.execute('createChassis', chassis, issuer);
    for (const name of ['tap1', 'tap2', 'tap3'])
      expect((await handler.reportOvsPort(tap(name), issuer)).created).toBe(true);
    // Another API instance reports tap4 meanwhile.
    await store.appendToStream('chassis-c1', [
      envelope(
        { type: 'OvsPortCreated', data: tap('tap4') },
        { app: 'api', cause: commandCause() },
      ),
    ]);
    const again = await handler.reportOvsPort(tap('tap4'), issuer);
    expect(again.created).toBe(false);
    expect(again.appended).toBe(0);
    const removed = await handler.execute('removeOvsPort', { chassis: 'c1', name: 'tap2' }, issuer);
    expect(removed.appended).toBe(1);
    await expect(
      handler.execute('removeOvsPort', { chassis: 'c1', name: 'tap2' }, issuer),
    ).rejects.toThrow(/no interface tap2/);
    // Whole stream while there is none; then from the revision after the last, the handler's
    // own appends kept as it folded them (tap4 at revision 4 is read, being another's).
    expect(reads).toEqual([undefined, 1n, 2n, 3n, 4n, 5n, 6n]);
    await store.close();
  });
});
