/**
 * The ReadModel over the projection's tables (migrations/0002_read_model.ts), in kysely.
 *
 * Pagination is by keyset, never by offset: a page is "rows after the cursor's key, in key
 * order", so pages are stable while the tables change underneath and cost the same at any
 * depth. Cursors are opaque base64url JSON (`{"p":"<position>"}` for history, `{"id":…}` for a
 * chassis' ports); a cursor that does not decode is an InvalidCursorError (a 400 upstream).
 */

import { type Kysely, sql } from 'kysely';
import { type Database, toBigInt } from '../db/schema.js';
import type { DeviceOwner } from '../events/index.js';
import { getOrCreate } from '../lib/maps.js';
import type { ReadModelChanges } from '../projections/changes.js';
import { DEFAULT_PROJECTION_NAME, type ProjectionProgress } from '../projections/projector.js';
import { readCheckpoint, toIsoString } from '../projections/sql-tables.js';
import { readHistory } from './history-query.js';
import { PortRecordCache } from './port-cache.js';
import {
  decodePortText,
  kyselyStatements,
  queryPort,
  queryPortText,
  queryPortTextPage,
  type StatementRunner,
  switchOfPortText,
} from './port-query.js';
import type {
  ChassisPort,
  HistoryRecord,
  Locality,
  LocalityCount,
  Page,
  PortDirectory,
  PortListRecord,
  PortRecord,
  ReadModel,
  SwitchLocalityCount,
} from './queries.js';
import { TopologyQueries } from './topology-queries.js';

export class InvalidCursorError extends Error {
  override name = 'InvalidCursorError';
}

export interface SqlReadModelOptions {
  /**
   * Tells when the projection passes a position (`waitFor`): the in-process Projector, or a
   * CheckpointFollower in a process that only reads.
   */
  readonly progress?: ProjectionProgress;
  /** Checkpoint name of the projection behind the tables (default `read-model`). */
  readonly projection?: string;
  /** Largest page served whatever the caller asks (default 1 000). */
  readonly maxPageSize?: number;
  /**
   * Runs the hot fixed statements (the database handle behind `db`: prepared once per
   * connection on PostgreSQL); default: through `db`, parsed and planned per call.
   */
  readonly statements?: StatementRunner;
  /**
   * The in-process projector's changes: when given, port records are cached in memory
   * (./port-cache.ts), kept exactly consistent by them. Not for a process whose tables another
   * process writes without telling it (a CheckpointFollower's).
   */
  readonly changes?: ReadModelChanges;
  /** The port-record cache's bound in bytes (default DEFAULT_PORT_CACHE_BYTES). */
  readonly portCacheBytes?: number;
  /**
   * Whether the cache may answer now (default always): on an instance whose projector comes
   * and goes, only while it runs here (ProjectionSource.here); otherwise queries bypass it.
   */
  readonly portCacheWhile?: () => boolean;
}

const LOCALITIES: readonly Locality[] = ['local', 'remote', 'distributed', 'unbound'];

export class SqlReadModel implements ReadModel, PortDirectory {
  readonly #db: Kysely<Database>;
  readonly #progress: ProjectionProgress | undefined;
  readonly #projection: string;
  readonly #maxPageSize: number;
  readonly #statements: StatementRunner;
  /** Present when the projector's changes are known (SqlReadModelOptions.changes). */
  readonly portCache: PortRecordCache | undefined;
  readonly #cacheNow: () => boolean;
  readonly #loadText = (id: string) => queryPortText(this.#statements, id);
  #warming: Promise<void> | undefined;
  /** The topology lists (GET /v1/chassis, /v1/switches, …; ./topology-queries.ts). */
  readonly topology: TopologyQueries;

