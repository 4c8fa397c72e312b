/**
 * Keeps one bridge's flow table equal to a desired flow set.
 *
 * Incremental: each batch diffs the new desired set against the set last installed and sends
 * only the difference (planChanges: whole removed ports by cookie, other removals strictly,
 * additions and changes as adds) as one atomic bundle (over the bridge's OpenFlow connection,
 * src/ovs/openflow/, or an `ovs-ofctl --bundle add-flows`: whatever `Ofctl` it is given); a source that
 * keeps its table incrementally hands the difference itself (`Desired.delta`, planDelta), so
 * the batch costs what changed rather than the size of the table. Requests that
 * arrive while a batch runs are coalesced into the next one, and in pull mode the desired set
 * is read when the batch starts, so a burst of changes costs one computation and one bundle.
 *
 * Anti-entropy: a full sync dumps the bridge, diffs the dump against the desired set and
 * repairs every difference in one bundle, counting the drift (what differed from the set it
 * believed installed) and logging it. It runs on start, after ovs-vswitchd restarts (detected
 * by a probe: a new management socket), after a failed batch (the table is then unknown), and
 * periodically.
 */
import type { Logger } from 'pino';
import { type BackoffPolicy, backoffDelay, withBounds } from '../../lib/retry.js';
import { parseDump } from '../pipeline/flow.js';
import type { FlowSet } from '../pipeline/pipeline.js';
import type { Ofctl } from './ofctl.js';
import {
  type DriftCounts,
  driftOf,
  driftTotal,
  type FlowDelta,
  type FlowTable,
  planChanges,
  planDelta,
  revertDelta,
} from './plan.js';

export interface Desired<C> {
  readonly flows: FlowSet;
  /** What the flows were made from (e.g. the chassis view), kept with the applied state. */
  readonly context: C;
  /**
   * Pull mode: how `flows` differs from the desired set handed out before (whose table was the
   * same live map): an incremental sync then plans from it alone, in O(change).
   */
  readonly delta?: FlowDelta;
  /** Called once these flows are on the bridge, before the waiters hear of it. */
  readonly onApplied?: () => void;
}

export type SyncReason = 'start' | 'restart' | 'periodic' | 'recovery' | 'manual';

export interface SyncReport {
  /** Set for a full sync. */
  readonly reason?: SyncReason;
  /** Full sync: how the dumped table differed from the one believed installed. */
  readonly drift?: DriftCounts;
  readonly added: number;
  readonly changed: number;
  readonly deleted: number;
  readonly ops: number;
}

export interface Applied<C> extends Desired<C> {
  readonly report: SyncReport;
}

/**
 * The periodic anti-entropy's delays are drawn from period × [1 − J, 1 + J): reconcilers
 * started together (a host's agents, a fleet restarted at once, the simulated chassis of
 * bench/scale-sim in one process) drift apart instead of all running their full sync — every
 * flow recomputed, dumped and compared, hundreds of ms at 12,500 ports — in the same second,
 * where a bind then waited seconds for its acks (bench/README, "The 3-second bind").
 */
export const ANTI_ENTROPY_JITTER = 0.25;

/** Waits before a full sync after a failed batch, growing with the failures in a row. */
export const FLOW_SYNC_RETRY: BackoffPolicy = { initialMs: 500, maxMs: 30_000, jitter: 'equal' };

export interface FlowReconcilerOptions<C> {
  readonly bridge: string;
  readonly ofctl: Ofctl;
  readonly logger: Logger;
  /**
   * Pull mode: the desired flows, read at the start of every batch; `full` for a full sync
   * (an incremental source recomputes everything then, so anti-entropy also repairs what a
   * missed change notification left stale).
   */
  readonly desired?: (full: boolean) => Desired<C>;
  /** Full anti-entropy period, each delay jittered (ANTI_ENTROPY_JITTER); 0: none. Default 60 s. */
  readonly antiEntropyIntervalMs?: number;
  /** The anti-entropy jitter's source in [0, 1) (tests). Default Math.random. */
  readonly random?: () => number;
  /** Identity of the running switch (see mgmtSocketProbe); a change means it restarted. */
  readonly probe?: () => Promise<string | undefined>;
  /** Default 1 s; 0 disables. */
  readonly probeIntervalMs?: number;
  /** First retry delay after a failed batch (FLOW_SYNC_RETRY's `initialMs`, 500 ms). */
  readonly retryMs?: number;
}

export interface FlowReconcilerMetrics {
  batches: number;
  fullSyncs: number;
  /** Flow mods sent (bundle lines). */
  ops: number;
  flowsAdded: number;
  flowsChanged: number;
  flowsDeleted: number;
  /** Flows repaired by anti-entropy (missing + extra + changed). */
  driftRepaired: number;
  restartsDetected: number;
  failures: number;
  /** Requests served by a batch that also served others. */
  coalesced: number;
}

interface Waiter<C> {
  resolve(applied: Applied<C>): void;
  reject(error: unknown): void;
}

