/**
 * The app runner: the imperative shell around the pure apps. It folds the log into the topology
 * in order, a page at a time (whatever the log holds, up to PAGE_SIZE events), asks every app
 * which ports each event affects, then reconciles those ports on the topology at the end of the
 * page and appends the resulting locality events — one append per port, with its expected
 * revision, all ports in one `appendToStreams` call. A burst (an agent reporting 500
 * interfaces) thus costs one store round trip, not one per port.
 *
 * It installs no flows and acks for no chassis: each chassis' agent follows its slice of the log,
 * programs its own bridge and acks through the API (src/agent/flow-agent.ts); the apps only
 * withdraw the acks no longer wanted (./remote.ts).
 *
 * Exactly-once effect: decisions are differences against the port's facts, checked against the
 * lport machine before they are appended; a lost race re-reads and re-decides; event ids are
 * derived from the cause; the checkpoint is saved after pages that appended anything (live, at
 * most once a second, and at stop), so a restart re-decides only events whose effects are
 * either complete (nothing left to do) or absent.
 *
 * Several instances share the work by virtual partition (./partitions.ts, docs/cluster.md):
 * every runner folds the whole log, and decides only the ports of the partitions it holds, each
 * with its own checkpoint. Alone (the default) it holds them all and saves the one checkpoint
 * `apps`; managed by the cluster, it holds what the cluster gives it (`acquire`, `release`,
 * `revoke`) and saves one checkpoint per partition, so a partition resumes where its last holder
 * left it wherever it moves.
 */

import type { Logger } from 'pino';
import { type PortLocality, portOf } from '../domain/locality.js';
import { Topology } from '../domain/topology.js';
import {
  causedBy,
  type DomainEvent,
  decodeEvent,
  deterministicId,
  envelope,
  localityEventTypes,
  lportStream,
  parseStreamName,
} from '../events/index.js';
import type { NewEvent } from '../events/metadata.js';
import { getOrCreate } from '../lib/maps.js';
import { Backoff, type BackoffPolicy, pause, retry } from '../lib/retry.js';
import { yieldToEventLoop } from '../lib/yield.js';
import { StreamNotFoundError, WrongExpectedVersionError } from '../store/errors.js';
import type {
  AppendResult,
  EventStore,
  RecordedEvent,
  Subscription,
} from '../store/event-store.js';
import type { LocalityApp } from './app.js';
import type { CheckpointStore } from './checkpoints.js';
import { ClaimTrack } from './claim-track.js';
import { classification } from './classification.js';
import { dhcp, l3 } from './distributed.js';
import { dnat, trunk } from './follower.js';
import { pages } from './pages.js';
import {
  type Partition,
  partitionCheckpointName,
  SINGLE_CHECKPOINT_NAME,
  VIRTUAL_PARTITIONS,
  virtualPartitionOf,
  virtualPartitionsOf,
} from './partitions.js';
import { PendingWork } from './pending-work.js';
import { PortLocalityFold, refusalOf } from './port-locality.js';
import { provider, tunnel } from './remote.js';

export const allApps: readonly LocalityApp[] = [
  classification,
  dnat,
  trunk,
  l3,
  dhcp,
  tunnel,
  provider,
];

/** Events folded before the apps decide: one append call per page. */
const PAGE_SIZE = 1000;

/**
 * Live, the checkpoint is saved at most this often (the latest position, when the interval
 * ends): a save is a write to the log, which every subscriber then reads back, so one per bind
 * sits in the bind's way. An older checkpoint only means a restart re-decides a little more,
 * whose effects are complete (nothing is appended twice).
 */
export const APP_RUNNER_CHECKPOINT_INTERVAL_MS = 1_000;

/** Waits before resubscribing after the store failed, and before deciding a failed page again. */
export const APP_RUNNER_BACKOFF: BackoffPolicy = { initialMs: 200, maxMs: 5_000, jitter: 'equal' };

/** Waits before re-reading a port another writer moved first: short, jittered so racers part. */
export const APP_RUNNER_CONTENTION: BackoffPolicy = { initialMs: 5, maxMs: 100 };

const localityTypes = new Set<string>(localityEventTypes);

/**
 * A gap's decisions with its claims created in the order their chassis became wanted
 * (claim-track.ts) rather than the app's; unchanged if the machine refuses that order.
 */
function inWantedOrder(
  portId: string,
  port: PortLocality,
  decisions: readonly Decision[],
  track: ClaimTrack,
): Decision[] {
  const slots: number[] = [];
  for (const [index, { event }] of decisions.entries())
    if (event.type === 'LocalCreated') slots.push(index);
  if (slots.length < 2) return [...decisions];
  const sinceOf = (decision: Decision): bigint => {
    const { event } = decision;
    const chassis = event.type === 'LocalCreated' ? event.data.chassis : '';
    return track.wantedSince(decision.app, chassis) ?? BIG;
  };
  const creates = slots
    .map((slot) => decisions[slot] as Decision)
    .map((decision, order) => ({ decision, order, since: sinceOf(decision) }))
    .sort((a, b) => (a.since < b.since ? -1 : a.since > b.since ? 1 : a.order - b.order));
  const ordered = [...decisions];
  for (const [index, slot] of slots.entries())
    ordered[slot] = (creates[index] as { decision: Decision }).decision;
  let state = port;
  for (const { event } of ordered) {
    if (refusalOf(portId, state, event)) return [...decisions];
    state = PortLocalityFold.evolve(portId, state, event);
  }
  return ordered;
}

/** Past every log position (a chassis not known to be wanted sorts last). */
const BIG = 2n ** 63n;

/** The later of two log positions (bigints: Math.max does not take them). */
const later = (a: bigint, b: bigint): bigint => (a > b ? a : b);
const isLocalityEvent = (event: DomainEvent): boolean => localityTypes.has(event.type);

