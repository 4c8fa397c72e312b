/**
 * The generic command handler under contention: two writers (two API instances: two handlers,
 * each with its own stream lanes) read the same stream revision, both append, one loses. The
 * loser waits a jittered delay, re-reads, re-decides, and either appends too or is refused by
 * the state the winner left. The jitter's random source is injected, so the delays are exact.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CommandHandler,
  type CommandObserver,
  CommandRejectedError,
  ContentionError,
} from '../../src/commands/index.js';
import { chassisStream, lportStream } from '../../src/events/index.js';
import { type BackoffPolicy, backoffDelay } from '../../src/lib/retry.js';
import { WrongExpectedVersionError } from '../../src/store/errors.js';
import type { EventStore } from '../../src/store/event-store.js';
import { openEventStore } from '../../src/store/open-event-store.js';

const issuer = { app: 'api', actor: 'test' };
const backoff: BackoffPolicy = { initialMs: 40, maxMs: 1_000, jitter: 'full' };
const half = () => 0.5;

/** What one writer did, in order, with times: for asserting the wait between attempts. */
interface Trace {
  readonly steps: { readonly what: 'read' | 'append' | 'lost'; readonly at: number }[];
  readonly retries: { readonly attempt: number; readonly delayMs: number }[];
  readonly outcomes: string[];
}

const newTrace = (): Trace => ({ steps: [], retries: [], outcomes: [] });

const observing = (trace: Trace): CommandObserver => ({
  decided: (_command, outcome) => trace.outcomes.push(outcome),
  appended: () => {},
  retried: (_command, attempt, delayMs) => trace.retries.push({ attempt, delayMs }),
});

/**
 * One writer's view of the shared store: it says when it first read `stream`, and its first
 * append there waits until `gate` opens, so both writers decide on the same revision. Reads
 * and appends of `stream` are traced.
 */
function writer(
  store: EventStore,
  stream: string,
  { gate, read }: { gate: Promise<unknown>; read: () => void },
  trace: Trace,
) {
  let gated = true;
  const step = (what: Trace['steps'][number]['what']) =>
    trace.steps.push({ what, at: performance.now() });
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'readStream')
        return (...args: Parameters<EventStore['readStream']>) => {
          if (args[0] === stream) {
            if (!trace.steps.some((s) => s.what === 'read')) read();
            step('read');
          }
          return target.readStream(...args);
        };
      if (property === 'readStreams')
        return (names: readonly string[]) => {
          if (names.includes(stream)) {
            if (!trace.steps.some((s) => s.what === 'read')) read();
            step('read');
          }
          return target.readStreams(names);
        };
      if (property === 'appendToStream')
        return async (...args: Parameters<EventStore['appendToStream']>) => {
          if (args[0] !== stream) return target.appendToStream(...args);
          if (gated) {
            gated = false;
            await gate;
          }
          try {
            const appended = await target.appendToStream(...args);
            step('append');
            return appended;
          } catch (error) {
            if (error instanceof WrongExpectedVersionError) step('lost');
            throw error;
          }
        };
      const value = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Resolves once `count` calls of `signal` were made. */
function countdown(count: number) {
  let left = count;
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return {
    opened,
    signal: () => {
      if (--left === 0) open();
    },
  };
}

/**
 * Two writers racing on `stream`: both read, then the first appends (and wins), then the second
 * (and loses its first try).
 */
function race(store: EventStore, stream: string) {
  const [first, second] = [newTrace(), newTrace()];
  const bothRead = countdown(2);
  let firstSettled!: () => void;
  const firstAppended = new Promise<void>((resolve) => {
    firstSettled = resolve;
  });
  const handler = (trace: Trace, gate: Promise<unknown>) =>
    new CommandHandler(writer(store, stream, { gate, read: bothRead.signal }, trace), {
      backoff,
      random: half,
      observer: observing(trace),
    });
  return {
    first: { trace: first, handler: handler(first, bothRead.opened) },
    second: {
      trace: second,
      handler: handler(second, Promise.all([bothRead.opened, firstAppended])),
    },
    /** The first writer's command settled: the second may append now. */
    firstSettled: () => firstSettled(),
  };
}

/** The wait between the lost append and the re-read that followed it. */
function waited(trace: Trace): number {
  const lost = trace.steps.findIndex((step) => step.what === 'lost');
  const reread = trace.steps.slice(lost + 1).find((step) => step.what === 'read');
  if (lost < 0 || reread === undefined) throw new Error('the writer never lost and re-read');
  return reread.at - (trace.steps[lost] as { at: number }).at;
}

