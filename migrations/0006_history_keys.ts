/**
 * `rm_history` keyed by what reads it: a port's events in log order. The primary key becomes
 * (port_id, position) — an event is one port's, so it still refuses a row applied twice — and
 * the separate (port_id, position) index goes; log-order scans (`locus verify`) get a BRIN
 * index on position, which costs next to nothing because rows arrive in position order. A
 * rebuild then sorts the history once instead of twice (one B-tree was a fifth of its work).
 */
import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: a migration must not depend on today's table types
type AnyDatabase = Kysely<any>;

export async function up(db: AnyDatabase): Promise<void> {
  await sql`alter table rm_history drop constraint rm_history_pkey`.execute(db);
  await sql`drop index rm_history_port_position`.execute(db);
  await sql`alter table rm_history add constraint rm_history_pkey primary key (port_id, position)`.execute(
    db,
  );
  await sql`create index rm_history_position on rm_history using brin (position)`.execute(db);
}

export async function down(db: AnyDatabase): Promise<void> {
  await sql`drop index rm_history_position`.execute(db);
  await sql`alter table rm_history drop constraint rm_history_pkey`.execute(db);
  await sql`alter table rm_history add constraint rm_history_pkey primary key (position)`.execute(
    db,
  );
  await sql`create index rm_history_port_position on rm_history (port_id, position)`.execute(db);
}
