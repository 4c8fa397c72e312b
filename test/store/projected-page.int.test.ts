/**
 * The projector's narrow read of the log (SqlEventStore.readProjectedPage) against readAll, the
 * simple read: the same facts for every event, on PGlite and on PostgreSQL.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import type { NewEvent } from '../../src/events/metadata.js';
import type { ProjectedEvent, RecordedEvent } from '../../src/store/event-store.js';
import { utcTimestampToIso } from '../../src/store/sql/rows.js';
import { SqlEventStore } from '../../src/store/sql/sql-event-store.js';
import { createDatabase, dropDatabase } from '../support/postgres.js';
import { newEvent } from './helpers.js';

/** Events with every shape of data and metadata the projector may meet. */
function variedEvents(): NewEvent[] {
  const sparse: NewEvent = {
    id: randomUUID(),
    type: 'Sparse',
    data: null,
    // Metadata without the fields history keeps: they read as absent, not as null.
    metadata: { time: new Date().toISOString() } as unknown as NewEvent['metadata'],
  };
  return [
    newEvent('LogicalPortCreated', { id: 'p', macs: ['fa:16:3e:00:00:01'], nested: { a: [1, 2] } }),
    newEvent('Unicode', { text: 'é ✓ "quoted" \\ back\nline', n: 1.5e-7, big: 12345678901234 }),
    newEvent('Empty', {}),
    newEvent('Array', [1, 'two', null, true]),
    { ...newEvent('Versioned', { v: 2 }), metadata: { ...newEvent().metadata, schemaVersion: 2 } },
    sparse,
  ];
}

/** The facts the projector reads of an event (route, fold and history). */
function factsOf(event: ProjectedEvent | RecordedEvent) {
  return {
    id: event.id,
    type: event.type,
    data: event.data,
    streamName: event.streamName,
    revision: event.revision,
    position: event.position,
    recordedAt: event.recordedAt,
    app: event.metadata.app,
    correlationId: event.metadata.correlationId,
    causationId: event.metadata.causationId,
    schemaVersion: event.metadata.schemaVersion,
  };
}

function describeProjectedPages(name: string, newDatabase: () => Promise<string>) {
  describe(`readProjectedPage on ${name}`, () => {
    let store: SqlEventStore;
    let url: string;
    beforeAll(async () => {
      url = await newDatabase();
      const database = await openDatabase(url);
      await migrateToLatest(database.db);
      store = new SqlEventStore(database, { ownsDatabase: true });
      for (let round = 0; round < 3; round++) {
        await store.appendToStream(`lport-${round}`, variedEvents());
        await store.appendToStream(`chassis-${round}`, variedEvents().slice(0, 2));
      }
    });
    afterAll(async () => {
      await store.close();
    });

    it('yields the facts readAll yields, event by event', async () => {
      const simple = await store.readAll();
      const narrow = await store.readProjectedPage(0n, 1_000);
      expect(simple.length).toBe(24);
      expect(narrow.map(factsOf)).toEqual(simple.map(factsOf));
    });

    it('pages like readAll: after a position, at most maxCount', async () => {
      for (const [after, maxCount] of [
        [0n, 5],
        [7n, 10],
        [20n, 100],
        [24n, 3],
        [3n, 0],
      ] as const) {
        const simple = await store.readAll({ after, maxCount });
        const narrow = await store.readProjectedPage(after, maxCount);
        expect(narrow.map(factsOf)).toEqual(simple.map(factsOf));
      }
    });

    it('read for folding only: the same facts but the id and the metadata strings', async () => {
      const simple = await store.readAll();
      const narrow = await store.readProjectedPage(0n, 1_000, { fields: 'fold' });
      const folded = (event: ProjectedEvent | RecordedEvent) => ({
        ...factsOf(event),
        id: '',
        app: undefined,
        correlationId: undefined,
        causationId: undefined,
      });
      expect(narrow.map(factsOf)).toEqual(simple.map(folded));
    });

    it('parses data once, and only when read', async () => {
      const [event] = await store.readProjectedPage(0n, 1);
      expect(event?.data).toBe(event?.data);
    });
  });
}

describeProjectedPages('embedded PGlite', async () => 'memory://');

const postgres = inject('postgres');
if (postgres.available) {
  const databases: string[] = [];
  describeProjectedPages('PostgreSQL', async () => {
    const url = await createDatabase(postgres.url, 'projected');
    databases.push(url);
    return url;
  });
  afterAll(async () => {
    for (const url of databases) await dropDatabase(url);
  });
}

describe('utcTimestampToIso', () => {
  it('prints what Date prints for a UTC timestamp, milliseconds truncated', () => {
    const cases: [string, string][] = [
      ['2026-11-25 15:41:16.123456', '2026-11-25T15:41:16.123Z'],
      ['2026-11-25 15:41:16.999999', '2026-11-25T15:41:16.999Z'],
      ['2026-11-25 15:41:16.5', '2026-11-25T15:41:16.500Z'],
      ['2026-11-25 15:41:16.001', '2026-11-25T15:41:16.001Z'],
      ['2026-11-25 15:41:16', '2026-11-25T15:41:16.000Z'],
      ['0999-01-02 03:04:05.06', '0999-01-02T03:04:05.060Z'],
    ];
    for (const [text, iso] of cases) {
      expect(utcTimestampToIso(text)).toBe(iso);
      expect(utcTimestampToIso(text)).toBe(new Date(`${text.replace(' ', 'T')}Z`).toISOString());
    }
  });

  it('takes the first three digits of every microsecond fraction, as Date does', () => {
    for (let micros = 0; micros < 1_000_000; micros += 997) {
      const fraction = String(micros).padStart(6, '0').replace(/0+$/, '');
      const text = `2026-11-25 15:41:16${fraction === '' ? '' : `.${fraction}`}`;
      expect(utcTimestampToIso(text)).toBe(new Date(`${text.replace(' ', 'T')}Z`).toISOString());
    }
  });

  it('gives the events of one millisecond one string, and the next millisecond its own', () => {
    const first = utcTimestampToIso('2026-11-25 15:41:16.123456');
    expect(utcTimestampToIso('2026-11-25 15:41:16.123999')).toBe(first);
    expect(utcTimestampToIso('2026-11-25 15:41:16.1239')).toBe(first);
    expect(utcTimestampToIso('2026-11-25 15:41:16.124001')).toBe('2026-11-25T15:41:16.124Z');
    expect(utcTimestampToIso('2026-11-25 15:41:16.12')).toBe('2026-11-25T15:41:16.120Z');
    expect(utcTimestampToIso('2026-11-25 15:41:16.123')).toBe('2026-11-25T15:41:16.123Z');
    expect(utcTimestampToIso('2026-11-25 15:41:16')).toBe('2026-11-25T15:41:16.000Z');
    expect(utcTimestampToIso('2026-11-26 15:41:16.123456')).toBe('2026-11-26T15:41:16.123Z');
  });

  it('falls back to Date for another format', () => {
    expect(utcTimestampToIso('2026-11-25T15:41:16.123')).toBe('2026-11-25T15:41:16.123Z');
    expect(utcTimestampToIso('12026-11-25 15:41:16.5')).toBe(
      new Date('+012026-11-25T15:41:16.500Z').toISOString(),
    );
  });
});
