/**
 * The per-chassis feeds (GET /v1/chassis/:id/feed): each connected agent follows its chassis'
 * slice of the topology the app runner folds (src/domain/slice.ts) — a snapshot when it
 * connects, then a diff whenever the slice changes. docs/agent-feed.md is the protocol;
 * src/api/chassis-feed.ts its schemas.
 *
 * The hub listens to the topology and, right after a burst of folded events (the events folded
 * in one turn of the event loop: the runner folds a page in one go; `coalesceMs` > 0 waits
 * longer, at the cost of every bind's latency), recomputes the slice of every chassis with a connected feed that the burst may
 * have touched (`Touched`: a port, switch or segmentation on one of its switches, its own
 * claims or interfaces, any chassis document) and sends the diff against what it sent before,
 * if any. When only port entries of its slice may have changed (the common case: a bind,
 * an ack, a port deleted or unclaimed, on a switch where the chassis has ports) only the ports
 * the burst named are recomputed (`portsDiff`): the cost of a burst follows the burst, not the
 * slice. Otherwise (its own claims or interfaces, a switch or chassis document, a trunk) one
 * `sliceOf`, linear in the ports on its switches (not in the cloud), where an entry equal to
 * the one sent keeps its JSON (compared, not encoded again).
 *
 * One state per chassis, shared by its connections (an agent reconnecting while its old socket
 * is not yet closed): every frame brings all of them to the same slice. The slice at a log
 * position is a function of the log, so a frame id names the slice the client holds: a client
 * reconnecting with the Last-Event-ID of a frame sent for the slice this hub still holds
 * resumes with a diff; any other gets a snapshot (always correct, only bigger).
 *
 * Backpressure: a socket that does not drain within `drainTimeoutMs`, or buffers more than
 * `maxBufferedBytes`, is closed; its agent reconnects. `: heartbeat` comments every
 * `heartbeatMs` let the agent and proxies tell an idle feed from a dead one.
 */
import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { FeedEventType } from '../api/chassis-feed.js';
import { portOf } from '../domain/locality.js';
import {
  type Slice,
  type SliceEntry,
  sliceChassisOf,
  sliceInterfaceOf,
  sliceOf,
  slicePortOf,
} from '../domain/slice.js';
import type { Topology } from '../domain/topology.js';
import type { DomainEvent } from '../events/index.js';
import { sleep } from '../lib/retry.js';
import { type StageObserver, stageObserverOf } from './metrics.js';

/** The topology the app runner folds, and how far it has folded the log (the runner itself). */
export interface FoldedTopology {
  readonly topology: Topology;
  /** Log position of the last event folded into `topology`. */
  readonly headPosition: bigint;
}

export interface ChassisFeedOptions {
  readonly heartbeatMs: number;
  /** A client that does not drain its socket for this long is disconnected. */
  readonly drainTimeoutMs: number;
  /** Feeds at most, over all chassis. */
  readonly maxFeeds?: number;
  /** Feeds at most per chassis (an agent reconnecting before its old socket closed: 2). */
  readonly maxFeedsPerChassis?: number;
  /** Events folded within this long are one recomputation; 0 (default): within one turn. */
  readonly coalesceMs?: number;
  /** How long a chassis' last slice is kept after its last feed closed (to resume with a diff). */
  readonly resumeWindowMs?: number;
  /** Bytes a client may leave unread before it is disconnected. */
  readonly maxBufferedBytes?: number;
}

const DEFAULTS = {
  maxFeeds: 4096,
  maxFeedsPerChassis: 4,
  coalesceMs: 0,
  resumeWindowMs: 60_000,
  maxBufferedBytes: 32 * 1024 * 1024,
};

/** Frame ids remembered per slice (snapshots sent while it did not change). */
const REMEMBERED_IDS = 32;

