/**
 * The projection's SQL side: loads the rows a batch folds onto, writes the batch's changes
 * and moves the checkpoint, all inside the caller's transaction.
 *
 * Bulk writes pass each column as one array parameter expanded server-side by `unnest`
 * (sql-arrays.ts): one statement per table per batch, no parameter-count limit (65 535 binds).
 * Every function takes the tables it works on: the live ones, or a rebuild's fresh copies
 * (shadow-tables.ts).
 */
import { type Kysely, type RawBuilder, type Selectable, sql } from 'kysely';
import type { Ack, PortFacts } from '../../machines/lport.rules.js';
import { type Database, toBigInt } from '../db/schema.js';
import type { DeviceOwner, NetworkType, TunnelType } from '../events/index.js';
import type { BatchChanges, LocalPortsDelta } from './batch.js';
import type { ChassisRow } from './chassis.js';
import { sharedIds } from './intern.js';
import type { PortRow, PortState, ViewLocality, ViewRow } from './ports.js';
import { bigintArray, boolArray, jsonArray, jsonElements, textArray } from './sql-arrays.js';
import type { SwitchRow } from './switches.js';
import {
  type TopologyDocument,
  type TopologyKind,
  type TopologyRow,
  topologyKey,
} from './topology.js';

type Db = Kysely<Database>;

/** Data tables of the read model (rm_checkpoints is shared by projections, cleared per name). */
export const READ_MODEL_TABLES = [
  'rm_ports',
  'rm_port_views',
  'rm_chassis',
  'rm_switches',
  'rm_switch_chassis',
  'rm_history',
  'rm_history_marks',
  'rm_topology',
] as const;

/** The names of one set of read-model data tables. */
export interface ReadModelTables {
  readonly ports: string;
  readonly views: string;
  readonly chassis: string;
  readonly switches: string;
  /** Per (switch, chassis), the switch's ports local on the chassis. */
  readonly switchChassis: string;
  readonly history: string;
  /** What a history served from the log marks (migrations/0006_history_from_log.ts). */
  readonly historyMarks: string;
  /** Subnets, routers, floating IPs, segmentations (./topology.ts). */
  readonly topology: string;
}

/** The tables readers query. */
export const LIVE_TABLES: ReadModelTables = {
  ports: 'rm_ports',
  views: 'rm_port_views',
  chassis: 'rm_chassis',
  switches: 'rm_switches',
  switchChassis: 'rm_switch_chassis',
  history: 'rm_history',
  historyMarks: 'rm_history_marks',
  topology: 'rm_topology',
};

/**
 * Locks the projection's checkpoint row for the rest of the transaction and returns it.
 * Projectors of several processes on one database serialise here: each batch sees the rows
 * and the checkpoint the previous one committed, and skips what it already applied.
 */
export async function lockCheckpoint(db: Db, name: string): Promise<bigint> {
  return (await lockCheckpointRow(db, name)).position;
}

/** lockCheckpoint, with whether the history is served from the log (HistorySource). */
export async function lockCheckpointRow(
  db: Db,
  name: string,
): Promise<{ readonly position: bigint; readonly historyFromLog: boolean }> {
  const row = await db
    .insertInto('rm_checkpoints')
    .values({ name, position: '0' })
    .onConflict((conflict) =>
      // A no-op update, so the row is locked (and returned) whether it was there or not.
      conflict.column('name').doUpdateSet({ position: sql`rm_checkpoints.position` }),
    )
    .returning(['position', 'history_from_log'])
    .executeTakeFirstOrThrow();
  return { position: toBigInt(row.position), historyFromLog: row.history_from_log };
}

/**
 * Commits of this transaction need not wait for the WAL flush. Safe for a projection: the
 * checkpoint is in the same transaction, so a batch lost in a server crash is lost whole and
 * simply re-applied. Visibility to readers is unaffected; only the commit's latency drops.
 */
export async function relaxDurability(db: Db): Promise<void> {
  await sql`set local synchronous_commit = off`.execute(db);
}

/** Channel a projector NOTIFYs (with its name) when it commits a batch. */
export const READ_MODEL_CHANNEL = 'locus_read_model';

