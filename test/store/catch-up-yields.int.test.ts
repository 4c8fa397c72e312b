/**
 * A subscription's catch-up lets the event loop turn once per page it reads. Over embedded
 * PGlite every query settles as microtasks, so a catch-up that only awaited its reads held the
 * loop for its whole length: no request answered, no timer run (a lease's renewal).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { EventStore } from '../../src/store/event-store.js';
import { openEventStore } from '../../src/store/open-event-store.js';
import { countTurns } from './event-loop-turns.js';
import { newEvents, take } from './helpers.js';

const EVENTS = 3_000;
const PAGE = 500;

describe('catch-up over embedded PGlite', () => {
  let store: EventStore | undefined;
  afterEach(async () => {
    await store?.close();
    store = undefined;
  });

  it('lets timers and the event loop run at every page of a subscription', async () => {
    store = await openEventStore('memory://');
    for (let i = 0; i < EVENTS / PAGE; i++) await store.appendToStream(`s-${i}`, newEvents(PAGE));

    const subscription = store.subscribeToAll({ after: 0n, batchSize: PAGE });
    const counting = countTurns();
    const events = await take(subscription, EVENTS);
    const { turns, ticks } = counting.stop();
    await subscription.close();

    expect(events.at(-1)?.position).toBe(BigInt(EVENTS));
    // One turn per page read, the first excepted (the read before it may be under way).
    expect(turns).toBeGreaterThanOrEqual(EVENTS / PAGE - 1);
    expect(ticks).toBeGreaterThan(0);
  });
});
