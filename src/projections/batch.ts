/**
 * One batch of the read-model projection, still pure: events are routed to the projection
 * that owns them, folded onto the rows loaded for the batch (an in-memory cache that lives as
 * long as the batch), and turned into the row changes the batch commits.
 */
import { lportFacts, type PortMachine } from '../../machines/lport.facts.js';
import { type LportEvent, type RefusalCode, toLportEvents } from '../../machines/lport.rules.js';
import { type DomainEvent, decodeEvent } from '../events/index.js';
import type { ProjectedEvent } from '../store/event-store.js';
import { type ChassisEvent, type ChassisRow, foldChassisEvent, isChassisEvent } from './chassis.js';
import { type HistoryRow, historyRowOf } from './history.js';
import { sharedIds } from './intern.js';
import {
  diffViews,
  foldPortEvent,
  type PortRow,
  type PortState,
  unknownPort,
  type ViewRow,
} from './ports.js';
import { foldSwitchEvent, isSwitchEvent, type SwitchEvent, type SwitchRow } from './switches.js';
import {
  foldTopologyEvent,
  isTopologyEvent,
  isTopologyStream,
  type TopologyEvent,
  type TopologyKind,
  type TopologyRow,
  topologyKey,
  topologyKindOf,
} from './topology.js';

const LPORT_PREFIX = 'lport-';
const CHASSIS_PREFIX = 'chassis-';
const SWITCH_PREFIX = 'lswitch-';

/** What the projection does with one recorded event. */
export type Routed =
  | {
      readonly kind: 'port';
      readonly portId: string;
      readonly event: DomainEvent;
      /** Its machine events: one, or a group's acks (RemotesCreated). */
      readonly lport: readonly LportEvent[];
      readonly recorded: ProjectedEvent;
    }
  | { readonly kind: 'chassis'; readonly event: ChassisEvent; readonly recorded: ProjectedEvent }
  | { readonly kind: 'switch'; readonly event: SwitchEvent; readonly recorded: ProjectedEvent }
  /** Subnets, routers, floating IPs, segmentations (./topology.ts). */
  | { readonly kind: 'topology'; readonly event: TopologyEvent; readonly recorded: ProjectedEvent }
  /**
   * Not the read model's business (other categories, OvsPort events); an lport stream's
   * carries its event (no history row: a history served from the log marks it).
   */
  | { readonly kind: 'ignored'; readonly recorded?: ProjectedEvent }
  /** The read model's business but unreadable by this version: counted and logged. */
  | {
      readonly kind: 'skipped';
      readonly reason: 'unknown-type' | 'future-version' | 'invalid';
      readonly recorded: ProjectedEvent;
    };

const IGNORED: Routed = Object.freeze({ kind: 'ignored' });
const NO_MARKS: readonly HistoryMark[] = Object.freeze([]);

/** Events of an lport stream: each has a history row unless it is stale, skipped or ignored. */
export function isPortStream(streamName: string): boolean {
  return streamName.startsWith(LPORT_PREFIX);
}

/**
 * Routes by stream category first, so events of categories the read model does not project are
 * passed over without being decoded.
 */
export function route(recorded: ProjectedEvent): Routed {
  const stream = recorded.streamName;
  const isPort = stream.startsWith(LPORT_PREFIX);
  if (
    !isPort &&
    !stream.startsWith(CHASSIS_PREFIX) &&
    !stream.startsWith(SWITCH_PREFIX) &&
    !isTopologyStream(stream)
  )
    return IGNORED;
  const decoded = decodeEvent(recorded.type, recorded.data, recorded.metadata?.schemaVersion ?? 1);
  if (!decoded.ok) return { kind: 'skipped', reason: decoded.reason, recorded };
  const event = decoded.event;
  if (isPort) {
    const lport = toLportEvents(event);
    if (lport === undefined) return { kind: 'ignored', recorded };
    return {
      kind: 'port',
      portId: stream.slice(LPORT_PREFIX.length),
      event,
      lport: lport.map((one) => sharedIds.lport(one)),
      recorded,
    };
  }
  if (isChassisEvent(event)) return { kind: 'chassis', event, recorded };
  if (isTopologyEvent(event)) return { kind: 'topology', event, recorded };
  return isSwitchEvent(event) ? { kind: 'switch', event, recorded } : IGNORED;
}

/** How many more (or fewer) of a switch's ports are local on a chassis after the batch. */
export interface LocalPortsDelta {
  readonly switchId: string;
  readonly chassis: string;
  readonly delta: number;
}