/** Moves the checkpoint and tells other processes so at commit (CheckpointFollower). */
export async function saveCheckpoint(db: Db, name: string, position: bigint): Promise<void> {
  await sql`
    with moved as (
      update rm_checkpoints set position = ${position.toString()} where name = ${name}
    )
    select pg_notify(${READ_MODEL_CHANNEL}, ${name})
  `.execute(db);
}

export async function readCheckpoint(db: Db, name: string): Promise<bigint> {
  return (await readCheckpointRow(db, name)).position;
}

/** readCheckpoint, with whether the history is served from the log (none: 0, not). */
export async function readCheckpointRow(
  db: Db,
  name: string,
): Promise<{ readonly position: bigint; readonly historyFromLog: boolean }> {
  const row = await db
    .selectFrom('rm_checkpoints')
    .select(['position', 'history_from_log'])
    .where('name', '=', name)
    .executeTakeFirst();
  return row === undefined
    ? { position: 0n, historyFromLog: false }
    : { position: toBigInt(row.position), historyFromLog: row.history_from_log };
}

/**
 * Says where the projection's history is from now on (in the caller's transaction): the log's
 * events with the marks, or the rows (src/read-model/history-query.ts).
 */
export async function saveHistorySource(db: Db, name: string, fromLog: boolean): Promise<void> {
  await db
    .updateTable('rm_checkpoints')
    .set({ history_from_log: fromLog })
    .where('name', '=', name)
    .execute();
}

/** Empties the live data tables and resets the checkpoint (projectors re-read from 0). */
export async function clearReadModel(db: Db, name: string): Promise<void> {
  await sql`truncate ${sql.join(READ_MODEL_TABLES.map((table) => sql.table(table)))}`.execute(db);
  await deleteCheckpoint(db, name);
}

export async function deleteCheckpoint(db: Db, name: string): Promise<void> {
  await db.deleteFrom('rm_checkpoints').where('name', '=', name).execute();
}

export async function loadPorts(
  db: Db,
  ids: readonly string[],
  tables: ReadModelTables = LIVE_TABLES,
): Promise<Map<string, PortState>> {
  const states = new Map<string, PortState>();
  if (ids.length === 0) return states;
  const list = textArray(ids, (id) => id);
  const [ports, views] = await Promise.all([
    sql<PortSqlRow>`
      select * from ${sql.table(tables.ports)} where id = any(${list}::text[])
    `.execute(db),
    sql<ViewSqlRow>`
      select * from ${sql.table(tables.views)} where port_id = any(${list}::text[])
      order by port_id, chassis
    `.execute(db),
  ]);
  const viewsByPort = new Map<string, ViewRow[]>();
  for (const row of views.rows) {
    let list = viewsByPort.get(row.port_id);
    if (list === undefined) {
      list = [];
      viewsByPort.set(row.port_id, list);
    }
    list.push({
      portId: row.port_id,
      chassis: sharedIds.intern(row.chassis),
      locality: row.locality as ViewLocality,
      since: toIsoString(row.since),
      remoteReady: row.remote_ready,
      ownerAcked: sharedIds.internOrNull(row.owner_acked),
    });
  }
  for (const row of ports.rows) {
    const port: PortRow = {
      id: row.id,
      switchId: sharedIds.intern(row.switch_id),
      deviceOwner: sharedIds.intern(row.device_owner) as DeviceOwner,
      owner: sharedIds.internOrNull(row.owner),
      requestedChassis: sharedIds.internOrNull(row.requested_chassis),
      reasons: row.reasons as string[],
      distributed: row.distributed,
      distributedSince: row.distributed_since === null ? null : toIsoString(row.distributed_since),
      deleted: row.deleted,
      facts: toFacts(row.facts),
      revision: toBigInt(row.revision),
      position: toBigInt(row.position),
    };
    states.set(row.id, { port, views: viewsByPort.get(row.id) ?? [] });
  }
  return states;
}

