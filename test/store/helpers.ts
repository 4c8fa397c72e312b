/** Small helpers for the event store tests: event factories, unique names, subscription reads. */
import { randomBytes, randomUUID } from 'node:crypto';
import type { NewEvent } from '../../src/events/metadata.js';
import type { RecordedEvent, Subscription } from '../../src/store/event-store.js';

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
 * The next `count` events of a subscription. No deadline of its own: a broken live path fails by
 * the test's timeout, and a subscription that ends early fails at once.
 */
export async function take(subscription: Subscription, count: number): Promise<RecordedEvent[]> {
  const iterator = subscription[Symbol.asyncIterator]();
  const events: RecordedEvent[] = [];
  while (events.length < count) {
    const next = await iterator.next();
    if (next.done) throw new Error(`subscription ended after ${events.length}/${count} events`);
    events.push(next.value);
  }
  return events;
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
