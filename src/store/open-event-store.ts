/**
 * Opens the SQL event store named by a URL, migrating its schema first:
 * `memory://`, a folder path or `file://…` (embedded PGlite), or `postgres://…`.
 */
import { type DatabaseLogger, isConnectionError, openDatabase, redactUrl } from '../db/database.js';
import { migrateToLatest } from '../db/migrate.js';
import { StoreUnavailableError } from './errors.js';
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