export async function loadChassis(
  db: Db,
  ids: readonly string[],
  tables: ReadModelTables = LIVE_TABLES,
): Promise<Map<string, ChassisRow>> {
  const rows = new Map<string, ChassisRow>();
  if (ids.length === 0) return rows;
  const found = await sql<ChassisSqlRow>`
    select * from ${sql.table(tables.chassis)} where id = any(${textArray(ids, (id) => id)}::text[])
  `.execute(db);
  for (const row of found.rows) {
    rows.set(row.id, {
      id: row.id,
      tunnelIp: row.tunnel_ip,
      tunnelTypes: (row.tunnel_types ?? []) as TunnelType[],
      bridgeMappings: (row.bridge_mappings ?? {}) as Record<string, string>,
      deleted: row.deleted,
      position: toBigInt(row.position),
    });
  }
  return rows;
}

export async function loadSwitches(
  db: Db,
  ids: readonly string[],
  tables: ReadModelTables = LIVE_TABLES,
): Promise<Map<string, SwitchRow>> {
  const rows = new Map<string, SwitchRow>();
  if (ids.length === 0) return rows;
  const found = await sql<Selectable<Database['rm_switches']>>`
    select * from ${sql.table(tables.switches)} where id = any(${textArray(ids, (id) => id)}::text[])
  `.execute(db);
  for (const row of found.rows) {
    rows.set(row.id, {
      id: row.id,
      networkType: row.network_type as NetworkType | null,
      segmentationId: row.segmentation_id,
      physicalNetwork: row.physical_network,
      deleted: row.deleted,
      position: toBigInt(row.position),
    });
  }
  return rows;
}

/** Topology rows by topologyKey (./topology.ts); no query when none is asked for. */
export async function loadTopology(
  db: Db,
  keys: readonly { readonly kind: TopologyKind; readonly id: string }[],
  tables: ReadModelTables = LIVE_TABLES,
): Promise<Map<string, TopologyRow>> {
  const rows = new Map<string, TopologyRow>();
  if (keys.length === 0) return rows;
  const found = await sql<Selectable<Database['rm_topology']>>`
    select t.* from ${sql.table(tables.topology)} t
    join unnest(${textArray(keys, (k) => k.kind)}::text[], ${textArray(keys, (k) => k.id)}::text[])
      as k(kind, id) on t.kind = k.kind and t.id = k.id
  `.execute(db);
  for (const row of found.rows) {
    rows.set(topologyKey(row.kind, row.id), {
      kind: row.kind,
      id: row.id,
      document: (row.document ?? null) as TopologyDocument | null,
      deleted: row.deleted,
      position: toBigInt(row.position),
    });
  }
  return rows;
}

type PortSqlRow = Selectable<Database['rm_ports']>;
type ViewSqlRow = Selectable<Database['rm_port_views']>;
type ChassisSqlRow = Selectable<Database['rm_chassis']>;

/** Writes a batch's changes into `tables`: one statement per table that has any. */
export async function writeChanges(
  db: Db,
  changes: BatchChanges,
  tables: ReadModelTables = LIVE_TABLES,
): Promise<void> {
  for (const statement of writesOf(changes, tables)) await statement.execute(db);
}

/**
 * A batch in one statement, one round trip (a rebuild's, or a live one whose writer knows
 * where the checkpoint is): every write as a data-modifying CTE
 * (a batch never deletes and upserts the same view row, so they cannot collide), and the
 * checkpoint moved from `from` to `to`, only while its history is where the batch was folded
 * for (`historyFromLog`: a rebuild swapped in meanwhile may have changed it). A checkpoint found
 * elsewhere (another rebuild) fails the statement (CheckpointMovedError), so nothing of it is
 * kept. It commits on its own, without waiting for the WAL flush (see relaxDurability).
 */
