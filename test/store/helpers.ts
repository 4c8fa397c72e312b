/** Small helpers for the event store tests: event factories, unique names, subscription reads. */
import { randomBytes, randomUUID } from 'node:crypto';
import type { NewEvent, RecordedEvent, Subscription } from '../../src/store/event-store.js';

const run = randomBytes(3).toString('hex');
let counter = 0;

/**
 * A stream-name prefix no other test (or earlier run against a shared log) uses, so tests can
 * share one log and still read only their own events.
 */
export function uniquePrefix(label = 't'): string {
  counter += 1;
  return `${label}${run}${counter}-`;
}

export function newEvent(type = 'Tested', data: unknown = { n: 1 }): NewEvent {
  const id = randomUUID();
  return {
    id,
    type,
    data,
    metadata: {
      correlationId: id,
      causationId: id,
      app: 'conformance',
      schemaVersion: 1,
      time: new Date().toISOString(),
    },
  };
}

export function newEvents(count: number, type = 'Tested'): NewEvent[] {
  return Array.from({ length: count }, (_, index) => newEvent(type, { index }));
}

/**
 * The next `count` events of a subscription. Rejects (and closes it) if they do not arrive
 * within `timeoutMs`, so a broken live path fails the test instead of hanging it.
 */
export async function take(
  subscription: Subscription,
  count: number,
  timeoutMs = 10_000,
): Promise<RecordedEvent[]> {
  const iterator = subscription[Symbol.asyncIterator]();
  const events: RecordedEvent[] = [];
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      void subscription.close();
      reject(
        new Error(`subscription delivered ${events.length}/${count} events in ${timeoutMs} ms`),
      );
    }, timeoutMs);
  });
  try {
    while (events.length < count) {
      const next = await Promise.race([iterator.next(), timeout]);
      if (next.done) throw new Error(`subscription ended after ${events.length}/${count} events`);
      events.push(next.value);
    }
    return events;
  } finally {
    clearTimeout(timer);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The rejection of `promise`, failing when it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection, got a result');
}