/** One open feed: a socket, its heartbeat, its backpressure watch. */
class FeedConnection {
  private readonly heartbeat: NodeJS.Timeout;
  private drainTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    readonly chassis: string,
    private readonly response: ServerResponse,
    private readonly options: Required<ChassisFeedOptions>,
    private readonly logger: Logger,
    private readonly onClose: (connection: FeedConnection) => void,
  ) {
    response.on('close', () => this.close());
    this.heartbeat = setInterval(() => this.write(': heartbeat\n\n'), options.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Writes a frame, or closes the feed when the client has stopped reading. */
  write(chunk: string | Buffer): void {
    if (this.closed || this.response.writableEnded) return;
    const flushed = this.response.write(chunk);
    if (this.response.writableLength > this.options.maxBufferedBytes) {
      this.slow('buffer full');
      return;
    }
    if (flushed || this.drainTimer !== undefined) return;
    this.drainTimer = setTimeout(() => this.slow('not drained'), this.options.drainTimeoutMs);
    this.response.once('drain', () => {
      clearTimeout(this.drainTimer);
      this.drainTimer = undefined;
    });
  }

  /** Ends the stream (shutdown, slow client, client gone); idempotent. */
  close(comment?: string): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.drainTimer);
    if (!this.response.writableEnded) this.response.end(comment ? `: ${comment}\n\n` : undefined);
    this.onClose(this);
  }

  private slow(why: string): void {
    this.logger.warn({ chassis: this.chassis, why }, 'chassis feed client is not reading');
    this.close('client too slow; reconnect with Last-Event-ID');
  }
}

/** What the hub holds for one chassis: its last slice as sent, and its feeds. */
interface ChassisState {
  /** The slice the feeds hold: entry key → its JSON, in the slice's order. */
  encoded: Map<string, string>;
  /** The same entries as objects (an entry equal to one of them keeps its JSON). */
  entries: Map<string, SliceEntry>;
  /**
   * Chassis → how many port entries of `entries` list it among their claims: its document
   * stays in the slice while any does (a port leaving, or losing a claimant, is a diff of it).
   */
  claimants: Map<string, number>;
  /** Ids of the frames sent for exactly this slice (a reconnect naming one resumes). */
  readonly frameIds: Set<bigint>;
  readonly connections: Set<FeedConnection>;
  /** Set while no feed is open: when the slice is forgotten. */
  forget?: NodeJS.Timeout | undefined;
}

/** A slice recomputed at `position`, and the diff frame sent (undefined: nothing changed). */
interface Refresh {
  readonly position: bigint;
  readonly diff: { readonly data: string; readonly entries: number } | undefined;
}

const frame = (event: FeedEventType, position: bigint, data: string) =>
  `id: ${position}\nevent: ${event}\ndata: ${data}\n\n`;

export class ChassisFeedHub {
  private readonly options: Required<ChassisFeedOptions>;
  private readonly chassis = new Map<string, ChassisState>();
  private feeds = 0;
  private unlisten: (() => void) | undefined;
  private tick: NodeJS.Timeout | undefined;
  /** A refresh is queued for the end of this turn (coalesceMs 0). */
  private refreshQueued = false;
  /** When the first event of the burst under way was folded (performance.now()). */
  private burstFolded = 0;
  private readonly stage: StageObserver;
  /** What the events folded since the last tick may have changed. */
  private touched = new Touched();
  private readonly metrics: {
    readonly feeds: Gauge;
    readonly entries: Counter<'chassis' | 'event'>;
    readonly bytes: Counter<'chassis' | 'event'>;
  };

  constructor(
    private readonly folded: FoldedTopology,
    options: ChassisFeedOptions,
    private readonly logger: Logger,
    registry?: Registry,
  ) {
    this.options = { ...DEFAULTS, ...options };
    this.stage = stageObserverOf(registry);
    const registers = registry === undefined ? [] : [registry];
    this.metrics = {
      feeds: new Gauge({
        name: 'locus_chassis_feeds',
        help: 'Chassis feeds (agents following their slice) connected',
        registers,
      }),
      entries: new Counter({
        name: 'locus_chassis_feed_entries_total',
        help: 'Slice entries sent to chassis feeds (snapshot entries, upserts and removes)',
        labelNames: ['chassis', 'event'] as const,
        registers,
      }),
      bytes: new Counter({
        name: 'locus_chassis_feed_bytes_total',
        help: 'Bytes of snapshot and diff frames sent to chassis feeds',
        labelNames: ['chassis', 'event'] as const,
        registers,
      }),
    };
  }

  /** Feeds open. */
  get size(): number {
    return this.feeds;
  }

  /** The log position the slices are computed at. */
  get position(): bigint {
    return this.folded.headPosition;
  }

  /** Whether the folded topology knows the chassis (a feed of an unknown one is a 404). */
  knows(chassis: string): boolean {
    return this.folded.topology.chassis.has(chassis);
  }