export interface AppRunnerOptions {
  readonly store: EventStore;
  /**
   * The topology to fold the log into; the composition root shares it with the chassis feeds
   * (which read it, never write). Default: a new one.
   */
  readonly topology?: Topology;
  readonly checkpoints: CheckpointStore;
  readonly logger: Logger;
  readonly apps?: readonly LocalityApp[];
  /**
   * The checkpoint of a runner holding every partition (default `apps`); every partition's
   * own checkpoint falls back on it.
   */
  readonly name?: string;
  /** Attempts per port when other writers keep winning the race. */
  readonly maxAttempts?: number;
  readonly clock?: () => Date;
  /**
   * A static share of the work when several run (LOCUS_PARTITION): every instance folds the
   * whole log, and reconciles only the ports of the virtual partitions p with p mod count =
   * index.
   */
  readonly partition?: Partition;
  /**
   * The cluster hands partitions over (src/cluster): the runner starts holding none, decides
   * those it is given (`acquire`) until they are taken away (`release`, `revoke`).
   */
  readonly managed?: boolean;
  /**
   * Told, per page, how long after its first event was appended (its recorded time) the page
   * was folded (`runner_folded`) and, when it decided anything, its decisions appended
   * (`runner_decided`), in seconds: the bind's stages for /metrics.
   */
  readonly stages?: (stage: 'runner_folded' | 'runner_decided', seconds: number) => void;
  /** Live mode's checkpoint interval (0: after every page that appended). */
  readonly checkpointIntervalMs?: number;
  /**
   * Told of each append the runner made to a port's stream: the events (decoded), the
   * revision they came after and where they ended. The composition root keeps the command
   * handler's stream states current with it (src/commands/state-cache.ts `advance`).
   */
  readonly appended?: (append: RunnerAppend) => void;
}

/** One append of the runner to a port's stream. */
export interface RunnerAppend {
  readonly stream: string;
  readonly after: bigint;
  readonly events: readonly DomainEvent[];
  readonly result: AppendResult;
}

/** A port of a partition not held, asked about by these apps (with their causes). */
type Unheld = [number, string, ReadonlyMap<LocalityApp, RecordedEvent>];

/** One app's decision on a port, with the event that caused it. */
interface Decision {
  readonly app: LocalityApp;
  readonly cause: RecordedEvent;
  /** Its place among the app's decisions on the port (part of its deterministic id). */
  readonly index: number;
  readonly event: DomainEvent;
}

/** A port's decisions, the facts they were made on, and their events. */
interface PlannedAppend {
  readonly portId: string;
  readonly port: PortLocality;
  readonly decisions: readonly Decision[];
  readonly events: readonly NewEvent[];
  /** Decided once for a gap nobody decided (activate): what the apps wanted in it. */
  readonly gap?: Gap;
}

/** What the apps wanted of a port's claims in a gap, past the partition's threshold. */
interface Gap {
  readonly track: ClaimTrack;
  readonly threshold: bigint;
}

export interface AppRunnerMetrics {
  processed: number;
  appended: number;
  refused: number;
  conflicts: number;
  skipped: number;
  gaveUp: number;
}

export class AppRunner {
  readonly topology: Topology;
  readonly metrics: AppRunnerMetrics = {
    processed: 0,
    appended: 0,
    refused: 0,
    conflicts: 0,
    skipped: 0,
    gaveUp: 0,
  };
  private readonly apps: readonly LocalityApp[];
  private readonly name: string;
  /** Holding every partition for good: one checkpoint (`name`) rather than one per partition. */
  private readonly single: boolean;
  private readonly maxAttempts: number;
  private readonly clock: () => Date;
  /** Last position folded into the topology. */
  private position = 0n;
  /**
   * Last position whose every event's work is decided (or, for a partition not held, noted):
   * the end of the last page handled. Checkpoints are saved here, never at `position`, which a
   * page in flight has moved past work still to decide.
   */
  private settled = 0n;
  /**
   * The partitions this runner decides, each with its threshold: events at or below it were
   * fully handled by an earlier holder (its checkpoint): fold, don't decide.
   */
  private readonly held = new Map<number, bigint>();
  /** The lowest threshold held (folding below it decides nothing); undefined: none held. */
  private lowestThreshold: bigint | undefined;
  /** Managed: folding at or below this decides and notes nothing (see thresholdsChanged). */
  private quietUntil = -1n;
  /** The highest threshold held (alone, past it every port is decided). */
  private highestThreshold: bigint | undefined;
  /** The partitions given at construction (all, or a static share), loaded on first use. */
  private initial: readonly number[] | undefined;
  /** Held partitions whose ports were appended to since their checkpoint was last saved. */
  private readonly dirty = new Set<number>();
  /**
   * Managed only: for the ports of partitions not held, the last event that asked each app about
   * them (partition → port → app → event), so a partition acquired later reconciles what
   * happened since its checkpoint.
   */
  private readonly unheld: Map<number, Map<string, Map<LocalityApp, RecordedEvent>>> | undefined;
  /**
   * Managed only: for the same ports, what the claim apps wanted of their claims after each
   * event (partition → port → track), so that one decision at acquisition leaves the claims in
   * the order deciding each event would have (./claim-track.ts).
   */
  private readonly tracks: Map<number, Map<string, ClaimTrack>> | undefined;
  private readonly partitionCache = new Map<string, number>();
  /** The log's head when `start` was called (see caughtUp). */
  private startHead: bigint | undefined;
  /** Partitions acquired, noted until the fold reaches the log's head as it was then. */
  private readonly pending = new Map<number, { checkpoint: bigint; until: bigint }>();
  /** Pages and hand-overs run one at a time: a release waits for the page in flight. */
  private exclusive: Promise<unknown> = Promise.resolve();
  private subscription: Subscription | undefined;
  /** Ports this runner appended to, as they are after its appends, until the fold catches up. */
  private readonly ahead = new Map<string, PortLocality>();
  private loop: Promise<void> | undefined;
  /** The checkpoint saves under way, chained (saveCheckpoint). */
  private saving: Promise<void> = Promise.resolve();
  /** Live mode's next checkpoint save, when one is due. */
  private checkpointTimer: NodeJS.Timeout | undefined;
  private stopping: AbortController | undefined;
  /** The last decide's appends, when they can be folded at once (ownEvents). */
  private ownAppended: RecordedEvent[] | undefined;
  /** Managed: asked before decisions go out (see gateDecisions). */
  private gate: (() => Promise<void> | undefined) | undefined;

