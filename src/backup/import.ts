/**
 * Restores an export (./format.ts) into an empty SQL event store, all or nothing:
 *
 * 1. Verify: the whole file is read once and checked (header, gap-free positions from 1, each
 *    stream's revisions from 0, stream lines, counts, head, checksum) before anything is written.
 * 2. Append: one transaction, holding the event store's log lock (the one every append takes),
 *    first checks that the store is empty (no event, no stream), then reads the file a second
 *    time, re-checking every line, and appends it page by page: for each stream in a page, its
 *    current revision must be the one the page continues from (the expected revision), then the
 *    events go in at their original positions, revisions, ids and commit times. Stream metadata
 *    and deletions follow, then the head.
 * 3. Check: still inside the transaction, the store is exported again (to a digest only) and
 *    must give the file's checksum and counts.
 *
 * Only then does the transaction commit. Any failure — a bad line, a file changed between the
 * passes, a non-empty store, a duplicate id, a lost connection — rolls everything back: the
 * store is left exactly as it was. Memory stays flat (one page, plus one revision per stream).
 *
 * Like the exporter, it writes the store's tables directly: the EventStore port assigns new
 * commit times, and a restored log must keep the original ones (history, time travel and the
 * read model all show them).
 */
import { performance } from 'node:perf_hooks';
import { type Kysely, sql } from 'kysely';
import { type Database, toBigInt } from '../db/schema.js';
import { exportSnapshot } from './export.js';
import { readLines } from './files.js';
import {
  BackupError,
  type EventLine,
  type ExportSummary,
  LineChecker,
  type StreamLine,
} from './format.js';

/** The event store's advisory lock serialising writers (src/store/sql/sql-event-store.ts). */
const LOG_LOCK = 0x6c6f637573n;

export type ImportProgress =
  | { readonly phase: 'verify'; readonly bytes: number; readonly size: number }
  | { readonly phase: 'append'; readonly events: number; readonly total: number }
  | { readonly phase: 'check'; readonly events: number; readonly total: number };

export interface ImportOptions {
  /** Events per page (default 1 000). */
  readonly pageSize?: number;
  readonly progress?: (progress: ImportProgress) => void;
}

export interface ImportResult {
  readonly events: number;
  readonly streams: number;
  readonly head: bigint;
  readonly sha256: string;
  /** The header of the imported file. */
  readonly source: string;
  readonly exportedAt: string;
  readonly verifyMs: number;
  /** Appending and checking, in the transaction. */
  readonly appendMs: number;
  /** Events appended per second. */
  readonly ratePerSecond: number;
}

/** Reads a whole export and checks it; resolves with its summary or rejects with BackupError. */
export async function verifyExportFile(
  path: string,
  progress?: (progress: ImportProgress) => void,
): Promise<ExportSummary> {
  const checker = new LineChecker();
  const onBytes =
    progress && ((bytes: number, size: number) => progress({ phase: 'verify', bytes, size }));
  for await (const line of readLines(path, onBytes)) checker.accept(line);
  return checker.finish();
}