  /** Why another feed for `chassis` cannot open, undefined when it can. */
  refusal(chassis: string): string | undefined {
    if (this.feeds >= this.options.maxFeeds)
      return `the server has no room for another chassis feed (${this.options.maxFeeds} open)`;
    const open = this.chassis.get(chassis)?.connections.size ?? 0;
    if (open >= this.options.maxFeedsPerChassis)
      return `chassis ${chassis} has ${open} feeds open already`;
    return undefined;
  }

  /**
   * Waits until the topology has folded the log up to `position` (the log's head when the
   * agent connected): a slice of a topology still catching up would tell the agent to remove
   * flows it needs. False when `timeoutMs` passes first.
   */
  async caughtUp(position: bigint, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.folded.headPosition < position) {
      if (Date.now() >= deadline || signal?.aborted) return false;
      await sleep(10, signal).catch(() => undefined);
    }
    return true;
  }

  /**
   * Streams chassis `chassis`' slice to the client until either side closes: a snapshot, or,
   * when `lastEventId` names a frame of the slice this hub holds, a diff from it (possibly
   * empty), then a diff per change. The caller checked access, `knows` and `refusal`; the
   * response belongs to the hub from here on.
   */
  open(reply: FastifyReply, chassis: string, lastEventId: bigint | undefined): void {
    reply.hijack();
    const response = reply.raw;
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // Tell buffering reverse proxies (nginx) to pass frames through as they come.
      'x-accel-buffering': 'no',
    });
    response.write(`retry: 3000\n: chassis ${chassis}\n\n`);

    const state = this.stateOf(chassis);
    const resumed = lastEventId !== undefined && state.frameIds.has(lastEventId);
    // Brings the feeds already open to now first: the new one joins them at the same slice.
    const refresh = this.refresh(chassis, state);
    const connection = new FeedConnection(chassis, response, this.options, this.logger, (c) =>
      this.closed(c),
    );
    state.connections.add(connection);
    this.feeds++;
    this.metrics.feeds.set(this.feeds);
    this.listen();

    if (resumed) {
      // The client holds the slice before the refresh: the refresh's diff (or none) is its own.
      const { data, entries } = refresh.diff ?? {
        data: this.diffData(refresh.position, [], []),
        entries: 0,
      };
      this.send(chassis, [connection], 'diff', refresh.position, data, entries);
    } else {
      const entries = [...state.encoded.values()];
      const data = `{"position":"${refresh.position}","entries":[${entries.join(',')}]}`;
      this.send(chassis, [connection], 'snapshot', refresh.position, data, entries.length);
    }
    this.remember(state, refresh.position);
  }

  /** Ends every feed (graceful shutdown); agents reconnect elsewhere or after the restart. */
  closeAll(comment = 'server shutting down; reconnect with Last-Event-ID'): void {
    for (const state of this.chassis.values())
      for (const connection of [...state.connections]) connection.close(comment);
    clearTimeout(this.tick);
    this.tick = undefined;
    this.refreshQueued = false;
    this.unlisten?.();
    this.unlisten = undefined;
    for (const state of this.chassis.values()) clearTimeout(state.forget);
    this.chassis.clear();
  }

  private stateOf(chassis: string): ChassisState {
    let state = this.chassis.get(chassis);
    if (state === undefined) {
      state = {
        encoded: new Map(),
        entries: new Map(),
        claimants: new Map(),
        frameIds: new Set(),
        connections: new Set(),
      };
      this.chassis.set(chassis, state);
    }
    clearTimeout(state.forget);
    state.forget = undefined;
    return state;
  }

  /**
   * Recomputes the chassis' slice at the folded position; when it changed, sends the diff to
   * the feeds open and makes it the slice they hold.
   */
  private refresh(
    chassis: string,
    state: ChassisState,
    touched?: Touched,
    portEntries = new PortEntries(this.folded.topology),
  ): Refresh {
    const position = this.folded.headPosition;
    const partial =
      touched?.portsOnly(chassis, state.encoded) === true
        ? portsDiff(
            this.folded.topology,
            chassis,
            state,
            touched.portsOf(chassis),
            touched.interfaces.get(chassis) ?? new Set(),
            portEntries,
          )
        : undefined;
    let upserts: string[];
    let removes: string[];
    if (partial !== undefined) {
      ({ upserts, removes } = partial);
      if (upserts.length === 0 && removes.length === 0) return { position, diff: undefined };
      partial.apply();
    } else {
      const slice = sliceOf(this.folded.topology, chassis);
      const diff = diffAgainst(state, slice);
      ({ upserts, removes } = diff);
      if (upserts.length === 0 && removes.length === 0) return { position, diff: undefined };
      state.encoded = diff.encoded;
      state.entries = new Map(slice);
      state.claimants = claimantsOf(slice);
    }
    state.frameIds.clear();
    const data = this.diffData(position, upserts, removes);
    const entries = upserts.length + removes.length;
    this.send(chassis, state.connections, 'diff', position, data, entries);
    this.remember(state, position);
    return { position, diff: { data, entries } };
  }

  private diffData(position: bigint, upserts: readonly string[], removes: readonly string[]) {
    return `{"position":"${position}","upserts":[${upserts.join(',')}],"removes":${JSON.stringify(removes)}}`;
  }

  private send(
    chassis: string,
    connections: Iterable<FeedConnection>,
    event: FeedEventType,
    position: bigint,
    data: string,
    entries: number,
  ): void {
    // Encoded once for every connection and the byte count (a string would be measured here,
    // then again and encoded by each connection's chunked write).
    const chunk = Buffer.from(frame(event, position, data));
    const bytes = chunk.length;
    for (const connection of connections) {
      connection.write(chunk);
      this.metrics.bytes.inc({ chassis, event }, bytes);
      if (entries > 0) this.metrics.entries.inc({ chassis, event }, entries);
    }
  }

  private remember(state: ChassisState, position: bigint): void {
    state.frameIds.delete(position);
    state.frameIds.add(position);
    if (state.frameIds.size > REMEMBERED_IDS) {
      const oldest = state.frameIds.values().next().value;
      if (oldest !== undefined) state.frameIds.delete(oldest);
    }
  }

  private closed(connection: FeedConnection): void {
    const state = this.chassis.get(connection.chassis);
    if (state === undefined || !state.connections.delete(connection)) return;
    this.feeds--;
    this.metrics.feeds.set(this.feeds);
    if (state.connections.size === 0) {
      // Kept a while so the agent, reconnecting, resumes with a diff instead of a snapshot.
      state.forget = setTimeout(() => {
        if (state.connections.size === 0) this.chassis.delete(connection.chassis);
      }, this.options.resumeWindowMs);
      state.forget.unref();
    }
    if (this.feeds === 0) {
      this.unlisten?.();
      this.unlisten = undefined;
    }
  }

  /** Follows the topology while any feed is open: a burst of folded events is one tick. */
  private listen(): void {
    if (this.unlisten !== undefined) return;
    const schedule = () => {
      if (this.tick !== undefined || this.refreshQueued) return;
      this.burstFolded = performance.now();
      // 0: right after the events folded in this turn (the runner folds a page in one go,
      // synchronously): a microtask, not the next turn of a busy event loop.
      if (this.options.coalesceMs <= 0) {
        this.refreshQueued = true;
        queueMicrotask(() => {
          if (!this.refreshQueued) return;
          this.refreshQueued = false;
          this.refreshAll();
        });
      } else this.tick = setTimeout(() => this.refreshAll(), this.options.coalesceMs);
    };
    this.unlisten = this.folded.topology.listen({
      before: (topology, event) => this.touched.note(topology, event),
      after: (topology, event) => {
        this.touched.note(topology, event);
        schedule();
      },
    });
  }

  private refreshAll(): void {
    this.tick = undefined;
    const touched = this.touched;
    this.touched = new Touched();
    let sent = false;
    const portEntries = new PortEntries(this.folded.topology);
    for (const [chassis, state] of this.chassis) {
      if (state.connections.size === 0 || !touched.mayChange(chassis, state.encoded)) continue;
      try {
        if (this.refresh(chassis, state, touched, portEntries).diff !== undefined) sent = true;
      } catch (error) {
        // A defect in the slice computation must not stop the other chassis' feeds.
        this.logger.error({ err: error, chassis }, 'chassis feed: slice recomputation failed');
      }
    }
    if (sent) this.stage('feed_sent', (performance.now() - this.burstFolded) / 1000);
  }
}