  constructor(private readonly options: AppRunnerOptions) {
    this.topology = options.topology ?? new Topology(new PortLocalityFold());
    this.apps = options.apps ?? allApps;
    const partition = options.partition ?? { index: 0, count: 1 };
    this.name = options.name ?? SINGLE_CHECKPOINT_NAME;
    this.single = options.managed !== true && partition.count === 1;
    this.initial = options.managed === true ? [] : virtualPartitionsOf(partition);
    this.unheld = options.managed === true ? new Map() : undefined;
    this.tracks = options.managed === true ? new Map() : undefined;
    this.maxAttempts = options.maxAttempts ?? 8;
    this.clock = options.clock ?? (() => new Date());
  }

  /** Position of the last event folded. */
  get headPosition(): bigint {
    return this.position;
  }

  /**
   * Whether the fold has reached the log's head as it was at `start` (always, caught up in
   * batch mode). The cluster gives a runner partitions only then (while others are there to
   * decide them), so a joining instance takes no work it would sit on while folding the log.
   */
  get caughtUp(): boolean {
    return this.startHead === undefined || this.position >= this.startHead;
  }

  /** The virtual partitions this runner decides now, ascending. */
  get partitions(): number[] {
    return [...this.held.keys()].sort((a, b) => a - b);
  }

  /**
   * Starts deciding `partitions` (the cluster holds their leases now). Each resumes from its own
   * checkpoint (or `apps`, whichever is later), without deciding any event on a topology older
   * than the log's head when it was acquired: until the fold reaches that head the partition's
   * ports are only noted (the last event asking each app about each port), then the ports that
   * events after its checkpoint asked about are reconciled once, on that topology, and the
   * events after it are decided as they are folded. A predecessor's decisions this runner has
   * not folded yet are thus never overruled by an older view (a view withdrawn and re-created),
   * and decisions being differences against the port's facts, once on the latest truth is what
   * deciding each event would have converged to — but for the order of claims, which picks the
   * owner: what the claim apps wanted in the gap (./claim-track.ts) puts it right.
   */
  acquire(partitions: readonly number[]): Promise<void> {
    return this.serially(async () => {
      const fresh = partitions.filter(
        (partition) => !this.held.has(partition) && !this.pending.has(partition),
      );
      if (fresh.length === 0) return;
      const [head, thresholds] = await Promise.all([
        this.unheld === undefined ? Promise.resolve(0n) : this.options.store.headPosition(),
        this.loadThresholds(fresh),
      ]);
      for (const [index, partition] of fresh.entries())
        this.pending.set(partition, { checkpoint: thresholds[index] as bigint, until: head });
      this.thresholdsChanged();
      this.options.logger.info(
        { partitions: fresh, position: String(this.position), head: String(head) },
        'app runner: acquiring partitions',
      );
      await this.activate(this.stopping?.signal);
    });
  }

  /**
   * Starts deciding the acquired partitions whose acquisition head the fold has reached:
   * reconciles their noted ports once, then decides as it folds.
   */
  private async activate(stopping?: AbortSignal): Promise<void> {
    const ready = [...this.pending].filter(([, { until }]) => until <= this.position);
    if (ready.length === 0) return;
    const work = new PendingWork();
    const gaps = new Map<string, Gap>();
    for (const [partition, { checkpoint }] of ready) {
      this.pending.delete(partition);
      this.held.set(partition, later(checkpoint, this.position));
      this.dirty.add(partition);
      const tracks = this.tracks?.get(partition);
      for (const [portId, apps] of this.unheld?.get(partition) ?? [])
        for (const [app, cause] of apps)
          if (cause.position > checkpoint) {
            work.add(app, portId, cause);
            const track = tracks?.get(portId);
            if (track !== undefined) gaps.set(portId, { track, threshold: checkpoint });
          }
      this.unheld?.delete(partition);
      this.tracks?.delete(partition);
    }
    this.thresholdsChanged();
    this.options.logger.info(
      {
        partitions: ready.map(([partition]) => partition),
        position: String(this.position),
        reconciling: work.ports.size,
        // Claims released in the gap that nobody appended (re-done now: claim-track.ts).
        missedReleases: [...gaps.values()].reduce(
          (sum, { track, threshold }) => sum + track.missedAfter(threshold).length,
          0,
        ),
      },
      'app runner: deciding acquired partitions',
    );
    await this.decideWithRetry(work, stopping, gaps);
    // Our appends come back through the subscription; the next page must not take them.
    this.ownAppended = undefined;
    // Every partition acquired gets a checkpoint of its own, no longer the `apps` fallback.
    this.saveCheckpoint();
  }

