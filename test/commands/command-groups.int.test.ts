/**
 * Commands that queue in one lane while it is busy run as one group: one read of the stream,
 * each decided in order on the state the ones before it left, one append with one expected
 * revision, each caller answered with its own result. The lane is held busy by a first command
 * that waits on a gate in its reference reads, so the next ones queue behind it.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type Command,
  CommandHandler,
  type CommandObserver,
  CommandRejectedError,
  commandTable,
} from '../../src/commands/index.js';
import { chassisStream, type LogicalPort, type OvsPort } from '../../src/events/index.js';
import type { EventStore, ReadStreamOptions } from '../../src/store/event-store.js';
import { openEventStore } from '../../src/store/open-event-store.js';

const issuer = { app: 'api', actor: 'test' };
const stream = chassisStream('ch1');
const port = (name: string, ofport: number | null = 1): OvsPort => ({
  chassis: 'ch1',
  name,
  ofport,
  ifaceId: null,
  type: '',
});

/** The store's calls as a handler makes them, and hooks to run before its appends. */
interface Spy {
  readonly store: EventStore;
  readonly reads: (ReadStreamOptions | undefined)[];
  /** The number of events of each append, in order. */
  readonly appends: number[];
  /** Run before the append of that index (0-based): another writer getting in first. */
  readonly before: Map<number, () => Promise<void>>;
}

function spy(store: EventStore): Spy {
  const seen: Spy = {
    reads: [],
    appends: [],
    before: new Map(),
    store: new Proxy(store, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (property === 'readStream')
          return (name: string, options?: ReadStreamOptions) => {
            if (name === stream) seen.reads.push(options);
            return target.readStream(name, options);
          };
        // A whole read (of one stream, or of a round's streams at once): recorded as readStream's.
        if (property === 'readStreams')
          return (names: readonly string[]) => {
            if (names.includes(stream)) seen.reads.push(undefined);
            return target.readStreams(names);
          };
        if (property === 'appendToStream')
          return async (...args: Parameters<EventStore['appendToStream']>) => {
            await seen.before.get(seen.appends.length)?.();
            seen.appends.push(args[1].length);
            return target.appendToStream(...args);
          };
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }),
  };
  return seen;
}

/** Holds `handler`'s lane of the chassis stream until the returned release is called. */
function holdLane(handler: CommandHandler) {
  let release = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const held: Command<OvsPort, unknown, undefined, OvsPort> = {
    ...(commandTable.reportOvsPort as unknown as Command<OvsPort, unknown, undefined, OvsPort>),
    references: () => gate.then(() => undefined),
  };
  const first = handler.run(held, port('tap0'), issuer);
  return { first, release };
}

let store: EventStore;
beforeEach(async () => {
  store = await openEventStore('memory://');
  await new CommandHandler(store).execute(
    'createChassis',
    { id: 'ch1', tunnelIp: '192.0.2.1', tunnelTypes: ['geneve'], bridgeMappings: {} },
    issuer,
  );
});
afterEach(async () => {
  await store.close();
});