export class FlowReconciler<C = undefined> {
  readonly metrics: FlowReconcilerMetrics = {
    batches: 0,
    fullSyncs: 0,
    ops: 0,
    flowsAdded: 0,
    flowsChanged: 0,
    flowsDeleted: 0,
    driftRepaired: 0,
    restartsDetected: 0,
    failures: 0,
    coalesced: 0,
  };
  private readonly bridge: string;
  private readonly logger: Logger;
  /** What the bridge holds, as far as we know; undefined: unknown, the next batch is full. */
  private installed: FlowTable | undefined;
  /** The last table known installed, kept across failures to measure drift against. */
  private lastKnown: FlowTable | undefined;
  private appliedState: Applied<C> | undefined;
  private pushed: Desired<C> | undefined;
  private waiters: Waiter<C>[] = [];
  /** Set while a batch runs: who waits for it to end (see `settled`). */
  private observers: (() => void)[] | undefined;
  private fullWanted: SyncReason | undefined;
  private running: Promise<void> | undefined;
  private timers: NodeJS.Timeout[] = [];
  private retryTimer: NodeJS.Timeout | undefined;
  private antiEntropyTimer: NodeJS.Timeout | undefined;
  private consecutiveFailures = 0;
  private identity: string | undefined;
  private stopped = false;

  constructor(private readonly options: FlowReconcilerOptions<C>) {
    this.bridge = options.bridge;
    this.logger = options.logger;
  }

  /** The desired set last applied, with its context and report; undefined while unknown
   *  (before the first sync, after a failure or a restart, until the next full sync). */
  get applied(): Applied<C> | undefined {
    return this.appliedState;
  }

  /** Full sync now (when there is a desired set), then the periodic and restart checks. */
  async start(): Promise<void> {
    this.stopped = false;
    if (this.options.probe) this.identity = await this.options.probe();
    const period = this.options.antiEntropyIntervalMs ?? 60_000;
    if (period > 0) this.scheduleAntiEntropy(period);
    const probeEvery = this.options.probeIntervalMs ?? 1000;
    if (this.options.probe && probeEvery > 0)
      this.timers.push(setInterval(() => void this.checkRestart(), probeEvery).unref());
    if (this.hasDesired()) await this.antiEntropy('start');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    clearTimeout(this.antiEntropyTimer);
    this.antiEntropyTimer = undefined;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await this.running?.catch(() => undefined);
  }

  /** Push mode: replaces the desired set; resolves once it (or a later one) is applied. */
  update(flows: FlowSet, context: C): Promise<Applied<C>> {
    this.pushed = { flows, context };
    return this.request();
  }

  /**
   * Resolves once the batch under way, if one has begun, is over (applied or failed): a caller
   * whose change that batch may already carry looks at `applied` then, before asking for another.
   */
  settled(): Promise<void> {
    const observers = this.observers;
    if (!observers) return Promise.resolve();
    return new Promise((resolve) => observers.push(resolve));
  }

  /** Applies the current desired set (pull mode: re-read now); resolves once applied. */
  refresh(): Promise<Applied<C>> {
    return this.request();
  }

  /** A full dump-and-repair sync; resolves with its report. */
  async antiEntropy(reason: SyncReason = 'manual'): Promise<SyncReport> {
    this.fullWanted ??= reason;
    return (await this.request()).report;
  }

  private hasDesired(): boolean {
    return this.options.desired !== undefined || this.pushed !== undefined;
  }

