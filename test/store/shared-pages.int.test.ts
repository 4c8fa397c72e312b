/**
 * Subscriptions at the same position with the same filter share one page read (the event
 * feed's hundred clients woken by one append), without ever handing a subscriber a page read
 * before a notification it has seen.
 */
import type { KyselyPlugin } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { type DatabaseHandle, openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import type { RecordedEvent, Subscription } from '../../src/store/event-store.js';
import { SqlEventStore } from '../../src/store/sql/sql-event-store.js';
import { newEvents } from './helpers.js';

/** Counts the statements that read subscription pages (they select the log head as `head`). */
function countingPageReads(database: DatabaseHandle): {
  handle: DatabaseHandle;
  reads: () => number;
} {
  let reads = 0;
  const plugin: KyselyPlugin = {
    transformQuery(args) {
      if (args.node.kind === 'SelectQueryNode' && JSON.stringify(args.node).includes('"head"'))
        reads++;
      return args.node;
    },
    transformResult: async (args) => args.result,
  };
  return { handle: { ...database, db: database.db.withPlugin(plugin) }, reads: () => reads };
}

async function next(subscription: Subscription): Promise<RecordedEvent> {
  const result = await subscription[Symbol.asyncIterator]().next();
  if (result.done) throw new Error('subscription ended');
  return result.value;
}

describe('shared subscription pages', () => {
  let database: DatabaseHandle | undefined;
  afterEach(async () => {
    await database?.close();
    database = undefined;
  });

  it('one read serves every subscription at the same position, each gets every event', async () => {
    database = await openDatabase('memory://');
    await migrateToLatest(database.db);
    const { handle, reads } = countingPageReads(database);
    const store = new SqlEventStore(handle, { pollIntervalMs: 60_000 });
    await store.appendToStream('lport-a', newEvents(2));
    const filter = { streamPrefixes: ['lport-'] };
    const subscriptions = Array.from({ length: 50 }, () =>
      store.subscribeToAll({ after: 2n, filter }),
    );
    const firsts = subscriptions.map(next);
    // Let every subscription read (nothing yet) and go to sleep on the change signal.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const idleReads = reads();
    expect(idleReads).toBeLessThan(5);
    await store.appendToStream('lport-b', newEvents(1));
    const received = await Promise.all(firsts);
    expect(received.map((e) => e.position)).toEqual(subscriptions.map(() => 3n));
    expect(received.every((e) => e.streamName === 'lport-b')).toBe(true);
    expect(reads() - idleReads).toBeLessThan(5);

    // A later append reaches them all too, each in order.
    await store.appendToStream('lport-c', newEvents(1));
    const again = await Promise.all(subscriptions.map(next));
    expect(again.map((e) => e.position)).toEqual(subscriptions.map(() => 4n));
    await Promise.all(subscriptions.map((s) => s.close()));
    await store.close();
  });

  it('a subscription notified after a shared read started reads again', async () => {
    database = await openDatabase('memory://');
    await migrateToLatest(database.db);
    const store = new SqlEventStore(database, { pollIntervalMs: 60_000 });
    const early = store.subscribeToAll({ after: 0n });
    const earlyFirst = next(early);
    // The append commits while `early`'s first (empty) read may be in flight; a subscription
    // started after the notification must not be handed that stale page.
    const appended = store.appendToStream('lport-a', newEvents(1));
    await appended;
    const late = store.subscribeToAll({ after: 0n });
    expect((await next(late)).position).toBe(1n);
    expect((await earlyFirst).position).toBe(1n);
    await early.close();
    await late.close();
    await store.close();
  });
});
