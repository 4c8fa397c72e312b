/**
 * The SQL event store on PostgreSQL (the private cluster from test/support/global-setup.ts):
 * conformance with real parallel connections, plus what only a server has: notifications from
 * other connections, the polling fallback, lost connections.
 */
import { type AddressInfo, createServer, type Socket } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { migrations } from '../../migrations/index.js';
import { type DatabaseHandle, openDatabase } from '../../src/db/database.js';
import { migrateDownTo, migrateToLatest } from '../../src/db/migrate.js';
import { StoreUnavailableError } from '../../src/store/errors.js';
import type { EventStore } from '../../src/store/event-store.js';
import { openEventStore } from '../../src/store/open-event-store.js';
import { SqlEventStore } from '../../src/store/sql/sql-event-store.js';
import { createDatabase, dropDatabase } from '../support/postgres.js';
import { describeEventStoreConformance } from './conformance.js';
import { newEvents, sleep, take, uniquePrefix } from './helpers.js';
import { appendBeyondSafeIntegers, sqlAdapter } from './sql-fixture.js';

const postgres = inject('postgres');

if (!postgres.available) {
  describe('PostgreSQL event store', () => {
    it.skip(`SKIPPED — no PostgreSQL: ${postgres.reason}`, () => {});
  });
} else {
  const server = postgres.url;

  describeEventStoreConformance(
    sqlAdapter({
      name: 'PostgreSQL',
      newDatabase: () => createDatabase(server, 'conformance'),
      multiConnection: true,
      dispose: dropDatabase,
    }),
  );

  describe('PostgreSQL event store', () => {
    let url: string;
    beforeAll(async () => {
      url = await createDatabase(server, 'store');
      await (await openEventStore(url)).close();
    });
    afterAll(async () => {
      await dropDatabase(url);
    });

    /**
     * A store that only wakes by NOTIFY (its poll interval, an hour, outlasts any test), or as
     * configured: whatever it delivers after its first read came by notification.
     */
    async function subscriberStore(
      wrap: (database: DatabaseHandle) => DatabaseHandle = (database) => database,
      pollIntervalMs = 3_600_000,
    ): Promise<EventStore> {
      const database = await openDatabase(url);
      return new SqlEventStore(wrap(database), { ownsDatabase: true, pollIntervalMs });
    }

    /** Pids of this database's connections that are LISTENing (their last statement). */
    async function listeners(admin: pg.Client): Promise<number[]> {
      const { rows } = await admin.query<{ pid: number }>(
        `select pid from pg_stat_activity
         where datname = current_database() and query ilike 'LISTEN%' and pid <> pg_backend_pid()`,
      );
      return rows.map((row) => row.pid);
    }

    /** Waits until a connection other than `except` LISTENs: the event, not a guessed delay. */
    async function untilListening(admin: pg.Client, except: readonly number[] = []) {
      for (;;) {
        const pids = (await listeners(admin)).filter((pid) => !except.includes(pid));
        if (pids.length > 0) return pids;
        await sleep(20);
      }
    }

    async function adminClient(): Promise<pg.Client> {
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      return admin;
    }

    it('wakes subscribers by NOTIFY when another connection appends', async () => {
      const subscriber = await subscriberStore();
      const writer = await openEventStore(url);
      const admin = await adminClient();
      try {
        const before = await listeners(admin);
        const subscription = subscriber.subscribeToAll({ after: await writer.headPosition() });
        const delivered = take(subscription, 2);
        await untilListening(admin, before);
        await writer.appendToStream(`${uniquePrefix()}n`, newEvents(2));
        expect(await delivered).toHaveLength(2);
      } finally {
        await admin.end();
        await subscriber.close();
        await writer.close();
      }
    });

    it('falls back to polling when notifications never arrive', async () => {
      const deaf = (database: DatabaseHandle): DatabaseHandle => ({
        ...database,
        listen: async () => async () => {},
      });
      const subscriber = await subscriberStore(deaf, 100);
      const writer = await openEventStore(url);
      try {
        const subscription = subscriber.subscribeToAll({ after: await writer.headPosition() });
        const delivered = take(subscription, 1);
        await sleep(150);
        await writer.appendToStream(`${uniquePrefix()}p`, newEvents(1));
        expect(await delivered).toHaveLength(1);
      } finally {
        await subscriber.close();
        await writer.close();
      }
    });

    it('re-establishes LISTEN after its connection is killed', async () => {
      const subscriber = await subscriberStore();
      const writer = await openEventStore(url);
      const admin = await adminClient();
      try {
        const before = await listeners(admin);
        const subscription = subscriber.subscribeToAll({ after: await writer.headPosition() });
        const delivered = take(subscription, 1);
        const listening = await untilListening(admin, before);
        const killed = await admin.query(
          'select pg_terminate_backend(pid) from unnest($1::int[]) pid',
          [listening],
        );
        expect(killed.rowCount).toBeGreaterThan(0);
        await untilListening(admin, [...before, ...listening]); // the listener is back
        await writer.appendToStream(`${uniquePrefix()}r`, newEvents(1));
        expect(await delivered).toHaveLength(1);
      } finally {
        await admin.end();
        await subscriber.close();
        await writer.close();
      }
    });

    it('reports an unreachable server as StoreUnavailableError', async () => {
      const refused = await openEventStore('postgres://postgres@127.0.0.1:1/locus', {
        connectTimeoutMs: 1_000,
      }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(StoreUnavailableError);
    });

    it('gives up on a server that never answers after the connect timeout', async () => {
      // Accepts connections and says nothing: only the connect timeout can end the attempt, so
      // the test's own timeout is the bound, not a measured duration.
      const sockets = new Set<Socket>();
      const silent = createServer((socket) => sockets.add(socket));
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const { port } = silent.address() as AddressInfo;
      try {
        const error = await openEventStore(`postgres://postgres@127.0.0.1:${port}/locus`, {
          connectTimeoutMs: 200,
        }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(StoreUnavailableError);
      } finally {
        for (const socket of sockets) socket.destroy();
        await new Promise((resolve) => silent.close(resolve));
      }
    });

    it('migrates concurrently, down and up again', async () => {
      const fresh = await createDatabase(server, 'migrate');
      try {
        const stores = await Promise.all([openEventStore(fresh), openEventStore(fresh)]);
        await Promise.all(stores.map((store) => store.close()));
        const database = await openDatabase(fresh);
        try {
          await migrateDownTo(database.db);
          const tables = await database.db.introspection.getTables();
          expect(tables.map((t) => t.name).filter((n) => !n.startsWith('kysely_'))).toEqual([]);
          const applied = await migrateToLatest(database.db);
          expect(applied.map((r) => r.migrationName)).toEqual(Object.keys(migrations));
          expect(applied.every((r) => r.status === 'Success')).toBe(true);
          expect(await migrateToLatest(database.db)).toEqual([]);
        } finally {
          await database.close();
        }
      } finally {
        await dropDatabase(fresh);
      }
    });

    it('keeps positions beyond 2^53 exact', async () => {
      const fresh = await createDatabase(server, 'big');
      try {
        expect(await appendBeyondSafeIntegers(fresh)).toEqual(
          [1n, 2n, 3n].map((n) => 2n ** 53n + n),
        );
      } finally {
        await dropDatabase(fresh);
      }
    });
  });
}

if (!postgres.available && process.env.CI) {
  it('PostgreSQL is required in CI', () => {
    throw new Error(`PostgreSQL unavailable in CI: ${postgres.reason}`);
  });
}