  private request(): Promise<Applied<C>> {
    if (this.stopped) return Promise.reject(new Error(`reconciler of ${this.bridge} is stopped`));
    return new Promise<Applied<C>>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.running) return;
    this.running = this.pump().finally(() => {
      this.running = undefined;
      if (!this.stopped && this.waiters.length > 0) this.kick();
    });
  }

  private current(full: boolean): Desired<C> {
    if (this.options.desired) return this.options.desired(full);
    if (this.pushed) return this.pushed;
    throw new Error(`no desired flows for ${this.bridge} yet`);
  }

  private async pump(): Promise<void> {
    while (!this.stopped && (this.waiters.length > 0 || this.fullWanted !== undefined)) {
      // Let requests made in the same tick join this batch.
      await new Promise((resolve) => setImmediate(resolve));
      const batch = this.waiters.splice(0);
      if (batch.length > 1) this.metrics.coalesced += batch.length - 1;
      const observers: (() => void)[] = [];
      this.observers = observers;
      const unknown = this.installed === undefined;
      const reason =
        this.fullWanted ?? (unknown ? (this.lastKnown ? 'recovery' : 'start') : undefined);
      this.fullWanted = undefined;
      try {
        const desired = this.current(reason !== undefined);
        const report =
          reason === undefined ? await this.incremental(desired) : await this.full(desired, reason);
        desired.onApplied?.();
        // Not the delta nor the hand-out's callback: kept until the next batch, they would hold
        // a change record per flow of a large sync (and the flows it replaced).
        const applied: Applied<C> = { flows: desired.flows, context: desired.context, report };
        this.appliedState = applied;
        this.consecutiveFailures = 0;
        this.metrics.batches++;
        for (const waiter of batch) waiter.resolve(applied);
      } catch (error) {
        // The table is unknown now: no more "already applied" answers until a full sync.
        this.installed = undefined;
        this.appliedState = undefined;
        this.metrics.failures++;
        this.consecutiveFailures++;
        this.logger.warn(
          { err: error, bridge: this.bridge, failures: this.consecutiveFailures },
          'flow sync failed; the next sync is a full one',
        );
        for (const waiter of batch) waiter.reject(error);
        this.scheduleRetry();
        return;
      } finally {
        this.observers = undefined;
        for (const observer of observers) observer();
      }
    }
    if (this.stopped)
      for (const waiter of this.waiters.splice(0))
        waiter.reject(new Error(`reconciler of ${this.bridge} is stopped`));
  }

  /** The next periodic full sync, after `period` jittered (ANTI_ENTROPY_JITTER). */
  private scheduleAntiEntropy(period: number): void {
    if (this.stopped) return;
    const random = this.options.random ?? Math.random;
    const delay = period * (1 - ANTI_ENTROPY_JITTER + 2 * ANTI_ENTROPY_JITTER * random());
    clearTimeout(this.antiEntropyTimer);
    this.antiEntropyTimer = setTimeout(() => {
      this.antiEntropyTimer = undefined;
      if (this.hasDesired()) this.antiEntropy('periodic').catch(() => undefined);
      this.scheduleAntiEntropy(period);
    }, delay);
    this.antiEntropyTimer.unref();
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.stopped || !this.hasDesired()) return;
    const policy = withBounds(FLOW_SYNC_RETRY, { initialMs: this.options.retryMs });
    const delay = backoffDelay(policy, this.consecutiveFailures - 1);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.antiEntropy('recovery').catch(() => undefined);
    }, delay).unref();
  }

  private async incremental(desired: Desired<C>): Promise<SyncReport> {
    const installed = this.installed ?? new Map();
    const delta = desired.delta;
    // A live table that changed in place since it was installed: only its delta tells how.
    const byDelta = delta !== undefined && installed === desired.flows.flows;
    const plan = byDelta ? planDelta(delta) : planChanges(installed, desired.flows.flows);
    try {
      await this.options.ofctl.bundle(this.bridge, plan.ops);
    } catch (error) {
      // What was installed is the table before the delta (drift is measured against it).
      if (byDelta) this.lastKnown = revertDelta(installed, delta);
      throw error;
    }
    this.record(desired.flows.flows, plan.ops.length, plan);
    return {
      added: plan.added,
      changed: plan.changed,
      deleted: plan.deleted,
      ops: plan.ops.length,
    };
  }

  private async full(desired: Desired<C>, reason: SyncReason): Promise<SyncReport> {
    const dump = parseDump(await this.options.ofctl.dumpFlows(this.bridge));
    const actual = new Map(dump.map((flow) => [flow.key, flow]));
    // A live table already holds this sync's changes: the one believed installed is before them.
    const believed =
      desired.delta && this.lastKnown === desired.flows.flows
        ? revertDelta(this.lastKnown, desired.delta)
        : this.lastKnown;
    const drift = believed ? driftOf(believed, actual) : undefined;
    const plan = planChanges(actual, desired.flows.flows);
    await this.options.ofctl.bundle(this.bridge, plan.ops);
    this.metrics.fullSyncs++;
    this.record(desired.flows.flows, plan.ops.length, plan);
    const report: SyncReport = {
      reason,
      ...(drift ? { drift } : {}),
      added: plan.added,
      changed: plan.changed,
      deleted: plan.deleted,
      ops: plan.ops.length,
    };
    if (drift && driftTotal(drift) > 0) {
      this.metrics.driftRepaired += driftTotal(drift);
      this.logger.warn({ bridge: this.bridge, reason, ...drift }, 'repaired flow drift');
    } else {
      this.logger.debug({ bridge: this.bridge, ...report }, 'full flow sync');
    }
    return report;
  }

  private record(
    table: FlowTable,
    ops: number,
    plan: { added: number; changed: number; deleted: number },
  ): void {
    this.installed = table;
    this.lastKnown = table;
    this.metrics.ops += ops;
    this.metrics.flowsAdded += plan.added;
    this.metrics.flowsChanged += plan.changed;
    this.metrics.flowsDeleted += plan.deleted;
  }

  private async checkRestart(): Promise<void> {
    const probe = this.options.probe;
    if (!probe || this.stopped) return;
    const identity = await probe().catch(() => undefined);
    if (identity === undefined) return;
    if (this.identity !== undefined && identity !== this.identity) {
      this.metrics.restartsDetected++;
      this.logger.warn({ bridge: this.bridge }, 'Open vSwitch restarted: full flow sync');
      this.identity = identity;
      // Its flows are gone until the full sync puts them back.
      this.appliedState = undefined;
      if (this.hasDesired()) this.antiEntropy('restart').catch(() => undefined);
      return;
    }
    this.identity = identity;
  }
}
