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
import type { UnreachableView } from '../api/responses.js';
import type { DatabaseHandle, PreparedStatement } from '../db/database.js';
import type { Database } from '../db/schema.js';
import { type ChassisFacts, reachability } from '../domain/reachability.js';
import type { DeviceOwner, NetworkType, TunnelType } from '../events/index.js';
import { toIsoString } from '../projections/sql-tables.js';
import type { Locality, PortRecord, PortView } from './queries.js';

// CASE evaluates only the branch it takes, so a bound port never reads rm_chassis for the
// distributed list, and an unbound or distributed one never reads the reachability facts. The
// aggregates order by "C"-collated ids, as the row-per-view query did. Reachability reads the
// port's switch, its owner and the chassis with a local port on the switch (rm_switch_chassis:
// a few rows by primary key, not the switch's ports).
const PORT_SQL = `select json_build_array(
  p.id, p.switch_id, p.device_owner, p.owner, p.requested_chassis, p.distributed,
  p.distributed_since, p.reasons, p.deleted, p.position::text,
  case when p.distributed and not p.deleted
    then (select json_agg(c.id order by c.id) from rm_chassis c where not c.deleted)
    else (select json_agg(json_build_array(
            v.chassis, v.locality, v.since, v.remote_ready, v.owner_acked) order by v.chassis)
          from rm_port_views v where v.port_id = p.id)
  end,
  case when p.owner is not null and not p.distributed and not p.deleted
    then (select json_build_array(
            json_build_array(s.id, s.network_type, s.segmentation_id, s.physical_network),
            json_build_array(o.id, o.tunnel_types, o.bridge_mappings),
            (select json_agg(json_build_array(c.id, c.tunnel_types, c.bridge_mappings)
                order by c.id)
              from rm_switch_chassis sc join rm_chassis c on c.id = sc.chassis
              where sc.switch_id = p.switch_id and sc.local_ports > 0
                and sc.chassis <> p.owner and not c.deleted))
          from rm_switches s, rm_chassis o
          where s.id = p.switch_id and not s.deleted and s.network_type is not null
            and o.id = p.owner and not o.deleted)
  end)::text as port
from rm_ports p where p.id = $1`;

/** A view row as the statement encodes it (timestamps as JSON text, any offset). */
type ViewTuple = [string, 'local' | 'remote', string, boolean, string | null];

/** A chassis' reachability facts as the statement encodes them. */
type ChassisTuple = [id: string, tunnelTypes: TunnelType[], bridgeMappings: Record<string, string>];

/** What decides which chassis reach a bound port's owner: its switch, owner, interested chassis. */
type ReachTuple = [
  ls: [id: string, networkType: NetworkType, segmentationId: number | null, physnet: string | null],
  owner: ChassisTuple,
  /** Live chassis other than the owner with a local port on the switch; null when none. */
  interested: ChassisTuple[] | null,
];

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
  /** For a live bound port whose switch and owner are known and live; else null. */
  reach: ReachTuple | null,
];

const PORT_WHERE = 'from rm_ports p where p.id = $1';
if (!PORT_SQL.endsWith(PORT_WHERE)) throw new Error('PORT_SQL no longer ends with its where');

/** The same records for a page of ports in id order (warming the port-record cache). */
const PORT_PAGE_SQL = `${PORT_SQL.slice(0, -PORT_WHERE.length)}, p.id as id
from rm_ports p where p.id > $1 order by p.id limit $2`;

export const PORT_PAGE_STATEMENT: PreparedStatement = {
  name: 'locus_read_port_page_v1',
  text: PORT_PAGE_SQL,
};

/** Up to `limit` ports' record texts after `after`, in id order. */
export async function queryPortTextPage(
  statements: StatementRunner,
  after: string,
  limit: number,
): Promise<[string, string][]> {
  const rows = await statements.prepared<{ id: string; port: string }>(PORT_PAGE_STATEMENT, [
    after,
    limit,
  ]);
  return rows.map((row) => [row.id, row.port]);
}

/** Named, so PostgreSQL parses and plans it once per connection (most of its cost there). */
export const PORT_STATEMENT: PreparedStatement = { name: 'locus_read_port_v2', text: PORT_SQL };

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
  const text = await queryPortText(statements, id);
  return text === undefined ? undefined : decodePortText(text);
}

/** The statement's one field for the port, undecoded (what the port-record cache keeps). */
export async function queryPortText(
  statements: StatementRunner,
  id: string,
): Promise<string | undefined> {
  const rows = await statements.prepared<{ port: string }>(PORT_STATEMENT, [id]);
  return rows[0]?.port;
}

export const decodePortText = (text: string): PortRecord =>
  decodePort(JSON.parse(text) as PortTuple);

/** The switch of a port's text (its second field), for the cache's switch invalidation. */
export const switchOfPortText = (text: string): string => (JSON.parse(text) as PortTuple)[1];

/** The record of a decoded row: the same as the row-per-view query answered. */
export function decodePort(row: PortTuple): PortRecord {
  const [id, switchId, deviceOwner, owner, requestedChassis, distributed] = row;
  const [, , , , , , distributedSince, reasons, deleted, position, viewsOrChassis, reach] = row;
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
    ...remoteViewsOf(reach, views),
    position: BigInt(position),
  };
}

const noRemoteViews = Object.freeze({ pending: [], unreachable: [] });

/**
 * The chassis that want the port remotely (selective topology: a local port on its switch)
 * without an ack toward its owner: those that reach the owner are pending, the others
 * unreachable, with the domain's reason (the rule the tunnel/provider apps ack by).
 */
export function remoteViewsOf(
  reach: ReachTuple | null,
  views: readonly PortView[],
): Pick<PortRecord, 'pending' | 'unreachable'> {
  if (reach === null || reach[2] === null) return noRemoteViews;
  const [[id, networkType, segmentationId, physicalNetwork], ownerTuple, interested] = reach;
  const ls = { id, networkType, segmentationId, physicalNetwork };
  const owner = chassisFacts(ownerTuple);
  const pending: string[] = [];
  const unreachable: UnreachableView[] = [];
  for (const tuple of interested) {
    const chassis = chassisFacts(tuple);
    const reached = reachability(ls, chassis, owner);
    if (!reached.ok) unreachable.push({ chassis: chassis.id, reason: reached.reason });
    else if (!views.some((view) => view.chassis === chassis.id && view.ownerAcked === owner.id))
      pending.push(chassis.id);
  }
  return { pending, unreachable };
}

const chassisFacts = ([id, tunnelTypes, bridgeMappings]: ChassisTuple): ChassisFacts => ({
  id,
  tunnelTypes,
  bridgeMappings,
});