/**
 * What a burst of events may have changed in the slices (src/domain/slice.ts), noted before and
 * after each event: the switches of the ports and segmentations it names (their entries, and
 * their claimants' chassis documents, live on those switches), the chassis whose claims or
 * interfaces it changes (their switch set, their own interfaces), or everything (a chassis
 * document, an event this does not know). Conservative: naming too much costs a recomputation.
 */
class Touched {
  private all = false;
  /** Switches of the ports named, and switches whose document changed. */
  private readonly switches = new Set<string>();
  private readonly switchDocs = new Set<string>();
  /** Chassis whose switch set may have changed (claims gone, a port gone or moved). */
  private readonly chassis = new Set<string>();
  /** Chassis → switches it claimed a port on. */
  private readonly claimedOn = new Map<string, Set<string>>();
  /** Chassis → names of its interfaces observed, changed or gone. */
  readonly interfaces = new Map<string, Set<string>>();
  /** The ports named, but for acks (their entries are all a partial refresh recomputes). */
  readonly ports = new Set<string>();
  /** Chassis → ports it acked or withdrew an ack of (only its own slice holds its acks). */
  private readonly acked = new Map<string, Set<string>>();
  /** A trunk's segmentation changed (an entry of its own). */
  private segmentations = false;

  note(topology: Topology, event: DomainEvent): void {
    if (this.all) return;
    if (event.type === 'RemoteCreated' || event.type === 'RemoteDeleted') {
      // A slice carries its own chassis' acks alone: no other chassis' entry changes.
      multiAdd(this.acked, event.data.chassis, event.data.portId);
      return;
    }
    if (event.type === 'RemotesCreated') {
      for (const chassis of event.data.chassis) multiAdd(this.acked, chassis, event.data.portId);
      return;
    }
    const portId = portOf(event);
    if (portId !== undefined) {
      this.port(topology, portId);
      if (event.type === 'LocalCreated') {
        // A claim on a switch the chassis' slice holds already leaves its switch set as it is.
        const switchId = topology.ports.get(portId)?.switchId;
        if (switchId === undefined) this.chassis.add(event.data.chassis);
        else multiAdd(this.claimedOn, event.data.chassis, switchId);
      } else if (
        event.type === 'LocalDeleted' ||
        event.type === 'LogicalPortDeleted' ||
        event.type === 'LogicalPortUpdated'
      )
        // The claimants' switch sets may shrink (or, for a port moved, change).
        for (const claimant of topology.portLocality(portId).claims) this.chassis.add(claimant);
      if (event.type === 'LocalDeleted') this.chassis.add(event.data.chassis);
      return;
    }
    switch (event.type) {
      case 'LogicalSwitchCreated':
      case 'LogicalSwitchUpdated':
      case 'LogicalSwitchDeleted':
        this.switches.add(event.data.id);
        this.switchDocs.add(event.data.id);
        // A switch that comes or goes changes the switch set of the chassis claiming its ports.
        for (const portId of topology.portsBySwitch.get(event.data.id))
          for (const claimant of topology.portLocality(portId).claims) this.chassis.add(claimant);
        return;
      case 'ChildPortSegmentationCreated':
      case 'ChildPortSegmentationUpdated':
      case 'ChildPortSegmentationDeleted': {
        this.segmentations = true;
        const held = topology.segmentations.get(event.data.id)?.childPortId;
        if (held !== undefined) this.port(topology, held);
        if ('childPortId' in event.data) this.port(topology, event.data.childPortId);
        return;
      }
      case 'OvsPortCreated':
      case 'OvsPortUpdated':
      case 'OvsPortDeleted':
        multiAdd(this.interfaces, event.data.chassis, event.data.name);
        return;
      case 'SubnetCreated':
      case 'SubnetUpdated':
      case 'SubnetDeleted':
      case 'LogicalRouterCreated':
      case 'LogicalRouterUpdated':
      case 'LogicalRouterDeleted':
      case 'FloatingIpCreated':
      case 'FloatingIpUpdated':
      case 'FloatingIpDeleted':
        // Not in any slice (their effects reach it as port facts, which name their ports).
        return;
      default:
        this.all = true;
    }
  }

