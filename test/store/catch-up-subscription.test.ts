/**
 * The catch-up subscription reads the log only when it may have grown: a short page is the
 * head, so it waits for the change signal before reading again — one read per wake-up, not two
 * — and a commit landing during a read is never slept through.
 */
import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../src/store/event-store.js';
import { CatchUpSubscription, type Page } from '../../src/store/sql/catch-up-subscription.js';
import { ChangeSignal } from '../../src/store/sql/change-signal.js';

const recorded = (position: bigint): RecordedEvent =>
  ({
    id: `e${position}`,
    position,
    streamName: 'lport-a',
    revision: position - 1n,
    type: 'Test',
    data: {},
    metadata: {},
    recordedAt: new Date(0).toISOString(),
  }) as unknown as RecordedEvent;

/** A log in memory, read in pages, counting the reads. */
function memoryLog(batchSize: number) {
  const events: RecordedEvent[] = [];
  const signal = new ChangeSignal();
  let reads = 0;
  /** Runs once during the next read (after it took its snapshot). */
  let duringRead: (() => void) | undefined;
  const fetchPage = async (after: bigint, limit: number): Promise<Page> => {
    reads++;
    const page = events.filter((e) => e.position > after).slice(0, limit);
    const head = BigInt(events.length);
    const hook = duringRead;
    duringRead = undefined;
    hook?.();
    return {
      events: page,
      scannedTo: page.length === limit ? (page.at(-1) as RecordedEvent).position : head,
    };
  };
  const append = () => {
    events.push(recorded(BigInt(events.length + 1)));
    signal.notify();
  };
  const subscribe = () =>
    new CatchUpSubscription({ after: 0n, batchSize, pollIntervalMs: 60_000, fetchPage, signal });
  return {
    append,
    subscribe,
    reads: () => reads,
    onNextRead: (hook: () => void) => {
      duringRead = hook;
    },
  };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('CatchUpSubscription', () => {
  it('reads once per notification when caught up, and pages through a backlog', async () => {
    const log = memoryLog(2);
    for (let i = 0; i < 3; i++) log.append();
    const subscription = log.subscribe();
    const positions: bigint[] = [];
    for (let i = 0; i < 3; i++) {
      const result = await subscription.next();
      if (!result.done) positions.push(result.value.position);
    }
    expect(positions).toEqual([1n, 2n, 3n]);
    // A full page, then a short one (the head).
    expect(log.reads()).toBe(2);

    const waiting = subscription.next();
    await tick();
    // Caught up: no read until the log grows.
    expect(log.reads()).toBe(2);
    log.append();
    const fourth = await waiting;
    expect(fourth.done === false && fourth.value.position).toBe(4n);
    expect(log.reads()).toBe(3);
    await subscription.close();
  });

  it('reads again when a commit lands during a read', async () => {
    const log = memoryLog(10);
    log.append();
    const subscription = log.subscribe();
    // The second event commits after the read took its snapshot.
    log.onNextRead(() => log.append());
    const first = await subscription.next();
    expect(first.done === false && first.value.position).toBe(1n);
    const second = await subscription.next();
    expect(second.done === false && second.value.position).toBe(2n);
    expect(log.reads()).toBe(2);
    await subscription.close();
  });

  it('a close ends a subscription waiting for the log to grow', async () => {
    const log = memoryLog(10);
    const subscription = log.subscribe();
    const waiting = subscription.next();
    await tick();
    await subscription.close();
    expect((await waiting).done).toBe(true);
  });
});
