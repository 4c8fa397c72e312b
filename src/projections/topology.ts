/**
 * The topology projection's functional core: subnets, routers, floating IPs and trunk
 * segmentations as the log last described them (rm_topology, migrations/0004_topology.ts), for
 * the lists and `locus show`. Their created and updated events carry the whole document, so a
 * row needs no loading: a deletion folds onto what the batch has (or nothing, and the upsert
 * keeps the table's document), and the upsert ignores rows older than the table's.
 */
import type {
  ChildPortSegmentation,
  EventOf,
  FloatingIp,
  LogicalRouter,
  Subnet,
} from '../events/index.js';

export type TopologyKind = 'subnet' | 'router' | 'fip' | 'segmentation';

/** The document each kind holds. */
export interface TopologyDocuments {
  readonly subnet: Subnet;
  readonly router: LogicalRouter;
  readonly fip: FloatingIp;
  readonly segmentation: ChildPortSegmentation;
}

export type TopologyDocument = TopologyDocuments[TopologyKind];

export interface TopologyRow {
  readonly kind: TopologyKind;
  readonly id: string;
  /** Null only for one the batch knows from its deletion alone. */
  readonly document: TopologyDocument | null;
  readonly deleted: boolean;
  readonly position: bigint;
}

/** Stream category → kind (src/events/streams.ts). */
export const TOPOLOGY_CATEGORIES: Readonly<Record<string, TopologyKind>> = {
  subnet: 'subnet',
  router: 'router',
  fip: 'fip',
  segmentation: 'segmentation',
};

const KIND_OF_TYPE: Readonly<Record<string, readonly [TopologyKind, 'put' | 'delete']>> = {
  SubnetCreated: ['subnet', 'put'],
  SubnetUpdated: ['subnet', 'put'],
  SubnetDeleted: ['subnet', 'delete'],
  LogicalRouterCreated: ['router', 'put'],
  LogicalRouterUpdated: ['router', 'put'],
  LogicalRouterDeleted: ['router', 'delete'],
  FloatingIpCreated: ['fip', 'put'],
  FloatingIpUpdated: ['fip', 'put'],
  FloatingIpDeleted: ['fip', 'delete'],
  ChildPortSegmentationCreated: ['segmentation', 'put'],
  ChildPortSegmentationUpdated: ['segmentation', 'put'],
  ChildPortSegmentationDeleted: ['segmentation', 'delete'],
};

export type TopologyEvent = EventOf<
  | 'SubnetCreated'
  | 'SubnetUpdated'
  | 'SubnetDeleted'
  | 'LogicalRouterCreated'
  | 'LogicalRouterUpdated'
  | 'LogicalRouterDeleted'
  | 'FloatingIpCreated'
  | 'FloatingIpUpdated'
  | 'FloatingIpDeleted'
  | 'ChildPortSegmentationCreated'
  | 'ChildPortSegmentationUpdated'
  | 'ChildPortSegmentationDeleted'
>;

export const isTopologyEvent = (event: { readonly type: string }): event is TopologyEvent =>
  Object.hasOwn(KIND_OF_TYPE, event.type);

/** The row key: kind and id. */
export const topologyKey = (kind: TopologyKind, id: string): string => `${kind}\u0000${id}`;

/** The kind a topology event is about; undefined for any other event. */
export const topologyKindOf = (event: { readonly type: string }): TopologyKind | undefined =>
  KIND_OF_TYPE[event.type]?.[0];

/** The row after `event`; `current` itself when the event was already folded. */
export function foldTopologyEvent(
  current: TopologyRow | undefined,
  event: TopologyEvent,
  position: bigint,
): TopologyRow {
  const entry = KIND_OF_TYPE[event.type];
  if (entry === undefined) throw new RangeError(`not a topology event: ${event.type}`);
  if (current !== undefined && position <= current.position) return current;
  const [kind, action] = entry;
  const id = event.data.id;
  if (action === 'delete') {
    return { kind, id, document: current?.document ?? null, deleted: true, position };
  }
  return { kind, id, document: event.data as TopologyDocument, deleted: false, position };
}

const PREFIXES = Object.keys(TOPOLOGY_CATEGORIES).map((category) => `${category}-`);

/** Whether a stream holds a model this projection keeps (routing by name, before decoding). */
export const isTopologyStream = (stream: string): boolean =>
  PREFIXES.some((prefix) => stream.startsWith(prefix));
