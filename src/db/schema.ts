/**
 * Table types for kysely. One interface per table; `Database` lists them all. The event store
 * owns `events`, `streams` and `event_log_head` (migrations/0001_event_store.ts); read models
 * add their tables here next to their migrations.
 */
import type { ColumnType, Generated } from 'kysely';

/**
 * A bigint column. node-postgres returns int8 as a decimal string, PGlite as a number (when
 * it is a safe integer) or a bigint; `toBigInt` reads any of them without precision loss.
 * Writes take a bigint or a decimal string.
 */
export type Int8 = ColumnType<string | number | bigint, bigint | string, bigint | string>;

/** A jsonb column: parsed JSON on read, JSON text on write (always stringified by us). */
export type Jsonb = ColumnType<unknown, string, string>;

/** The global log: one row per event, in position order. */
export interface EventsTable {
  /** Gap-free, 1-based, assigned in commit order (see sql-event-store.ts). */
  position: Int8;
  event_id: string;
  stream_name: string;
  revision: Int8;
  type: string;
  data: Jsonb;
  metadata: Jsonb;
  recorded_at: ColumnType<Date, never, never>;
}

/** One row per stream that has events or metadata. */
export interface StreamsTable {
  stream_name: string;
  /** Revision of the stream's last event; -1 while the stream only has metadata. */
  revision: ColumnType<string | number | bigint, bigint | string | undefined, bigint | string>;
  deleted: Generated<boolean>;
  truncate_before: Int8 | null;
  max_count: number | null;
  /** The remaining (custom) stream metadata keys. */
  metadata: ColumnType<unknown, string | undefined, string>;
}

/** Single row holding the last allocated global position. */
export interface EventLogHeadTable {
  id: ColumnType<boolean, boolean | undefined, never>;
  position: Int8;
}

export interface Database {
  events: EventsTable;
  streams: StreamsTable;
  event_log_head: EventLogHeadTable;
}

/** Decimal integers of up to 15 digits: exact as a double, so `BigInt(Number(s))` is exact. */
const SHORT_DECIMAL = /^-?\d{1,15}$/;

/** Reads an int8 value as returned by either driver. */
export function toBigInt(value: string | number | bigint): bigint {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new RangeError(`int8 value ${value} lost precision before conversion`);
  }
  // BigInt's own parse of a string is slow (~1 µs; every event row read has two int8s): a
  // short decimal goes through Number, exactly, at a tenth of the cost.
  if (typeof value === 'string' && SHORT_DECIMAL.test(value)) return BigInt(Number(value));
  return BigInt(value);
}

// ---- Read model (migrations/0002_read_model.ts; written by src/projections/) ----

/** A timestamptz column: a Date on read (both drivers), an ISO-8601 string on write. */
export type Timestamp = ColumnType<Date | string, string, string>;

/** One row per logical port. */
export interface RmPortsTable {
  id: string;
  switch_id: string;
  device_owner: string;
  owner: string | null;
  requested_chassis: string | null;
  /** Active distributed reasons (JSON array of strings, sorted). */
  reasons: Jsonb;
  distributed: boolean;
  /** When the port last became distributed; null while it is not. */
  distributed_since: Timestamp | null;
  deleted: boolean;
  /** The lport machine's port-wide facts (PortFacts): what folding the next event needs. */
  facts: Jsonb;
  /** Revision and position of the last event of the port's stream folded into the row. */
  revision: Int8;
  position: Int8;
}

/** One row per (port, chassis) holding a local claim or an ack. */
export interface RmPortViewsTable {
  port_id: string;
  chassis: string;
  locality: 'local' | 'remote';
  since: Timestamp;
  remote_ready: boolean;
  owner_acked: string | null;
}

export interface RmChassisTable {
  id: string;
  tunnel_ip: string | null;
  /** The chassis' tunnel types (JSON array, default none; migrations/0003_reachability.ts). */
  tunnel_types: JsonbWithDefault;
  /** Physical network → bridge (JSON object, default none). */
  bridge_mappings: JsonbWithDefault;
  deleted: boolean;
  position: Int8;
}

/** A jsonb column with a default: optional on insert. */
export type JsonbWithDefault = ColumnType<unknown, string | undefined, string>;

/** One row per logical switch (migrations/0003_reachability.ts). */
export interface RmSwitchesTable {
  id: string;
  /** Null only for a switch known from its deletion alone. */
  network_type: string | null;
  segmentation_id: number | null;
  physical_network: string | null;
  deleted: boolean;
  position: Int8;
}

/** Per (switch, chassis): how many of the switch's ports are local on the chassis. */
export interface RmSwitchChassisTable {
  switch_id: string;
  chassis: string;
  local_ports: number;
}

/** One row per event of an lport stream. */
export interface RmHistoryTable {
  position: Int8;
  port_id: string;
  revision: Int8;
  event_id: string;
  time: Timestamp;
  type: string;
  chassis: string | null;
  app: string;
  correlation_id: string;
  causation_id: string;
  /** A `json` column (not jsonb): parsed on read, JSON text on write, like Jsonb. */
  data: Jsonb;
  /** The lport machine's refusal code when the port did not accept the event, else null. */
  refusal: string | null;
}

/**
 * One row per subnet, router, floating IP and trunk segmentation: its last document
 * (migrations/0004_topology.ts; src/projections/topology.ts).
 */
export interface RmTopologyTable {
  kind: 'subnet' | 'router' | 'fip' | 'segmentation';
  id: string;
  /** Null only for one known from its deletion alone. */
  document: ColumnType<unknown, string | null, string | null>;
  deleted: boolean;
  position: Int8;
}

/**
 * Events of lport streams whose history differs from the event, for a history served from the
 * log (migrations/0006_history_from_log.ts): the refusal code, or null for no history row.
 */
export interface RmHistoryMarksTable {
  position: Int8;
  refusal: string | null;
}

export interface RmCheckpointsTable {
  name: string;
  position: Int8;
  /** The history is the log's events with rm_history_marks, not rm_history (migration 0006). */
  history_from_log: ColumnType<boolean, boolean | undefined, boolean>;
}

// Declaration merging: the read model's tables join the event store's in `Database`.
export interface Database {
  rm_ports: RmPortsTable;
  rm_port_views: RmPortViewsTable;
  rm_chassis: RmChassisTable;
  rm_switches: RmSwitchesTable;
  rm_switch_chassis: RmSwitchChassisTable;
  rm_history: RmHistoryTable;
  rm_history_marks: RmHistoryMarksTable;
  rm_topology: RmTopologyTable;
  rm_checkpoints: RmCheckpointsTable;
}

// ---- Cluster (migrations/0005_cluster.ts; src/cluster/lease-store.ts) ----

/** One row per locus instance sharing the database; live while `expires_at` > now(). */
export interface ClusterInstancesTable {
  id: string;
  url: string | null;
  /** Takes partitions by lease (counted by the assignment). */
  decides: ColumnType<boolean, boolean | undefined, boolean>;
  started_at: ColumnType<Date | string, string | undefined, never>;
  heartbeat_at: Timestamp;
  expires_at: Timestamp;
}

/** One row per shared job; held while `holder` is set and `expires_at` > now(). */
export interface ClusterLeasesTable {
  name: string;
  holder: string | null;
  /** Grows by one at every acquisition: the fencing token. */
  epoch: Int8;
  acquired_at: Timestamp | null;
  expires_at: Timestamp;
}

export interface Database {
  cluster_instances: ClusterInstancesTable;
  cluster_leases: ClusterLeasesTable;
}