  /**
   * Stops deciding `partitions` gracefully: after the page in flight, their checkpoints are
   * saved at the runner's position; when this resolves, another instance may take them.
   */
  release(partitions: readonly number[]): Promise<void> {
    return this.serially(async () => {
      this.forget(partitions.filter((partition) => this.pending.has(partition)));
      const leaving = partitions.filter((partition) => this.held.has(partition));
      if (leaving.length === 0) return;
      await this.saving;
      const position = this.settled;
      await Promise.all(
        leaving.map((partition) =>
          this.options.checkpoints.save(
            partitionCheckpointName(partition),
            this.checkpointOf(partition, position),
          ),
        ),
      );
      this.forget(leaving);
      this.options.logger.info(
        { partitions: leaving, position: String(position) },
        'app runner: released partitions',
      );
    });
  }

  /**
   * The cluster's gate, asked right before every append of decisions: a promise while leases
   * whose local deadline passed (the event loop stalled past it) are being renewed. The
   * decisions wait for it; those of partitions revoked meanwhile are noted instead, as if folded
   * unheld (docs/cluster.md, Leases).
   */
  gateDecisions(gate: () => Promise<void> | undefined): void {
    this.gate = gate;
  }

  /**
   * Stops deciding `partitions` at once, saving nothing: their leases are lost, another
   * instance may hold them already. A decision already being appended may still land; the
   * store's expected revisions settle any overlap.
   */
  revoke(partitions: readonly number[]): void {
    const leaving = partitions.filter(
      (partition) => this.held.has(partition) || this.pending.has(partition),
    );
    if (leaving.length === 0) return;
    this.forget(leaving);
    this.options.logger.warn({ partitions: leaving }, 'app runner: partitions revoked');
  }

  private forget(partitions: readonly number[]): void {
    for (const partition of partitions) {
      // Still catching up to its acquisition: nothing decided, its notes still hold.
      if (this.pending.delete(partition)) continue;
      this.held.delete(partition);
      this.dirty.delete(partition);
      this.unheld?.set(partition, new Map());
      this.tracks?.delete(partition);
    }
    this.thresholdsChanged();
  }

  /** Runs `task` after every page and hand-over before it. */
  private serially<T>(task: () => Promise<T>): Promise<T> {
    const run = this.exclusive.then(task, task);
    this.exclusive = run.catch(() => undefined);
    return run;
  }

  /** Each partition's threshold: the later of its own checkpoint and the single one. */
  private async loadThresholds(partitions: readonly number[]): Promise<bigint[]> {
    if (partitions.length === 0) return [];
    const [single, ...own] = await Promise.all([
      this.options.checkpoints.load(this.name),
      ...partitions.map((partition) =>
        this.options.checkpoints.load(partitionCheckpointName(partition)),
      ),
    ]);
    return own.map((position) => (position > (single ?? 0n) ? position : (single ?? 0n)));
  }

  private thresholdsChanged(): void {
    let lowest: bigint | undefined;
    let highest: bigint | undefined;
    for (const threshold of this.held.values()) {
      if (lowest === undefined || threshold < lowest) lowest = threshold;
      if (highest === undefined || threshold > highest) highest = threshold;
    }
    this.lowestThreshold = lowest;
    this.highestThreshold = highest;
    // Managed: every partition held or acquired, events at or below all their checkpoints ask
    // nothing of anyone here (a restart's fold); a partition held elsewhere needs every note.
    let quiet = -1n;
    if (this.held.size + this.pending.size === VIRTUAL_PARTITIONS) {
      quiet = lowest ?? -1n;
      for (const { checkpoint } of this.pending.values())
        if (quiet === -1n || checkpoint < quiet) quiet = checkpoint;
    }
    this.quietUntil = quiet;
  }

  /** The position every held partition is handled up to. */
  private lowestCheckpoint(position: bigint): bigint {
    const lowest = this.lowestThreshold ?? position;
    return position > lowest ? position : lowest;
  }

  /** A partition's checkpoint at `position`: never behind what its previous holder reached. */
  private checkpointOf(partition: number, position: bigint): bigint {
    const threshold = this.held.get(partition) ?? 0n;
    return position > threshold ? position : threshold;
  }

  private partitionOf(portId: string): number {
    let partition = this.partitionCache.get(portId);
    if (partition === undefined) {
      partition = virtualPartitionOf(portId);
      this.partitionCache.set(portId, partition);
    }
    return partition;
  }

  /**
   * Processes everything in the log, including the events this runner appends, until nothing
   * is left. For tests, the CLI and batch runs; `start` is the live mode.
   */
  async catchUp(options: { until?: bigint } = {}): Promise<void> {
    await this.loadCheckpoint();
    const until = options.until;
    try {
      for (;;) {
        const page = await this.options.store.readAll({
          after: this.position,
          maxCount: PAGE_SIZE,
        });
        const wanted = until === undefined ? page : page.filter((r) => r.position <= until);
        if (wanted.length === 0) return;
        await this.serially(async () => {
          await this.handlePage(wanted);
          await this.activate();
        });
        if (wanted.length < page.length) return;
        await yieldToEventLoop(); // a read from PGlite never waits on I/O
      }
    } finally {
      await this.saving;
    }
  }

  /** Follows the log live (catch-up, then live) until `stop`. */
  async start(): Promise<void> {
    await this.loadCheckpoint();
    this.startHead = await this.options.store.headPosition();
    this.stopping = new AbortController();
    this.loop = this.follow(this.stopping.signal);
  }

  /**
   * A subscription ends when the store fails (unreachable, restarted): resubscribe after the
   * last event handled, with backoff, until stopped — never give up following the log.
   */
  private async follow(stopping: AbortSignal): Promise<void> {
    const backoff = new Backoff(APP_RUNNER_BACKOFF);
    while (!stopping.aborted) {
      const subscription = this.options.store.subscribeToAll({ after: this.position });
      this.subscription = subscription;
      try {
        for await (const page of pages(subscription, PAGE_SIZE)) {
          await this.serially(async () => {
            await this.handlePage(page, stopping);
            await this.activate(stopping);
          });
          backoff.reset();
        }
        if (stopping.aborted) return;
      } catch (error) {
        if (stopping.aborted) return;
        this.options.logger.error(
          { err: error, position: String(this.position), failures: backoff.attempts + 1 },
          'app runner subscription failed; resubscribing after its last event',
        );
      }
      await pause(backoff.next(), stopping);
    }
  }