  /** Whether the slice of `chassis`, as sent (`encoded`), may have changed. */
  mayChange(chassis: string, encoded: ReadonlyMap<string, string>): boolean {
    if (this.all || this.chassis.has(chassis)) return true;
    if (this.claimedOn.has(chassis) || this.interfaces.has(chassis)) return true;
    if (this.acked.has(chassis)) return true;
    for (const switchId of this.switches) if (encoded.has(`switch/${switchId}`)) return true;
    return false;
  }

  /**
   * Whether only port entries of the chassis' slice may have changed (its switches, own
   * claims, interfaces and the documents it holds did not): then recomputing the ports named
   * is enough.
   */
  portsOnly(chassis: string, encoded: ReadonlyMap<string, string>): boolean {
    if (this.all || this.segmentations || this.chassis.has(chassis)) return false;
    for (const switchId of this.switchDocs) if (encoded.has(`switch/${switchId}`)) return false;
    for (const switchId of this.claimedOn.get(chassis) ?? [])
      if (!encoded.has(`switch/${switchId}`)) return false;
    return true;
  }

  /** The ports whose entries in the slice of `chassis` may have changed. */
  portsOf(chassis: string): ReadonlySet<string> {
    const acked = this.acked.get(chassis);
    if (acked === undefined) return this.ports;
    if (this.ports.size === 0) return acked;
    return new Set([...this.ports, ...acked]);
  }

