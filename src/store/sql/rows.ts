/** Mapping between `events` rows and RecordedEvent, and the server-side event filter. */
import { type ExpressionBuilder, type Selectable, sql } from 'kysely';
import { type Database, type EventsTable, toBigInt } from '../../db/schema.js';
import type { EventMetadata } from '../../events/metadata.js';
import type { EventFilter, ProjectedEvent, RecordedEvent } from '../event-store.js';

export type EventRecord = Pick<
  Selectable<EventsTable>,
  | 'position'
  | 'event_id'
  | 'stream_name'
  | 'revision'
  | 'type'
  | 'data'
  | 'metadata'
  | 'recorded_at'
>;

export const EVENT_COLUMNS = [
  'position',
  'event_id',
  'stream_name',
  'revision',
  'type',
  'data',
  'metadata',
  'recorded_at',
] as const;

export function toRecordedEvent(row: EventRecord): RecordedEvent {
  return {
    id: row.event_id,
    type: row.type,
    data: row.data,
    metadata: row.metadata as EventMetadata,
    streamName: row.stream_name,
    revision: toBigInt(row.revision),
    position: toBigInt(row.position),
    recordedAt: toIsoString(row.recorded_at),
  };
}

function toIsoString(value: Date | string): string {
  return (value instanceof Date ? value : new Date(value)).toISOString();
}

/** `LIKE` pattern matching `prefix` literally (default escape character is backslash). */
export function likePrefix(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, (char) => `\\${char}`)}%`;
}

/**
 * WHERE clause for an EventFilter: any of the stream prefixes AND any of the type prefixes.
 * An absent or empty list does not filter.
 *
 * The stream prefix is compared as `substr(...) = prefix`, which no index serves, rather than
 * `LIKE 'prefix%'`, which the (stream_name, revision) key does: a filtered read is always "the
 * next matches after position p", and a planner without statistics (PGlite never analyzes)
 * took the category's whole range of the key and sorted it — every lport event, 450 ms a read
 * at 100,000 ports, on every create-port and every feed page. By position, a read costs the
 * events after p that it looks at.
 */
export function matchesFilter(
  eb: ExpressionBuilder<Database, 'events'>,
  filter: EventFilter | undefined,
) {
  const conditions = [];
  const streams = filter?.streamPrefixes ?? [];
  const types = filter?.eventTypePrefixes ?? [];
  if (streams.length > 0) {
    conditions.push(
      eb.or(
        streams.map((p) =>
          eb(eb.fn('substr', ['events.stream_name', sql.lit(1), sql.lit([...p].length)]), '=', p),
        ),
      ),
    );
  }
  if (types.length > 0) {
    conditions.push(eb.or(types.map((p) => eb('events.type', 'like', likePrefix(p)))));
  }
  return eb.and(conditions);
}

/**
 * The projector's page of the log, one row per event: int8 and timestamps as text (no Date),
 * data as JSON text parsed only when read, and of the metadata only what history keeps.
 */
export interface ProjectedRow {
  readonly position: string;
  /** Left out of a page read for folding only (`fields: 'fold'`), with the three below. */
  readonly event_id?: string;
  readonly stream_name: string;
  readonly revision: string;
  readonly type: string;
  readonly data: string;
  readonly app?: string | null;
  readonly correlation_id?: string | null;
  readonly causation_id?: string | null;
  readonly schema_version: unknown;
  /** recorded_at in UTC, as PostgreSQL prints a timestamp. */
  readonly recorded_at: string;
}

/** A row of the projector's page; `data` is parsed on first read (ignored events never are). */
class LazyProjectedEvent implements ProjectedEvent {
  readonly id: string;
  readonly type: string;
  readonly streamName: string;
  readonly position: bigint;
  readonly #row: ProjectedRow;
  #data: unknown;
  #parsed = false;
  #metadata: ProjectedEvent['metadata'] | undefined;

  constructor(row: ProjectedRow) {
    this.#row = row;
    this.id = row.event_id ?? '';
    this.type = row.type;
    this.streamName = row.stream_name;
    this.position = BigInt(row.position);
  }

  get data(): unknown {
    if (!this.#parsed) {
      this.#data = JSON.parse(this.#row.data);
      this.#parsed = true;
    }
    return this.#data;
  }

  get metadata(): ProjectedEvent['metadata'] {
    this.#metadata ??= metadataOf(this.#row);
    return this.#metadata;
  }

  get revision(): bigint {
    return BigInt(this.#row.revision);
  }

  get recordedAt(): string {
    return utcTimestampToIso(this.#row.recorded_at);
  }
}

function metadataOf(row: ProjectedRow): ProjectedEvent['metadata'] {
  const metadata: Record<string, unknown> = {};
  // Absent (left out of the read) or null (not in the event's metadata): not set.
  if (row.app != null) metadata.app = row.app;
  if (row.correlation_id != null) metadata.correlationId = row.correlation_id;
  if (row.causation_id != null) metadata.causationId = row.causation_id;
  if (row.schema_version !== null) metadata.schemaVersion = row.schema_version;
  return metadata as unknown as ProjectedEvent['metadata'];
}

export function toProjectedEvent(row: ProjectedRow): ProjectedEvent {
  return new LazyProjectedEvent(row);
}

/**
 * The last timestamp converted, to the millisecond (`2026-11-25 15:41:16.123`), and its ISO
 * string: the events of an append share their millisecond, and a rebuild keeps the time of
 * most of them (a view's `since`) — one string for all, not one each.
 */
let lastMillisecond = '\u0000';
let lastIso = '';

/**
 * A UTC `timestamp` as PostgreSQL prints it (`2026-11-25 15:41:16.123456`, trailing zeros of
 * the fraction dropped) to the ISO string readAll gives: milliseconds are the fraction's first
 * three digits (what pg's date parser truncates to, for every microsecond). Anything else
 * (another DateStyle, a year beyond 9999) goes through Date.
 */
export function utcTimestampToIso(text: string): string {
  const length = text.length;
  if (length >= 23 && text.startsWith(lastMillisecond)) return lastIso;
  if (
    length >= 19 &&
    length <= 26 &&
    text.charCodeAt(4) === 45 && // '-'
    text.charCodeAt(10) === 32 && // ' '
    (length === 19 || text.charCodeAt(19) === 46) // '.'
  ) {
    const ms = length === 19 ? '000' : `${text.slice(20, 23)}00`.slice(0, 3);
    const iso = `${text.slice(0, 10)}T${text.slice(11, 19)}.${ms}Z`;
    if (length >= 23) {
      lastMillisecond = text.slice(0, 23);
      lastIso = iso;
    }
    return iso;
  }
  return new Date(`${text}Z`).toISOString();
}
