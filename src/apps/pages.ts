/**
 * Groups a subscription's events into pages: a page ends when `maxSize` events are in it or
 * when the next event is not already at hand (the subscription would have to wait for the
 * store). A burst of events — a catch-up, an agent reporting 500 interfaces — becomes a few
 * large pages; a quiet log yields each event alone, at once. The event loop turns at least
 * once per page.
 */
import { yieldToEventLoop } from '../lib/yield.js';
import type { RecordedEvent } from '../store/event-store.js';

export async function* pages(
  events: AsyncIterable<RecordedEvent>,
  maxSize: number,
): AsyncGenerator<RecordedEvent[]> {
  const iterator = events[Symbol.asyncIterator]();
  const atHand = new AtHand();
  let pending: Promise<IteratorResult<RecordedEvent>> | undefined = iterator.next();
  try {
    while (pending) {
      const first = await pending;
      pending = undefined;
      if (first.done) return;
      const page = [first.value];
      for (;;) {
        if (page.length >= maxSize) break;
        const next = iterator.next();
        const ready = await atHand.race(next);
        if (ready === NOT_YET) {
          pending = next;
          // Awaited after the page is handled; a failure meanwhile must not go unhandled.
          next.catch(() => undefined);
          break;
        }
        if (ready.done) {
          yield page;
          return;
        }
        page.push(ready.value);
      }
      yield page;
      // A full page: the events came without the loop turning (a catch-up held in memory or
      // read from PGlite); let timers and I/O in before the next one. (A page that ended on an
      // event not at hand waited for the loop already.)
      if (pending === undefined) await yieldToEventLoop();
      pending ??= iterator.next();
    }
  } finally {
    // Breaking out of the pages ends the subscription, as breaking out of its events would.
    await iterator.return?.();
  }
}

const NOT_YET = Symbol('not yet');

/**
 * Races a promise against the end of the current macrotask (events a subscription holds in
 * memory come first) with one `setImmediate` for all the races of a macrotask, whose callback
 * holds only the race waiting now. A catch-up whose store answers without I/O (PGlite) runs as
 * microtasks only and never reaches the event loop's check phase: an Immediate per race, each
 * keeping its race's promise (and so its event) until the loop turns, held every event of the
 * catch-up in memory (30k Immediates and events at 5,000 ports, +45 MiB of heap).
 */
class AtHand {
  #armed = false;
  #waiting: ((value: typeof NOT_YET) => void) | undefined;

  async race<T>(promise: Promise<T>): Promise<T | typeof NOT_YET> {
    if (!this.#armed) {
      this.#armed = true;
      setImmediate(() => {
        this.#armed = false;
        const waiting = this.#waiting;
        this.#waiting = undefined;
        waiting?.(NOT_YET);
      });
    }
    try {
      return await new Promise<T | typeof NOT_YET>((resolve, reject) => {
        this.#waiting = resolve;
        promise.then(resolve, reject);
      });
    } finally {
      this.#waiting = undefined;
    }
  }
}