  constructor(db: Kysely<Database>, options: SqlReadModelOptions = {}) {
    this.#db = db;
    this.#progress = options.progress;
    this.#projection = options.projection ?? DEFAULT_PROJECTION_NAME;
    this.#maxPageSize = options.maxPageSize ?? 1_000;
    this.#statements = options.statements ?? kyselyStatements(db);
    this.topology = new TopologyQueries(db, { maxPageSize: this.#maxPageSize });
    this.#cacheNow = options.portCacheWhile ?? (() => true);
    if (options.changes !== undefined) {
      const cache = new PortRecordCache(
        options.portCacheBytes === undefined ? {} : { maxBytes: options.portCacheBytes },
      );
      cache.follow(options.changes);
      this.portCache = cache;
    }
  }

  /**
   * Fills the port-record cache from the tables in pages, until full (no-op without a cache):
   * the first queries after a start are hits too. Runs once; resolves when done, never rejects.
   */
  warmPortCache(pageSize = 500): Promise<void> {
    const cache = this.portCache;
    if (cache === undefined || !this.#cacheNow()) return Promise.resolve();
    // Once: a second caller waits for the first warm-up rather than running another.
    this.#warming ??= cache
      .warm((after) => queryPortTextPage(this.#statements, after, pageSize), switchOfPortText)
      .catch(() => undefined);
    return this.#warming;
  }

  async port(id: string): Promise<PortRecord | undefined> {
    // One statement, one row, one field, compiled once, prepared (./port-query.ts).
    const cache = this.portCache;
    if (cache === undefined || !this.#cacheNow()) return queryPort(this.#statements, id);
    const text = await cache.get(id, this.#loadText, switchOfPortText);
    return text === undefined ? undefined : decodePortText(text);
  }

  /**
   * The port's record rendered by `render` (the HTTP answer's body: a pure function of the
   * record, the same for every caller): with the cache, made once per cached record and kept
   * beside it, so a hit costs neither decoding the record nor rendering it.
   */
  async renderedPort(
    id: string,
    render: (port: PortRecord) => string,
  ): Promise<string | undefined> {
    const cache = this.portCache;
    if (cache === undefined || !this.#cacheNow()) {
      const port = await queryPort(this.#statements, id);
      return port === undefined ? undefined : render(port);
    }
    return cache.rendered(id, this.#loadText, switchOfPortText, (text) =>
      render(decodePortText(text)),
    );
  }

  async history(
    portId: string,
    page: { cursor?: string; limit: number },
  ): Promise<Page<HistoryRecord>> {
    const limit = this.#limit(page.limit);
    const after = page.cursor === undefined ? 0n : decodeCursor(page.cursor, 'p');
    const rows = await readHistory(this.#db, this.#projection, {
      portId,
      after,
      limit: limit + 1,
    });
    const items = rows.slice(0, limit).map(
      (row): HistoryRecord => ({
        position: toBigInt(row.position),
        revision: toBigInt(row.revision),
        eventId: row.event_id,
        time: toIsoString(row.time),
        type: row.type,
        chassis: row.chassis,
        app: row.app,
        correlationId: row.correlation_id,
        causationId: row.causation_id,
        data: row.data,
        ...(row.refusal === null ? {} : { refusal: row.refusal }),
      }),
    );
    const last = items.at(-1);
    return rows.length > limit && last !== undefined
      ? { items, nextCursor: encodeCursor('p', last.position.toString()) }
      : { items };
  }

  async chassisPorts(
    chassis: string,
    query: { locality?: Locality; cursor?: string; limit: number },
  ): Promise<Page<ChassisPort>> {
    const limit = this.#limit(query.limit);
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor, 'id');
    const locality = query.locality;
    if (locality !== undefined && !LOCALITIES.includes(locality)) {
      throw new RangeError(`unknown locality ${String(locality)}`);
    }
    const wantsDistributed = locality === undefined || locality === 'distributed';
    const known = wantsDistributed || locality === 'unbound' ? await this.#isLive(chassis) : false;

    const db = this.#db;
    const views = db
      .selectFrom('rm_port_views as v')
      .innerJoin('rm_ports as p', 'p.id', 'v.port_id')
      .select((eb) => [
        'v.port_id as portId',
        'p.switch_id as switchId',
        // Typed as the union's columns, so the distributed branch can be appended.
        eb.ref('v.locality').$castTo<Locality>().as('locality'),
        'p.owner as owner',
        eb.ref('v.since').$castTo<Date | string | null>().as('since'),
        'v.remote_ready as remoteReady',
      ])
      .where('v.chassis', '=', chassis)
      .$if(locality === 'local' || locality === 'remote', (q) =>
        q.where('v.locality', '=', locality as 'local' | 'remote'),
      )
      .$if(after !== undefined, (q) => q.where('v.port_id', '>', after as string));
    // Distributed ports have no view rows: they are listed on every live chassis.
    const distributed = db
      .selectFrom('rm_ports as p')
      .select([
        'p.id as portId',
        'p.switch_id as switchId',
        sql<Locality>`'distributed'`.as('locality'),
        'p.owner as owner',
        'p.distributed_since as since',
        sql<boolean>`false`.as('remoteReady'),
      ])
      .where('p.distributed', '=', true)
      .where('p.deleted', '=', false)
      .$if(after !== undefined, (q) => q.where('p.id', '>', after as string));
    // Unbound: live, not distributed, and neither claimed nor acked on this chassis.
    const unbound = db
      .selectFrom('rm_ports as p')
      .select([
        'p.id as portId',
        'p.switch_id as switchId',
        sql<Locality>`'unbound'`.as('locality'),
        'p.owner as owner',
        sql<string | null>`null::timestamptz`.as('since'),
        sql<boolean>`false`.as('remoteReady'),
      ])
      .where('p.distributed', '=', false)
      .where('p.deleted', '=', false)
      .where((eb) =>
        eb.not(
          eb.exists(
            eb
              .selectFrom('rm_port_views as v')
              .select('v.port_id')
              .whereRef('v.port_id', '=', 'p.id')
              .where('v.chassis', '=', chassis),
          ),
        ),
      )
      .$if(after !== undefined, (q) => q.where('p.id', '>', after as string));

    let rows: {
      portId: string;
      switchId: string;
      locality: string;
      owner: string | null;
      since: Date | string | null;
      remoteReady: boolean;
    }[];
    if (locality === 'unbound') {
      rows = known
        ? await unbound
            .orderBy('portId')
            .limit(limit + 1)
            .execute()
        : [];
    } else if (locality === 'distributed') {
      rows = known
        ? await distributed
            .orderBy('portId')
            .limit(limit + 1)
            .execute()
        : [];
    } else if (locality !== undefined || !known) {
      rows = await views
        .orderBy('portId')
        .limit(limit + 1)
        .execute();
    } else {
      rows = await views
        .unionAll(distributed)
        .orderBy('portId')
        .limit(limit + 1)
        .execute();
    }
    const items = rows.slice(0, limit).map(
      (row): ChassisPort => ({
        portId: row.portId,
        switchId: row.switchId,
        locality: row.locality as Locality,
        owner: row.owner,
        since: row.since === null ? '' : toIsoString(row.since),
        remoteReady: row.remoteReady,
      }),
    );
    const last = items.at(-1);
    return rows.length > limit && last !== undefined
      ? { items, nextCursor: encodeCursor('id', last.portId) }
      : { items };
  }

  async summary(): Promise<LocalityCount[]> {
    const [views, liveChassis, ports] = await Promise.all([
      this.#db
        .selectFrom('rm_port_views')
        .select(['chassis', 'locality', (eb) => eb.fn.countAll<string | number>().as('ports')])
        .groupBy(['chassis', 'locality'])
        .execute(),
      this.#liveChassis(),
      this.#db
        .selectFrom('rm_ports')
        .select([
          sql<string | number>`count(*) filter (where not deleted and distributed)`.as(
            'distributed',
          ),
          sql<string | number>`count(*) filter (where not deleted and not distributed)`.as('bound'),
        ])
        .executeTakeFirstOrThrow(),
    ]);
    const counts = new Map<string, Map<Locality, number>>();
    const add = (chassis: string, locality: Locality, n: number) => {
      if (n <= 0) return;
      let byLocality = counts.get(chassis);
      if (byLocality === undefined) {
        byLocality = new Map();
        counts.set(chassis, byLocality);
      }
      byLocality.set(locality, (byLocality.get(locality) ?? 0) + n);
    };
    for (const row of views) add(row.chassis, row.locality, Number(row.ports));
    const distributed = Number(ports.distributed);
    const bound = Number(ports.bound);
    for (const chassis of liveChassis) {
      const here = counts.get(chassis);
      const withView = (here?.get('local') ?? 0) + (here?.get('remote') ?? 0);
      add(chassis, 'distributed', distributed);
      add(chassis, 'unbound', bound - withView);
    }
    const summary: LocalityCount[] = [];
    for (const chassis of [...counts.keys()].sort()) {
      const byLocality = counts.get(chassis) as Map<Locality, number>;
      for (const locality of LOCALITIES) {
        const n = byLocality.get(locality);
        if (n !== undefined) summary.push({ chassis, locality, ports: n });
      }
    }
    return summary;
  }

  position(): Promise<bigint> {
    return readCheckpoint(this.#db, this.#projection);
  }

  async waitFor(position: bigint, timeoutMs: number): Promise<boolean> {
    if (this.#progress !== undefined) return this.#progress.waitFor(position, timeoutMs);
    // Without a progress source there is nothing to wait on: answer from the checkpoint.
    return (await this.position()) >= position;
  }

  async listPorts(query: {
    search?: string;
    cursor?: string;
    limit: number;
  }): Promise<Page<PortListRecord>> {
    const limit = this.#limit(query.limit);
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor, 'id');
    const pattern =
      query.search === undefined || query.search === ''
        ? undefined
        : `%${query.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const rows = await this.#db
      .selectFrom('rm_ports')
      .select([
        'id',
        'switch_id',
        'device_owner',
        'owner',
        'requested_chassis',
        'distributed',
        'position',
      ])
      .where('deleted', '=', false)
      .$if(pattern !== undefined, (q) =>
        q.where((eb) =>
          eb.or([
            eb('id', 'ilike', pattern as string),
            eb('switch_id', 'ilike', pattern as string),
            eb('owner', 'ilike', pattern as string),
          ]),
        ),
      )
      .$if(after !== undefined, (q) => q.where('id', '>', after as string))
      .orderBy('id')
      .limit(limit + 1)
      .execute();
    const items = rows.slice(0, limit).map(
      (row): PortListRecord => ({
        id: row.id,
        switchId: row.switch_id,
        deviceOwner: row.device_owner as DeviceOwner,
        owner: row.owner,
        requestedChassis: row.requested_chassis,
        distributed: row.distributed,
        position: toBigInt(row.position),
      }),
    );
    const last = items.at(-1);
    return rows.length > limit && last !== undefined
      ? { items, nextCursor: encodeCursor('id', last.id) }
      : { items };
  }

  async switchSummary(): Promise<SwitchLocalityCount[]> {
    const [views, liveChassis, ports] = await Promise.all([
      this.#db
        .selectFrom('rm_port_views as v')
        .innerJoin('rm_ports as p', 'p.id', 'v.port_id')
        .select([
          'v.chassis as chassis',
          'p.switch_id as switchId',
          'v.locality as locality',
          (eb) => eb.fn.countAll<string | number>().as('ports'),
        ])
        .where('p.deleted', '=', false)
        .groupBy(['v.chassis', 'p.switch_id', 'v.locality'])
        .execute(),
      this.#liveChassis(),
      this.#db
        .selectFrom('rm_ports')
        .select([
          'switch_id as switchId',
          sql<string | number>`count(*) filter (where not deleted and distributed)`.as(
            'distributed',
          ),
          sql<string | number>`count(*) filter (where not deleted and not distributed)`.as('bound'),
        ])
        .groupBy('switch_id')
        .execute(),
    ]);
    // chassis → switch → locality → ports
    const counts = new Map<string, Map<string, Map<Locality, number>>>();
    const cell = (chassis: string, switchId: string) => {
      const bySwitch = getOrCreate(counts, chassis, () => new Map());
      return getOrCreate(bySwitch, switchId, () => new Map<Locality, number>());
    };
    const add = (chassis: string, switchId: string, locality: Locality, n: number) => {
      if (n <= 0) return;
      const byLocality = cell(chassis, switchId);
      byLocality.set(locality, (byLocality.get(locality) ?? 0) + n);
    };
    for (const row of views) add(row.chassis, row.switchId, row.locality, Number(row.ports));
    for (const chassis of liveChassis) {
      for (const row of ports) {
        const here = counts.get(chassis)?.get(row.switchId);
        const withView = (here?.get('local') ?? 0) + (here?.get('remote') ?? 0);
        add(chassis, row.switchId, 'distributed', Number(row.distributed));
        add(chassis, row.switchId, 'unbound', Number(row.bound) - withView);
      }
    }
    const summary: SwitchLocalityCount[] = [];
    for (const chassis of [...counts.keys()].sort()) {
      const bySwitch = counts.get(chassis) as Map<string, Map<Locality, number>>;
      for (const switchId of [...bySwitch.keys()].sort()) {
        const byLocality = bySwitch.get(switchId) as Map<Locality, number>;
        for (const locality of LOCALITIES) {
          const n = byLocality.get(locality);
          if (n !== undefined) summary.push({ chassis, switchId, locality, ports: n });
        }
      }
    }
    return summary;
  }

  async #liveChassis(): Promise<string[]> {
    const rows = await this.#db
      .selectFrom('rm_chassis')
      .select('id')
      .where('deleted', '=', false)
      .orderBy('id')
      .execute();
    return rows.map((row) => row.id);
  }

  async #isLive(chassis: string): Promise<boolean> {
    const row = await this.#db
      .selectFrom('rm_chassis')
      .select('id')
      .where('id', '=', chassis)
      .where('deleted', '=', false)
      .executeTakeFirst();
    return row !== undefined;
  }

  #limit(requested: number): number {
    if (!Number.isFinite(requested)) return this.#maxPageSize;
    return Math.max(1, Math.min(this.#maxPageSize, Math.trunc(requested)));
  }
}

function encodeCursor(key: 'p' | 'id', value: string): string {
  return Buffer.from(JSON.stringify({ [key]: value })).toString('base64url');
}

function decodeCursor(cursor: string, key: 'p'): bigint;
function decodeCursor(cursor: string, key: 'id'): string;
function decodeCursor(cursor: string, key: 'p' | 'id'): bigint | string {
  let value: unknown;
  try {
    value = (
      JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Record<string, unknown>
    )[key];
  } catch {
    throw new InvalidCursorError('cursor is not one this API issued');
  }
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidCursorError('cursor is not one this API issued');
  }
  if (key === 'id') return value;
  if (!/^[0-9]{1,20}$/.test(value))
    throw new InvalidCursorError('cursor is not one this API issued');
  return BigInt(value);
}