export async function writeBatchAtOnce(
  db: Db,
  changes: BatchChanges,
  tables: ReadModelTables,
  checkpoint: {
    readonly name: string;
    readonly from: bigint;
    readonly to: bigint;
    readonly historyFromLog: boolean;
    /** NOTIFY the checkpoint's move at commit, as saveCheckpoint does (the live tables). */
    readonly notify?: boolean;
  },
): Promise<void> {
  const writes = writesOf(changes, tables).map(
    (statement, i) => sql`${sql.raw(`w${i}`)} as (${statement})`,
  );
  try {
    await sql`
    with ${sql.join([
      ...writes,
      sql`moved as (
        update rm_checkpoints set position = ${checkpoint.to.toString()}
        where name = ${checkpoint.name} and position = ${checkpoint.from.toString()}
          and history_from_log = ${checkpoint.historyFromLog}
        returning 1
      )`,
    ])}
    -- No checkpoint moved: a division by zero fails the statement (a constant error in a
    -- CASE branch would be raised when planning, whatever the branch taken).
    select set_config('synchronous_commit', 'off', true),
      1 / (select count(*)::int from moved) as moved${
        checkpoint.notify === true
          ? sql`, pg_notify(${READ_MODEL_CHANNEL}, ${checkpoint.name}) as notified`
          : sql``
      }
  `.execute(db);
  } catch (error) {
    const { code } = error as { code?: unknown };
    if (code === '22012') throw new CheckpointMovedError(checkpoint.name, checkpoint.from);
    throw error;
  }
}

/**
 * Whether this database holds the log itself (the store's `events` table, the default
 * deployment): its event at `position` has the id the store gave. A rebuild then serves the
 * history from the log rather than copying it (src/read-model/history-query.ts).
 */
export async function logInDatabase(
  db: Db,
  event: { readonly position: bigint; readonly id: string },
): Promise<boolean> {
  const { rows } = await sql<{ found: boolean }>`
    select to_regclass('events') is not null as found
  `.execute(db);
  if (rows[0]?.found !== true) return false;
  const same = await sql<{ id: string }>`
    select event_id::text as id from events where position = ${event.position.toString()}::int8
  `.execute(db);
  return same.rows[0]?.id === event.id.toLowerCase();
}

export class CheckpointMovedError extends Error {
  override name = 'CheckpointMovedError';
  constructor(checkpoint: string, expected: bigint) {
    super(`checkpoint ${checkpoint} is not at ${expected} any more: is another rebuild running?`);
  }
}

