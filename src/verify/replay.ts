/**
 * Replays the log in memory with the very code the live services use: the read-model
 * projection's pure core (route + ProjectionBatch: ports, views, chassis, history rows) and,
 * when flows are to be checked, the apps' Topology (what each chassis' flows are computed from).
 * Nothing is written anywhere.
 */
import { PortLocalityFold } from '../apps/port-locality.js';
import { Topology } from '../domain/topology.js';
import { decodeEvent } from '../events/index.js';
import { ProjectionBatch, type Routed, route } from '../projections/batch.js';
import type { ChassisRow } from '../projections/chassis.js';
import type { HistoryRow } from '../projections/history.js';
import type { PortState } from '../projections/ports.js';
import type { TopologyRow } from '../projections/topology.js';
import type { EventStore, RecordedEvent } from '../store/event-store.js';

export interface ReplayState {
  readonly ports: Map<string, PortState>;
  readonly chassis: Map<string, ChassisRow>;
  /** Subnets, routers, floating IPs, segmentations (rm_topology), by topologyKey. */
  readonly documents: Map<string, TopologyRow>;
  /** Only when asked for (`withTopology`). */
  readonly topology: Topology | undefined;
  /** Events replayed. */
  events: number;
  /** Position of the last event replayed. */
  position: bigint;
}

export interface ReplayOptions {
  /** Replay up to and including this position. */
  readonly until: bigint;
  /** Also fold the apps' topology (for flows). */
  readonly withTopology?: boolean;
  /** Events per page (default 2 000). */
  readonly pageSize?: number;
  /** Called with each page's history rows, in log order, and the page's position range. */
  readonly onHistory?: (rows: readonly HistoryRow[], after: bigint, last: bigint) => Promise<void>;
  readonly progress?: (events: number, total: number) => void;
}

export async function replayLog(store: EventStore, options: ReplayOptions): Promise<ReplayState> {
  const state: ReplayState = {
    ports: new Map(),
    chassis: new Map(),
    documents: new Map(),
    topology: options.withTopology ? new Topology(new PortLocalityFold()) : undefined,
    events: 0,
    position: 0n,
  };
  const pageSize = options.pageSize ?? 2_000;
  const total = Number(options.until);
  while (state.position < options.until) {
    const page = await store.readAll({ after: state.position, maxCount: pageSize });
    const events = page.filter((event) => event.position <= options.until);
    const last = events.at(-1);
    if (last === undefined) break;
    const after = state.position;
    const history = fold(state, events);
    state.position = last.position;
    state.events += events.length;
    await options.onHistory?.(history, after, last.position);
    options.progress?.(state.events, total);
    if (events.length < page.length) break;
  }
  return state;
}

/** Folds one page into the state; returns the page's history rows. */
function fold(state: ReplayState, events: readonly RecordedEvent[]): readonly HistoryRow[] {
  const batch = new ProjectionBatch(
    state.ports,
    state.chassis,
    undefined,
    undefined,
    state.documents,
  );
  for (const recorded of events) {
    const routed: Routed = route(recorded);
    batch.apply(routed);
    const topology = state.topology;
    if (topology !== undefined) {
      const decoded = decodeEvent(recorded.type, recorded.data, recorded.metadata.schemaVersion);
      if (decoded.ok) topology.apply(decoded.event, recorded.revision);
    }
  }
  const history = batch.changes().history;
  for (const [id, port] of batch.ports) state.ports.set(id, port);
  for (const [id, row] of batch.chassis) state.chassis.set(id, row);
  for (const [key, row] of batch.topology) state.documents.set(key, row);
  return history;
}