/** Imports `path` into the (empty) store on `db`; see the top of this file. */
export async function importLog(
  db: Kysely<Database>,
  path: string,
  options: ImportOptions = {},
): Promise<ImportResult> {
  const pageSize = options.pageSize ?? 1_000;
  const progress = options.progress;
  const verifyStarted = performance.now();
  const summary = await verifyExportFile(path, progress);
  const verifyMs = performance.now() - verifyStarted;
  const total = summary.events;

  const appendStarted = performance.now();
  let appendedMs = 0;
  await db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(${LOG_LOCK.toString()}::bigint)`.execute(trx);
    await assertEmpty(trx);

    const checker = new LineChecker();
    let page: EventLine[] = [];
    let appended = 0;
    const flush = async () => {
      if (page.length === 0) return;
      await appendPage(trx, page);
      appended += page.length;
      page = [];
      progress?.({ phase: 'append', events: appended, total });
    };
    for await (const text of readLines(path)) {
      const line = checker.accept(text);
      if (line.kind === 'event') {
        page.push(line.event);
        if (page.length >= pageSize) await flush();
      } else if (line.kind === 'stream') {
        await flush();
        await writeStream(trx, line.stream);
      }
    }
    await flush();
    const again = checker.finish();
    if (again.sha256 !== summary.sha256 || again.events !== summary.events) {
      throw new BackupError('the file changed between verifying and importing it');
    }
    await trx.updateTable('event_log_head').set({ position: summary.head.toString() }).execute();
    appendedMs = performance.now() - appendStarted;

    const check = await exportSnapshot(
      trx,
      { write: () => undefined },
      {
        source: 'import check',
        progress: ({ events }) => progress?.({ phase: 'check', events, total }),
      },
    );
    if (
      check.sha256 !== summary.sha256 ||
      check.events !== summary.events ||
      check.streams !== summary.streams
    ) {
      throw new BackupError(
        `the imported log does not export back to the file (checksum ${check.sha256}, ${check.events} events, ${check.streams} stream lines; the file has ${summary.sha256}, ${summary.events}, ${summary.streams})`,
      );
    }
  });
  return {
    events: summary.events,
    streams: summary.streams,
    head: summary.head,
    sha256: summary.sha256,
    source: summary.header.source,
    exportedAt: summary.header.exportedAt,
    verifyMs,
    appendMs: performance.now() - appendStarted,
    ratePerSecond: (summary.events * 1000) / Math.max(1, appendedMs),
  };
}

/** Import only into a store that has never held anything. */
async function assertEmpty(db: Kysely<Database>): Promise<void> {
  const { rows } = await sql<{
    head: string | number | bigint | null;
    streams: string | number | bigint;
    events: boolean;
  }>`
    select (select position from event_log_head limit 1) as head,
      (select count(*) from streams) as streams,
      exists (select 1 from events) as events
  `.execute(db);
  const row = rows[0];
  const head = row?.head === null || row?.head === undefined ? 0n : toBigInt(row.head);
  const streams = row === undefined ? 0n : toBigInt(row.streams);
  if (head !== 0n || streams !== 0n || row?.events === true) {
    throw new BackupError(
      `the target store is not empty (log head at position ${head}, ${streams} streams): import needs a fresh store — point it at a new folder or an empty database`,
    );
  }
}

/** Appends one page of events, stream by stream with the expected revision, at their positions. */
async function appendPage(db: Kysely<Database>, events: readonly EventLine[]): Promise<void> {
  // For each stream: the revision the page continues from, and the one it ends at.
  const streams = new Map<string, { expected: bigint; last: bigint }>();
  for (const event of events) {
    const revision = BigInt(event.revision);
    const known = streams.get(event.stream);
    if (known === undefined) streams.set(event.stream, { expected: revision - 1n, last: revision });
    else known.last = revision;
  }
  const names = [...streams.keys()];
  const current = await db
    .selectFrom('streams')
    .select(['stream_name', 'revision'])
    .where(
      sql<boolean>`stream_name in (select jsonb_array_elements_text(${JSON.stringify(names)}::jsonb))`,
    )
    .execute();
  const actual = new Map(current.map((row) => [row.stream_name, toBigInt(row.revision)]));
  for (const [name, { expected }] of streams) {
    const revision = actual.get(name) ?? -1n;
    if (revision !== expected) {
      throw new BackupError(
        `wrong expected revision on ${name}: the import continues from ${expected}, the store has ${revision}`,
      );
    }
  }
  const streamRows = [...streams].map(([stream_name, { last }]) => ({
    stream_name,
    revision: last.toString(),
  }));
  const eventRows = events.map((event) => ({
    position: event.position,
    event_id: event.id,
    stream_name: event.stream,
    revision: event.revision,
    type: event.type,
    data: event.data,
    metadata: event.metadata,
    recorded_at: event.recordedAt,
  }));
  try {
    await sql`
      insert into streams (stream_name, revision)
      select * from jsonb_to_recordset(${JSON.stringify(streamRows)}::jsonb)
        as r(stream_name text, revision bigint)
      on conflict (stream_name) do update set revision = excluded.revision
    `.execute(db);
    await sql`
      insert into events (position, event_id, stream_name, revision, type, data, metadata,
        recorded_at)
      select position, event_id, stream_name, revision, type,
        coalesce(data, 'null'::jsonb), metadata, recorded_at
      from jsonb_to_recordset(${JSON.stringify(eventRows)}::jsonb) as r(position bigint,
        event_id uuid, stream_name text, revision bigint, type text, data jsonb, metadata jsonb,
        recorded_at timestamptz)
    `.execute(db);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === '23505') {
      const detail = (error as { detail?: unknown }).detail;
      throw new BackupError(
        `duplicate in the export: ${typeof detail === 'string' ? detail : (error as Error).message}`,
        { cause: error },
      );
    }
    throw error;
  }
}

async function writeStream(db: Kysely<Database>, stream: StreamLine): Promise<void> {
  const columns = {
    deleted: stream.deleted,
    truncate_before: stream.truncateBefore,
    max_count: stream.maxCount,
    metadata: JSON.stringify(stream.metadata),
  };
  await db
    .insertInto('streams')
    .values({ stream_name: stream.stream, revision: stream.revision, ...columns })
    .onConflict((conflict) => conflict.column('stream_name').doUpdateSet(columns))
    .execute();
}
