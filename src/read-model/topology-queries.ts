/**
 * The topology lists over the read model (rm_chassis, rm_switches, rm_ports, rm_port_views,
 * rm_topology): chassis, switches, a switch's ports, subnets, routers, floating IPs and trunk
 * segmentations, each live one by id, keyset-paginated on id like the port directory
 * (cursors `{"id":…}`, base64url JSON; one that does not decode is an InvalidListCursorError).
 */
import { type Kysely, sql } from 'kysely';
import type {
  ChassisItem,
  FloatingIpItem,
  Positioned,
  RouterItem,
  SegmentationItem,
  SubnetItem,
  SwitchItem,
  SwitchPort,
} from '../api/topology.js';
import { type Database, toBigInt } from '../db/schema.js';
import type { DeviceOwner, NetworkType, TunnelType } from '../events/index.js';
import type { TopologyDocuments, TopologyKind } from '../projections/topology.js';
import type { Page } from './queries.js';

/** A cursor these lists did not issue (a 400 upstream). */
export class InvalidListCursorError extends Error {
  override name = 'InvalidListCursorError';
}

export type ChassisRecord = Positioned<ChassisItem>;
export type SwitchRecord = Positioned<SwitchItem>;
export type SwitchPortRecord = Positioned<SwitchPort>;
export type SubnetRecord = Positioned<SubnetItem>;
export type RouterRecord = Positioned<RouterItem>;
export type FloatingIpRecord = Positioned<FloatingIpItem>;
export type SegmentationRecord = Positioned<SegmentationItem>;

export interface PageRequest {
  readonly cursor?: string;
  readonly limit: number;
}

export interface ChassisFilter extends PageRequest {
  readonly tunnelType?: TunnelType;
  /** Chassis with a bridge mapping for this physical network. */
  readonly physicalNetwork?: string;
}
export interface SwitchFilter extends PageRequest {
  readonly networkType?: NetworkType;
  readonly physicalNetwork?: string;
}
export interface SwitchPortFilter extends PageRequest {
  readonly deviceOwner?: DeviceOwner;
}
export interface SubnetFilter extends PageRequest {
  readonly switchId?: string;
}
export interface RouterFilter extends PageRequest {
  /** Routers with this port as an interface or as their gateway. */
  readonly portId?: string;
}
export interface FloatingIpFilter extends PageRequest {
  /** Floating IPs with this port as their floating or their fixed port. */
  readonly portId?: string;
}
export interface SegmentationFilter extends PageRequest {
  /** Segmentations with this port as their parent (trunk) or their child. */
  readonly portId?: string;
}

/** The lists the topology routes and `locus show` read. */
export interface TopologyDirectory {
  listChassis(filter: ChassisFilter): Promise<Page<ChassisRecord>>;
  chassis(id: string): Promise<ChassisRecord | undefined>;
  listSwitches(filter: SwitchFilter): Promise<Page<SwitchRecord>>;
  switch(id: string): Promise<SwitchRecord | undefined>;
  /** Live ports of a switch with their local and remote views. */
  switchPorts(switchId: string, filter: SwitchPortFilter): Promise<Page<SwitchPortRecord>>;
  listSubnets(filter: SubnetFilter): Promise<Page<SubnetRecord>>;
  subnet(id: string): Promise<SubnetRecord | undefined>;
  listRouters(filter: RouterFilter): Promise<Page<RouterRecord>>;
  router(id: string): Promise<RouterRecord | undefined>;
  listFloatingIps(filter: FloatingIpFilter): Promise<Page<FloatingIpRecord>>;
  floatingIp(id: string): Promise<FloatingIpRecord | undefined>;
  listSegmentations(filter: SegmentationFilter): Promise<Page<SegmentationRecord>>;
  segmentation(id: string): Promise<SegmentationRecord | undefined>;
}

/** A read model that can list the topology (the SQL one: `readModel.topology`). */
export const topologyOf = (model: object): TopologyDirectory | undefined => {
  const topology = (model as { topology?: unknown }).topology;
  return typeof topology === 'object' && topology !== null && 'listSwitches' in topology
    ? (topology as TopologyDirectory)
    : undefined;
};

type Db = Kysely<Database>;

export class TopologyQueries implements TopologyDirectory {
  readonly #db: Db;
  readonly #maxPageSize: number;

  constructor(db: Db, options: { readonly maxPageSize?: number } = {}) {
    this.#db = db;
    this.#maxPageSize = options.maxPageSize ?? 1_000;
  }

