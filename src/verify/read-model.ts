/**
 * Compares the SQL read model with a replay of the log, row for row: every port, view, chassis
 * and history row the projection would write from the log must be in the tables with the same
 * values, and nothing else may be. History is compared page by page while the log is replayed
 * (constant memory); ports, views and chassis once the replay is done.
 *
 * The comparison is made at the read model's checkpoint: the log is replayed up to it. A read
 * model behind the log (or ahead of it: a log restored from an older backup) is itself reported
 * as a difference, unless lag is allowed (a live locus on PostgreSQL is always a little behind).
 *
 * With `snapshot`, the read model is read in one REPEATABLE READ transaction, so a projector
 * writing meanwhile (PostgreSQL) cannot make the rows disagree with the checkpoint read.
 * Embedded PGlite is one connection and exclusive to the caller: no snapshot needed (and a
 * transaction there would block the event store's reads).
 */
import type { Kysely } from 'kysely';
import { type Database, toBigInt } from '../db/schema.js';
import type { Topology } from '../domain/topology.js';
import type { ChassisRow } from '../projections/chassis.js';
import type { HistoryRow } from '../projections/history.js';
import type { PortRow, PortState, ViewRow } from '../projections/ports.js';
import { DEFAULT_PROJECTION_NAME } from '../projections/projector.js';
import { readCheckpoint, toIsoString } from '../projections/sql-tables.js';
import { type TopologyRow, topologyKey } from '../projections/topology.js';
import { readHistory } from '../read-model/history-query.js';
import type { EventStore } from '../store/event-store.js';
import { replayLog } from './replay.js';

export type Table =
  | 'rm_ports'
  | 'rm_port_views'
  | 'rm_chassis'
  | 'rm_history'
  | 'rm_topology'
  | 'rm_checkpoints';

export interface FieldDifference {
  readonly field: string;
  /** From the replay of the log. */
  readonly expected: string;
  /** In the read model. */
  readonly actual: string;
}

export interface Difference {
  readonly table: Table;
  /** The row's key, e.g. `p1` or `p1 @ A` or `position 42`. */
  readonly key: string;
  /** missing: the log implies the row, the table lacks it; unexpected: the reverse. */
  readonly problem: 'missing' | 'unexpected' | 'different';
  readonly fields?: readonly FieldDifference[];
}

export interface ReadModelReport {
  readonly head: bigint;
  readonly checkpoint: bigint;
  /** The position the comparison was made at. */
  readonly comparedAt: bigint;
  readonly events: number;
  readonly rows: {
    ports: number;
    views: number;
    chassis: number;
    history: number;
    topology: number;
  };
  /** The first `maxDifferences` differences. */
  readonly differences: readonly Difference[];
  /** All of them. */
  readonly differenceCount: number;
  /** The replayed topology (when asked for), for the flow comparison. */
  readonly topology: Topology | undefined;
}

export interface VerifyReadModelOptions {
  /** The log. */
  readonly store: EventStore;
  /** The read model's database. */
  readonly db: Kysely<Database>;
  readonly projection?: string;
  /** A read model behind the log is not a difference (compare at its checkpoint). */
  readonly allowLag?: boolean;
  readonly snapshot?: boolean;
  readonly withTopology?: boolean;
  /** Differences listed in full (default 50; all are counted). */
  readonly maxDifferences?: number;
  readonly pageSize?: number;
  readonly progress?: (events: number, total: number) => void;
}

export async function verifyReadModel(options: VerifyReadModelOptions): Promise<ReadModelReport> {
  if (!options.snapshot) return compare(options, options.db);
  return options.db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute((trx) => compare(options, trx));
}

class Differences {
  readonly list: Difference[] = [];
  count = 0;
  constructor(private readonly max: number) {}
  add(difference: Difference): void {
    this.count++;
    if (this.list.length < this.max) this.list.push(difference);
  }
}

