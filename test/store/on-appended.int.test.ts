/**
 * `onAppended`: each committed append of this process is told to its listeners right after the
 * commit, as the log holds it (positions, revisions, ids, types, data), decoded only when
 * asked; appends that wrote nothing are not told, and a failing listener fails nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type DatabaseHandle, openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import type { AppendedEvents } from '../../src/store/event-store.js';
import { SqlEventStore } from '../../src/store/sql/sql-event-store.js';
import { newEvents } from './helpers.js';

describe('onAppended', () => {
  let database: DatabaseHandle | undefined;
  afterEach(async () => {
    await database?.close();
    database = undefined;
  });

  const open = async () => {
    database = await openDatabase('memory://');
    await migrateToLatest(database.db);
    return new SqlEventStore(database);
  };

  it('tells each committed append as the log holds it, in order', async () => {
    const store = await open();
    const told: AppendedEvents[] = [];
    const stop = store.onAppended((appended) => told.push(appended));
    await store.appendToStream('lport-a', newEvents(2));
    await store.appendToStreams([
      { streamName: 'lport-b', events: newEvents(1) },
      { streamName: 'lport-a', events: newEvents(1), expectedRevision: 1n },
    ]);
    expect(told.map(({ first, count }) => [first, count])).toEqual([
      [1n, 2],
      [3n, 2],
    ]);
    const logged = await store.readAll({ maxCount: 10 });
    const strip = (events: readonly { recordedAt: string }[]) =>
      events.map(({ recordedAt: _, ...rest }) => rest);
    expect(strip(told.flatMap((appended) => appended.events()))).toEqual(strip(logged));
    stop();
    await store.appendToStream('lport-c', newEvents(1));
    expect(told).toHaveLength(2);
  });

  it('does not tell an append that wrote nothing, and survives a failing listener', async () => {
    const store = await open();
    const told: AppendedEvents[] = [];
    store.onAppended(() => {
      throw new Error('a defect of the listener');
    });
    store.onAppended((appended) => told.push(appended));
    const events = newEvents(1);
    await store.appendToStream('lport-a', events);
    // The same ids again: already stored, nothing written.
    await store.appendToStream('lport-a', events);
    const [refused] = await store.appendToStreams([
      { streamName: 'lport-a', events: newEvents(1), expectedRevision: 5n },
    ]);
    expect(refused?.ok).toBe(false);
    expect(told.map(({ first, count }) => [first, count])).toEqual([[1n, 1]]);
  });
});
