/**
 * Table types for kysely. One interface per table; `Database` lists them all. The event store
 * owns `events`, `streams` and `event_log_head` (migrations/0001_event_store.ts); read models
 * add their tables here next to their migrations.
 */
import type { ColumnType, Generated } from 'kysely';

/**
 * A bigint column. node-postgres returns int8 as a decimal string, PGlite as a number (when
 * it is a safe integer) or a bigint; `toBigInt` reads any of them without precision loss.
 * Writes take a bigint or a decimal string.
 */
export type Int8 = ColumnType<string | number | bigint, bigint | string, bigint | string>;

/** A jsonb column: parsed JSON on read, JSON text on write (always stringified by us). */
export type Jsonb = ColumnType<unknown, string, string>;

/** The global log: one row per event, in position order. */
export interface EventsTable {
  /** Gap-free, 1-based, assigned in commit order (see sql-event-store.ts). */
  position: Int8;
  event_id: string;
  stream_name: string;
  revision: Int8;
  type: string;
  data: Jsonb;
  metadata: Jsonb;
  recorded_at: ColumnType<Date, never, never>;
}

/** One row per stream that has events or metadata. */
export interface StreamsTable {
  stream_name: string;
  /** Revision of the stream's last event; -1 while the stream only has metadata. */
  revision: ColumnType<string | number | bigint, bigint | string | undefined, bigint | string>;
  deleted: Generated<boolean>;
  truncate_before: Int8 | null;
  max_count: number | null;
  /** The remaining (custom) stream metadata keys. */
  metadata: ColumnType<unknown, string | undefined, string>;
}

/** Single row holding the last allocated global position. */
export interface EventLogHeadTable {
  id: ColumnType<boolean, boolean | undefined, never>;
  position: Int8;
}

export interface Database {
  events: EventsTable;
  streams: StreamsTable;
  event_log_head: EventLogHeadTable;
}

/** Reads an int8 value as returned by either driver. */
export function toBigInt(value: string | number | bigint): bigint {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new RangeError(`int8 value ${value} lost precision before conversion`);
  }
  return BigInt(value);
}
