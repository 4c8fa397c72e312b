/** Mapping between `events` rows and RecordedEvent, and the server-side event filter. */
import type { ExpressionBuilder, Selectable } from 'kysely';
import { type Database, type EventsTable, toBigInt } from '../../db/schema.js';
import type { EventFilter, EventMetadata, RecordedEvent } from '../event-store.js';

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
 */
export function matchesFilter(
  eb: ExpressionBuilder<Database, 'events'>,
  filter: EventFilter | undefined,
) {
  const conditions = [];
  const streams = filter?.streamPrefixes ?? [];
  const types = filter?.eventTypePrefixes ?? [];
  if (streams.length > 0) {
    conditions.push(eb.or(streams.map((p) => eb('events.stream_name', 'like', likePrefix(p)))));
  }
  if (types.length > 0) {
    conditions.push(eb.or(types.map((p) => eb('events.type', 'like', likePrefix(p)))));
  }
  return eb.and(conditions);
}