  async stop(): Promise<void> {
    this.stopping?.abort();
    clearTimeout(this.checkpointTimer);
    this.checkpointTimer = undefined;
    await this.subscription?.close();
    await this.loop;
    await this.exclusive;
    await this.saving;
    if (this.single) {
      await this.options.checkpoints.save(this.name, this.settled);
      return;
    }
    const saves = [...this.held.keys()].map((partition) =>
      this.options.checkpoints.save(
        partitionCheckpointName(partition),
        this.checkpointOf(partition, this.settled),
      ),
    );
    if (this.held.size === VIRTUAL_PARTITIONS)
      saves.push(this.options.checkpoints.save(this.name, this.lowestCheckpoint(this.settled)));
    await Promise.all(saves);
  }

  /**
   * Saves the checkpoint after a page's decisions were appended (live: at most once per
   * `checkpointIntervalMs`, of the latest position), without holding the next page up for it (the runner's own decisions come back through the next page: a bind's claim waits
   * for the fold, not for the checkpoint). Saves run one after another, in order; a failed one
   * is logged, and the next page's saves a later position (a restart from an older checkpoint
   * re-decides events whose effects are complete: nothing is appended twice).
   */
  private saveCheckpoint(): void {
    const live = this.stopping !== undefined && !this.stopping.signal.aborted;
    const intervalMs = this.options.checkpointIntervalMs ?? APP_RUNNER_CHECKPOINT_INTERVAL_MS;
    if (!live || intervalMs <= 0) {
      this.saveCheckpointNow();
      return;
    }
    // Live: at most one save per interval, of the position reached when it ends — between pages
    // and hand-overs, never while one is in flight (a revoke then leaves work only noted).
    this.checkpointTimer ??= setTimeout(() => {
      void this.serially(async () => {
        this.checkpointTimer = undefined;
        if (this.stopping?.signal.aborted === false) this.saveCheckpointNow();
      });
    }, intervalMs);
    this.checkpointTimer.unref();
  }

  private saveCheckpointNow(): void {
    const position = this.settled;
    // One checkpoint alone; else those of the partitions held and appended to (or just
    // acquired). Never one not held: its checkpoint would pass the work it only noted, which
    // taking it back then skips. Each with its partition (undefined: every one).
    const saves: [string, bigint, number | undefined][] = this.single
      ? [[this.name, position, undefined]]
      : [...this.dirty]
          .filter((partition) => this.held.has(partition))
          .map((partition) => [
            partitionCheckpointName(partition),
            this.checkpointOf(partition, position),
            partition,
          ]);
    // Holding every partition, `apps` is true too: a later runner alone starts from it.
    if (!this.single && saves.length > 0 && this.held.size === VIRTUAL_PARTITIONS)
      saves.push([this.name, this.lowestCheckpoint(position), undefined]);
    this.dirty.clear();
    if (saves.length === 0) return;
    this.saving = this.saving
      .then(async () => {
        // A checkpoint is the holder's too: none while leases past their deadline are being
        // renewed, none of a partition lost meanwhile (another holder's would go back).
        const gate = this.gate?.();
        if (gate !== undefined) await gate;
        const still = this.single
          ? saves
          : saves.filter(([, , partition]) =>
              partition === undefined
                ? this.held.size === VIRTUAL_PARTITIONS
                : this.held.has(partition),
            );
        await Promise.all(still.map(([name, at]) => this.options.checkpoints.save(name, at)));
      })
      .catch((error: unknown) =>
        this.options.logger.warn(
          { err: error, position: String(position) },
          'app runner: saving the checkpoint failed; the next page saves a later one',
        ),
      );
  }

  /**
   * Takes the partitions given at construction (all, or a static share), once. Alone, the one
   * checkpoint `apps` (one read per start, as many tests and restarts do): a runner managed by
   * the cluster keeps it current whenever it holds every partition.
   */
  private async loadCheckpoint(): Promise<void> {
    const initial = this.initial;
    if (initial === undefined) return;
    this.initial = undefined;
    const thresholds = this.single
      ? initial.map(() => undefined)
      : await this.loadThresholds(initial);
    const single = this.single ? await this.options.checkpoints.load(this.name) : 0n;
    for (const [index, partition] of initial.entries())
      this.held.set(partition, thresholds[index] ?? single);
    this.thresholdsChanged();
  }

  /**
   * Folds a page of events into the topology, then decides everything they asked for at once.
   * Folding cannot fail on the store; deciding can (store unreachable): it is retried with
   * backoff until it succeeds or the runner stops — the events are folded already, so the work
   * they left must not be dropped with a failed attempt.
   */
  private async handlePage(page: readonly RecordedEvent[], stopping?: AbortSignal): Promise<void> {
    const stages = this.options.stages;
    const first = page[0];
    const since =
      stages === undefined || first === undefined ? Number.NaN : Date.parse(first.recordedAt);
    let work = new PendingWork();
    let decided = false;
    for (const recorded of page) {
      if (this.fold(recorded, work)) continue;
      // The event asks again for a port the page already asks for: decide what is pending
      // first, so every port is decided after every event that touches it, exactly as one
      // event at a time would (an interface gone and back within a page must still release
      // and re-claim: the order of claims picks the owner).
      decided = (await this.decideWithRetry(work, stopping)) || decided;
      work = new PendingWork();
      this.fold(recorded, work);
    }
    if (stages !== undefined && !Number.isNaN(since))
      stages('runner_folded', Math.max(0, Date.now() - since) / 1000);
    decided = (await this.decideWithRetry(work, stopping)) || decided;
    // Every event of the page decided (or noted): a checkpoint may pass it now.
    this.settled = this.position;
    if (decided) this.saveCheckpoint();
    if (stages !== undefined && decided && !Number.isNaN(since))
      stages('runner_decided', Math.max(0, Date.now() - since) / 1000);
    // Our own decisions, right behind the page in the log: folded now rather than when the
    // subscription reads them back (the chassis feeds follow this topology: a bind's claim
    // reaches the agents without waiting for that read). They are then skipped when read.
    const own = this.ownAppended;
    this.ownAppended = undefined;
    if (own !== undefined && own[0]?.position === this.position + 1n)
      await this.handlePage(own, stopping);
  }

