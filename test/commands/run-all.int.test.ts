/**
 * CommandHandler.runAll: commands on many streams (an agent's acks) decided in rounds — every
 * command queued meanwhile, by any caller — and appended in one multi-stream append, each
 * answered alone; whatever a kept state cannot answer (it went stale, a refusal, an ack already
 * held) is decided again on the stream as it is, and gets the answer a single request would.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommandHandler, CommandRejectedError } from '../../src/commands/index.js';
import { portFold } from '../../src/commands/ports.js';
import { commandCause, envelope, lportStream } from '../../src/events/index.js';
import type { EventStore, StreamAppend } from '../../src/store/event-store.js';
import { openEventStore } from '../../src/store/open-event-store.js';

const issuer = { app: 'agent:b', actor: 'test' };
const PORTS = 40;
const portId = (n: number) => `p${n}`;

let store: EventStore;

/** The store as the handler sees it, counting its appends. */
function counted(inner: EventStore) {
  const calls = {
    appendToStream: 0,
    appendToStreams: [] as number[],
    reads: [] as string[],
    /** The streams of each readStreams call (whole reads, several at once). */
    wholeReads: [] as (readonly string[])[],
  };
  const proxy = new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (property === 'appendToStream')
        return (...args: Parameters<EventStore['appendToStream']>) => {
          calls.appendToStream++;
          return target.appendToStream(...args);
        };
      if (property === 'readStream')
        return (...args: Parameters<EventStore['readStream']>) => {
          calls.reads.push(args[0]);
          return target.readStream(...args);
        };
      if (property === 'readStreams')
        return (names: readonly string[]) => {
          calls.wholeReads.push(names);
          return target.readStreams(names);
        };
      if (property === 'appendToStreams')
        return (appends: readonly StreamAppend[]) => {
          calls.appendToStreams.push(appends.length);
          return target.appendToStreams(appends);
        };
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store: proxy, calls };
}

/** A chassis' claim on a port, as the classification app appends it. */
async function claim(port: string, chassis: string) {
  const event = envelope(
    { type: 'LocalCreated', data: { portId: port, chassis } },
    { app: 'classification', cause: commandCause() },
  );
  await store.appendToStream(lportStream(port), [event]);
}

const ack = (n: number, owner = 'a') =>
  ({ name: 'ackRemote', input: { chassis: 'b', portId: portId(n), owner } }) as const;

async function typesOf(port: string) {
  return (await store.readStream(lportStream(port))).map((event) => event.type);
}

beforeEach(async () => {
  store = await openEventStore('memory://');
  const setup = new CommandHandler(store);
  const admin = { app: 'api', actor: 'test' };
  await setup.execute(
    'createSwitch',
    { id: 's1', networkType: 'geneve', segmentationId: 7 },
    admin,
  );
  for (const [n, chassis] of ['a', 'b', 'c', 'd'].entries())
    await setup.execute(
      'createChassis',
      {
        id: chassis,
        tunnelIp: `192.0.2.${n + 1}`,
        tunnelTypes: ['geneve'],
        bridgeMappings: {},
      },
      admin,
    );
  for (let n = 0; n < PORTS; n++) {
    await setup.execute(
      'createPort',
      {
        id: portId(n),
        switchId: 's1',
        macs: [],
        ips: [],
        deviceOwner: 'compute',
        requestedChassis: null,
      },
      admin,
    );
    await claim(portId(n), 'a');
  }
});
afterEach(async () => {
  await store.close();
});

