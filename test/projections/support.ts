/**
 * Fixtures for the projection tests: one database holding both the event store and the read
 * model (embedded PGlite, and a fresh database on the PostgreSQL of the global setup), the apps'
 * scenario harness on that store, and full table dumps for row-for-row comparisons.
 */
import { Writable } from 'node:stream';
import { sql } from 'kysely';
import { type Logger, pino } from 'pino';
import { afterEach, describe, inject } from 'vitest';
import { type DatabaseHandle, openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { commandCause, envelope, lportStream } from '../../src/events/index.js';
import {
  DEFAULT_PROJECTION_NAME,
  Projector,
  type ProjectorOptions,
} from '../../src/projections/projector.js';
import { readHistory } from '../../src/read-model/history-query.js';
import { SqlReadModel } from '../../src/read-model/sql-read-model.js';
import type { EventStore } from '../../src/store/event-store.js';
import { SqlEventStore } from '../../src/store/sql/sql-event-store.js';
import { chassis, port, Scenario } from '../apps/harness.js';
import { createDatabase, dropDatabase } from '../support/postgres.js';

export interface Fixture {
  readonly database: DatabaseHandle;
  readonly store: EventStore;
  readonly scenario: Scenario;
  readonly logs: LogCapture;
  projector(options?: Partial<ProjectorOptions>): Projector;
  readModel(projector?: Projector): SqlReadModel;
}

/** A pino logger whose lines the test can read. */
export interface LogCapture {
  readonly logger: Logger;
  readonly lines: Record<string, unknown>[];
}

export function captureLogs(): LogCapture {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      callback();
    },
  });
  return { logger: pino({ level: 'info' }, destination), lines };
}

type Open = () => Promise<Fixture>;

export function describeOnDatabases(name: string, suite: (open: Open, kind: string) => void): void {
  const postgres = inject('postgres');
  const kinds: [string, () => Promise<{ url: string; drop?: () => Promise<void> }>][] = [
    ['embedded', async () => ({ url: 'memory://' })],
  ];
  if (postgres.available) {
    kinds.push([
      'postgres',
      async () => {
        const url = await createDatabase(postgres.url, 'projections');
        return { url, drop: () => dropDatabase(url) };
      },
    ]);
  }
  for (const [kind, create] of kinds) {
    describe(`${name} (${kind})`, () => {
      const cleanups: (() => Promise<void>)[] = [];
      afterEach(async () => {
        for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
      });
      suite(async () => {
        const { url, drop } = await create();
        const database = await openDatabase(url);
        await migrateToLatest(database.db);
        const store = new SqlEventStore(database, { pollIntervalMs: 50 });
        const logs = captureLogs();
        const projectors: Projector[] = [];
        cleanups.push(async () => {
          for (const projector of projectors) await projector.stop();
          await store.close();
          await database.close();
          await drop?.();
        });
        return {
          database,
          store,
          scenario: new Scenario(store),
          logs,
          projector: (options = {}) => {
            const projector = new Projector({
              store,
              db: database.db,
              logger: logs.logger,
              ...options,
            });
            projectors.push(projector);
            return projector;
          },
          readModel: (projector) =>
            new SqlReadModel(database.db, projector ? { progress: projector } : {}),
        };
      }, kind);
    });
  }
}

/**
 * Every row of every read-model table (and the checkpoints), ordered by key, as plain JSON. The
 * history is the one served (src/read-model/history-query.ts): rm_history's rows or the log's
 * with their marks, whichever holds it; a checkpoint without its history's source.
 */
export async function dumpReadModel(database: DatabaseHandle): Promise<Record<string, unknown[]>> {
  const keys: Record<string, string> = {
    rm_ports: 'id',
    rm_port_views: 'port_id, chassis',
    rm_chassis: 'id',
    rm_switches: 'id',
    rm_switch_chassis: 'switch_id, chassis',
    rm_topology: 'kind, id',
    rm_checkpoints: 'name',
  };
  const dump: Record<string, unknown[]> = {};
  for (const table of Object.keys(keys)) {
    // A (switch, chassis) count back at zero is the same as no row (the projection keeps it).
    const where = table === 'rm_switch_chassis' ? sql`where local_ports <> 0` : sql``;
    const { rows } = await sql<Record<string, unknown>>`
      select * from ${sql.table(table)} ${where} order by ${sql.raw(keys[table] ?? '1')}
    `.execute(database.db);
    dump[table] = rows.map(normalise);
  }
  for (const row of dump.rm_checkpoints ?? [])
    delete (row as Record<string, unknown>).history_from_log;
  dump.rm_history = (await readHistory(database.db, DEFAULT_PROJECTION_NAME, { after: 0n })).map(
    (row) => normalise(row as unknown as Record<string, unknown>),
  );
  return dump;
}

/** The metadata a newer locus writes, at `schemaVersion` (one this version may not read). */
export const newerMetadata = (schemaVersion: number) => ({
  correlationId: 'c1',
  causationId: 'c1',
  app: 'newer-locus',
  schemaVersion,
  time: new Date().toISOString(),
});

/**
 * Events of lport streams a history must render as the live projection does: unreadable ones
 * on `spoilt`'s stream (no history row; a command on that port fails from then on), a readable one that is no port event (no row), a
 * refused one (a row with its refusal code), a port known from a refused event only, and a
 * port after them.
 */
export async function appendOddEvents(f: Fixture, spoilt = 'p1'): Promise<void> {
  const metadata = newerMetadata;
  const id = () => crypto.randomUUID();
  const notAPortEvent = chassis('Z', 9);
  await f.store.appendToStream(lportStream(spoilt), [
    { id: id(), type: 'PortTeleported', data: { portId: spoilt }, metadata: metadata(1) },
    {
      id: id(),
      type: 'LocalCreated',
      data: { portId: spoilt, chassis: 'C' },
      metadata: metadata(7),
    },
    { id: id(), type: 'LocalCreated', data: { portId: spoilt }, metadata: metadata(1) },
    { id: id(), type: notAPortEvent.type, data: notAPortEvent.data, metadata: metadata(1) },
  ]);
  await f.store.appendToStream(lportStream('ghost'), [
    envelope(
      { type: 'LocalCreated', data: { portId: 'ghost', chassis: 'A' } },
      { app: 'rogue', cause: commandCause() },
    ),
  ]);
  await f.scenario.given(port('after', 's1'));
}

/** Drivers differ (int8 as string, number or bigint): compare values, not representations. */
function normalise(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) {
    out[key] =
      value instanceof Date
        ? value.toISOString()
        : typeof value === 'bigint' || typeof value === 'number'
          ? String(value)
          : value;
  }
  return out;
}

/** The store methods the projector reads log pages through (a test proxy intercepts both). */
const PAGE_READS = new Set<PropertyKey>(['readAll', 'readProjectedPage']);

export function isPageRead(property: PropertyKey): property is 'readAll' | 'readProjectedPage' {
  return PAGE_READS.has(property);
}

/** Calls `target`'s page read `property` (a method, so its private fields stay reachable). */
export function readPage(target: object, property: PropertyKey, args: unknown[]): Promise<unknown> {
  const method = Reflect.get(target, property) as (...a: unknown[]) => Promise<unknown>;
  return method.apply(target, args);
}
