/**
 * What the read model needs to say which chassis cannot reach a port's owner, and which still
 * owe an ack (GET /v1/ports/:id `unreachable`, `pending`; src/domain/reachability.ts):
 *
 * - `rm_chassis.tunnel_types`, `rm_chassis.bridge_mappings`: the chassis document's fields that
 *   decide reachability;
 * - `rm_switches`: one row per logical switch (network type, segmentation id, physical network),
 *   deleted ones flagged;
 * - `rm_switch_chassis`: per (switch, chassis), how many of the switch's ports are local on the
 *   chassis (its local views): the chassis with a count above zero want the switch's remote
 *   ports (selective topology). Kept by the ports projection from its view changes, in the
 *   batch's transaction; a row may stay at zero.
 *
 * Rows projected before this migration lack these facts, so it empties the read model and its
 * checkpoints: the projector replays the log into it on its next start (as `locus rebuild`
 * would). Nothing here is a source of truth.
 */
import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: a migration must not depend on today's table types
type AnyDatabase = Kysely<any>;

const id = sql`text collate "C"`;

export async function up(db: AnyDatabase): Promise<void> {
  await sql`truncate rm_ports, rm_port_views, rm_chassis, rm_history`.execute(db);
  await db.deleteFrom('rm_checkpoints').execute();

  await db.schema
    .alterTable('rm_chassis')
    .addColumn('tunnel_types', 'jsonb', (col) => col.notNull().defaultTo(sql`'[]'::jsonb`))
    .execute();
  await db.schema
    .alterTable('rm_chassis')
    .addColumn('bridge_mappings', 'jsonb', (col) => col.notNull().defaultTo(sql`'{}'::jsonb`))
    .execute();

  await db.schema
    .createTable('rm_switches')
    .addColumn('id', id, (col) => col.primaryKey())
    // Null only for a switch known from its deletion alone.
    .addColumn('network_type', 'text')
    .addColumn('segmentation_id', 'integer')
    .addColumn('physical_network', 'text')
    .addColumn('deleted', 'boolean', (col) => col.notNull())
    .addColumn('position', 'bigint', (col) => col.notNull())
    .execute();

  await db.schema
    .createTable('rm_switch_chassis')
    .addColumn('switch_id', id, (col) => col.notNull())
    .addColumn('chassis', id, (col) => col.notNull())
    .addColumn('local_ports', 'integer', (col) => col.notNull())
    .addPrimaryKeyConstraint('rm_switch_chassis_pkey', ['switch_id', 'chassis'])
    .execute();
}

export async function down(db: AnyDatabase): Promise<void> {
  await db.schema.dropTable('rm_switch_chassis').execute();
  await db.schema.dropTable('rm_switches').execute();
  await db.schema.alterTable('rm_chassis').dropColumn('bridge_mappings').execute();
  await db.schema.alterTable('rm_chassis').dropColumn('tunnel_types').execute();
}
