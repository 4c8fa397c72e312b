/**
 * The pure core of a batched append: given what the log holds for the streams and event ids
 * a batch touches, decides each append in array order exactly as a lone appendToStream would
 * (sql-event-store.ts, "Idempotence"), as if the earlier appends of the batch were already
 * written, and lays out the rows to insert. No I/O: the store reads the state, plans, writes.
 */
import { EventStoreError, StreamDeletedError, WrongExpectedVersionError } from '../errors.js';
import type { AppendResult, ExpectedRevision } from '../event-store.js';
import { checkExpectedRevision, type EventRow } from './input.js';

/** One append, checked (see input.ts). */
export interface CheckedAppend {
  readonly streamName: string;
  readonly rows: readonly EventRow[];
  readonly expected: ExpectedRevision;
}

/** A stream as stored. */
export interface StoredStream {
  /** Revision of its last event; undefined when it has none. */
  readonly revision: bigint | undefined;
  readonly deleted: boolean;
  /** Position of its last event; undefined when it has none. */
  readonly lastPosition: bigint | undefined;
}

/** Where a stored event sits. */
export interface StoredEvent {
  readonly streamName: string;
  readonly revision: bigint;
  readonly position: bigint;
}

export interface LogState {
  /** Position of the last event in the log. */
  readonly head: bigint;
  /** The batch's streams that exist (absent: no row). */
  readonly streams: ReadonlyMap<string, StoredStream>;
  /** The batch's event ids already stored (lower-case). */
  readonly events: ReadonlyMap<string, StoredEvent>;
}

/** An event to insert, at its position and revision. */
export interface PlannedEvent extends EventRow {
  readonly streamName: string;
  readonly revision: bigint;
  readonly position: bigint;
}

export type PlannedOutcome =
  | { readonly ok: true; readonly result: AppendResult }
  | { readonly ok: false; readonly error: EventStoreError };

export interface AppendPlan {
  /** One per append, in order. */
  readonly outcomes: readonly PlannedOutcome[];
  /** Every event to insert, in position order (head + 1, head + 2, …). */
  readonly events: readonly PlannedEvent[];
  /** The new revision of every stream that receives events. */
  readonly streamRevisions: ReadonlyMap<string, bigint>;
  /** The log's head after the batch. */
  readonly head: bigint;
}

export function planAppends(appends: readonly CheckedAppend[], state: LogState): AppendPlan {
  const streams = new Map(state.streams);
  const stored = new Map(state.events);
  const events: PlannedEvent[] = [];
  const streamRevisions = new Map<string, bigint>();
  let head = state.head;

  const outcomes = appends.map((append): PlannedOutcome => {
    const { streamName, rows, expected } = append;
    const stream = streams.get(streamName) ?? {
      revision: undefined,
      deleted: false,
      lastPosition: undefined,
    };
    try {
      if (stream.deleted) throw new StreamDeletedError(streamName);
      if (rows.some((row) => stored.has(row.id))) {
        return { ok: true, result: replayed(append, stream, stored) };
      }
      checkExpectedRevision(streamName, expected, stream.revision);
    } catch (error) {
      if (error instanceof EventStoreError) return { ok: false, error };
      throw error;
    }
    if (rows.length === 0) {
      return {
        ok: true,
        result: {
          nextExpectedRevision: stream.revision ?? -1n,
          position: stream.lastPosition ?? 0n,
        },
      };
    }
    let revision = stream.revision ?? -1n;
    for (const row of rows) {
      revision += 1n;
      head += 1n;
      const event = { ...row, streamName, revision, position: head };
      events.push(event);
      stored.set(row.id, event);
    }
    streams.set(streamName, { revision, deleted: false, lastPosition: head });
    streamRevisions.set(streamName, revision);
    return { ok: true, result: { nextExpectedRevision: revision, position: head } };
  });
  return { outcomes, events, streamRevisions, head };
}

/**
 * The earlier result when the append's ids are a retry of an earlier append to this stream
 * (all stored, in this stream, at consecutive revisions in the same order); otherwise any
 * overlap with stored ids is a conflict.
 */
function replayed(
  { streamName, rows, expected }: CheckedAppend,
  stream: StoredStream,
  stored: ReadonlyMap<string, StoredEvent>,
): AppendResult {
  const first = stored.get(rows[0]?.id ?? '');
  const isRetry =
    first !== undefined &&
    rows.every((row, index) => {
      const event = stored.get(row.id);
      return (
        event !== undefined &&
        event.streamName === streamName &&
        event.revision === first.revision + BigInt(index)
      );
    });
  const last = stored.get(rows.at(-1)?.id ?? '');
  if (!isRetry || last === undefined) {
    throw new WrongExpectedVersionError(streamName, expected, stream.revision);
  }
  return { nextExpectedRevision: last.revision, position: last.position };
}
