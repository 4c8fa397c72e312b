/**
 * Opens the event store named by a URL: the SQL store, migrating its schema first, for
 * `memory://`, a folder path or `file://…` (embedded PGlite), or `postgres://…`; EventStoreDB /
 * KurrentDB for `esdb://`, `esdb+discover://`, `kurrentdb://` or `kurrentdb+discover://`
 * (credentials and TLS from the environment, see src/store/esdb/connection.ts).
 */
import { type DatabaseLogger, isConnectionError, openDatabase, redactUrl } from '../db/database.js';
import { migrateToLatest } from '../db/migrate.js';
import { StoreUnavailableError } from './errors.js';
import { isEsdbUrl, redactEsdbUrl } from './esdb/connection.js';
import type { EventStore } from './event-store.js';
import { SqlEventStore } from './sql/sql-event-store.js';

export interface OpenEventStoreOptions {
  /** See SqlEventStoreOptions.pollIntervalMs. */
  readonly pollIntervalMs?: number;
  readonly poolSize?: number;
  readonly connectTimeoutMs?: number;
  readonly logger?: DatabaseLogger;
}

export async function openEventStore(
  url: string,
  options: OpenEventStoreOptions = {},
): Promise<EventStore> {
  if (isEsdbUrl(url)) return openEsdbEventStore(url, options);
  const database = await openDatabase(url, options);
  try {
    await migrateToLatest(database.db);
  } catch (error) {
    await database.close().catch(() => undefined);
    const cause = error instanceof Error && error.cause !== undefined ? error.cause : error;
    if (isConnectionError(cause)) {
      throw new StoreUnavailableError(`event store at ${redactUrl(url)} is unreachable`, {
        cause: error,
      });
    }
    throw error;
  }
  return new SqlEventStore(database, { ...options, ownsDatabase: true });
}

/** Connects and checks the server answers, so a wrong URL fails at startup rather than later. */
async function openEsdbEventStore(
  url: string,
  options: OpenEventStoreOptions,
): Promise<EventStore> {
  // Loaded only for an EventStoreDB URL: its client and gRPC are ~30 MiB of resident memory in
  // every other process (the embedded server's budget is 256 MiB).
  const { EsdbEventStore } = await import('./esdb/esdb-event-store.js');
  const store = EsdbEventStore.fromUrl(url, options.logger ? { logger: options.logger } : {});
  try {
    await store.headPosition();
  } catch (error) {
    await store.close().catch(() => undefined);
    if (error instanceof StoreUnavailableError) {
      throw new StoreUnavailableError(`event store at ${redactEsdbUrl(url)} is unreachable`, {
        cause: error,
      });
    }
    throw error;
  }
  return store;
}