  async listChassis(filter: ChassisFilter): Promise<Page<ChassisRecord>> {
    const { limit, after } = this.#page(filter);
    const rows = await this.#db
      .selectFrom('rm_chassis')
      .selectAll()
      .where('deleted', '=', false)
      .$if(filter.tunnelType !== undefined, (q) =>
        q.where(sql<boolean>`tunnel_types @> ${JSON.stringify([filter.tunnelType])}::jsonb`),
      )
      .$if(filter.physicalNetwork !== undefined, (q) =>
        q.where(sql<boolean>`bridge_mappings ? ${filter.physicalNetwork as string}`),
      )
      .$if(after !== undefined, (q) => q.where('id', '>', after as string))
      .orderBy('id')
      .limit(limit + 1)
      .execute();
    return pageOf(rows.map(chassisRecord), limit);
  }

  async chassis(id: string): Promise<ChassisRecord | undefined> {
    const row = await this.#db
      .selectFrom('rm_chassis')
      .selectAll()
      .where('id', '=', id)
      .where('deleted', '=', false)
      .executeTakeFirst();
    return row === undefined ? undefined : chassisRecord(row);
  }

  async listSwitches(filter: SwitchFilter): Promise<Page<SwitchRecord>> {
    const { limit, after } = this.#page(filter);
    const rows = await this.#db
      .selectFrom('rm_switches')
      .selectAll()
      .where('deleted', '=', false)
      .$if(filter.networkType !== undefined, (q) =>
        q.where('network_type', '=', filter.networkType as string),
      )
      .$if(filter.physicalNetwork !== undefined, (q) =>
        q.where('physical_network', '=', filter.physicalNetwork as string),
      )
      .$if(after !== undefined, (q) => q.where('id', '>', after as string))
      .orderBy('id')
      .limit(limit + 1)
      .execute();
    return pageOf(rows.map(switchRecord), limit);
  }

  async switch(id: string): Promise<SwitchRecord | undefined> {
    const row = await this.#db
      .selectFrom('rm_switches')
      .selectAll()
      .where('id', '=', id)
      .where('deleted', '=', false)
      .executeTakeFirst();
    return row === undefined ? undefined : switchRecord(row);
  }

  async switchPorts(switchId: string, filter: SwitchPortFilter): Promise<Page<SwitchPortRecord>> {
    const { limit, after } = this.#page(filter);
    const ports = await this.#db
      .selectFrom('rm_ports')
      .select(['id', 'device_owner', 'owner', 'requested_chassis', 'distributed', 'position'])
      .where('switch_id', '=', switchId)
      .where('deleted', '=', false)
      .$if(filter.deviceOwner !== undefined, (q) =>
        q.where('device_owner', '=', filter.deviceOwner as string),
      )
      .$if(after !== undefined, (q) => q.where('id', '>', after as string))
      .orderBy('id')
      .limit(limit + 1)
      .execute();
    const page = ports.slice(0, limit);
    const views =
      page.length === 0
        ? []
        : await this.#db
            .selectFrom('rm_port_views')
            .select(['port_id', 'chassis', 'locality', 'remote_ready'])
            .where(
              'port_id',
              'in',
              page.map((port) => port.id),
            )
            .orderBy('port_id')
            .orderBy('chassis')
            .execute();
    const byPort = new Map<string, SwitchPortRecord['views']>();
    for (const view of views) {
      let list = byPort.get(view.port_id);
      if (list === undefined) {
        list = [];
        byPort.set(view.port_id, list);
      }
      list.push({ chassis: view.chassis, locality: view.locality, remoteReady: view.remote_ready });
    }
    const records = ports.map(
      (row): SwitchPortRecord => ({
        id: row.id,
        deviceOwner: row.device_owner as DeviceOwner,
        owner: row.owner,
        requestedChassis: row.requested_chassis,
        distributed: row.distributed,
        views: byPort.get(row.id) ?? [],
        position: toBigInt(row.position),
      }),
    );
    return pageOf(records, limit);
  }