/** The statements that write `changes` into `tables`, in order. */
function writesOf(changes: BatchChanges, tables: ReadModelTables): RawBuilder<unknown>[] {
  const statements: RawBuilder<unknown>[] = [];
  const history = changes.history;
  if (history.length > 0) {
    // No conflict target: the live table's primary key makes re-delivery a no-op; a rebuild's
    // fresh table has no index yet (built once at the end) and is appended to.
    statements.push(sql`
      insert into ${sql.table(tables.history)} (position, port_id, revision, event_id, time, type,
        chassis, app, correlation_id, causation_id, data, refusal)
      select * from unnest(
        ${bigintArray(history, (r) => r.position)}::bigint[],
        ${textArray(history, (r) => r.portId)}::text[],
        ${bigintArray(history, (r) => r.revision)}::bigint[],
        ${textArray(history, (r) => r.eventId)}::uuid[],
        ${textArray(history, (r) => r.time)}::timestamptz[],
        ${textArray(history, (r) => r.type)}::text[],
        ${textArray(history, (r) => r.chassis)}::text[],
        ${textArray(history, (r) => r.app)}::text[],
        ${textArray(history, (r) => r.correlationId)}::text[],
        ${textArray(history, (r) => r.causationId)}::text[],
        ${jsonElements(
          jsonArray(history, (r) => r.data),
          'json',
        )},
        ${textArray(history, (r) => r.refusal)}::text[])
      on conflict do nothing
    `);
  }
  const marks = changes.historyMarks;
  if (marks.length > 0) {
    // As history: a re-delivered mark is a no-op; a rebuild's fresh table has no index yet.
    statements.push(sql`
      insert into ${sql.table(tables.historyMarks)} (position, refusal)
      select * from unnest(${bigintArray(marks, (m) => m.position)}::bigint[],
        ${textArray(marks, (m) => m.refusal)}::text[])
      on conflict do nothing
    `);
  }
  if (changes.ports.length > 0) statements.push(portsInsert(tables, changes.ports, 'upsert'));
  const deletes = changes.viewDeletes;
  if (deletes.length > 0) {
    statements.push(sql`
      delete from ${sql.table(tables.views)} v
      using unnest(${textArray(deletes, (k) => k.portId)}::text[],
        ${textArray(deletes, (k) => k.chassis)}::text[]) as r(port_id, chassis)
      where v.port_id = r.port_id and v.chassis = r.chassis
    `);
  }
  if (changes.viewUpserts.length > 0) {
    statements.push(viewsInsert(tables, changes.viewUpserts, 'upsert'));
  }
  const chassis = changes.chassis;
  if (chassis.length > 0) {
    statements.push(sql`
      insert into ${sql.table(tables.chassis)} (id, tunnel_ip, tunnel_types, bridge_mappings,
        deleted, position)
      select * from unnest(
        ${textArray(chassis, (r) => r.id)}::text[],
        ${textArray(chassis, (r) => r.tunnelIp)}::text[],
        ${jsonElements(
          jsonArray(chassis, (r) => r.tunnelTypes),
          'jsonb',
        )},
        ${jsonElements(
          jsonArray(chassis, (r) => r.bridgeMappings),
          'jsonb',
        )},
        ${boolArray(chassis, (r) => r.deleted)}::boolean[],
        ${bigintArray(chassis, (r) => r.position)}::bigint[])
      on conflict (id) do update set tunnel_ip = excluded.tunnel_ip,
        tunnel_types = excluded.tunnel_types, bridge_mappings = excluded.bridge_mappings,
        deleted = excluded.deleted, position = excluded.position
    `);
  }
  const switches = changes.switches;
  if (switches.length > 0) {
    // A row folded from a deletion alone (none loaded) keeps the table's document, and a row
    // older than the table's changes nothing.
    statements.push(sql`
      insert into ${sql.table(tables.switches)} as t (id, network_type, segmentation_id,
        physical_network, deleted, position)
      select * from unnest(
        ${textArray(switches, (r) => r.id)}::text[],
        ${textArray(switches, (r) => r.networkType)}::text[],
        ${textArray(switches, (r) => (r.segmentationId === null ? null : String(r.segmentationId)))}::integer[],
        ${textArray(switches, (r) => r.physicalNetwork)}::text[],
        ${boolArray(switches, (r) => r.deleted)}::boolean[],
        ${bigintArray(switches, (r) => r.position)}::bigint[])
      on conflict (id) do update set
        network_type = coalesce(excluded.network_type, t.network_type),
        segmentation_id = case when excluded.network_type is null then t.segmentation_id
          else excluded.segmentation_id end,
        physical_network = case when excluded.network_type is null then t.physical_network
          else excluded.physical_network end,
        deleted = excluded.deleted, position = excluded.position
      where t.position < excluded.position
    `);
  }
  if (changes.localPorts.length > 0) {
    statements.push(localPortsInsert(tables, changes.localPorts, 'upsert'));
  }
  const topology = changes.topology;
  if (topology.length > 0) {
    // As for switches: a row folded from a deletion alone keeps the table's document, and a
    // row older than the table's changes nothing.
    statements.push(sql`
      insert into ${sql.table(tables.topology)} as t (kind, id, document, deleted, position)
      -- A JSON null (no document) is stored as SQL null, which coalesce below passes over.
      select kind, id, nullif(document, 'null'::jsonb), deleted, position from unnest(
        ${textArray(topology, (r) => r.kind)}::text[],
        ${textArray(topology, (r) => r.id)}::text[],
        ${jsonElements(
          jsonArray(topology, (r) => r.document),
          'jsonb',
        )},
        ${boolArray(topology, (r) => r.deleted)}::boolean[],
        ${bigintArray(topology, (r) => r.position)}::bigint[])
        as u(kind, id, document, deleted, position)
      on conflict (kind, id) do update set
        document = coalesce(excluded.document, t.document),
        deleted = excluded.deleted, position = excluded.position
      where t.position < excluded.position
    `);
  }
  return statements;
}

/**
 * `upsert`: onto the rows the table has (its unique index). `insert`: rows the table does not
 * have yet, into a copy with no index (a rebuild's single write of each port, `writePortStates`).
 */
type WriteMode = 'upsert' | 'insert';