describe('runAll', () => {
  it('decides every ack and appends them in one multi-stream append, each with its position', async () => {
    const { store: seen, calls } = counted(store);
    const handler = new CommandHandler(seen);
    const settled = await handler.executeAll(
      Array.from({ length: PORTS }, (_, n) => ack(n)),
      issuer,
    );

    expect(calls.appendToStreams).toEqual([PORTS]);
    expect(calls.appendToStream).toBe(0);
    // No state was kept: the round read its ports' streams in one call, not one by one.
    expect(calls.wholeReads).toEqual([
      Array.from({ length: PORTS }, (_, n) => lportStream(portId(n))),
    ]);
    expect(calls.reads.filter((name) => name.startsWith('lport-'))).toEqual([]);
    for (let n = 0; n < PORTS; n++) {
      const answer = settled[n];
      if (!answer?.ok) throw new Error(`ack ${n} failed: ${String(answer?.error)}`);
      const events = await store.readStream(lportStream(portId(n)));
      const last = events.at(-1);
      expect(last?.type).toBe('RemoteCreated');
      expect(last?.data).toEqual({ portId: portId(n), chassis: 'b', owner: 'a' });
      expect(last?.metadata.app).toBe('tunnel');
      expect(answer.value).toMatchObject({ appended: 1, position: last?.position });
    }
  });

  it('batches that meet join one round: the acks of a port from three chassis, no race, grouped', async () => {
    const { store: seen, calls } = counted(store);
    const handler = new CommandHandler(seen);
    const batchOf = (chassis: string) =>
      Array.from({ length: PORTS }, (_, n) => ({
        name: 'ackRemote' as const,
        input: { chassis, portId: portId(n), owner: 'a' },
      }));
    const settled = await Promise.all(
      ['b', 'c', 'd'].map((chassis) =>
        handler.executeAll(batchOf(chassis), { app: `agent:${chassis}`, actor: 'test' }),
      ),
    );

    // b's batch starts a round at once; c's and d's queue meanwhile and go in the next one,
    // each port's two acks decided in order on one state and appended together, as one event.
    expect(calls.appendToStreams).toEqual([PORTS, PORTS]);
    expect(calls.appendToStream).toBe(0);
    expect(settled.flat().every((answer) => answer.ok)).toBe(true);
    const [, fromC, fromD] = settled;
    for (let n = 0; n < PORTS; n++) {
      const events = (await store.readStream(lportStream(portId(n)))).filter((event) =>
        event.type.startsWith('Remote'),
      );
      expect(events.map((event) => [event.type, event.data])).toEqual([
        ['RemoteCreated', { portId: portId(n), chassis: 'b', owner: 'a' }],
        ['RemotesCreated', { portId: portId(n), chassis: ['c', 'd'], owner: 'a' }],
      ]);
      const group = events[1];
      // Who acked stays in the metadata, chassis by chassis; the app is the switch's.
      expect(group?.metadata.app).toBe('tunnel');
      expect(group?.metadata.acks).toEqual([
        expect.objectContaining({ chassis: 'c', actor: 'test' }),
        expect.objectContaining({ chassis: 'd', actor: 'test' }),
      ]);
      // Both acks are answered with the one event's position, each having appended it.
      for (const batch of [fromC, fromD]) {
        const answer = batch?.[n];
        if (!answer?.ok) throw new Error(`ack of ${portId(n)} failed`);
        expect(answer.value).toMatchObject({ appended: 1, position: group?.position });
      }
    }
  });

  it('with groupAcks off (a rolling upgrade), acks that meet stay one RemoteCreated each', async () => {
    const handler = new CommandHandler(store, { groupAcks: false });
    const settled = await handler.executeAll(
      ['b', 'c', 'd'].map((chassis) => ({
        name: 'ackRemote' as const,
        input: { chassis, portId: portId(0), owner: 'a' },
      })),
      issuer,
    );
    expect(settled.every((answer) => answer.ok)).toBe(true);
    const events = (await store.readStream(lportStream(portId(0)))).filter((event) =>
      event.type.startsWith('Remote'),
    );
    expect(
      events.map((event) => [event.type, (event.data as { chassis: string }).chassis]),
    ).toEqual([
      ['RemoteCreated', 'b'],
      ['RemoteCreated', 'c'],
      ['RemoteCreated', 'd'],
    ]);
    const positions = settled.map((answer) => (answer.ok ? answer.value.position : undefined));
    expect(positions).toEqual(events.map((event) => event.position));
  });

  it('an ack held already answers as a single request: unchanged, nothing appended', async () => {
    const handler = new CommandHandler(store);
    await handler.executeAll([ack(0)], issuer);
    const before = await typesOf(portId(0));
    const [again] = await handler.executeAll([ack(0)], issuer);

    expect(again?.ok && again.value.appended).toBe(0);
    expect(await typesOf(portId(0))).toEqual(before);
  });

  it('a kept state gone stale loses its append and is decided again on the stream as it is', async () => {
    const { store: seen, calls } = counted(store);
    const handler = new CommandHandler(seen);
    // The handler keeps p0..p3 as acked for a; another writer then withdraws b's acks of p1
    // and p2 behind the handler's back.
    await handler.executeAll([ack(0), ack(1), ack(2), ack(3)], issuer);
    const other = new CommandHandler(store);
    await other.execute('withdrawAck', { chassis: 'b', portId: portId(1) }, issuer);
    await other.execute('withdrawAck', { chassis: 'b', portId: portId(2) }, issuer);
    calls.appendToStreams.length = 0;

    const settled = await handler.executeAll(
      [
        // Kept as acked, but withdrawn since: the kept state says "unchanged"; the stream says
        // an ack is needed. Decided alone, on the stream: appended.
        ack(1),
        // Kept as acked, withdrawn since; a withdrawal decided on the kept state would append a
        // RemoteDeleted on a stale revision: its append fails, decided again: nothing to do.
        { name: 'withdrawAck', input: { chassis: 'b', portId: portId(2) } },
        // Fresh: appended at once.
        ack(10),
      ],
      issuer,
    );

    expect(settled.map((s) => s.ok)).toEqual([true, true, true]);
    expect(settled.map((s) => (s.ok ? s.value.appended : -1))).toEqual([1, 0, 1]);
    expect(await typesOf(portId(1))).toEqual([
      'LogicalPortCreated',
      'LocalCreated',
      'RemoteCreated',
      'RemoteDeleted',
      'RemoteCreated',
    ]);
    expect((await typesOf(portId(2))).at(-1)).toBe('RemoteDeleted');
    expect((await typesOf(portId(2))).filter((t) => t === 'RemoteDeleted')).toHaveLength(1);
  });

  it("a kept state advanced with the apps' append decides on it: no lost append, no read", async () => {
    const { store: seen, calls } = counted(store);
    const handler = new CommandHandler(seen);
    await handler.executeAll([ack(0)], issuer);
    // The apps claim p0 for c too (a second claimant), and tell the handler (as locus.ts
    // wires the runner): its kept state follows.
    const kept = handler.states.get(lportStream(portId(0)), portFold);
    if (kept?.revision === undefined) throw new Error('p0 not kept');
    const claim = { type: 'LocalCreated', data: { portId: portId(0), chassis: 'c' } } as const;
    const result = await store.appendToStream(lportStream(portId(0)), [
      envelope(claim, { app: 'classification', cause: commandCause() }),
    ]);
    handler.states.advance(lportStream(portId(0)), kept.revision, [claim], {
      revision: result.nextExpectedRevision,
      position: result.position,
    });
    calls.appendToStreams.length = 0;
    calls.reads.length = 0;

    const [settled] = await handler.executeAll(
      [{ name: 'ackRemote', input: { chassis: 'd', portId: portId(0), owner: 'a' } }],
      issuer,
    );
    expect(settled?.ok && settled.value.appended).toBe(1);
    expect(calls.appendToStreams).toEqual([1]);
    // Its chassis' document is read (a reference); the port's stream is not.
    expect(calls.reads).not.toContain(lportStream(portId(0)));
  });

  it("a refused ack is the lport machine's refusal, alone; the others of the batch go in", async () => {
    const handler = new CommandHandler(store);
    const settled = await handler.executeAll([ack(0, 'c'), ack(1), ack(2)], issuer);

    expect(settled[0]?.ok).toBe(false);
    expect(settled[0]?.ok === false && settled[0].error).toBeInstanceOf(CommandRejectedError);
    expect(settled.slice(1).map((s) => s.ok)).toEqual([true, true]);
    expect((await typesOf(portId(0))).at(-1)).toBe('LocalCreated');
  });

  it("two commands on one stream are decided in order, the second on the first one's events", async () => {
    const handler = new CommandHandler(store);
    const settled = await handler.executeAll(
      [ack(0), { name: 'withdrawAck', input: { chassis: 'b', portId: portId(0) } }, ack(1)],
      issuer,
    );

    expect(settled.map((s) => (s.ok ? s.value.appended : -1))).toEqual([1, 1, 1]);
    expect((await typesOf(portId(0))).slice(-2)).toEqual(['RemoteCreated', 'RemoteDeleted']);
  });

  it('a command run first (a report) goes ahead of those queued, not ahead of its own stream', async () => {
    const { store: seen, calls } = counted(store);
    const handler = new CommandHandler(seen);
    const reportOf = (observed: string[], gone: string[] = []) => ({
      chassis: 'a',
      observed: observed.map((name) => ({
        chassis: 'a',
        name,
        ofport: 7,
        ifaceId: 'p0',
        type: '',
      })),
      gone,
    });
    const batchOf = (chassis: string) =>
      Array.from({ length: PORTS }, (_, n) => ({
        name: 'ackRemote' as const,
        input: { chassis, portId: portId(n), owner: 'a' },
      }));
    // b's batch holds the first round; c's acks, then a report, queue for the next.
    const fromB = handler.executeAll(batchOf('b'), issuer);
    const fromC = handler.executeAll(batchOf('c'), { app: 'agent:c', actor: 'test' });
    const report = handler.executeInRound('reportOvsPorts', reportOf(['tap1']), issuer);
    // A report of the stream already queued (normal) keeps its turn behind it.
    const queued = handler.executeAll(
      [{ name: 'reportOvsPorts', input: reportOf(['tap2']) }],
      issuer,
    );
    const after = handler.executeInRound('reportOvsPorts', reportOf([], ['tap2']), issuer);
    await Promise.all([fromB, fromC, queued]);
    const reported = await report;
    await after;

    expect(calls.appendToStreams).toEqual([PORTS, PORTS + 1]);
    const cAcks = (await fromC).map((answer) => (answer.ok ? answer.value.position : -1n));
    for (const position of cAcks) expect(reported.position).toBeLessThan(position);
    const chassisEvents = (await store.readStream('chassis-a')).filter((e) =>
      e.type.startsWith('OvsPort'),
    );
    expect(chassisEvents.map((e) => [e.type, (e.data as { name: string }).name])).toEqual([
      ['OvsPortCreated', 'tap1'],
      ['OvsPortCreated', 'tap2'],
      ['OvsPortDeleted', 'tap2'],
    ]);
  });

  it('with a linger, acks that come within it meet in one round (one event a port); a report does not wait', async () => {
    const { store: seen, calls } = counted(store);
    const handler = new CommandHandler(seen, { roundLingerMs: 50 });
    const batchOf = (chassis: string) =>
      Array.from({ length: PORTS }, (_, n) => ({
        name: 'ackRemote' as const,
        input: { chassis, portId: portId(n), owner: 'a' },
      }));
    // b's batch alone would start a round at once; within the linger c's and d's join it.
    const fromB = handler.executeAll(batchOf('b'), issuer);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const others = ['c', 'd'].map((chassis) =>
      handler.executeAll(batchOf(chassis), { app: `agent:${chassis}`, actor: 'test' }),
    );
    const settled = (await Promise.all([fromB, ...others])).flat();
    expect(settled.every((answer) => answer.ok)).toBe(true);
    expect(calls.appendToStreams).toEqual([PORTS]);
    for (let n = 0; n < PORTS; n++) {
      const remote = (await store.readStream(lportStream(portId(n)))).filter((event) =>
        event.type.startsWith('Remote'),
      );
      expect(remote.map((event) => [event.type, event.data])).toEqual([
        ['RemotesCreated', { portId: portId(n), chassis: ['b', 'c', 'd'], owner: 'a' }],
      ]);
    }

    // A report starts its round at once, and the acks lingering go with it: with a linger of
    // a minute, this answers only because the report cut it short.
    const patient = new CommandHandler(seen, { roundLingerMs: 60_000 });
    const withdrawing = patient.executeAll(
      [{ name: 'withdrawAck', input: { chassis: 'b', portId: portId(0) } }],
      issuer,
    );
    const report = await patient.executeInRound(
      'reportOvsPorts',
      {
        chassis: 'a',
        observed: [{ chassis: 'a', name: 'tap1', ofport: 7, ifaceId: 'p0', type: '' }],
        gone: [],
      },
      issuer,
    );
    expect(report.appended).toBe(1);
    expect((await withdrawing)[0]?.ok).toBe(true);
    expect(calls.appendToStreams.slice(1)).toEqual([2]);
  });

  it('an aborted signal runs nothing', async () => {
    const handler = new CommandHandler(store);
    const controller = new AbortController();
    controller.abort();
    const settled = await handler.executeAll([ack(0), ack(1)], issuer, {
      signal: controller.signal,
    });

    expect(settled.map((s) => s.ok === false && (s.error as Error).name)).toEqual([
      'AbortError',
      'AbortError',
    ]);
    expect((await typesOf(portId(0))).at(-1)).toBe('LocalCreated');
  });
});
