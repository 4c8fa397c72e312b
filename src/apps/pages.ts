/**
 * Groups a subscription's events into pages: a page ends when `maxSize` events are in it or
 * when the next event is not already at hand (the subscription would have to wait for the
 * store). A burst of events — a catch-up, an agent reporting 500 interfaces — becomes a few
 * large pages; a quiet log yields each event alone, at once.
 */
import type { RecordedEvent } from '../store/event-store.js';

export async function* pages(
  events: AsyncIterable<RecordedEvent>,
  maxSize: number,
): AsyncGenerator<RecordedEvent[]> {
  const iterator = events[Symbol.asyncIterator]();
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
        const ready = await Promise.race([next, notYet()]);
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
      pending ??= iterator.next();
    }
  } finally {
    // Breaking out of the pages ends the subscription, as breaking out of its events would.
    await iterator.return?.();
  }
}

const NOT_YET = Symbol('not yet');

/** Settles after the current macrotask: events a subscription holds in memory come first. */
const notYet = () => new Promise<typeof NOT_YET>((resolve) => setImmediate(resolve, NOT_YET));
