/**
 * Fills an SQL event store fast: the benchmarks need logs of 10^5–10^6 events, and one append
 * transaction per stream would take minutes. BulkLog writes exactly what `appendToStream` would
 * (gap-free positions from the log head, per-stream revisions, the streams table, the head row,
 * enveloped events with metadata) but thousands of events per statement, each JSON row set
 * expanded server-side by `jsonb_to_recordset`. It holds the log's advisory lock per chunk like
 * an append does; it is meant for a store nobody else writes while it loads.
 */
import { randomUUID } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { Database } from '../../src/db/schema.js';
import { type DomainEvent, envelope, streamOf } from '../../src/events/index.js';

/** The store's log lock (src/store/sql/sql-event-store.ts). */
const LOG_LOCK = 0x6c6f637573n;

interface Row {
  readonly position: string;
  readonly event_id: string;
  readonly stream_name: string;
  readonly revision: string;
  readonly type: string;
  readonly data: unknown;
  readonly metadata: unknown;
}

export class BulkLog {
  readonly #db: Kysely<Database>;
  readonly #chunk: number;
  readonly #revisions = new Map<string, bigint>();
  readonly #cause = { correlationId: randomUUID(), causationId: randomUUID() };
  #rows: Row[] = [];
  #head = -1n;
  /** The log was empty when loading began: every stream not in #revisions is new. */
  #fresh = false;
  #written = 0;

  constructor(db: Kysely<Database>, options: { chunk?: number } = {}) {
    this.#db = db;
    this.#chunk = options.chunk ?? 5_000;
  }

  /** Events written so far. */
  get written(): number {
    return this.#written;
  }

  /** Queues one event for its stream (streamOf); writes a chunk when enough are queued. */
  async add(event: DomainEvent, app = 'bench'): Promise<void> {
    if (this.#head < 0n) await this.#loadHead();
    const stream = streamOf(event);
    let revision = this.#revisions.get(stream);
    if (revision === undefined) revision = await this.#streamRevision(stream);
    revision += 1n;
    this.#revisions.set(stream, revision);
    this.#head += 1n;
    const recorded = envelope(event, { app, cause: this.#cause });
    this.#rows.push({
      position: this.#head.toString(),
      event_id: recorded.id,
      stream_name: stream,
      revision: revision.toString(),
      type: recorded.type,
      data: recorded.data,
      metadata: recorded.metadata,
    });
    if (this.#rows.length >= this.#chunk) await this.flush();
  }

  async addAll(events: Iterable<DomainEvent>, app = 'bench'): Promise<void> {
    for (const event of events) await this.add(event, app);
  }

  /** Writes what is queued; resolves with the log's head position. */
  async flush(): Promise<bigint> {
    const rows = this.#rows;
    this.#rows = [];
    if (rows.length === 0) return this.#head < 0n ? 0n : this.#head;
    const streams = new Map<string, string>();
    for (const row of rows) streams.set(row.stream_name, row.revision);
    const last = rows.at(-1) as Row;
    await this.#db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${LOG_LOCK.toString()}::bigint)`.execute(trx);
      await sql`
        insert into streams (stream_name, revision)
        select s.stream_name, s.revision
        from jsonb_to_recordset(${JSON.stringify(
          [...streams].map(([stream_name, revision]) => ({ stream_name, revision })),
        )}::jsonb) as s(stream_name text, revision bigint)
        on conflict (stream_name) do update set revision = excluded.revision
      `.execute(trx);
      await sql`
        insert into events (position, event_id, stream_name, revision, type, data, metadata)
        select e.position, e.event_id, e.stream_name, e.revision, e.type, e.data, e.metadata
        from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as e(
          position bigint, event_id uuid, stream_name text, revision bigint, type text,
          data jsonb, metadata jsonb)
      `.execute(trx);
      await sql`update event_log_head set position = ${last.position}::bigint`.execute(trx);
    });
    this.#written += rows.length;
    return BigInt(last.position);
  }

  async #loadHead(): Promise<void> {
    const row = await this.#db
      .selectFrom('event_log_head')
      .select('position')
      .executeTakeFirstOrThrow();
    this.#head = BigInt(row.position);
    this.#fresh = this.#head === 0n;
  }

  async #streamRevision(stream: string): Promise<bigint> {
    if (this.#fresh) return -1n;
    const row = await this.#db
      .selectFrom('streams')
      .select('revision')
      .where('stream_name', '=', stream)
      .executeTakeFirst();
    return row === undefined ? -1n : BigInt(row.revision);
  }
}