  /** Decides `work`; whether anything was appended. */
  private async decideWithRetry(
    work: PendingWork,
    stopping?: AbortSignal,
    gaps?: ReadonlyMap<string, Gap>,
  ): Promise<boolean> {
    if (work.isEmpty) return false;
    // Catching up (no signal) fails at once. Following retries until stopped, and tries once
    // more when stopped during a wait: the page is folded already, its work must not be dropped.
    const backoff = new Backoff(APP_RUNNER_BACKOFF);
    for (;;) {
      try {
        return (await this.decide(work, gaps)) > 0;
      } catch (error) {
        if (!stopping || stopping.aborted) throw error;
        const delay = backoff.next();
        this.options.logger.warn(
          { err: error, position: String(this.position), attempt: backoff.attempts, delay },
          'app runner failed to decide a page of events, retrying',
        );
        await pause(delay, stopping);
      }
    }
  }

  /**
   * Folds one event and notes what it asks the apps to re-check (before and after the fold).
   * Returns false, folding nothing, when it asks (before the fold) for a port `work` already
   * holds: that work must be decided first.
   */
  private fold(recorded: RecordedEvent, work: PendingWork): boolean {
    if (recorded.position <= this.position) return true;
    const decoded = decodeEvent(recorded.type, recorded.data, recorded.metadata.schemaVersion);
    if (!decoded.ok) {
      this.position = recorded.position;
      const stream = parseStreamName(recorded.streamName);
      if (stream?.category === 'lport') this.topology.skipUnreadable(stream.id, recorded.revision);
      if (!recorded.streamName.startsWith('checkpoint-')) {
        this.metrics.skipped++;
        this.options.logger.warn(
          { type: recorded.type, position: String(recorded.position), reason: decoded.reason },
          'skipping an event this version cannot read',
        );
      }
      return true;
    }
    const event = decoded.event;
    // Below every held partition's threshold, and nothing to remember for partitions not held:
    // fold only (a restart catching up to its checkpoint).
    const deciding =
      this.unheld === undefined
        ? this.lowestThreshold !== undefined && recorded.position > this.lowestThreshold
        : recorded.position > this.quietUntil;
    // Ports of partitions not held that the event asked about: observed after the fold.
    const unheld: Unheld[] = [];
    if (deciding) {
      const asked = this.ours(
        this.collectAffected(event, recorded, true),
        recorded.position,
        unheld,
      );
      if (!work.isEmpty) for (const id of asked.ports.keys()) if (work.ports.has(id)) return false;
      work.merge(asked);
    }
    this.topology.apply(event, recorded.revision);
    this.position = recorded.position;
    this.metrics.processed++;
    if (event.type === 'LocalDeleted') this.releasedUnheld(event.data.portId, event.data.chassis);
    if (!deciding) return true;
    work.merge(this.ours(this.collectAffected(event, recorded, false), recorded.position, unheld));
    for (const [partition, portId, apps] of unheld) this.observe(partition, portId, apps);
    return true;
  }

  /**
   * Managed: what the claim apps asked about a port of a partition not held would decide now, on
   * the facts as folded — kept for that partition's next holder (./claim-track.ts).
   */
  private observe(
    partition: number,
    portId: string,
    apps: ReadonlyMap<LocalityApp, RecordedEvent>,
  ): void {
    const tracks = this.tracks;
    if (tracks === undefined) return;
    let port: PortLocality | undefined;
    for (const [app, cause] of apps) {
      if (app.claims !== true) continue;
      port ??= this.currentPort(portId);
      const ports = getOrCreate(tracks, partition, () => new Map<string, ClaimTrack>());
      const track = getOrCreate(ports, portId, () => new ClaimTrack());
      track.observe(app, port.claims, app.reconcile(this.topology, portId, port), cause);
      if (track.settledOn(port.claims)) ports.delete(portId);
    }
  }

  /** A claim released in the log: no longer a release missed by whoever decides next. */
  private releasedUnheld(portId: string, chassis: string): void {
    const tracks = this.tracks;
    if (tracks === undefined || tracks.size === 0) return;
    tracks.get(this.partitionOf(portId))?.get(portId)?.released(chassis);
  }

  /**
   * The part of `asked` this runner decides: ports of partitions held, past their threshold.
   * Managed, the rest (ports of partitions not held) is remembered for a later acquisition.
   */
  private ours(asked: PendingWork, position: bigint, unheld?: Unheld[]): PendingWork {
    // Alone, past every threshold (the live path): everything asked is ours.
    if (this.single && this.highestThreshold !== undefined && position > this.highestThreshold)
      return asked;
    // Managed, every port asked usually is of a partition held, past its threshold: all of it is
    // ours, as it is (a copy was two maps per port, twice per event folded).
    if (this.allOurs(asked, position)) return asked;
    const ours = new PendingWork();
    for (const [portId, apps] of asked.ports) {
      const partition = this.partitionOf(portId);
      const threshold = this.held.get(partition);
      if (threshold !== undefined) {
        if (position > threshold) for (const [app, cause] of apps) ours.add(app, portId, cause);
        continue;
      }
      this.note(partition, portId, apps);
      unheld?.push([partition, portId, apps]);
    }
    return ours;
  }

