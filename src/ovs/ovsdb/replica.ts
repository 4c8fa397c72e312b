/**
 * An in-memory replica of monitored tables, kept by one `monitor` (RFC 7047 §4.1.5) per
 * session. The first snapshot fills it; `update` notifications are folded in; after a
 * reconnect the new snapshot is compared with what the replica holds and only the rows that
 * really differ are reported — so a restarted ovsdb-server yields no spurious changes.
 */
import { CodecError, type Row, rowEquals } from './codec.js';
import type { DatabaseSchema } from './schema.js';
import { decodeRow } from './transact.js';

/** Tables to monitor, each with the columns to replicate. */
export type MonitorSpec<Tables> = { readonly [T in keyof Tables & string]: readonly string[] };

/** One row's change. Insert: `new` only; delete: `old` only; modify: both. */
export type RowChange<Tables = Record<string, Row>> = {
  readonly [T in keyof Tables & string]: {
    readonly table: T;
    readonly uuid: string;
    readonly old?: Tables[T];
    readonly new?: Tables[T];
  };
}[keyof Tables & string];

export interface ReplicaUpdate<Tables = Record<string, Row>> {
  readonly changes: readonly RowChange<Tables>[];
  /** True when the changes come from a resync after reconnecting, not from an `update`. */
  readonly resync: boolean;
}

/** A change as folded, before it is typed for listeners. */
interface AnyChange {
  readonly table: string;
  readonly uuid: string;
  readonly old?: Row;
  readonly new?: Row;
}

type TableUpdates = Record<
  string,
  Record<string, { old?: Record<string, unknown>; new?: Record<string, unknown> }>
>;

/**
 * `Tables` maps each monitored table to its row type (see vswitch.ts); rows always carry
 * `_uuid`. The replica is read-only to its users: the client folds updates into it.
 */
export class Replica<Tables extends { [T in keyof Tables]: object } = Record<string, Row>> {
  private readonly data = new Map<string, Map<string, Row>>();
  private readonly listeners = new Set<(update: ReplicaUpdate<Tables>) => void>();
  private synced = false;
  private resolveReady!: () => void;
  /** Resolves once the first snapshot is in. */
  readonly ready: Promise<void> = new Promise((resolve) => {
    this.resolveReady = resolve;
  });

  constructor(
    readonly spec: MonitorSpec<Tables>,
    /** Called when a listener throws; the fold itself carries on. */
    private readonly onListenerError: (error: unknown) => void = () => {},
  ) {
    for (const table of Object.keys(spec)) this.data.set(table, new Map());
  }

  /** Whether the first snapshot has arrived. */
  get isSynced(): boolean {
    return this.synced;
  }

  /** The rows of one table by uuid. */
  table<T extends keyof Tables & string>(name: T): ReadonlyMap<string, Tables[T]> {
    return (this.data.get(name) ?? new Map()) as ReadonlyMap<string, Tables[T]>;
  }

  get<T extends keyof Tables & string>(table: T, uuid: string): Tables[T] | undefined {
    return this.table(table).get(uuid);
  }

  /** Calls `listener` after each batch of changes; returns the unsubscribe function. */
  onUpdate(listener: (update: ReplicaUpdate<Tables>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The wire `monitor-requests` object. */
  requests(): Record<string, { columns: readonly string[] }> {
    return Object.fromEntries(
      Object.entries(this.spec as Record<string, readonly string[]>).map(([table, columns]) => [
        table,
        { columns },
      ]),
    );
  }

  /** Folds an initial snapshot: the first one fills the replica, later ones resync it. */
  applySnapshot(schema: DatabaseSchema, wire: unknown): void {
    const snapshot = new Map<string, Map<string, Row>>();
    for (const table of this.data.keys()) snapshot.set(table, new Map());
    for (const [table, rows] of Object.entries((wire ?? {}) as TableUpdates)) {
      const target = snapshot.get(table);
      if (!target) continue;
      for (const [uuid, update] of Object.entries(rows))
        if (update.new) target.set(uuid, decodeRow(schema, table, update.new, uuid));
    }
    const changes: AnyChange[] = [];
    for (const [table, rows] of snapshot) {
      const current = this.data.get(table) ?? new Map<string, Row>();
      for (const [uuid, row] of rows) {
        const old = current.get(uuid);
        if (!old) changes.push({ table: table, uuid, new: row });
        else if (!rowEquals(old, row)) changes.push({ table: table, uuid, old, new: row });
      }
      for (const [uuid, old] of current)
        if (!rows.has(uuid)) changes.push({ table: table, uuid, old });
      this.data.set(table, rows);
    }
    const resync = this.synced;
    this.synced = true;
    this.resolveReady();
    if (changes.length > 0 || !resync) this.emit(changes, resync);
  }

  /**
   * Folds an `update` notification's table-updates, all or nothing: every row is decoded before
   * the replica changes, so a malformed one (CodecError) leaves it as it was — the caller then
   * resyncs from a new snapshot, and listeners never miss a change the replica holds.
   */
  applyUpdate(schema: DatabaseSchema, wire: unknown): void {
    const decoded: { table: string; uuid: string; row: Row | undefined }[] = [];
    for (const [table, rows] of Object.entries(objectOf(wire, 'table-updates'))) {
      if (!this.data.has(table)) continue;
      for (const [uuid, update] of Object.entries(objectOf(rows, `updates of ${table}`))) {
        const next = objectOf(update, `update of ${table} ${uuid}`).new;
        decoded.push({
          table,
          uuid,
          row:
            next === undefined
              ? undefined
              : decodeRow(schema, table, objectOf(next, `new ${table} row`), uuid),
        });
      }
    }
    const changes: AnyChange[] = [];
    for (const { table, uuid, row } of decoded) {
      const current = this.data.get(table) as Map<string, Row>;
      const old = current.get(uuid);
      if (row) {
        // `monitor` sends every monitored column in `new`, for inserts and modifications.
        current.set(uuid, row);
        changes.push(old ? { table, uuid, old, new: row } : { table, uuid, new: row });
      } else if (old) {
        current.delete(uuid);
        changes.push({ table, uuid, old });
      }
    }
    if (changes.length > 0) this.emit(changes, false);
  }

  private emit(changes: AnyChange[], resync: boolean): void {
    const update = { changes, resync } as unknown as ReplicaUpdate<Tables>;
    for (const listener of this.listeners) {
      try {
        listener(update);
      } catch (error) {
        this.onListenerError(error);
      }
    }
  }
}

/** `value` as a JSON object, or a CodecError naming `what`. */
function objectOf(value: unknown, what: string): Record<string, unknown> & { new?: unknown } {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new CodecError(
      `${what}: expected an object, got ${JSON.stringify(value) ?? String(value)}`,
    );
  return value as Record<string, unknown>;
}