async function compare(
  options: VerifyReadModelOptions,
  db: Kysely<Database>,
): Promise<ReadModelReport> {
  const name = options.projection ?? DEFAULT_PROJECTION_NAME;
  const pageSize = options.pageSize ?? 2_000;
  const differences = new Differences(options.maxDifferences ?? 50);
  const checkpoint = await readCheckpoint(db, name);
  const head = await options.store.headPosition();
  const lagging = checkpoint < head && options.allowLag;
  if (checkpoint !== head && !lagging) {
    differences.add({
      table: 'rm_checkpoints',
      key: name,
      problem: 'different',
      fields: [{ field: 'position', expected: String(head), actual: String(checkpoint) }],
    });
  }
  // biome-ignore lint/complexity/useMathMinMax: bigints (Math.min takes numbers)
  const comparedAt = checkpoint < head ? checkpoint : head;
  const rows = { ports: 0, views: 0, chassis: 0, history: 0, topology: 0 };

  const replay = await replayLog(options.store, {
    until: comparedAt,
    withTopology: options.withTopology ?? false,
    pageSize,
    ...(options.progress ? { progress: options.progress } : {}),
    onHistory: async (expected, after, last) => {
      // The history as served: rm_history's rows, or the log's events with their marks.
      const actual = await readHistory(db, name, { after, until: last });
      rows.history += actual.length;
      const byPosition = new Map(actual.map((row) => [toBigInt(row.position), row]));
      for (const row of expected) {
        const stored = byPosition.get(row.position);
        byPosition.delete(row.position);
        const key = `position ${row.position}`;
        if (stored === undefined) differences.add({ table: 'rm_history', key, problem: 'missing' });
        else diffFields(differences, 'rm_history', key, historyFields(row), storedHistory(stored));
      }
      for (const position of byPosition.keys()) {
        differences.add({
          table: 'rm_history',
          key: `position ${position}`,
          problem: 'unexpected',
        });
      }
    },
  });
  // History rows beyond the compared position (a read model ahead of the log).
  const beyond = await readHistory(db, name, {
    after: comparedAt,
    limit: options.maxDifferences ?? 50,
  });
  for (const row of beyond) {
    differences.add({
      table: 'rm_history',
      key: `position ${row.position}`,
      problem: 'unexpected',
    });
  }

  rows.ports = await comparePorts(db, replay.ports, differences, pageSize);
  rows.views = await compareViews(db, replay.ports, differences, pageSize);
  rows.chassis = await compareChassis(db, replay.chassis, differences);
  rows.topology = await compareTopology(db, replay.documents, differences);

  return {
    head,
    checkpoint,
    comparedAt,
    events: replay.events,
    rows,
    differences: differences.list,
    differenceCount: differences.count,
    topology: replay.topology,
  };
}

// ---- rows as comparable field maps -------------------------------------------------------

type Fields = Record<string, string>;

