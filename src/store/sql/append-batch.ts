/**
 * The statements of a batched append, set-based so that thousands of streams cost what one
 * does: one read of the log head, the batch's streams and its already-stored event ids, and
 * one write of every event, stream revision and the new head. Both run inside the caller's
 * transaction, after it took the log lock (sql-event-store.ts, "Gap-free global order").
 *
 * Parameters travel as one text each (array literals, a JSON document of the events): the same
 * on PGlite and pg, no 65,535-parameter limit, int8 values as decimal text, never doubles.
 */
import { sql, type Transaction } from 'kysely';
import { type Database, toBigInt } from '../../db/schema.js';
import type {
  AppendPlan,
  CheckedAppend,
  LogState,
  StoredEvent,
  StoredStream,
} from './append-plan.js';

type Int8Text = string;

interface StateRow {
  head: string | number | bigint;
  /** [stream_name, revision, deleted, last_position] per existing stream. */
  streams: [string, Int8Text, boolean, Int8Text | null][] | string;
  /** [event_id, stream_name, revision, position] per stored id. */
  events: [string, string, Int8Text, Int8Text][] | string;
}

/** What the log holds for the batch's streams and ids (read in one statement). */
export async function readLogState(
  trx: Transaction<Database>,
  appends: readonly CheckedAppend[],
): Promise<LogState> {
  const names = arrayLiteral([...new Set(appends.map((append) => append.streamName))]);
  const ids = arrayLiteral(appends.flatMap((append) => append.rows.map((row) => row.id)));
  // `= any(array)`, not a join with a set-returning function: the planner knows the array's
  // length, so it probes the indexes instead of scanning every stream or event.
  const { rows } = await sql<StateRow>`
    select
      (select position from event_log_head limit 1) as head,
      (select coalesce(jsonb_agg(jsonb_build_array(
                s.stream_name, s.revision::text, s.deleted, e.position::text)), '[]'::jsonb)
         from streams s
         left join events e on e.stream_name = s.stream_name and e.revision = s.revision
        where s.stream_name = any(${names}::text[])
      ) as streams,
      (select coalesce(jsonb_agg(jsonb_build_array(
                event_id::text, stream_name, revision::text, position::text)), '[]'::jsonb)
         from events
        where event_id = any(${ids}::uuid[])
      ) as events
  `.execute(trx);
  const row = rows[0];
  if (row === undefined) throw new Error('the log head is missing');
  const streams = new Map<string, StoredStream>();
  for (const [name, revisionText, deleted, lastPosition] of parsed(row.streams)) {
    const revision = BigInt(revisionText);
    streams.set(name, {
      revision: revision < 0n ? undefined : revision,
      deleted,
      lastPosition: lastPosition === null ? undefined : BigInt(lastPosition),
    });
  }
  const events = new Map<string, StoredEvent>();
  for (const [id, streamName, revision, position] of parsed(row.events)) {
    events.set(id, { streamName, revision: BigInt(revision), position: BigInt(position) });
  }
  return { head: toBigInt(row.head), streams, events };
}

/** Inserts the plan's events, sets its streams' revisions and the head, in one statement. */
export async function writePlan(trx: Transaction<Database>, plan: AppendPlan): Promise<void> {
  if (plan.events.length === 0) return;
  // The rows' data and metadata are JSON text already: spliced in, not parsed and re-encoded.
  // Read back with `->`, which keeps a JSON null as jsonb 'null' (not SQL NULL).
  const events = `[${plan.events
    .map(
      (event) =>
        `{"position":${event.position},"event_id":"${event.id}","stream_name":${JSON.stringify(
          event.streamName,
        )},"revision":${event.revision},"type":${JSON.stringify(event.type)},"data":${
          event.data
        },"metadata":${event.metadata}}`,
    )
    .join(',')}]`;
  const streams = JSON.stringify(
    [...plan.streamRevisions].map(([name, revision]) => [name, revision.toString()]),
  );
  await sql`
    with bump_head as (
      update event_log_head set position = ${plan.head.toString()}::bigint returning id
    ),
    upsert_streams as (
      insert into streams (stream_name, revision)
      select s ->> 0, (s ->> 1)::bigint from jsonb_array_elements(${streams}::jsonb) as s
      on conflict (stream_name) do update set revision = excluded.revision
      returning stream_name
    )
    insert into events (position, event_id, stream_name, revision, type, data, metadata)
    select (e ->> 'position')::bigint, (e ->> 'event_id')::uuid, e ->> 'stream_name',
           (e ->> 'revision')::bigint, e ->> 'type', e -> 'data', e -> 'metadata'
      from jsonb_array_elements(${events}::jsonb) as e
  `.execute(trx);
}

/** A PostgreSQL array literal of `values`, every element quoted (any text is safe). */
function arrayLiteral(values: readonly string[]): string {
  return `{${values.map((value) => `"${value.replace(/[\\"]/g, '\\$&')}"`).join(',')}}`;
}

/** jsonb arrives parsed from pg and PGlite; text if a driver leaves it alone. */
function parsed<T>(value: T[] | string): T[] {
  return typeof value === 'string' ? (JSON.parse(value) as T[]) : value;
}