let store: EventStore;
beforeEach(async () => {
  store = await openEventStore('memory://');
});
afterEach(async () => {
  await store.close();
});

describe('contention between two writers', () => {
  it('two interface reports on one chassis: both applied, the loser after a jittered wait', async () => {
    const setup = new CommandHandler(store);
    await setup.execute(
      'createChassis',
      { id: 'c1', tunnelIp: '192.0.2.1', tunnelTypes: ['geneve'], bridgeMappings: {} },
      issuer,
    );
    const { first, second, firstSettled } = race(store, chassisStream('c1'));
    const tap = (name: string, ofport: number) => ({
      chassis: 'c1',
      name,
      ofport,
      ifaceId: null,
      type: '',
    });
    const [won, lost] = await Promise.all([
      first.handler.reportOvsPort(tap('tap1', 1), issuer).finally(firstSettled),
      second.handler.reportOvsPort(tap('tap2', 2), issuer),
    ]);

    expect([won.appended, lost.appended]).toEqual([1, 1]);
    const names = (await store.readStream(chassisStream('c1')))
      .filter((event) => event.type === 'OvsPortCreated')
      .map((event) => (event.data as { name: string }).name);
    expect(names).toEqual(['tap1', 'tap2']);

    expect(first.trace.retries).toEqual([]);
    expect(second.trace.steps.map((step) => step.what)).toEqual(['read', 'lost', 'read', 'append']);
    // Full jitter: half of the first bound (40 ms) with the injected random source.
    const delay = backoffDelay(backoff, 0, half);
    expect(delay).toBe(20);
    expect(second.trace.retries).toEqual([{ attempt: 1, delayMs: delay }]);
    expect(waited(second.trace)).toBeGreaterThanOrEqual(delay - 1);
    expect(second.trace.outcomes).toEqual(['accepted']);
  });

  it('a port deleted under an update: the loser re-decides and the machine refuses it', async () => {
    const setup = new CommandHandler(store);
    await setup.execute(
      'createSwitch',
      { id: 's1', networkType: 'geneve', segmentationId: 7 },
      issuer,
    );
    await setup.execute(
      'createPort',
      {
        id: 'p1',
        switchId: 's1',
        macs: [],
        ips: [],
        deviceOwner: 'compute',
        requestedChassis: null,
      },
      issuer,
    );
    const { first, second, firstSettled } = race(store, lportStream('p1'));
    const [deleted, updated] = await Promise.allSettled([
      first.handler.execute('deletePort', { id: 'p1' }, issuer).finally(firstSettled),
      second.handler.execute(
        'updatePort',
        { id: 'p1', changes: { requestedChassis: 'c2' } },
        issuer,
      ),
    ]);

    expect(deleted.status).toBe('fulfilled');
    expect(updated.status).toBe('rejected');
    const error = (updated as PromiseRejectedResult).reason;
    expect(error).toBeInstanceOf(CommandRejectedError);
    expect((error as CommandRejectedError).rejection).toMatchObject({
      kind: 'refused',
      code: 'port-deleted',
    });
    expect(second.trace.retries).toEqual([{ attempt: 1, delayMs: 20 }]);
    expect(waited(second.trace)).toBeGreaterThanOrEqual(19);
    expect(second.trace.outcomes).toEqual(['refused']);
    const types = (await store.readStream(lportStream('p1'))).map((event) => event.type);
    expect(types).toEqual(['LogicalPortCreated', 'LogicalPortDeleted']);
  });

  it('a stream that never settles: the waits grow, then ContentionError', async () => {
    const trace = newTrace();
    const alwaysLoses = new Proxy(store, {
      get(target, property, receiver) {
        if (property === 'appendToStream')
          return async (streamName: string) => {
            throw new WrongExpectedVersionError(streamName, 'no_stream', 0n);
          };
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const handler = new CommandHandler(alwaysLoses, {
      maxAttempts: 4,
      backoff: { initialMs: 2, maxMs: 5, jitter: 'full' },
      random: () => 0.999,
      observer: observing(trace),
    });
    await expect(
      handler.execute(
        'createSwitch',
        { id: 's9', networkType: 'vxlan', segmentationId: 1 },
        issuer,
      ),
    ).rejects.toBeInstanceOf(ContentionError);
    // Bounds 2, 4, then capped at 5; the jitter draws just under each.
    expect(trace.retries).toEqual([
      { attempt: 1, delayMs: 2 },
      { attempt: 2, delayMs: 4 },
      { attempt: 3, delayMs: 5 },
    ]);
    expect(trace.outcomes).toEqual(['contention']);
  });
});
