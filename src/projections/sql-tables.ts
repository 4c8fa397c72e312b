/**
 * The projection's SQL side: loads the rows a batch folds onto, writes the batch's changes
 * and moves the checkpoint, all inside the caller's transaction.
 *
 * Bulk writes pass the whole row set as one JSON parameter expanded server-side by
 * `json_to_recordset`: one statement per table per batch, no parameter-count limit (65 535
 * binds), and far less query-building work than thousands of bound values. Bigints travel as
 * decimal strings, times as ISO-8601 strings.
 */
import { type Kysely, sql } from 'kysely';
import type { Ack, PortFacts } from '../../machines/lport.rules.js';
import { type Database, toBigInt } from '../db/schema.js';
import type { DeviceOwner } from '../events/index.js';
import type { BatchChanges } from './batch.js';
import type { ChassisRow } from './chassis.js';
import type { PortRow, PortState, ViewLocality, ViewRow } from './ports.js';

type Db = Kysely<Database>;

/** Data tables of the read model (rm_checkpoints is shared by projections, cleared per name). */
export const READ_MODEL_TABLES = ['rm_ports', 'rm_port_views', 'rm_chassis', 'rm_history'] as const;

/** `id in (…)` over a JSON array parameter: one bind whatever the list's length. */
const inJsonList = (column: string, values: readonly string[]) =>
  sql<boolean>`${sql.ref(column)} in (select jsonb_array_elements_text(${JSON.stringify(values)}::jsonb))`;

/**
 * Locks the projection's checkpoint row for the rest of the transaction and returns it.
 * Projectors of several processes on one database serialise here: each batch sees the rows
 * and the checkpoint the previous one committed, and skips what it already applied.
 */
export async function lockCheckpoint(db: Db, name: string): Promise<bigint> {
  const row = await db
    .insertInto('rm_checkpoints')
    .values({ name, position: '0' })
    .onConflict((conflict) =>
      // A no-op update, so the row is locked (and returned) whether it was there or not.
      conflict.column('name').doUpdateSet({ position: sql`rm_checkpoints.position` }),
    )
    .returning('position')
    .executeTakeFirstOrThrow();
  return toBigInt(row.position);
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
  const row = await db
    .selectFrom('rm_checkpoints')
    .select('position')
    .where('name', '=', name)
    .executeTakeFirst();
  return row === undefined ? 0n : toBigInt(row.position);
}

/** Empties the data tables and resets the checkpoint: the start of a rebuild. */
export async function clearReadModel(db: Db, name: string): Promise<void> {
  await sql`truncate ${sql.join(READ_MODEL_TABLES.map((table) => sql.table(table)))}`.execute(db);
  await db.deleteFrom('rm_checkpoints').where('name', '=', name).execute();
}

