/**
 * A port's history served from the log itself when the read model shares the log's database
 * (src/read-model/history-query.ts): instead of a copy of every event of an lport stream in
 * `rm_history`, the projector keeps only what the log does not say.
 *
 * - `rm_history_marks`: one row per event of an lport stream whose history differs from the
 *   event itself: the lport machine's refusal code, or null for an event with no history row
 *   (stale, unreadable, not a port event).
 * - `rm_checkpoints.history_from_log`: whether the projection's history is the log's events
 *   (with its marks) or `rm_history`'s rows. A rebuild sets it; false (the rows) until then, so
 *   an existing read model keeps serving its rows.
 *
 * Additive: nothing existing changes.
 */
import type { Kysely } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: a migration must not depend on today's table types
type AnyDatabase = Kysely<any>;

export async function up(db: AnyDatabase): Promise<void> {
  await db.schema
    .createTable('rm_history_marks')
    .addColumn('position', 'bigint', (col) => col.primaryKey())
    .addColumn('refusal', 'text')
    .execute();
  await db.schema
    .alterTable('rm_checkpoints')
    .addColumn('history_from_log', 'boolean', (col) => col.notNull().defaultTo(false))
    .execute();
}

export async function down(db: AnyDatabase): Promise<void> {
  await db.schema.alterTable('rm_checkpoints').dropColumn('history_from_log').execute();
  await db.schema.dropTable('rm_history_marks').execute();
}