/** The rows one batch writes. */
export interface BatchChanges {
  readonly ports: readonly PortRow[];
  readonly viewUpserts: readonly ViewRow[];
  readonly viewDeletes: readonly { readonly portId: string; readonly chassis: string }[];
  readonly chassis: readonly ChassisRow[];
  readonly switches: readonly SwitchRow[];
  /** Changes of rm_switch_chassis' counts, none zero. */
  readonly localPorts: readonly LocalPortsDelta[];
  readonly history: readonly HistoryRow[];
  /** Instead of `history`, for a history served from the log (`history: 'log'`). */
  readonly historyMarks: readonly HistoryMark[];
  /** Subnets, routers, floating IPs and segmentations the batch changed. */
  readonly topology: readonly TopologyRow[];
}

export interface BatchCounts {
  /** Events folded into rows (ports, chassis, switches). */
  applied: number;
  /** Port events the lport machine refused: recorded in history, not folded. */
  refused: number;
}

/**
 * An event of an lport stream whose history differs from the event itself, for a history
 * served from the log (src/read-model/history-query.ts): the machine's refusal code, or null
 * for an event with no history row (stale, unreadable, not a port event).
 */
export interface HistoryMark {
  readonly position: bigint;
  readonly refusal: RefusalCode | null;
}

/**
 * Folds routed events onto the rows loaded for the batch. Callers load every port and chassis
 * the batch names first (`portIds`/`chassisIds` of the routed events), then `apply` in log
 * order, then take `changes()`.
 */
export class ProjectionBatch {
  readonly counts: BatchCounts = { applied: 0, refused: 0 };
  readonly #loadedPorts: ReadonlyMap<string, PortState>;
  readonly #loadedChassis: ReadonlyMap<string, ChassisRow>;
  readonly #loadedSwitches: ReadonlyMap<string, SwitchRow>;
  readonly #ports = new Map<string, PortState>();
  readonly #chassis = new Map<string, ChassisRow>();
  readonly #switches = new Map<string, SwitchRow>();
  readonly #loadedTopology: ReadonlyMap<string, TopologyRow>;
  readonly #topology = new Map<string, TopologyRow>();
  readonly #history: HistoryRow[] = [];
  /** Set when the history is served from the log (no HistoryRow objects are built). */
  readonly #marks: HistoryMark[] | undefined;

  constructor(
    ports: ReadonlyMap<string, PortState>,
    chassis: ReadonlyMap<string, ChassisRow>,
    /** The machine's port-wide fold: production's, or a variant in tests. */
    private readonly machine: PortMachine = lportFacts,
    /** The switch rows the batch's switch events fold onto (none: known from the batch only). */
    switches: ReadonlyMap<string, SwitchRow> = new Map(),
    /**
     * Topology rows by topologyKey (none: the projector, whose upsert keeps the table's document
     * for a deletion; a replay passes what it folded so far).
     */
    topology: ReadonlyMap<string, TopologyRow> = new Map(),
    /** `log`: the history is served from the log; the batch marks what differs (`HistoryMark`). */
    history: 'rows' | 'log' = 'rows',
  ) {
    this.#marks = history === 'log' ? [] : undefined;
    this.#loadedTopology = topology;
    this.#loadedPorts = ports;
    this.#loadedChassis = chassis;
    this.#loadedSwitches = switches;
  }

  apply(routed: Routed): void {
    if (routed.kind === 'port') this.#applyPort(routed);
    else if (routed.kind === 'chassis') this.#applyChassis(routed);
    else if (routed.kind === 'switch') this.#applySwitch(routed);
    else if (routed.kind === 'topology') this.#applyTopology(routed);
    else if (this.#marks !== undefined && routed.recorded !== undefined) {
      // Skipped, or ignored: an lport stream's event has no history row.
      const { position, streamName } = routed.recorded;
      if (isPortStream(streamName)) this.#marks.push({ position, refusal: null });
    }
  }

