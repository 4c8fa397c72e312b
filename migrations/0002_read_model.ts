/**
 * The read model's tables (src/projections/ writes them, src/read-model/ reads them). The same
 * migration runs on embedded PGlite and on PostgreSQL. Every row is derived from the log and
 * can be rebuilt from it (Projector.rebuild): nothing here is a source of truth.
 *
 * - `rm_ports`: one row per logical port: model fields, the derived owner, distributed-ness,
 *   and `facts` (the lport machine's port-wide facts, the state needed to keep folding).
 * - `rm_port_views`: one row per (port, chassis) holding a local claim or an ack. Every other
 *   chassis is unbound, or distributed when the port is (a port-level fact, not a row each).
 * - `rm_chassis`: known chassis (distributed ports have a view on every live one).
 * - `rm_history`: one row per event of an lport stream, for audit.
 * - `rm_checkpoints`: per projection, the last log position applied, committed in the same
 *   transaction as the rows.
 *
 * Ids use the "C" collation: cursor pagination compares them with `>`, which must agree with
 * the index order and must not depend on the server's locale.
 */
import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: a migration must not depend on today's table types
type AnyDatabase = Kysely<any>;

const id = sql`text collate "C"`;
/** Rows rewritten by most batches: free space per page lets PostgreSQL update them in place (HOT). */
const UPDATE_HEAVY = sql`with (fillfactor = 80)`;

export async function up(db: AnyDatabase): Promise<void> {
  await db.schema
    .createTable('rm_ports')
    .addColumn('id', id, (col) => col.primaryKey())
    .addColumn('switch_id', id, (col) => col.notNull())
    .addColumn('device_owner', 'text', (col) => col.notNull())
    .addColumn('owner', id)
    .addColumn('requested_chassis', id)
    .addColumn('reasons', 'jsonb', (col) => col.notNull())
    .addColumn('distributed', 'boolean', (col) => col.notNull())
    .addColumn('distributed_since', 'timestamptz')
    .addColumn('deleted', 'boolean', (col) => col.notNull())
    .addColumn('facts', 'jsonb', (col) => col.notNull())
    .addColumn('revision', 'bigint', (col) => col.notNull())
    .addColumn('position', 'bigint', (col) => col.notNull())
    .modifyEnd(UPDATE_HEAVY)
    .execute();
  // Distributed ports are listed on every chassis: a small partial index finds them.
  await db.schema
    .createIndex('rm_ports_distributed')
    .on('rm_ports')
    .column('id')
    .where(sql.ref('distributed'), '=', true)
    .where(sql.ref('deleted'), '=', false)
    .execute();

  await db.schema
    .createTable('rm_port_views')
    .addColumn('port_id', id, (col) => col.notNull())
    .addColumn('chassis', id, (col) => col.notNull())
    .addColumn('locality', 'text', (col) =>
      col.notNull().check(sql`locality in ('local', 'remote')`),
    )
    .addColumn('since', 'timestamptz', (col) => col.notNull())
    .addColumn('remote_ready', 'boolean', (col) => col.notNull())
    .addColumn('owner_acked', id)
    .addPrimaryKeyConstraint('rm_port_views_pkey', ['port_id', 'chassis'])
    .modifyEnd(UPDATE_HEAVY)
    .execute();
  // A chassis' ports by locality, paginated on port id.
  await db.schema
    .createIndex('rm_port_views_chassis_locality')
    .on('rm_port_views')
    .columns(['chassis', 'locality', 'port_id'])
    .execute();

  await db.schema
    .createTable('rm_chassis')
    .addColumn('id', id, (col) => col.primaryKey())
    .addColumn('tunnel_ip', 'text')
    .addColumn('deleted', 'boolean', (col) => col.notNull())
    .addColumn('position', 'bigint', (col) => col.notNull())
    .execute();

  await db.schema
    .createTable('rm_history')
    .addColumn('position', 'bigint', (col) => col.primaryKey())
    .addColumn('port_id', id, (col) => col.notNull())
    .addColumn('revision', 'bigint', (col) => col.notNull())
    .addColumn('event_id', 'uuid', (col) => col.notNull())
    .addColumn('time', 'timestamptz', (col) => col.notNull())
    .addColumn('type', 'text', (col) => col.notNull())
    .addColumn('chassis', id)
    .addColumn('app', 'text', (col) => col.notNull())
    .addColumn('correlation_id', 'text', (col) => col.notNull())
    .addColumn('causation_id', 'text', (col) => col.notNull())
    // Audit payload, stored and returned as is: `json` (validated text) is markedly cheaper to
    // ingest than `jsonb`, and nothing queries inside it.
    .addColumn('data', 'json', (col) => col.notNull())
    .addColumn('refusal', 'text')
    .execute();
  // A port's history in log order, paginated on position.
  await db.schema
    .createIndex('rm_history_port_position')
    .on('rm_history')
    .columns(['port_id', 'position'])
    .execute();

  await db.schema
    .createTable('rm_checkpoints')
    .addColumn('name', 'text', (col) => col.primaryKey())
    .addColumn('position', 'bigint', (col) => col.notNull())
    .execute();
}

export async function down(db: AnyDatabase): Promise<void> {
  for (const table of ['rm_checkpoints', 'rm_history', 'rm_chassis', 'rm_port_views', 'rm_ports']) {
    await db.schema.dropTable(table).execute();
  }
}
