/**
 * `GET /v1/ports/:id`, the hot query, as one statement compiled once: the port's row, its views
 * and, for a live distributed port, the live chassis, built by the database into one JSON text.
 *
 * Why one field: the drivers decode a result field by field (PGlite copies each field out of
 * its WASM heap, parses it and builds a row object per row), and a port joined with its views
 * is four rows of fifteen fields; one text field plus `JSON.parse` costs a fraction of that,
 * and the live chassis come in the same round trip instead of a second query. The text is
 * fixed, so neither the query builder nor the compiler runs per request, and PostgreSQL prepares
 * it once per connection.
 */
import { CompiledQuery, type Kysely } from 'kysely';
import type { DatabaseHandle, PreparedStatement } from '../db/database.js';
import type { Database } from '../db/schema.js';
import type { DeviceOwner } from '../events/index.js';
import { toIsoString } from '../projections/sql-tables.js';
import type { Locality, PortRecord, PortView } from './queries.js';

// CASE evaluates only the branch it takes, so a bound port never reads rm_chassis. Both
// aggregates order by "C"-collated ids, as the row-per-view query did.
const PORT_SQL = `select json_build_array(
  p.id, p.switch_id, p.device_owner, p.owner, p.requested_chassis, p.distributed,
  p.distributed_since, p.reasons, p.deleted, p.position::text,
  case when p.distributed and not p.deleted
    then (select json_agg(c.id order by c.id) from rm_chassis c where not c.deleted)
    else (select json_agg(json_build_array(
            v.chassis, v.locality, v.since, v.remote_ready, v.owner_acked) order by v.chassis)
          from rm_port_views v where v.port_id = p.id)
  end)::text as port
from rm_ports p where p.id = $1`;

/** A view row as the statement encodes it (timestamps as JSON text, any offset). */
type ViewTuple = [string, 'local' | 'remote', string, boolean, string | null];

/** The statement's one field, decoded. */
type PortTuple = [
  id: string,
  switchId: string,
  deviceOwner: string,
  owner: string | null,
  requestedChassis: string | null,
  distributed: boolean,
  distributedSince: string | null,
  reasons: string[],
  deleted: boolean,
  position: string,
  /** Live chassis ids for a live distributed port, else its view rows; null when none. */
  viewsOrChassis: ViewTuple[] | string[] | null,
];

/** Named, so PostgreSQL parses and plans it once per connection (most of its cost there). */
export const PORT_STATEMENT: PreparedStatement = { name: 'locus_read_port_v1', text: PORT_SQL };

/** Runs a fixed statement: DatabaseHandle.prepared, or kysely where only a Kysely is at hand. */
export type StatementRunner = Pick<DatabaseHandle, 'prepared'>;

export const kyselyStatements = (db: Kysely<Database>): StatementRunner => ({
  prepared: async <R>(statement: PreparedStatement, values: readonly unknown[]) =>
    (await db.executeQuery<R>(CompiledQuery.raw(statement.text, [...values]))).rows,
});

export async function queryPort(
  statements: StatementRunner,
  id: string,
): Promise<PortRecord | undefined> {
  const rows = await statements.prepared<{ port: string }>(PORT_STATEMENT, [id]);
  const text = rows[0]?.port;
  return text === undefined ? undefined : decodePort(JSON.parse(text) as PortTuple);
}

/** The record of a decoded row: the same as the row-per-view query answered. */
export function decodePort(row: PortTuple): PortRecord {
  const [id, switchId, deviceOwner, owner, requestedChassis, distributed] = row;
  const [, , , , , , distributedSince, reasons, deleted, position, viewsOrChassis] = row;
  let views: PortView[];
  if (distributed && !deleted) {
    // Distributed is port-wide: the port has the same view on every live chassis.
    const since = distributedSince === null ? '' : toIsoString(distributedSince);
    views = ((viewsOrChassis ?? []) as string[]).map((chassis) => ({
      chassis,
      locality: 'distributed' as Locality,
      since,
      remoteReady: false,
      ownerAcked: null,
    }));
  } else {
    views = ((viewsOrChassis ?? []) as ViewTuple[]).map(
      ([chassis, locality, since, remoteReady, ownerAcked]) => ({
        chassis,
        locality,
        since: toIsoString(since),
        remoteReady: remoteReady === true,
        ownerAcked,
      }),
    );
  }
  return {
    id,
    switchId,
    deviceOwner: deviceOwner as DeviceOwner,
    owner,
    requestedChassis,
    distributed,
    reasons,
    deleted,
    views,
    position: BigInt(position),
  };
}
