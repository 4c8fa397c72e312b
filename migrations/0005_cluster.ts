/**
 * The cluster's leases (src/cluster): the locus instances sharing one database, with their
 * heartbeats, and one lease per shared job (each of the apps' virtual partitions, the read-model
 * projector). Expiry times are the database's clock (`now()`), never a process's, so the
 * instances' clocks need not agree. A lease row outlives its holders: `epoch` only grows, one
 * step per acquisition (the fencing token).
 */
import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: a migration must not depend on today's table types
type AnyDatabase = Kysely<any>;

export async function up(db: AnyDatabase): Promise<void> {
  await db.schema
    .createTable('cluster_instances')
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('url', 'text')
    // Whether it takes partitions by lease: the assignment counts only those that do.
    .addColumn('decides', 'boolean', (col) => col.notNull().defaultTo(true))
    .addColumn('started_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('heartbeat_at', 'timestamptz', (col) => col.notNull())
    .addColumn('expires_at', 'timestamptz', (col) => col.notNull())
    .execute();

  await db.schema
    .createTable('cluster_leases')
    .addColumn('name', 'text', (col) => col.primaryKey())
    .addColumn('holder', 'text')
    .addColumn('epoch', 'bigint', (col) => col.notNull())
    .addColumn('acquired_at', 'timestamptz')
    .addColumn('expires_at', 'timestamptz', (col) => col.notNull())
    .execute();
}

export async function down(db: AnyDatabase): Promise<void> {
  await db.schema.dropTable('cluster_leases').execute();
  await db.schema.dropTable('cluster_instances').execute();
}
