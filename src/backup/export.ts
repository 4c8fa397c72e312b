/**
 * Exports the whole log of a SQL event store (embedded PGlite or PostgreSQL) as NDJSON (see
 * ./format.ts), streaming: events are read in pages by position and written as they come, so
 * memory stays flat however long the log is.
 *
 * The export reads one consistent snapshot (a read-only REPEATABLE READ transaction): with a
 * locus still appending to PostgreSQL, the file holds exactly the log up to the head it names,
 * and the stream metadata (the apps' checkpoints) as of that same instant.
 *
 * It reads the store's tables directly rather than through the EventStore port: the port has
 * neither the commit times to the microsecond nor a list of streams with metadata.
 */
import { performance } from 'node:perf_hooks';
import { type Kysely, sql } from 'kysely';
import { type Database, toBigInt } from '../db/schema.js';
import {
  BackupError,
  BodyDigest,
  encodeEvent,
  encodeHeader,
  encodeStream,
  encodeTrailer,
} from './format.js';

/** Where export lines go; a returned promise is awaited (backpressure). */
export interface LineSink {
  write(line: string): void | Promise<void>;
}

export interface ExportProgress {
  readonly events: number;
  readonly total: number;
}

export interface ExportOptions {
  /** Recorded in the header: where the log comes from (no password). */
  readonly source: string;
  /** Events per page (default 2 000). */
  readonly pageSize?: number;
  readonly progress?: (progress: ExportProgress) => void;
  readonly clock?: () => Date;
}

export interface ExportResult {
  readonly events: number;
  readonly streams: number;
  readonly head: bigint;
  readonly sha256: string;
  readonly elapsedMs: number;
  readonly ratePerSecond: number;
}

/** The commit time as text, to the microsecond (a JS Date would keep milliseconds). */
const RECORDED_AT = sql<string>`to_char(recorded_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** Exports the log in one read-only snapshot. */
export async function exportLog(
  db: Kysely<Database>,
  sink: LineSink,
  options: ExportOptions,
): Promise<ExportResult> {
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      await sql`set transaction read only`.execute(trx);
      return exportSnapshot(trx, sink, options);
    });
}

/**
 * Exports what `db` sees. Callers provide the consistency: a transaction (exportLog's, or the
 * importer's own, to check what it wrote before committing).
 */
export async function exportSnapshot(
  db: Kysely<Database>,
  sink: LineSink,
  options: ExportOptions,
): Promise<ExportResult> {
  const started = performance.now();
  const pageSize = options.pageSize ?? 2_000;
  const headRow = await db.selectFrom('event_log_head').select('position').executeTakeFirst();
  const head = headRow === undefined ? 0n : toBigInt(headRow.position);
  const total = Number(head);
  const now = (options.clock ?? (() => new Date()))();
  await sink.write(
    encodeHeader({ source: options.source, exportedAt: now.toISOString(), head: String(head) }),
  );

  const digest = new BodyDigest();
  let after = 0n;
  while (after < head) {
    const rows = await db
      .selectFrom('events')
      .select([
        'position',
        'event_id',
        'stream_name',
        'revision',
        'type',
        'data',
        'metadata',
        RECORDED_AT.as('recorded_at'),
      ])
      .where('position', '>', after.toString())
      .where('position', '<=', head.toString())
      .orderBy('position')
      .limit(pageSize)
      .execute();
    if (rows.length === 0) break;
    for (const row of rows) {
      const position = toBigInt(row.position);
      if (position !== after + 1n) {
        throw new BackupError(`the log has a gap: position ${after + 1n} is missing`);
      }
      after = position;
      const line = encodeEvent({
        position: position.toString(),
        stream: row.stream_name,
        revision: toBigInt(row.revision).toString(),
        id: row.event_id,
        type: row.type,
        recordedAt: row.recorded_at,
        data: row.data,
        metadata: row.metadata as Record<string, unknown>,
      });
      digest.event(line);
      await sink.write(line);
    }
    options.progress?.({ events: digest.events, total });
  }
  if (after !== head) {
    throw new BackupError(`the log ends at position ${after} but its head is ${head}`);
  }

  // Streams holding more than their events: metadata, truncation, deletion.
  const streams = await db
    .selectFrom('streams')
    .select(['stream_name', 'revision', 'deleted', 'truncate_before', 'max_count', 'metadata'])
    .where((eb) =>
      eb.or([
        eb('deleted', '=', true),
        eb('truncate_before', 'is not', null),
        eb('max_count', 'is not', null),
        eb(sql`metadata`, '<>', sql`'{}'::jsonb`),
      ]),
    )
    .orderBy('stream_name')
    .execute();
  for (const row of streams) {
    const line = encodeStream({
      stream: row.stream_name,
      revision: toBigInt(row.revision).toString(),
      deleted: row.deleted,
      truncateBefore:
        row.truncate_before === null ? null : toBigInt(row.truncate_before).toString(),
      maxCount: row.max_count,
      metadata: (row.metadata ?? {}) as Record<string, unknown>,
    });
    digest.stream(line);
    await sink.write(line);
  }

  const sha256 = digest.digest();
  await sink.write(
    encodeTrailer({
      events: digest.events,
      streams: digest.streams,
      head: head.toString(),
      sha256,
    }),
  );
  const elapsedMs = performance.now() - started;
  return {
    events: digest.events,
    streams: digest.streams,
    head,
    sha256,
    elapsedMs,
    ratePerSecond: (digest.events * 1000) / Math.max(1, elapsedMs),
  };
}