/** JSON with object keys sorted: jsonb does not keep key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.keys(value)
      .sort()
      .map(
        (key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`,
      );
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

const text = (value: string | null | undefined): string => (value == null ? 'null' : value);
const time = (value: Date | string | null): string =>
  value === null ? 'null' : toIsoString(value);
const int = (value: string | number | bigint): string => toBigInt(value).toString();

function portFields(row: PortRow): Fields {
  return {
    switch_id: row.switchId,
    device_owner: row.deviceOwner,
    owner: text(row.owner),
    requested_chassis: text(row.requestedChassis),
    reasons: canonicalJson(row.reasons),
    distributed: String(row.distributed),
    distributed_since: text(row.distributedSince),
    deleted: String(row.deleted),
    facts: canonicalJson(row.facts),
    revision: row.revision.toString(),
    position: row.position.toString(),
  };
}

function viewFields(row: ViewRow): Fields {
  return {
    locality: row.locality,
    since: row.since,
    remote_ready: String(row.remoteReady),
    owner_acked: text(row.ownerAcked),
  };
}

function chassisFields(row: ChassisRow): Fields {
  return {
    tunnel_ip: text(row.tunnelIp),
    deleted: String(row.deleted),
    position: row.position.toString(),
  };
}

function historyFields(row: HistoryRow): Fields {
  return {
    port_id: row.portId,
    revision: row.revision.toString(),
    event_id: row.eventId,
    time: row.time,
    type: row.type,
    chassis: text(row.chassis),
    app: row.app,
    correlation_id: row.correlationId,
    causation_id: row.causationId,
    data: canonicalJson(row.data ?? null),
    refusal: text(row.refusal),
  };
}

interface StoredHistory {
  port_id: string;
  revision: string | number | bigint;
  event_id: string;
  time: Date | string;
  type: string;
  chassis: string | null;
  app: string;
  correlation_id: string;
  causation_id: string;
  data: unknown;
  refusal: string | null;
}

function storedHistory(row: StoredHistory): Fields {
  return {
    port_id: row.port_id,
    revision: int(row.revision),
    event_id: row.event_id,
    time: time(row.time),
    type: row.type,
    chassis: text(row.chassis),
    app: row.app,
    correlation_id: row.correlation_id,
    causation_id: row.causation_id,
    data: canonicalJson(row.data),
    refusal: text(row.refusal),
  };
}

function diffFields(
  differences: Differences,
  table: Table,
  key: string,
  expected: Fields,
  actual: Fields,
): void {
  const fields: FieldDifference[] = [];
  for (const [field, value] of Object.entries(expected)) {
    const stored = actual[field] ?? 'undefined';
    if (stored !== value) fields.push({ field, expected: value, actual: stored });
  }
  if (fields.length > 0) differences.add({ table, key, problem: 'different', fields });
}

// ---- tables ------------------------------------------------------------------------------

async function comparePorts(
  db: Kysely<Database>,
  expected: ReadonlyMap<string, PortState>,
  differences: Differences,
  pageSize: number,
): Promise<number> {
  const remaining = new Set<string>();
  for (const [id, state] of expected) if (state.port !== undefined) remaining.add(id);
  let count = 0;
  let after: string | undefined;
  for (;;) {
    const page = await db
      .selectFrom('rm_ports')
      .selectAll()
      .$if(after !== undefined, (q) => q.where('id', '>', after as string))
      .orderBy('id')
      .limit(pageSize)
      .execute();
    for (const row of page) {
      count++;
      const port = expected.get(row.id)?.port;
      if (port === undefined) {
        differences.add({ table: 'rm_ports', key: row.id, problem: 'unexpected' });
        continue;
      }
      remaining.delete(row.id);
      diffFields(differences, 'rm_ports', row.id, portFields(port), {
        switch_id: row.switch_id,
        device_owner: row.device_owner,
        owner: text(row.owner),
        requested_chassis: text(row.requested_chassis),
        reasons: canonicalJson(row.reasons),
        distributed: String(row.distributed),
        distributed_since: time(row.distributed_since),
        deleted: String(row.deleted),
        facts: canonicalJson(row.facts),
        revision: int(row.revision),
        position: int(row.position),
      });
    }
    const last = page.at(-1);
    if (last === undefined || page.length < pageSize) break;
    after = last.id;
  }
  for (const id of remaining) differences.add({ table: 'rm_ports', key: id, problem: 'missing' });
  return count;
}

async function compareViews(
  db: Kysely<Database>,
  expected: ReadonlyMap<string, PortState>,
  differences: Differences,
  pageSize: number,
): Promise<number> {
  const key = (portId: string, chassis: string) => `${portId} @ ${chassis}`;
  const remaining = new Map<string, ViewRow>();
  for (const state of expected.values()) {
    for (const view of state.views) remaining.set(key(view.portId, view.chassis), view);
  }
  let count = 0;
  let after: { port: string; chassis: string } | undefined;
  for (;;) {
    const page = await db
      .selectFrom('rm_port_views')
      .selectAll()
      .$if(after !== undefined, (q) => {
        const { port, chassis } = after as { port: string; chassis: string };
        return q.where((eb) =>
          eb.or([
            eb('port_id', '>', port),
            eb.and([eb('port_id', '=', port), eb('chassis', '>', chassis)]),
          ]),
        );
      })
      .orderBy('port_id')
      .orderBy('chassis')
      .limit(pageSize)
      .execute();
    for (const row of page) {
      count++;
      const k = key(row.port_id, row.chassis);
      const view = remaining.get(k);
      if (view === undefined) {
        differences.add({ table: 'rm_port_views', key: k, problem: 'unexpected' });
        continue;
      }
      remaining.delete(k);
      diffFields(differences, 'rm_port_views', k, viewFields(view), {
        locality: row.locality,
        since: time(row.since),
        remote_ready: String(row.remote_ready),
        owner_acked: text(row.owner_acked),
      });
    }
    const last = page.at(-1);
    if (last === undefined || page.length < pageSize) break;
    after = { port: last.port_id, chassis: last.chassis };
  }
  for (const k of remaining.keys()) {
    differences.add({ table: 'rm_port_views', key: k, problem: 'missing' });
  }
  return count;
}

async function compareChassis(
  db: Kysely<Database>,
  expected: ReadonlyMap<string, ChassisRow>,
  differences: Differences,
): Promise<number> {
  const rows = await db.selectFrom('rm_chassis').selectAll().orderBy('id').execute();
  const remaining = new Set(expected.keys());
  for (const row of rows) {
    const chassis = expected.get(row.id);
    if (chassis === undefined) {
      differences.add({ table: 'rm_chassis', key: row.id, problem: 'unexpected' });
      continue;
    }
    remaining.delete(row.id);
    diffFields(differences, 'rm_chassis', row.id, chassisFields(chassis), {
      tunnel_ip: text(row.tunnel_ip),
      deleted: String(row.deleted),
      position: int(row.position),
    });
  }
  for (const id of remaining) differences.add({ table: 'rm_chassis', key: id, problem: 'missing' });
  return rows.length;
}

/** Subnets, routers, floating IPs and segmentations: every row, its document and flags. */
async function compareTopology(
  db: Kysely<Database>,
  expected: ReadonlyMap<string, TopologyRow>,
  differences: Differences,
): Promise<number> {
  const fields = (document: unknown, deleted: boolean, position: string): Fields => ({
    document: canonicalJson(document ?? null),
    deleted: String(deleted),
    position,
  });
  const remaining = new Map(expected);
  const stored = await db
    .selectFrom('rm_topology')
    .selectAll()
    .orderBy('kind')
    .orderBy('id')
    .execute();
  for (const row of stored) {
    const key = topologyKey(row.kind, row.id);
    const label = `${row.kind} ${row.id}`;
    const want = remaining.get(key);
    if (want === undefined) {
      differences.add({ table: 'rm_topology', key: label, problem: 'unexpected' });
      continue;
    }
    remaining.delete(key);
    diffFields(
      differences,
      'rm_topology',
      label,
      fields(want.document, want.deleted, want.position.toString()),
      fields(row.document, row.deleted, int(row.position)),
    );
  }
  for (const row of remaining.values()) {
    differences.add({ table: 'rm_topology', key: `${row.kind} ${row.id}`, problem: 'missing' });
  }
  return stored.length;
}