function portsInsert(
  tables: ReadModelTables,
  ports: readonly PortRow[],
  mode: WriteMode,
): RawBuilder<unknown> {
  // The JSON columns by distinct document: ports in the same situation (claimed on one
  // chassis, acked by the same others) have the same facts, and parsing them into jsonb was
  // most of the statement's cost.
  const reasons = distinctJson(ports, (r) => r.reasons);
  const facts = distinctJson(ports, (r) => r.facts);
  return sql`
      insert into ${sql.table(tables.ports)} (id, switch_id, device_owner, owner,
        requested_chassis, reasons, distributed, distributed_since, deleted, facts, revision,
        position)
      select u.id, u.switch_id, u.device_owner, u.owner, u.requested_chassis, r.document,
        u.distributed, u.distributed_since, u.deleted, f.document, u.revision, u.position
      from unnest(
        ${textArray(ports, (r) => r.id)}::text[],
        ${textArray(ports, (r) => r.switchId)}::text[],
        ${textArray(ports, (r) => r.deviceOwner)}::text[],
        ${textArray(ports, (r) => r.owner)}::text[],
        ${textArray(ports, (r) => r.requestedChassis)}::text[],
        ${reasons.indexes}::integer[],
        ${boolArray(ports, (r) => r.distributed)}::boolean[],
        ${textArray(ports, (r) => r.distributedSince)}::timestamptz[],
        ${boolArray(ports, (r) => r.deleted)}::boolean[],
        ${facts.indexes}::integer[],
        ${bigintArray(ports, (r) => r.revision)}::bigint[],
        ${bigintArray(ports, (r) => r.position)}::bigint[])
        as u(id, switch_id, device_owner, owner, requested_chassis, reasons, distributed,
          distributed_since, deleted, facts, revision, position)
      join jsonb_array_elements(${reasons.documents}::jsonb) with ordinality as r(document, i)
        on r.i = u.reasons
      join jsonb_array_elements(${facts.documents}::jsonb) with ordinality as f(document, i)
        on f.i = u.facts
      ${
        mode === 'insert'
          ? sql``
          : sql`on conflict (id) do update set switch_id = excluded.switch_id,
        device_owner = excluded.device_owner, owner = excluded.owner,
        requested_chassis = excluded.requested_chassis, reasons = excluded.reasons,
        distributed = excluded.distributed, distributed_since = excluded.distributed_since,
        deleted = excluded.deleted, facts = excluded.facts, revision = excluded.revision,
        position = excluded.position`
      }
    `;
}

/**
 * A JSON column whose documents repeat, for a join on `jsonb_array_elements(documents) with
 * ordinality`: each distinct document once (a JSON array), and per row the 1-based index of
 * its document (an int[] literal).
 */
export function distinctJson<T>(
  rows: readonly T[],
  value: (row: T) => unknown,
): { readonly documents: string; readonly indexes: string } {
  const known = new Map<string, number>();
  const documents: string[] = [];
  const indexes: number[] = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const text = JSON.stringify(value(rows[i] as T) ?? null);
    let index = known.get(text);
    if (index === undefined) {
      documents.push(text);
      index = documents.length;
      known.set(text, index);
    }
    indexes[i] = index;
  }
  return { documents: `[${documents.join(',')}]`, indexes: `{${indexes.join(',')}}` };
}

function viewsInsert(
  tables: ReadModelTables,
  views: readonly ViewRow[],
  mode: WriteMode,
): RawBuilder<unknown> {
  return sql`
      insert into ${sql.table(tables.views)} (port_id, chassis, locality, since, remote_ready,
        owner_acked)
      select * from unnest(
        ${textArray(views, (r) => r.portId)}::text[],
        ${textArray(views, (r) => r.chassis)}::text[],
        ${textArray(views, (r) => r.locality)}::text[],
        ${textArray(views, (r) => r.since)}::timestamptz[],
        ${boolArray(views, (r) => r.remoteReady)}::boolean[],
        ${textArray(views, (r) => r.ownerAcked)}::text[])
      ${
        mode === 'insert'
          ? sql``
          : sql`on conflict (port_id, chassis) do update set locality = excluded.locality,
        since = excluded.since, remote_ready = excluded.remote_ready,
        owner_acked = excluded.owner_acked`
      }
    `;
}