  #applyTopology(routed: Extract<Routed, { kind: 'topology' }>): void {
    const key = topologyKey(topologyKindOf(routed.event) as TopologyKind, routed.event.data.id);
    const current = this.#topology.get(key) ?? this.#loadedTopology.get(key);
    const next = foldTopologyEvent(current, routed.event, routed.recorded.position);
    if (next === current) return;
    this.counts.applied++;
    this.#topology.set(key, next);
  }

  #applySwitch(routed: Extract<Routed, { kind: 'switch' }>): void {
    const id = routed.event.data.id;
    const current = this.#switches.get(id) ?? this.#loadedSwitches.get(id);
    const next = foldSwitchEvent(current, routed.event, routed.recorded.position);
    if (next === current) return;
    this.counts.applied++;
    this.#switches.set(id, next);
  }

  #applyPort(routed: Extract<Routed, { kind: 'port' }>): void {
    const { recorded } = routed;
    const current =
      this.#ports.get(routed.portId) ?? this.#loadedPorts.get(routed.portId) ?? unknownPort;
    // The id string the row already has, rather than this event's copy of it.
    const portId = current.port?.id ?? routed.portId;
    const at = {
      position: recorded.position,
      revision: recorded.revision,
      time: recorded.recordedAt,
    };
    const step = foldPortEvent(current, portId, routed.event, routed.lport, at, this.machine);
    const marks = this.#marks;
    if (step.outcome === 'stale') {
      marks?.push({ position: recorded.position, refusal: null });
      return;
    }
    if (step.outcome === 'refused') this.counts.refused++;
    else {
      this.counts.applied++;
      this.#ports.set(portId, step.state);
    }
    const refusal = step.outcome === 'refused' ? step.code : null;
    if (marks === undefined) {
      this.#history.push(historyRowOf(recorded, portId, routed.event, refusal));
    } else if (refusal !== null) marks.push({ position: recorded.position, refusal });
  }

  #applyChassis(routed: Extract<Routed, { kind: 'chassis' }>): void {
    const id = routed.event.data.id;
    const current = this.#chassis.get(id) ?? this.#loadedChassis.get(id);
    const next = foldChassisEvent(current, routed.event, routed.recorded.position);
    if (next === current) return;
    this.counts.applied++;
    this.#chassis.set(id, next);
  }

  /** The rows of every port the batch changed, as folded (for the projector's cache). */
  get ports(): ReadonlyMap<string, PortState> {
    return this.#ports;
  }

  /** The rows of every switch the batch changed. */
  get switches(): ReadonlyMap<string, SwitchRow> {
    return this.#switches;
  }

  /** The topology rows the batch changed, by topologyKey. */
  get topology(): ReadonlyMap<string, TopologyRow> {
    return this.#topology;
  }

  /** The rows of every chassis the batch changed. */
  get chassis(): ReadonlyMap<string, ChassisRow> {
    return this.#chassis;
  }

  /**
   * The difference between the loaded rows and the folded ones. `ports: false` leaves the
   * ports' rows, views and counts out (a rebuild that writes them once, at the end).
   */
  changes(options: { readonly ports?: boolean } = {}): BatchChanges {
    const ports: PortRow[] = [];
    const viewUpserts: ViewRow[] = [];
    const viewDeletes: { portId: string; chassis: string }[] = [];
    const localPorts = new Map<string, LocalPortsDelta>();
    const count = (switchId: string | undefined, views: readonly ViewRow[], sign: 1 | -1) => {
      if (switchId === undefined) return;
      for (const view of views) {
        if (view.locality !== 'local') continue;
        const key = `${switchId}\u0000${view.chassis}`;
        const delta = (localPorts.get(key)?.delta ?? 0) + sign;
        localPorts.set(key, { switchId, chassis: view.chassis, delta });
      }
    };
    for (const [portId, state] of options.ports === false ? [] : this.#ports) {
      if (state.port !== undefined) ports.push(state.port);
      const loaded = this.#loadedPorts.get(portId);
      const before = loaded?.views ?? unknownPort.views;
      const { upserts, deletes } = diffViews(before, state.views);
      for (const view of upserts) viewUpserts.push(view);
      for (const chassis of deletes) viewDeletes.push({ portId, chassis });
      if (before !== state.views || loaded?.port?.switchId !== state.port?.switchId) {
        count(loaded?.port?.switchId, before, -1);
        count(state.port?.switchId, state.views, 1);
      }
    }
    return {
      ports,
      viewUpserts,
      viewDeletes,
      chassis: [...this.#chassis.values()],
      switches: [...this.#switches.values()],
      localPorts: [...localPorts.values()].filter((change) => change.delta !== 0),
      history: this.#history,
      historyMarks: this.#marks ?? NO_MARKS,
      topology: [...this.#topology.values()],
    };
  }
}

/** The ports, chassis, switches and topology rows a batch of routed events needs loaded. */
export function keysOf(routed: readonly Routed[]): {
  ports: string[];
  chassis: string[];
  switches: string[];
  topology: { kind: TopologyKind; id: string }[];
} {
  const ports = new Set<string>();
  const chassis = new Set<string>();
  const switches = new Set<string>();
  const topology = new Map<string, { kind: TopologyKind; id: string }>();
  for (const r of routed) {
    if (r.kind === 'port') ports.add(r.portId);
    else if (r.kind === 'chassis') chassis.add(r.event.data.id);
    else if (r.kind === 'switch') switches.add(r.event.data.id);
    else if (r.kind === 'topology') {
      const kind = topologyKindOf(r.event) as TopologyKind;
      topology.set(topologyKey(kind, r.event.data.id), { kind, id: r.event.data.id });
    }
  }
  return {
    ports: [...ports],
    chassis: [...chassis],
    switches: [...switches],
    topology: [...topology.values()],
  };
}