export async function loadPorts(db: Db, ids: readonly string[]): Promise<Map<string, PortState>> {
  const states = new Map<string, PortState>();
  if (ids.length === 0) return states;
  const [ports, views] = await Promise.all([
    db.selectFrom('rm_ports').selectAll().where(inJsonList('id', ids)).execute(),
    db
      .selectFrom('rm_port_views')
      .selectAll()
      .where(inJsonList('port_id', ids))
      .orderBy('port_id')
      .orderBy('chassis')
      .execute(),
  ]);
  const viewsByPort = new Map<string, ViewRow[]>();
  for (const row of views) {
    let list = viewsByPort.get(row.port_id);
    if (list === undefined) {
      list = [];
      viewsByPort.set(row.port_id, list);
    }
    list.push({
      portId: row.port_id,
      chassis: row.chassis,
      locality: row.locality as ViewLocality,
      since: toIsoString(row.since),
      remoteReady: row.remote_ready,
      ownerAcked: row.owner_acked,
    });
  }
  for (const row of ports) {
    const port: PortRow = {
      id: row.id,
      switchId: row.switch_id,
      deviceOwner: row.device_owner as DeviceOwner,
      owner: row.owner,
      requestedChassis: row.requested_chassis,
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
): Promise<Map<string, ChassisRow>> {
  const rows = new Map<string, ChassisRow>();
  if (ids.length === 0) return rows;
  const found = await db
    .selectFrom('rm_chassis')
    .selectAll()
    .where(inJsonList('id', ids))
    .execute();
  for (const row of found) {
    rows.set(row.id, {
      id: row.id,
      tunnelIp: row.tunnel_ip,
      deleted: row.deleted,
      position: toBigInt(row.position),
    });
  }
  return rows;
}

/** Writes a batch's changes: one statement per table that has any. */
export async function writeChanges(db: Db, changes: BatchChanges): Promise<void> {
  if (changes.history.length > 0) {
    await sql`
      insert into rm_history (position, port_id, revision, event_id, time, type, chassis, app,
        correlation_id, causation_id, data, refusal)
      select * from json_to_recordset(${historyJson(changes)}::json) as r(position bigint,
        port_id text, revision bigint, event_id uuid, time timestamptz, type text, chassis text,
        app text, correlation_id text, causation_id text, data json, refusal text)
      on conflict (position) do nothing
    `.execute(db);
  }
  if (changes.ports.length > 0) {
    await sql`
      insert into rm_ports (id, switch_id, device_owner, owner, requested_chassis, reasons,
        distributed, distributed_since, deleted, facts, revision, position)
      select * from json_to_recordset(${portsJson(changes)}::json) as r(id text,
        switch_id text, device_owner text, owner text, requested_chassis text, reasons jsonb,
        distributed boolean, distributed_since timestamptz, deleted boolean, facts jsonb,
        revision bigint, position bigint)
      on conflict (id) do update set switch_id = excluded.switch_id,
        device_owner = excluded.device_owner, owner = excluded.owner,
        requested_chassis = excluded.requested_chassis, reasons = excluded.reasons,
        distributed = excluded.distributed, distributed_since = excluded.distributed_since,
        deleted = excluded.deleted, facts = excluded.facts, revision = excluded.revision,
        position = excluded.position
    `.execute(db);
  }
  if (changes.viewDeletes.length > 0) {
    const keys = changes.viewDeletes.map((key) => ({ port_id: key.portId, chassis: key.chassis }));
    await sql`
      delete from rm_port_views v
      using json_to_recordset(${JSON.stringify(keys)}::json) as r(port_id text, chassis text)
      where v.port_id = r.port_id and v.chassis = r.chassis
    `.execute(db);
  }
  if (changes.viewUpserts.length > 0) {
    await sql`
      insert into rm_port_views (port_id, chassis, locality, since, remote_ready, owner_acked)
      select * from json_to_recordset(${viewsJson(changes)}::json) as r(port_id text,
        chassis text, locality text, since timestamptz, remote_ready boolean, owner_acked text)
      on conflict (port_id, chassis) do update set locality = excluded.locality,
        since = excluded.since, remote_ready = excluded.remote_ready,
        owner_acked = excluded.owner_acked
    `.execute(db);
  }
  if (changes.chassis.length > 0) {
    const rows = changes.chassis.map((row) => ({
      id: row.id,
      tunnel_ip: row.tunnelIp,
      deleted: row.deleted,
      position: row.position.toString(),
    }));
    await sql`
      insert into rm_chassis (id, tunnel_ip, deleted, position)
      select * from json_to_recordset(${JSON.stringify(rows)}::json) as r(id text,
        tunnel_ip text, deleted boolean, position bigint)
      on conflict (id) do update set tunnel_ip = excluded.tunnel_ip, deleted = excluded.deleted,
        position = excluded.position
    `.execute(db);
  }
}

// The JSON encoders map rows to plain objects keyed by column (bigints as decimal strings) and
// stringify the whole batch in one native call: three times faster than one call per field,
// and this is the hot path of a rebuild.

function historyJson(changes: BatchChanges): string {
  const rows = changes.history;
  const out: object[] = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as BatchChanges['history'][number];
    out[i] = {
      position: String(row.position),
      port_id: row.portId,
      revision: String(row.revision),
      event_id: row.eventId,
      time: row.time,
      type: row.type,
      chassis: row.chassis,
      app: row.app,
      correlation_id: row.correlationId,
      causation_id: row.causationId,
      data: row.data ?? null,
      refusal: row.refusal,
    };
  }
  return JSON.stringify(out);
}

function portsJson(changes: BatchChanges): string {
  const rows = changes.ports;
  const out: object[] = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as PortRow;
    out[i] = {
      id: row.id,
      switch_id: row.switchId,
      device_owner: row.deviceOwner,
      owner: row.owner,
      requested_chassis: row.requestedChassis,
      reasons: row.reasons,
      distributed: row.distributed,
      distributed_since: row.distributedSince,
      deleted: row.deleted,
      facts: row.facts,
      revision: String(row.revision),
      position: String(row.position),
    };
  }
  return JSON.stringify(out);
}

function viewsJson(changes: BatchChanges): string {
  const rows = changes.viewUpserts;
  const out: object[] = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as ViewRow;
    out[i] = {
      port_id: row.portId,
      chassis: row.chassis,
      locality: row.locality,
      since: row.since,
      remote_ready: row.remoteReady,
      owner_acked: row.ownerAcked,
    };
  }
  return JSON.stringify(out);
}

/** Reads the facts column back; a malformed value folds as "no facts" rather than crashing. */
function toFacts(value: unknown): PortFacts {
  const facts = (value ?? {}) as Partial<Record<keyof PortFacts, unknown>>;
  const strings = (list: unknown): string[] =>
    Array.isArray(list) ? list.filter((item): item is string => typeof item === 'string') : [];
  const acks = Array.isArray(facts.acks)
    ? facts.acks.filter(
        (ack): ack is Ack =>
          typeof ack === 'object' &&
          ack !== null &&
          typeof (ack as Ack).chassis === 'string' &&
          typeof (ack as Ack).owner === 'string',
      )
    : [];
  return {
    exists: facts.exists === true,
    deleted: facts.deleted === true,
    requestedChassis: typeof facts.requestedChassis === 'string' ? facts.requestedChassis : null,
    claims: strings(facts.claims),
    acks,
    reasons: strings(facts.reasons),
  };
}

export function toIsoString(value: Date | string): string {
  return (value instanceof Date ? value : new Date(value)).toISOString();
}