function localPortsInsert(
  tables: ReadModelTables,
  localPorts: readonly LocalPortsDelta[],
  mode: WriteMode,
): RawBuilder<unknown> {
  return sql`
      insert into ${sql.table(tables.switchChassis)} as t (switch_id, chassis, local_ports)
      select * from unnest(
        ${textArray(localPorts, (r) => r.switchId)}::text[],
        ${textArray(localPorts, (r) => r.chassis)}::text[],
        ${textArray(localPorts, (r) => String(r.delta))}::integer[])
      ${
        mode === 'insert'
          ? sql``
          : sql`on conflict (switch_id, chassis) do update set local_ports = t.local_ports + excluded.local_ports`
      }
    `;
}

/** Ports per rebuild statement: a few MB of parameters, whatever the number of ports. */
const PORTS_PER_STATEMENT = 10_000;

/**
 * A rebuild's ports as it folded them, each written once into copies that hold none of them
 * yet and have no index (shadow-tables.ts `DEFERRED`): the rows, their views and the
 * per-(switch, chassis) counts of local ports, by plain inserts of a few thousand ports per
 * statement, two in flight (the next one's parameters are built while one runs).
 */
export async function writePortStates(
  db: Db,
  states: Iterable<PortState>,
  tables: ReadModelTables,
): Promise<void> {
  const counts = new Map<string, { switchId: string; chassis: string; delta: number }>();
  let ports: PortRow[] = [];
  let views: ViewRow[] = [];
  let running: Promise<unknown> = Promise.resolve();
  const flush = async () => {
    const statements: RawBuilder<unknown>[] = [];
    if (ports.length > 0) statements.push(portsInsert(tables, ports, 'insert'));
    if (views.length > 0) statements.push(viewsInsert(tables, views, 'insert'));
    ports = [];
    views = [];
    if (statements.length === 0) return;
    const writes = statements.map((statement, i) => sql`${sql.raw(`w${i}`)} as (${statement})`);
    const statement = sql`with ${sql.join(writes)}
      select set_config('synchronous_commit', 'off', true)`.execute(db);
    statement.catch(() => undefined);
    await running;
    running = statement;
  };
  for (const state of states) {
    const port = state.port;
    if (port !== undefined) ports.push(port);
    for (const view of state.views) {
      views.push(view);
      if (port === undefined || view.locality !== 'local') continue;
      const key = `${port.switchId}\u0000${view.chassis}`;
      const count = counts.get(key);
      if (count === undefined)
        counts.set(key, { switchId: port.switchId, chassis: view.chassis, delta: 1 });
      else count.delta++;
    }
    if (ports.length >= PORTS_PER_STATEMENT) await flush();
  }
  await flush();
  await running;
  const localPorts = [...counts.values()];
  if (localPorts.length > 0) await localPortsInsert(tables, localPorts, 'insert').execute(db);
}

/** Reads the facts column back; a malformed value folds as "no facts" rather than crashing. */
function toFacts(value: unknown): PortFacts {
  const facts = (value ?? {}) as Partial<Record<keyof PortFacts, unknown>>;
  const strings = (list: unknown): string[] =>
    Array.isArray(list)
      ? list
          .filter((item): item is string => typeof item === 'string')
          .map((id) => sharedIds.intern(id))
      : [];
  const acks = Array.isArray(facts.acks)
    ? facts.acks
        .filter(
          (ack): ack is Ack =>
            typeof ack === 'object' &&
            ack !== null &&
            typeof (ack as Ack).chassis === 'string' &&
            typeof (ack as Ack).owner === 'string',
        )
        .map((ack) => ({
          chassis: sharedIds.intern(ack.chassis),
          owner: sharedIds.intern(ack.owner),
        }))
    : [];
  return {
    exists: facts.exists === true,
    deleted: facts.deleted === true,
    requestedChassis:
      typeof facts.requestedChassis === 'string' ? sharedIds.intern(facts.requestedChassis) : null,
    claims: strings(facts.claims),
    acks,
    reasons: strings(facts.reasons),
  };
}

export function toIsoString(value: Date | string): string {
  return (value instanceof Date ? value : new Date(value)).toISOString();
}