describe('commands queued in one lane run as a group', () => {
  it('one read, decided in order on the evolving state, one append; each its own position', async () => {
    const seen = spy(store);
    const decided: string[] = [];
    const observer: CommandObserver = {
      decided: (command, outcome) => decided.push(`${command} ${outcome}`),
      appended: () => {},
    };
    const handler = new CommandHandler(seen.store, { observer });
    const { first, release } = holdLane(handler);
    const queued = [
      handler.reportOvsPort(port('tap1', 1), issuer),
      // Sees tap1 as the command before it left it: an update, not a create.
      handler.reportOvsPort(port('tap1', 2), issuer),
      handler.reportOvsPort(port('tap2', 3), issuer),
    ];
    seen.reads.length = 0;
    release();
    await first;
    const outcomes = await Promise.all(queued);

    expect(seen.appends).toEqual([1, 3]); // the held one, then the group
    expect(seen.reads).toHaveLength(1); // the group's one read (from the kept revision)
    const events = await store.readStream(stream, { fromRevision: 2n });
    expect(
      events.map((e) => [e.type, (e.data as OvsPort).name, (e.data as OvsPort).ofport]),
    ).toEqual([
      ['OvsPortCreated', 'tap1', 1],
      ['OvsPortUpdated', 'tap1', 2],
      ['OvsPortCreated', 'tap2', 3],
    ]);
    expect(outcomes.map((o) => [o.created, o.appended, o.position])).toEqual([
      [true, 1, events[0]?.position],
      [false, 1, events[1]?.position],
      [true, 1, events[2]?.position],
    ]);
    expect(decided).toEqual([
      'reportOvsPort accepted',
      'reportOvsPort accepted',
      'reportOvsPort accepted',
      'reportOvsPort accepted',
    ]);
  });

  it('a store whose positions are not consecutive (EventStoreDB): read back after the append', async () => {
    const seen = spy(store);
    const opaque = new Proxy(seen.store, {
      get: (target, property, receiver) =>
        property === 'consecutivePositions' ? undefined : Reflect.get(target, property, receiver),
    });
    const handler = new CommandHandler(opaque);
    const { first, release } = holdLane(handler);
    const queued = Promise.all([
      handler.reportOvsPort(port('tap1'), issuer),
      handler.reportOvsPort(port('tap2'), issuer),
    ]);
    release();
    await first;
    const outcomes = await queued;
    const events = await store.readStream(stream, { fromRevision: 2n });
    expect(outcomes.map((o) => o.position)).toEqual(events.map((e) => e.position));
    expect(seen.reads.at(-1)).toEqual({ fromRevision: 2n, maxCount: 2 });
  });

  it('reads another stream once for the whole group (the three acks of a port: its switch)', async () => {
    await new CommandHandler(store).execute(
      'createSwitch',
      { id: 's1', networkType: 'geneve', segmentationId: 7 },
      issuer,
    );
    const switchReads: string[] = [];
    const counting = new Proxy(store, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (property === 'readStream')
          return (name: string, options?: ReadStreamOptions) => {
            if (name.includes('s1')) switchReads.push(name);
            return target.readStream(name, options);
          };
        if (property === 'readStreams')
          return (names: readonly string[]) => {
            switchReads.push(...names.filter((name) => name.includes('s1')));
            return target.readStreams(names);
          };
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const handler = new CommandHandler(counting);
    const reading: Command<OvsPort, unknown, undefined, OvsPort> = {
      ...(commandTable.reportOvsPort as unknown as Command<OvsPort, unknown, undefined, OvsPort>),
      references: async (_input, _state, read) => {
        expect(await read.liveDocument('switch', 's1')).toMatchObject({ id: 's1' });
        return undefined;
      },
    };
    const { first, release } = holdLane(handler);
    const queued = Promise.all(
      ['tap1', 'tap2', 'tap3'].map((name) => handler.run(reading, port(name), issuer)),
    );
    release();
    await first;
    expect((await queued).map((o) => o.appended)).toEqual([1, 1, 1]);
    expect(switchReads).toHaveLength(1);
  });

  it('a store failure answers only its own group, not the groups of the lane before it', async () => {
    await new CommandHandler(store).execute(
      'createSwitch',
      { id: 's1', networkType: 'geneve', segmentationId: 7 },
      issuer,
    );
    const failing = new Proxy(store, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (property === 'appendToStream')
          return (name: string, ...rest: [never, never]) =>
            name === 'lport-p2'
              ? Promise.reject(new Error('disk full'))
              : target.appendToStream(name, ...rest);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const handler = new CommandHandler(failing);
    const lport = (id: string): LogicalPort => ({
      id,
      switchId: 's1',
      macs: [],
      ips: [],
      deviceOwner: 'compute',
      requestedChassis: null,
    });
    // Creates on one switch share its lane, each its own group (their streams differ).
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const held = {
      ...commandTable.createPort,
      references: () => gate.then(() => ({ switchLive: true })),
    };
    const first = handler.run(held, lport('p0'), issuer);
    const queued = Promise.allSettled([
      handler.execute('createPort', lport('p1'), issuer),
      handler.execute('createPort', lport('p2'), issuer),
      handler.execute('createPort', lport('p3'), issuer),
    ]);
    release();
    await first;
    const [p1, p2, p3] = await queued;
    expect(p1.status).toBe('fulfilled');
    expect(p2).toMatchObject({ status: 'rejected', reason: new Error('disk full') });
    expect(p3.status).toBe('fulfilled');
  });

  it('a refused or invalid command gets its own error; the others still append', async () => {
    const seen = spy(store);
    const handler = new CommandHandler(seen.store);
    const { first, release } = holdLane(handler);
    const settled = Promise.allSettled([
      handler.reportOvsPort(port('tap1'), issuer),
      handler.execute(
        'createChassis',
        { id: 'ch1', tunnelIp: '192.0.2.9', tunnelTypes: ['geneve'], bridgeMappings: {} },
        issuer,
      ),
      handler.reportOvsPort(port('tap2', 0), issuer), // ofport 0: refused by the schema
      handler.execute('removeOvsPort', { chassis: 'ch1', name: 'nope' }, issuer),
      handler.reportOvsPort(port('tap3'), issuer),
    ]);
    release();
    await first;
    const [tap1, duplicate, invalid, missing, tap3] = await settled;

    const kindOf = (outcome: PromiseSettledResult<unknown> | undefined) =>
      outcome?.status === 'rejected' && outcome.reason instanceof CommandRejectedError
        ? outcome.reason.rejection.kind
        : outcome?.status;
    expect([tap1, duplicate, invalid, missing, tap3].map(kindOf)).toEqual([
      'fulfilled',
      'already-exists',
      'invalid',
      'not-found',
      'fulfilled',
    ]);
    expect(seen.appends).toEqual([1, 2]);
    const names = (await store.readStream(stream, { fromRevision: 2n })).map(
      (e) => (e.data as OvsPort).name,
    );
    expect(names).toEqual(['tap1', 'tap3']);
  });

  it('an idempotent repeat answers unchanged, at the position of the event before it', async () => {
    const seen = spy(store);
    const handler = new CommandHandler(seen.store);
    const { first, release } = holdLane(handler);
    const queued = Promise.all([
      handler.reportOvsPort(port('tap1'), issuer),
      handler.reportOvsPort(port('tap1'), issuer),
      handler.reportOvsPort(port('tap0'), issuer), // as the held command left it
    ]);
    release();
    const held = await first;
    const [created, repeated, same] = await queued;
    expect(created).toMatchObject({ created: true, appended: 1 });
    expect(repeated).toMatchObject({ created: false, appended: 0, position: created?.position });
    expect(same).toMatchObject({ created: false, appended: 0, position: created?.position });
    expect(seen.appends).toEqual([1, 1]);
    expect(held.position).toBeLessThan(created?.position ?? 0n);

    // A group with nothing to append answers at the stream's last event, and appends nothing.
    const again = await handler.reportOvsPort(port('tap1'), issuer);
    expect(again).toMatchObject({ appended: 0, position: created?.position });
    expect(seen.appends).toEqual([1, 1]);
  });

  it('a lost race retries the whole group on a fresh read; each re-decided', async () => {
    const seen = spy(store);
    const retried: number[] = [];
    const handler = new CommandHandler(seen.store, {
      backoff: { initialMs: 1, maxMs: 2, jitter: 'none' },
      observer: {
        decided: () => {},
        appended: () => {},
        retried: (_command, attempt) => retried.push(attempt),
      },
    });
    // Before the group's append (the second: the held command's is the first), another
    // writer (a second server instance) reports tap1.
    seen.before.set(1, () =>
      new CommandHandler(store).reportOvsPort(port('tap1'), issuer).then(() => {}),
    );
    const { first, release } = holdLane(handler);
    const queued = Promise.all([
      handler.reportOvsPort(port('tap1'), issuer),
      handler.reportOvsPort(port('tap2'), issuer),
    ]);
    release();
    await first;
    const [tap1, tap2] = await queued;

    expect(retried).toEqual([1, 1]); // one retry, told for each command of the group
    expect(tap1).toMatchObject({ appended: 0 }); // re-decided: the other writer's report holds
    expect(tap2).toMatchObject({ appended: 1, created: true });
    expect(seen.appends).toEqual([1, 2, 1]);
    const names = (await store.readStream(stream, { fromRevision: 2n })).map(
      (e) => (e.data as OvsPort).name,
    );
    expect(names).toEqual(['tap1', 'tap2']);
  });
});

describe('the kept stream states', () => {
  it('a miss reads the whole stream, a hit only what follows the kept revision', async () => {
    const seen = spy(store);
    const handler = new CommandHandler(seen.store);
    await handler.reportOvsPort(port('tap1'), issuer);
    await handler.reportOvsPort(port('tap2'), issuer);
    expect(seen.reads).toEqual([undefined, { fromRevision: 2n }]);
    expect(handler.states.misses).toBe(1);
    expect(handler.states.hits).toBe(1);
  });

  it('another writer appends behind its back: the next command reads and folds its events', async () => {
    const seen = spy(store);
    const handler = new CommandHandler(seen.store);
    await handler.reportOvsPort(port('tap1'), issuer);
    await new CommandHandler(store).reportOvsPort(port('tap1', 7), issuer);
    // Decided on the other writer's state: tap1 is at ofport 7, so this changes nothing.
    const outcome = await handler.reportOvsPort(port('tap1', 7), issuer);
    expect(outcome).toMatchObject({ appended: 0 });
    expect(seen.reads).toEqual([undefined, { fromRevision: 2n }]);
    expect(handler.states.hits).toBe(1);
  });

  it('a lost race drops the kept state: the retry reads the whole stream', async () => {
    const seen = spy(store);
    const handler = new CommandHandler(seen.store, {
      backoff: { initialMs: 1, maxMs: 2, jitter: 'none' },
    });
    await handler.reportOvsPort(port('tap1'), issuer);
    seen.before.set(1, () =>
      new CommandHandler(store).reportOvsPort(port('tap9'), issuer).then(() => {}),
    );
    await expect(handler.reportOvsPort(port('tap2'), issuer)).resolves.toMatchObject({
      appended: 1,
    });
    // Read whole, from the kept revision, lost the race, read whole again.
    expect(seen.reads).toEqual([undefined, { fromRevision: 2n }, undefined]);
    const names = (await store.readStream(stream)).slice(1).map((e) => (e.data as OvsPort).name);
    expect(names).toEqual(['tap1', 'tap9', 'tap2']);
  });

  it('a kept state is folded by one fold only: another fold of the stream misses', async () => {
    const seen = spy(store);
    const handler = new CommandHandler(seen.store);
    await handler.reportOvsPort(port('tap1'), issuer);
    const fold = { ...commandTable.reportOvsPort.fold };
    const other = { ...commandTable.reportOvsPort, fold };
    await handler.run(other, port('tap2'), issuer);
    expect(seen.reads).toEqual([undefined, undefined]);
  });
});