  /** A port's switch. */
  private port(topology: Topology, portId: string): void {
    this.ports.add(portId);
    const switchId = topology.ports.get(portId)?.switchId;
    if (switchId !== undefined) this.switches.add(switchId);
  }
}

function multiAdd(map: Map<string, Set<string>>, key: string, value: string): void {
  let set = map.get(key);
  if (set === undefined) {
    set = new Set();
    map.set(key, set);
  }
  set.add(value);
}

/**
 * The diff of the chassis' slice when only the entries of `ports` may have changed (Touched's
 * `portsOnly`), computed for those ports alone; undefined when the change reaches further than
 * their entries — a trunk's child (its segmentation), a port of the chassis' own that leaves
 * or loses the chassis' claim (its switch set) — and the whole slice must be recomputed. A
 * claimant whose document the slice lacks brings it along, and one no port entry lists any
 * more (a port deleted, moved off its switches, or unclaimed) takes it away, as `sliceOf`
 * would: the claimants' counts (`ChassisState.claimants`) say so without reading the slice.
 * `apply` makes the result what the feeds hold.
 */
function portsDiff(
  topology: Topology,
  chassis: string,
  state: ChassisState,
  ports: ReadonlySet<string>,
  interfaces: ReadonlySet<string>,
  portEntries: PortEntries,
): { upserts: string[]; removes: string[]; apply: () => void } | undefined {
  // A chassis the topology does not hold has an empty slice.
  if (!topology.chassis.has(chassis)) return undefined;
  const changed: [string, SliceEntry, string][] = [];
  const removes: string[] = [];
  /** Claimants' documents the slice lacks, added before the ports that name them. */
  const docs = new Map<string, [string, SliceEntry, string]>();
  /** Claimant → port entries listing it gained (+) or lost (−) by this diff. */
  const counted = new Map<string, number>();
  const count = (claims: readonly string[], delta: number) => {
    for (const claimant of claims) counted.set(claimant, (counted.get(claimant) ?? 0) + delta);
  };
  for (const portId of ports) {
    const key = `port/${portId}`;
    const held = state.entries.get(key);
    const switchId = topology.ports.get(portId)?.switchId;
    const computed =
      switchId !== undefined && state.encoded.has(`switch/${switchId}`)
        ? portEntries.of(chassis, portId)
        : undefined;
    if (computed === undefined) {
      if (held === undefined) continue;
      // The port leaves the slice (deleted, moved off its switches): its entry goes, and its
      // claimants' documents with it when no other port entry lists them.
      if (held.kind !== 'port' || held.value.claims.includes(chassis)) return undefined;
      if (topology.segmentationsByChild.get(portId).size > 0) return undefined;
      removes.push(key);
      count(held.value.claims, -1);
      continue;
    }
    const { entry, json } = computed;
    if (topology.segmentationsByChild.get(portId).size > 0) return undefined;
    // A new claimant's document joins the slice with the port (as sliceOf would add it): the
    // first claim of each chassis on a switch is not a whole recomputation for the others.
    for (const claimant of entry.value.claims) {
      const docKey = `chassis/${claimant}`;
      if (state.entries.has(docKey) || docs.has(docKey)) continue;
      const doc = topology.chassis.get(claimant);
      if (doc !== undefined) {
        const docEntry = sliceChassisOf(doc);
        docs.set(docKey, [docKey, docEntry, JSON.stringify(docEntry)]);
      }
    }
    if (held?.kind === 'port') {
      if (held.value.claims.includes(chassis) && !entry.value.claims.includes(chassis))
        return undefined;
      // The JSON sent is the entry's: equal JSON, equal entry.
      if (state.encoded.get(key) === json) continue;
      count(held.value.claims, -1);
    }
    count(entry.value.claims, 1);
    changed.push([key, entry, json]);
  }
  // The documents of claimants no port entry lists any more (never the chassis' own).
  for (const [claimant, delta] of counted) {
    const docKey = `chassis/${claimant}`;
    if (delta < 0 && claimant !== chassis && (state.claimants.get(claimant) ?? 0) + delta <= 0)
      if (state.entries.has(docKey)) removes.push(docKey);
  }
  for (const name of interfaces) {
    const key = `interface/${name}`;
    const ovsPort = topology.ovsPorts.find(chassis, name);
    if (ovsPort === undefined) {
      if (state.entries.has(key)) removes.push(key);
      continue;
    }
    const entry = sliceInterfaceOf(ovsPort);
    const held = state.entries.get(key);
    if (held === undefined || !sameData(held, entry))
      changed.push([key, entry, JSON.stringify(entry)]);
  }
  if (docs.size > 0) changed.unshift(...docs.values());
  return {
    upserts: changed.map(([, , json]) => json),
    removes,
    apply: () => {
      for (const [key, entry, json] of changed) {
        state.entries.set(key, entry);
        state.encoded.set(key, json);
      }
      for (const key of removes) {
        state.entries.delete(key);
        state.encoded.delete(key);
      }
      for (const [claimant, delta] of counted) {
        const now = (state.claimants.get(claimant) ?? 0) + delta;
        if (now > 0) state.claimants.set(claimant, now);
        else state.claimants.delete(claimant);
      }
    },
  };
}

