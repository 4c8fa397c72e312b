/**
 * The event store's tables. The same migration runs on embedded PGlite and on PostgreSQL.
 *
 * - `event_log_head`: one row, the last allocated global position. Appends allocate positions
 *   from it while holding the log's advisory lock, so positions follow commit order.
 * - `streams`: per-stream revision, soft-delete flag and metadata.
 * - `events`: the log. `stream_name` and `type` use the "C" collation so prefix filters
 *   (`LIKE 'lport-%'`) can use a btree index (the (stream_name, revision) key, for categories).
 *
 * A statement-level trigger NOTIFYs `locus_events` on every insert; PostgreSQL delivers it at
 * commit, waking subscribers in other processes.
 */
import { type Kysely, sql } from 'kysely';

/**
 * A migration must not depend on today's table types (they describe the latest schema, not the
 * one this migration starts from), hence kysely's untyped `Kysely<any>`.
 */
// biome-ignore lint/suspicious/noExplicitAny: see above
type AnyDatabase = Kysely<any>;

export async function up(db: AnyDatabase): Promise<void> {
  await db.schema
    .createTable('event_log_head')
    .addColumn('id', 'boolean', (col) => col.primaryKey().defaultTo(true).check(sql`id`))
    .addColumn('position', 'bigint', (col) => col.notNull())
    .execute();
  await db.insertInto('event_log_head').values({ id: true, position: '0' }).execute();

  await db.schema
    .createTable('streams')
    .addColumn('stream_name', sql`text collate "C"`, (col) => col.primaryKey())
    .addColumn('revision', 'bigint', (col) => col.notNull().defaultTo(-1))
    .addColumn('deleted', 'boolean', (col) => col.notNull().defaultTo(false))
    .addColumn('truncate_before', 'bigint')
    .addColumn('max_count', 'integer')
    .addColumn('metadata', 'jsonb', (col) => col.notNull().defaultTo(sql`'{}'::jsonb`))
    .execute();

  await db.schema
    .createTable('events')
    .addColumn('position', 'bigint', (col) => col.primaryKey())
    .addColumn('event_id', 'uuid', (col) => col.notNull().unique())
    .addColumn('stream_name', sql`text collate "C"`, (col) =>
      col.notNull().references('streams.stream_name'),
    )
    .addColumn('revision', 'bigint', (col) => col.notNull())
    .addColumn('type', sql`text collate "C"`, (col) => col.notNull())
    .addColumn('data', 'jsonb', (col) => col.notNull())
    .addColumn('metadata', 'jsonb', (col) => col.notNull())
    .addColumn('recorded_at', 'timestamptz', (col) =>
      col.notNull().defaultTo(sql`clock_timestamp()`),
    )
    .addUniqueConstraint('events_stream_revision_key', ['stream_name', 'revision'])
    .execute();

  await sql`
    create function locus_notify_events() returns trigger language plpgsql as $$
    begin
      perform pg_notify('locus_events', '');
      return null;
    end
    $$
  `.execute(db);
  await sql`
    create trigger events_notify after insert on events
    for each statement execute function locus_notify_events()
  `.execute(db);
}

export async function down(db: AnyDatabase): Promise<void> {
  await db.schema.dropTable('events').execute();
  await sql`drop function locus_notify_events()`.execute(db);
  await db.schema.dropTable('streams').execute();
  await db.schema.dropTable('event_log_head').execute();
}