  listSubnets(filter: SubnetFilter): Promise<Page<SubnetRecord>> {
    return this.#list('subnet', filter, (q) =>
      filter.switchId === undefined
        ? q
        : q.where(sql<boolean>`document->>'switchId' = ${filter.switchId}`),
    );
  }

  subnet(id: string): Promise<SubnetRecord | undefined> {
    return this.#one('subnet', id);
  }

  listRouters(filter: RouterFilter): Promise<Page<RouterRecord>> {
    const port = filter.portId;
    return this.#list('router', filter, (q) =>
      port === undefined
        ? q
        : q.where(
            sql<boolean>`(document->'interfacePortIds' @> ${JSON.stringify([port])}::jsonb
              or document->>'gatewayPortId' = ${port})`,
          ),
    );
  }

  router(id: string): Promise<RouterRecord | undefined> {
    return this.#one('router', id);
  }

  listFloatingIps(filter: FloatingIpFilter): Promise<Page<FloatingIpRecord>> {
    const port = filter.portId;
    return this.#list('fip', filter, (q) =>
      port === undefined
        ? q
        : q.where(
            sql<boolean>`(document->>'floatingPortId' = ${port} or document->>'fixedPortId' = ${port})`,
          ),
    );
  }

  floatingIp(id: string): Promise<FloatingIpRecord | undefined> {
    return this.#one('fip', id);
  }

  listSegmentations(filter: SegmentationFilter): Promise<Page<SegmentationRecord>> {
    const port = filter.portId;
    return this.#list('segmentation', filter, (q) =>
      port === undefined
        ? q
        : q.where(
            sql<boolean>`(document->>'parentPortId' = ${port} or document->>'childPortId' = ${port})`,
          ),
    );
  }

  segmentation(id: string): Promise<SegmentationRecord | undefined> {
    return this.#one('segmentation', id);
  }

  async #list<K extends TopologyKind>(
    kind: K,
    request: PageRequest,
    where: (query: TopologyQuery) => TopologyQuery,
  ): Promise<Page<Positioned<TopologyDocuments[K] & { position: string }>>> {
    const { limit, after } = this.#page(request);
    let query: TopologyQuery = selectTopology(this.#db)
      .where('kind', '=', kind)
      .where('deleted', '=', false);
    query = where(query);
    if (after !== undefined) query = query.where('id', '>', after);
    const rows = await query
      .orderBy('id')
      .limit(limit + 1)
      .execute();
    return pageOf(
      rows.map((row) => documentRecord<K>(row)),
      limit,
    );
  }

  async #one<K extends TopologyKind>(
    kind: K,
    id: string,
  ): Promise<Positioned<TopologyDocuments[K] & { position: string }> | undefined> {
    const row = await selectTopology(this.#db)
      .where('kind', '=', kind)
      .where('id', '=', id)
      .where('deleted', '=', false)
      .executeTakeFirst();
    return row === undefined ? undefined : documentRecord<K>(row);
  }

  #page(request: PageRequest): { limit: number; after: string | undefined } {
    const limit = Number.isFinite(request.limit)
      ? Math.max(1, Math.min(this.#maxPageSize, Math.trunc(request.limit)))
      : this.#maxPageSize;
    return {
      limit,
      after: request.cursor === undefined ? undefined : decodeIdCursor(request.cursor),
    };
  }
}

/** What every read of rm_topology selects; the lists narrow it with their filters. */
type TopologyQuery = ReturnType<typeof selectTopology>;
const selectTopology = (db: Db) =>
  db.selectFrom('rm_topology').select(['id', 'document', 'position']);

function documentRecord<K extends TopologyKind>(row: {
  document: unknown;
  position: string | number | bigint;
}): Positioned<TopologyDocuments[K] & { position: string }> {
  // A live row always has its document (null only for one known from its deletion alone).
  return {
    ...(row.document as TopologyDocuments[K]),
    position: toBigInt(row.position),
  } as unknown as Positioned<TopologyDocuments[K] & { position: string }>;
}

function chassisRecord(row: {
  id: string;
  tunnel_ip: string | null;
  tunnel_types: unknown;
  bridge_mappings: unknown;
  position: string | number | bigint;
}): ChassisRecord {
  return {
    id: row.id,
    tunnelIp: row.tunnel_ip ?? '',
    tunnelTypes: row.tunnel_types as TunnelType[],
    bridgeMappings: row.bridge_mappings as Record<string, string>,
    position: toBigInt(row.position),
  };
}

function switchRecord(row: {
  id: string;
  network_type: string | null;
  segmentation_id: number | null;
  physical_network: string | null;
  position: string | number | bigint;
}): SwitchRecord {
  return {
    id: row.id,
    networkType: row.network_type as NetworkType,
    ...(row.segmentation_id === null ? {} : { segmentationId: row.segmentation_id }),
    ...(row.physical_network === null ? {} : { physicalNetwork: row.physical_network }),
    position: toBigInt(row.position),
  };
}

/** The first `limit` items, and a cursor after the last when there were more. */
function pageOf<T extends { id: string }>(items: readonly T[], limit: number): Page<T> {
  const page = items.slice(0, limit);
  const last = page.at(-1);
  return items.length > limit && last !== undefined
    ? {
        items: page,
        nextCursor: Buffer.from(JSON.stringify({ id: last.id })).toString('base64url'),
      }
    : { items: page };
}

function decodeIdCursor(cursor: string): string {
  let value: unknown;
  try {
    value = (
      JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Record<string, unknown>
    ).id;
  } catch {
    throw new InvalidListCursorError('cursor is not one this API issued');
  }
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidListCursorError('cursor is not one this API issued');
  }
  return value;
}
