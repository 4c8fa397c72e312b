/** Conformance fixtures for the SQL adapter, on PGlite or on a PostgreSQL database. */
import { sql } from 'kysely';
import { expect } from 'vitest';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import type { EventStore } from '../../src/store/event-store.js';
import { openEventStore } from '../../src/store/open-event-store.js';
import { SqlEventStore } from '../../src/store/sql/sql-event-store.js';
import type { AdapterUnderTest, StoreFixture } from './conformance.js';
import { newEvents } from './helpers.js';

export interface SqlAdapterOptions {
  readonly name: string;
  /** URL of a new, empty database. */
  readonly newDatabase: () => Promise<string>;
  /** Several handles can share the database (PostgreSQL), so peers and commit delays apply. */
  readonly multiConnection: boolean;
  readonly dispose?: (url: string) => Promise<void>;
}

export function sqlAdapter(options: SqlAdapterOptions): AdapterUnderTest {
  return {
    name: options.name,
    atomicAppendToStreams: true,
    consecutivePositions: true,
    offers: { peers: options.multiConnection, commitDelays: options.multiConnection },
    async openFixture(): Promise<StoreFixture> {
      const url = await options.newDatabase();
      const database = await openDatabase(url);
      await migrateToLatest(database.db);
      const store = new SqlEventStore(database, { ownsDatabase: true });
      const peers = new Set<EventStore>();
      let delays = 0;
      return {
        store,
        openPeer: options.multiConnection
          ? async () => {
              const peer = await openEventStore(url);
              peers.add(peer);
              return peer;
            }
          : undefined,
        delayCommits: options.multiConnection
          ? async (prefix, ms) => {
              // A row trigger on events that sleeps for matching streams: it runs inside the
              // append's transaction after its positions were allocated, before the commit.
              delays += 1;
              await sql`
                create or replace function conformance_delay() returns trigger
                language plpgsql as $$
                begin
                  perform pg_sleep(tg_argv[0]::numeric / 1000);
                  return null;
                end $$
              `.execute(database.db);
              const like = `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
              await sql`
                create trigger ${sql.id(`conformance_delay_${delays}`)}
                after insert on events for each row
                when (new.stream_name like ${sql.lit(like)})
                execute function conformance_delay(${sql.lit(String(ms))})
              `.execute(database.db);
            }
          : undefined,
        close: async () => {
          await Promise.all([...peers].map((peer) => peer.close()));
          await store.close();
          await options.dispose?.(url);
        },
      };
    },
  };
}

/**
 * Moves the head past 2^53 and appends: positions must survive both drivers (pg returns int8
 * as text, PGlite as number or bigint) without rounding.
 */
export async function appendBeyondSafeIntegers(url: string): Promise<bigint[]> {
  const database = await openDatabase(url);
  await migrateToLatest(database.db);
  const store = new SqlEventStore(database, { ownsDatabase: true });
  try {
    await database.db
      .updateTable('event_log_head')
      .set({ position: (2n ** 53n).toString() })
      .execute();
    await store.appendToStream('big-1', newEvents(3));
    const positions = (await store.readAll({ after: 2n ** 53n })).map((e) => e.position);
    expect(await store.headPosition()).toBe(2n ** 53n + 3n);
    return positions;
  } finally {
    await store.close();
  }
}