/** Chassis → the port entries of `slice` that list it among their claims. */
function claimantsOf(slice: Slice): Map<string, number> {
  const claimants = new Map<string, number>();
  for (const entry of slice.values())
    if (entry.kind === 'port')
      for (const claimant of entry.value.claims)
        claimants.set(claimant, (claimants.get(claimant) ?? 0) + 1);
  return claimants;
}

type PortEntry = Extract<SliceEntry, { kind: 'port' }>;

/**
 * The port entries of one burst's refresh, with their JSON. A slice carries only its own
 * chassis' acks, so a port's entry is the same in the slice of every chassis that holds no ack
 * of it (the twenty-four others on its switch, when it is claimed): computed and encoded once.
 */
class PortEntries {
  readonly #shared = new Map<string, { entry: PortEntry; json: string } | null>();

  constructor(private readonly topology: Topology) {}

  /** Port `portId`'s entry in the slice of `chassis`, when the port is live. */
  of(chassis: string, portId: string): { entry: PortEntry; json: string } | undefined {
    const acks = this.topology.portLocality(portId).acks;
    if (acks.some((ack) => ack.chassis === chassis))
      return encoded(slicePortOf(this.topology, chassis, portId));
    let shared = this.#shared.get(portId);
    if (shared === undefined) {
      shared = encoded(slicePortOf(this.topology, chassis, portId)) ?? null;
      this.#shared.set(portId, shared);
    }
    return shared ?? undefined;
  }
}

const encoded = (entry: PortEntry | undefined) =>
  entry === undefined ? undefined : { entry, json: JSON.stringify(entry) };

/**
 * The diff from what `state`'s feeds hold to `slice`: the JSON of the entries to upsert (an
 * entry equal to the one held keeps its JSON, without encoding it again), the keys to drop, and
 * the JSON of every entry.
 */
function diffAgainst(
  state: ChassisState,
  slice: Slice,
): { upserts: string[]; removes: string[]; encoded: Map<string, string> } {
  const encoded = new Map<string, string>();
  const upserts: string[] = [];
  for (const [key, entry] of slice) {
    const held = state.encoded.get(key);
    const before = state.entries.get(key);
    const json =
      held !== undefined && before !== undefined && sameData(before, entry)
        ? held
        : JSON.stringify(entry);
    encoded.set(key, json);
    if (held !== json) upserts.push(json);
  }
  const removes: string[] = [];
  for (const key of state.encoded.keys()) if (!slice.has(key)) removes.push(key);
  return { upserts, removes, encoded };
}

/** Deep equality of plain JSON data (what the slice's entries are). */
function sameData(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameData(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  const keys = Object.keys(x);
  if (keys.length !== Object.keys(y).length) return false;
  for (const key of keys) if (!sameData(x[key], y[key])) return false;
  return true;
}