  /** Whether every port `asked` names is of a partition held, past its threshold. */
  private allOurs(asked: PendingWork, position: bigint): boolean {
    for (const portId of asked.ports.keys()) {
      const threshold = this.held.get(this.partitionOf(portId));
      if (threshold === undefined || position <= threshold) return false;
    }
    return true;
  }

  /** Managed: remembers what `apps` must re-check on a port of a partition not held. */
  private note(
    partition: number,
    portId: string,
    apps: ReadonlyMap<LocalityApp, RecordedEvent>,
  ): void {
    const unheld = this.unheld;
    if (unheld === undefined) return;
    const ports = getOrCreate(unheld, partition, () => new Map());
    const causes = getOrCreate(ports, portId, () => new Map<LocalityApp, RecordedEvent>());
    for (const [app, cause] of apps) causes.set(app, cause);
  }

  /**
   * Every app re-checks the ports it says an event affects, asked before and after the fold.
   * Level-triggered on the port itself too: every app re-checks a port whose locality changed.
   * Usually a no-op (the change was decided on the `ahead` view). After a restart it is not: a
   * predecessor lagging behind the commands appended decisions after model events it never
   * handled; re-deciding those events, this runner saw a fold without its predecessor's later
   * decisions, so one that should undo them (a trunk parent deleted) decided nothing. Folding
   * them now brings the port back to what the apps want.
   */
  private collectAffected(
    event: DomainEvent,
    recorded: RecordedEvent,
    before: boolean,
  ): PendingWork {
    const work = new PendingWork();
    const own = before && isLocalityEvent(event) ? portOf(event) : undefined;
    for (const app of this.apps) {
      if (own !== undefined) work.add(app, own, recorded);
      for (const portId of app.affected(this.topology, event)) work.add(app, portId, recorded);
    }
    return work;
  }

  /**
   * Decides a page's work: every port's decisions (all apps, in order, each seeing the previous
   * ones), and one append per port — all ports in one call. A port another writer moved (an
   * agent's ack, a command) is re-read and re-decided alone.
   */
  private async decide(work: PendingWork, gaps?: ReadonlyMap<string, Gap>): Promise<number> {
    let ready: PlannedAppend[] = [];
    for (const [portId, apps] of work.ports) {
      // A partition revoked (or released) since the work was collected is another's now; its
      // work is noted, as if it had been folded unheld: taken back later, it is still decided.
      const partition = this.partitionOf(portId);
      if (!this.held.has(partition)) {
        this.note(partition, portId, apps);
        this.observe(partition, portId, apps);
        continue;
      }
      const plan = this.plan(portId, apps, this.currentPort(portId), gaps?.get(portId));
      if (plan.decisions.length > 0) ready.push(plan);
    }
    this.ownAppended = undefined;
    if (ready.length === 0) return 0;
    const gate = this.gate?.();
    if (gate !== undefined) {
      await gate;
      ready = ready.filter((plan) => this.stillHeld(plan.portId, work));
      if (ready.length === 0) return 0;
    }
    let appended = 0;
    const outcomes = await this.options.store.appendToStreams(
      ready.map((plan) => ({
        streamName: lportStream(plan.portId),
        events: plan.events,
        expectedRevision: plan.port.revision < 0n ? 'no_stream' : plan.port.revision,
      })),
    );
    const conflicted: PlannedAppend[] = [];
    outcomes.forEach((outcome, index) => {
      const plan = ready[index] as PlannedAppend;
      if (outcome.ok) {
        appended += plan.events.length;
        this.recordAppended(plan, outcome.result);
        this.appendedTo(plan.portId);
      } else conflicted.push(plan);
    });
    if (conflicted.length === 0) this.ownAppended = this.ownEvents(ready, outcomes);
    for (const plan of conflicted) appended += await this.redecide(plan, work);
    this.metrics.appended += appended;
    return appended;
  }

  /** The decisions of every app asked to re-check the port, in app order, chained. */
  private plan(
    portId: string,
    apps: ReadonlyMap<LocalityApp, RecordedEvent>,
    port: PortLocality,
    gap?: Gap,
  ): PlannedAppend {
    let decisions: Decision[] = [];
    let state = port;
    // A gap's missed releases first (claim-track.ts): the claim is then re-created, if still
    // wanted, behind those wanted since before it went — where deciding each event puts it.
    if (gap !== undefined)
      for (const [index, [chassis, { app, cause }]] of gap.track
        .missedAfter(gap.threshold)
        .entries()) {
        const event: DomainEvent = { type: 'LocalDeleted', data: { portId, chassis } };
        if (!state.claims.includes(chassis) || refusalOf(portId, state, event)) continue;
        decisions.push({ app, cause, index: -1 - index, event });
        state = PortLocalityFold.evolve(portId, state, event);
      }
    for (const app of this.apps) {
      const cause = apps.get(app);
      if (!cause) continue;
      const checked = this.checked(app, portId, state, app.reconcile(this.topology, portId, state));
      for (const [index, event] of checked.entries()) {
        decisions.push({ app, cause, index, event });
        state = PortLocalityFold.evolve(portId, state, event);
      }
    }
    if (gap !== undefined) decisions = inWantedOrder(portId, port, decisions, gap.track);
    const events = decisions.map(({ app: by, cause: why, index, event }) =>
      envelope(event, {
        app: by.name,
        cause: causedBy(why),
        id: deterministicId(why.id, by.name, portId, String(index), JSON.stringify(event)),
        time: this.clock(),
      }),
    );
    return { portId, port, decisions, events, ...(gap === undefined ? {} : { gap }) };
  }

