/**
 * The rest of the model, for the lists and `locus show` (GET /v1/subnets, /v1/routers,
 * /v1/floatingips, /v1/segmentations): `rm_topology`, one row per subnet, router, floating IP
 * and trunk segmentation, holding the model's last document as the log carries it (a created or
 * updated event carries the whole document). Deleted ones keep their row, flagged, with the
 * document they had; `document` is null only for one known from its deletion alone.
 *
 * Rows of logs projected before this migration lack these models, so it empties the read model
 * and its checkpoints, as 0003 does: the projector replays the log on its next start.
 */
import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: a migration must not depend on today's table types
type AnyDatabase = Kysely<any>;

const id = sql`text collate "C"`;

export async function up(db: AnyDatabase): Promise<void> {
  await sql`truncate rm_ports, rm_port_views, rm_chassis, rm_switches, rm_switch_chassis, rm_history`.execute(
    db,
  );
  await db.deleteFrom('rm_checkpoints').execute();

  await db.schema
    .createTable('rm_topology')
    .addColumn('kind', 'text', (col) =>
      col.notNull().check(sql`kind in ('subnet', 'router', 'fip', 'segmentation')`),
    )
    .addColumn('id', id, (col) => col.notNull())
    .addColumn('document', 'jsonb')
    .addColumn('deleted', 'boolean', (col) => col.notNull())
    .addColumn('position', 'bigint', (col) => col.notNull())
    .addPrimaryKeyConstraint('rm_topology_pkey', ['kind', 'id'])
    .execute();
}

export async function down(db: AnyDatabase): Promise<void> {
  await db.schema.dropTable('rm_topology').execute();
}
