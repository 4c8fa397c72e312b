/**
 * The event store port. Every adapter (embedded SQL, PostgreSQL, EventStoreDB) implements this
 * interface and passes the conformance suite in test/store/.
 *
 * Revisions and positions are bigints: EventStoreDB's are unsigned 64-bit, and the port must
 * carry them without loss.
 */
import type { EventMetadata, NewEvent } from '../events/metadata.js';
import type { WrongExpectedVersionError } from './errors.js';

/** Event ids are UUIDs (any case): the adapters refuse others on append. */
const EVENT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether `id` has the shape of an event id (a UUID). */
export const isEventId = (id: string): boolean => EVENT_ID.test(id);

/** An event as read back from the log. */
export interface RecordedEvent<Type extends string = string, Data = unknown>
  extends NewEvent<Type, Data> {
  readonly streamName: string;
  /** 0-based index of the event within its stream. */
  readonly revision: bigint;
  /** Gap-free, strictly increasing position in the global log (1-based for SQL adapters). */
  readonly position: bigint;
  /** When the store committed it (ISO-8601). */
  readonly recordedAt: string;
}

/**
 * What the read-model projector reads of an event: a RecordedEvent without the metadata it
 * ignores. RecordedEvent is one, so pages of `readAll` serve too.
 */
export interface ProjectedEvent {
  readonly id: string;
  readonly type: string;
  readonly data: unknown;
  readonly metadata: Pick<EventMetadata, 'app' | 'correlationId' | 'causationId'> & {
    readonly schemaVersion?: number;
  };
  readonly streamName: string;
  readonly revision: bigint;
  readonly position: bigint;
  readonly recordedAt: string;
}

export interface ProjectedPageOptions {
  /**
   * `fold`: only what folding reads. An adapter may leave out the event's id (then '') and the
   * metadata's strings (then absent): a rebuild whose history rows the database copies from the
   * log itself reads nothing else (default `all`).
   */
  readonly fields?: 'all' | 'fold';
}

/** What the writer believes the stream's current revision to be. */
export type ExpectedRevision = 'any' | 'no_stream' | 'stream_exists' | bigint;

export interface AppendResult {
  /** Revision of the last event now in the stream. */
  readonly nextExpectedRevision: bigint;
  /** Global position of the last event appended (or of the existing one on idempotent replay). */
  readonly position: bigint;
}

/** One stream's part of an appendToStreams call. */
export interface StreamAppend {
  readonly streamName: string;
  readonly events: readonly NewEvent[];
  /** Default 'any'. */
  readonly expectedRevision?: ExpectedRevision;
}

/** What became of one StreamAppend: written (or an idempotent replay), or refused. */
export type StreamAppendOutcome =
  | { readonly ok: true; readonly result: AppendResult }
  | { readonly ok: false; readonly error: WrongExpectedVersionError };

export interface ReadStreamOptions {
  readonly direction?: 'forwards' | 'backwards';
  /** Inclusive start revision; default: start (forwards) or end (backwards). */
  readonly fromRevision?: bigint;
  readonly maxCount?: number;
}

export interface ReadAllOptions {
  /** Exclusive: events strictly after this position. Default 0n (from the beginning). */
  readonly after?: bigint;
  readonly maxCount?: number;
  readonly filter?: EventFilter;
}

/** Server-side filter: stream-name prefixes (categories such as `lport-`) or event-type prefixes. */
export interface EventFilter {
  readonly streamPrefixes?: readonly string[];
  readonly eventTypePrefixes?: readonly string[];
}

export interface SubscribeOptions {
  /** Resume after this checkpoint (exclusive). Default 0n: from the start of the log. */
  readonly after?: bigint;
  readonly filter?: EventFilter;
  /** Events fetched per catch-up page. */
  readonly batchSize?: number;
}

/**
 * A catch-up-then-live subscription to the whole log, in global order with no gaps and no
 * duplicates. Iterate it; `close()` ends the iteration.
 */
export interface Subscription extends AsyncIterable<RecordedEvent> {
  close(): Promise<void>;
}

export interface StreamMetadata {
  /** Events with a revision below this are logically deleted (stream truncation). */
  readonly truncateBefore?: bigint;
  readonly maxCount?: number;
  readonly [extra: string]: unknown;
}

/** One stream as `readStreams` found it. */
export type StreamRead =
  | {
      readonly found: true;
      /** Its visible events (as readStream reads them: truncation hides the oldest). */
      readonly events: readonly RecordedEvent[];
      /** The revision of its last event, visible or not. */
      readonly revision: bigint;
    }
  /** No event was ever appended to it, or it was deleted. */
  | { readonly found: false; readonly deleted: boolean };

export interface EventStore {
  /**
   * True when the events of one append always take consecutive positions, the last at the
   * result's `position` (the SQL adapters); absent or false otherwise (EventStoreDB's are byte
   * offsets). A writer appending several commands' events at once tells each its own.
   */
  readonly consecutivePositions?: boolean;
  appendToStream(
    streamName: string,
    events: readonly NewEvent[],
    options?: { expectedRevision?: ExpectedRevision },
  ): Promise<AppendResult>;
  /**
   * Independent appends in one call: each is checked and written as appendToStream would, in
   * array order (a later one sees the earlier ones' events); one whose expected revision fails
   * (or that conflicts with stored ids) is refused and reported, the others are written. Any
   * other failure (invalid input, a deleted stream, the store) rejects the call and writes
   * nothing (SQL: one transaction; EventStoreDB: see docs/eventstoredb.md).
   */
  appendToStreams(appends: readonly StreamAppend[]): Promise<StreamAppendOutcome[]>;
  readStream(streamName: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  /**
   * Several whole streams at once, each as of one moment: the SQL adapters read them in one
   * statement (a round of commands on a thousand ports is one round trip, not two thousand);
   * EventStoreDB, which has no such read, one stream after another (`readStreamsOneByOne`).
   */
  readStreams(streamNames: readonly string[]): Promise<Map<string, StreamRead>>;
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  /**
   * A page of the log after `after` as the projector reads it (`readAll` without a filter, at
   * most `maxCount` events). An adapter that can reads it narrowly (the SQL one: only the
   * columns projections use, data parsed on first read); one that cannot answers readAll's page.
   */
  readProjectedPage(
    after: bigint,
    maxCount: number,
    options?: ProjectedPageOptions,
  ): Promise<readonly ProjectedEvent[]>;
  /**
   * The event with this id, wherever it is in the log (a deleted or truncated stream's too:
   * the log keeps them); undefined when no event has it, or the id is not a UUID. SQL answers
   * from the unique index on the id; EventStoreDB indexes no event id, so its adapter scans $all
   * backwards from the head (the cost grows with the event's distance from the head).
   */
  readEventById(id: string): Promise<RecordedEvent | undefined>;
  subscribeToAll(options?: SubscribeOptions): Subscription;
  /** Revision of the stream's last event, or undefined when the stream does not exist. */
  streamRevision(streamName: string): Promise<bigint | undefined>;
  setStreamMetadata(streamName: string, metadata: StreamMetadata): Promise<void>;
  getStreamMetadata(streamName: string): Promise<StreamMetadata>;
  /** Soft-deletes the stream: reads then fail with StreamDeletedError. */
  deleteStream(
    streamName: string,
    options?: { expectedRevision?: ExpectedRevision },
  ): Promise<void>;
  /** Position of the last event in the log (0n when empty). */
  headPosition(): Promise<bigint>;
  close(): Promise<void>;
}