  /**
   * The events just appended, as the log holds them, when they follow the last event folded
   * with nothing between (no other writer appended meanwhile); otherwise undefined and the
   * subscription brings them. Each stream's events are taken to end at its result's position:
   * when those blocks tile the positions right after the fold's, that is where they are.
   */
  private ownEvents(
    ready: readonly PlannedAppend[],
    outcomes: readonly { readonly ok: boolean; readonly result?: AppendResult }[],
  ): RecordedEvent[] | undefined {
    const blocks: { first: bigint; plan: PlannedAppend; last: AppendResult }[] = [];
    for (const [index, plan] of ready.entries()) {
      const result = outcomes[index]?.result;
      if (result === undefined || plan.events.length === 0) return undefined;
      const count = BigInt(plan.events.length);
      blocks.push({ first: result.position - count + 1n, plan, last: result });
    }
    blocks.sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
    const recordedAt = this.clock().toISOString();
    const events: RecordedEvent[] = [];
    let next = this.position + 1n;
    for (const { first, plan, last } of blocks) {
      if (first !== next) return undefined;
      const count = BigInt(plan.events.length);
      for (const [index, event] of plan.events.entries()) {
        const offset = BigInt(index);
        events.push({
          ...event,
          streamName: lportStream(plan.portId),
          revision: last.nextExpectedRevision - count + 1n + offset,
          position: first + offset,
          recordedAt,
        });
      }
      next = last.position + 1n;
    }
    return events;
  }

  /** Whether the port's partition is still held; if not, its work is noted for a later holder. */
  private stillHeld(portId: string, work: PendingWork): boolean {
    const partition = this.partitionOf(portId);
    if (this.held.has(partition)) return true;
    const apps = work.ports.get(portId);
    if (apps !== undefined) {
      this.note(partition, portId, apps);
      this.observe(partition, portId, apps);
    }
    return false;
  }

  /**
   * Marks the port's partition for the next checkpoint save — if still held: one revoked while
   * the append was in flight must not be saved past the work it has noted since.
   */
  private appendedTo(portId: string): void {
    if (this.single) return;
    const partition = this.partitionOf(portId);
    if (this.held.has(partition)) this.dirty.add(partition);
  }

  private recordAppended(plan: PlannedAppend, result: AppendResult): void {
    let after = plan.port;
    for (const { event } of plan.decisions)
      after = PortLocalityFold.evolve(plan.portId, after, event);
    this.ahead.set(plan.portId, { ...after, revision: result.nextExpectedRevision });
    if (plan.port.revision >= 0n)
      this.options.appended?.({
        stream: lportStream(plan.portId),
        after: plan.port.revision,
        events: plan.decisions.map(({ event }) => event),
        result,
      });
  }

  /** Another writer (or our own earlier run) moved the port: re-read and re-decide, alone. */
  private async redecide(plan: PlannedAppend, work: PendingWork): Promise<number> {
    const apps = work.ports.get(plan.portId) ?? new Map<LocalityApp, RecordedEvent>();
    try {
      return await retry(
        async () => {
          this.metrics.conflicts++;
          const fresh = await this.readPort(plan.portId);
          if (!fresh) return 0;
          const next = this.plan(plan.portId, apps, fresh, plan.gap);
          if (next.events.length === 0) return 0;
          await this.gate?.();
          if (!this.stillHeld(next.portId, work)) return 0;
          const result = await this.options.store.appendToStream(
            lportStream(next.portId),
            next.events,
            { expectedRevision: fresh.revision < 0n ? 'no_stream' : fresh.revision },
          );
          this.recordAppended(next, result);
          this.appendedTo(next.portId);
          return next.events.length;
        },
        {
          ...APP_RUNNER_CONTENTION,
          attempts: this.maxAttempts,
          retryable: (error) => error instanceof WrongExpectedVersionError,
        },
      );
    } catch (error) {
      if (!(error instanceof WrongExpectedVersionError)) throw error;
    }
    this.metrics.gaveUp++;
    this.options.logger.error(
      { portId: plan.portId, attempts: this.maxAttempts },
      'gave up reconciling a port: other writers kept winning',
    );
    return 0;
  }

  /**
   * The port's facts including what this runner appended and has not folded yet: deciding on
   * them saves a lost race (and a re-read) whenever one event leads to another on the port.
   */
  private currentPort(portId: string): PortLocality {
    const folded = this.topology.portLocality(portId);
    const ahead = this.ahead.get(portId);
    if (ahead === undefined) return folded;
    if (ahead.revision > folded.revision) return ahead;
    this.ahead.delete(portId);
    return folded;
  }

  /** Keeps the decisions the lport machine accepts, in order; a refusal is a bug to report. */
  private checked(
    app: LocalityApp,
    portId: string,
    port: PortLocality,
    decisions: readonly DomainEvent[],
  ): DomainEvent[] {
    const accepted: DomainEvent[] = [];
    let state = port;
    for (const decision of decisions) {
      const refusal = refusalOf(portId, state, decision);
      if (refusal) {
        this.metrics.refused++;
        this.options.logger.error({ app: app.name, portId, refusal }, 'app decision refused');
        break;
      }
      state = PortLocalityFold.evolve(portId, state, decision);
      accepted.push(decision);
    }
    return accepted;
  }

  private async readPort(portId: string): Promise<PortLocality | undefined> {
    try {
      const recorded = await this.options.store.readStream(lportStream(portId));
      const fold = new PortLocalityFold();
      for (const r of recorded) {
        const decoded = decodeEvent(r.type, r.data, r.metadata.schemaVersion);
        if (decoded.ok) fold.apply(decoded.event, r.revision);
        else fold.skip(portId, r.revision);
      }
      return fold.get(portId);
    } catch (error) {
      if (error instanceof StreamNotFoundError) return undefined;
      throw error;
    }
  }
}
