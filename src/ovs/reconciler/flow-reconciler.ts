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
 * believed installed) and logging it. It holds the batches while it runs, which is what it is
 * for: on start, after ovs-vswitchd restarts (detected by a probe: a new management socket),
 * after a failed batch — the table unknown each time.
 *
 * The periodic check (`check`, every 45–75 s) does not hold them: a full sync there kept a bind
 * waiting 200–400 ms at 12,500 ports (bench/README). It recomputes the desired set a part per
 * batch (`sweep`: what a missed change notification left stale), then dumps the bridge while
 * batches go on and compares the dump with the table believed installed in slices of a few
 * milliseconds, leaving out the keys batches changed since the dump was asked for (the next
 * check judges them). Only drift found is repaired: one bundle of the drifted keys, each set to
 * what is believed installed when the bundle is made — never what a batch changed meanwhile.
 */
import type { Logger } from 'pino';
import { type BackoffPolicy, backoffDelay, withBounds } from '../../lib/retry.js';
import { Slicer } from '../../lib/slices.js';
import { type DumpedFlow, parseDump, parseDumpedFlow, sameFlow } from '../pipeline/flow.js';
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
  /**
   * Pull mode, periodic check: marks the next part of the desired set for the next batch to
   * recompute (what a missed change notification left stale); true once all of it was. Without
   * it the check recomputes nothing.
   */
  readonly sweep?: () => boolean;
  /** First retry delay after a failed batch (FLOW_SYNC_RETRY's `initialMs`, 500 ms). */
  readonly retryMs?: number;
}

export interface FlowReconcilerMetrics {
  batches: number;
  /** Anti-entropy passes that compared the whole bridge: full syncs and periodic checks. */
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

/** What batches changed while a periodic check runs: its dump does not judge these. */
interface Touched {
  readonly keys: Set<string>;
  readonly cookies: Set<bigint>;
}

/** A flow key the periodic check found drifted: how, and the cookie it was dumped or kept with. */
interface Drifted {
  readonly kind: keyof DriftCounts;
  readonly cookie: bigint;
}

const untouched = (touched: Touched, key: string, cookie: bigint): boolean =>
  !touched.keys.has(key) && !touched.cookies.has(cookie);

/** Drift a periodic check found, for the pump to repair between batches. */
interface Repair {
  /** The table's epoch the check compared against (see `epoch`). */
  readonly epoch: number;
  readonly drift: ReadonlyMap<string, Drifted>;
  readonly touched: Touched;
  done(repaired: DriftCounts | undefined): void;
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
  /** Bumped when the table is replaced whole (a full sync) or unknown (a failure): a check of
   *  the one before gives way. */
  private epoch = 0;
  /** Set while a periodic check runs (see `check`). */
  private touched: Touched | undefined;
  private checking: Promise<unknown> | undefined;
  private repairWanted: Repair | undefined;

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
    this.repairWanted?.done(undefined);
    this.repairWanted = undefined;
    await this.running?.catch(() => undefined);
    await this.checking?.catch(() => undefined);
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

  /**
   * The periodic anti-entropy, batches going on meanwhile: the desired set recomputed a part per
   * batch (`sweep`), the dump compared with the table believed installed in slices, the keys
   * batches changed since the dump was asked for left out; drift found repaired by one bundle
   * between batches. Resolves with the drift repaired (zeros: none), or undefined when it gave
   * way: to a full sync, a failure, a stop, a check under way, a table unknown.
   */
  check(): Promise<DriftCounts | undefined> {
    if (this.checking || this.stopped || !this.hasDesired()) return Promise.resolve(undefined);
    const checking = this.sweepDesired()
      .then((swept) => (swept ? this.checkBridge() : undefined))
      .finally(() => {
        this.checking = undefined;
        this.touched = undefined;
      });
    this.checking = checking;
    return checking;
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
      if (!this.stopped && (this.waiters.length > 0 || this.repairWanted)) this.kick();
    });
  }

  private current(full: boolean): Desired<C> {
    if (this.options.desired) return this.options.desired(full);
    if (this.pushed) return this.pushed;
    throw new Error(`no desired flows for ${this.bridge} yet`);
  }

  private async pump(): Promise<void> {
    while (
      !this.stopped &&
      (this.waiters.length > 0 || this.fullWanted !== undefined || this.repairWanted)
    ) {
      // Let requests made in the same tick join this batch.
      await new Promise((resolve) => setImmediate(resolve));
      const repair = this.repairWanted;
      this.repairWanted = undefined;
      if (repair && !(await this.repair(repair))) return;
      if (this.waiters.length === 0 && this.fullWanted === undefined) continue;
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
        this.failed(error);
        for (const waiter of batch) waiter.reject(error);
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

  /** After a failed bundle or dump: the table is unknown until a full sync, retried later. */
  private failed(error: unknown): void {
    // No more "already applied" answers until a full sync.
    this.installed = undefined;
    this.appliedState = undefined;
    this.epoch++;
    this.metrics.failures++;
    this.consecutiveFailures++;
    this.logger.warn(
      { err: error, bridge: this.bridge, failures: this.consecutiveFailures },
      'flow sync failed; the next sync is a full one',
    );
    this.scheduleRetry();
  }

  /** The next periodic full sync, after `period` jittered (ANTI_ENTROPY_JITTER). */
  private scheduleAntiEntropy(period: number): void {
    if (this.stopped) return;
    const random = this.options.random ?? Math.random;
    const delay = period * (1 - ANTI_ENTROPY_JITTER + 2 * ANTI_ENTROPY_JITTER * random());
    clearTimeout(this.antiEntropyTimer);
    this.antiEntropyTimer = setTimeout(() => {
      this.antiEntropyTimer = undefined;
      this.check().catch((error: unknown) =>
        this.logger.warn({ err: error, bridge: this.bridge }, 'periodic flow check failed'),
      );
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
    this.touch(installed, desired.flows.flows, byDelta ? delta : undefined);
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
    this.epoch++;
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

  /** Recomputes the desired set a part per batch; false when a batch failed or we stopped. */
  private async sweepDesired(): Promise<boolean> {
    const sweep = this.options.sweep;
    if (sweep === undefined) return true;
    for (let done = false; !done; ) {
      if (this.stopped) return false;
      done = sweep();
      const applied = await this.request().then(
        () => true,
        () => false,
      );
      if (!applied) return false;
    }
    return true;
  }

  /** The check's dump and compare, then its repair (see `check`). */
  private async checkBridge(): Promise<DriftCounts | undefined> {
    // Unknown: the recovery's full sync is on its way.
    if (this.installed === undefined || this.stopped) return undefined;
    const epoch = this.epoch;
    const touched: Touched = { keys: new Set(), cookies: new Set() };
    this.touched = touched;
    // A batch planned before `touched` lands before the dump is asked for.
    await this.settled();
    const dump = await this.options.ofctl.dumpFlows(this.bridge);
    const drift = await this.compare(dump, epoch, touched);
    if (drift === undefined) return undefined;
    this.metrics.fullSyncs++;
    if (drift.size === 0) {
      this.logger.debug({ bridge: this.bridge, reason: 'periodic' }, 'flow check: no drift');
      return { missing: 0, extra: 0, changed: 0 };
    }
    return new Promise((done) => {
      this.repairWanted = { epoch, drift, touched, done };
      this.kick();
    });
  }

  /**
   * The dump against the table believed installed, a slice at a time; undefined when the table
   * was replaced or lost meanwhile, or we stopped.
   */
  private async compare(
    dump: string,
    epoch: number,
    touched: Touched,
  ): Promise<Map<string, Drifted> | undefined> {
    const slicer = new Slicer();
    const gaveWay = async () => {
      if (!slicer.spent()) return false;
      await slicer.next();
      return this.stopped || this.epoch !== epoch;
    };
    const actual = new Map<string, DumpedFlow>();
    for (let at = 0; at < dump.length; ) {
      const end = dump.indexOf('\n', at);
      const flow = parseDumpedFlow(dump.slice(at, end < 0 ? dump.length : end));
      at = end < 0 ? dump.length : end + 1;
      if (flow) actual.set(flow.key, flow);
      if (await gaveWay()) return undefined;
    }
    const drift = new Map<string, Drifted>();
    // Read anew each time: a push-mode batch replaces the table (an untouched key keeps its flow).
    for (const [key, flow] of actual) {
      const kind = untouched(touched, key, flow.cookie) ? this.driftOf(key, flow) : undefined;
      if (kind) drift.set(key, { kind, cookie: flow.cookie });
      if (await gaveWay()) return undefined;
    }
    for (const [key, flow] of this.installed ?? []) {
      if (!actual.has(key) && untouched(touched, key, flow.cookie))
        drift.set(key, { kind: 'missing', cookie: flow.cookie });
      if (await gaveWay()) return undefined;
    }
    return drift;
  }

  /** How a dumped flow differs from the one believed installed, if it does. */
  private driftOf(key: string, dumped: DumpedFlow): 'extra' | 'changed' | undefined {
    const believed = this.installed?.get(key);
    if (believed === undefined) return 'extra';
    return sameFlow(believed, dumped) ? undefined : 'changed';
  }

  /** Notes what a batch changes for the check under way (its dump does not judge those keys). */
  private touch(from: FlowTable, to: FlowTable, delta: FlowDelta | undefined): void {
    const touched = this.touched;
    if (!touched) return;
    if (delta) {
      for (const change of delta.changes) touched.keys.add(change.key);
      for (const cookie of delta.goneCookies) touched.cookies.add(cookie);
      return;
    }
    for (const [key, flow] of to) {
      const old = from.get(key);
      if (old === undefined || !sameFlow(old, flow)) touched.keys.add(key);
    }
    for (const [key, flow] of from)
      if (!to.has(key)) {
        touched.keys.add(key);
        touched.cookies.add(flow.cookie);
      }
  }

  /**
   * Between batches: the check's drift repaired, each key still untouched set to the flow believed
   * installed now (or deleted). False when the bundle failed.
   */
  private async repair(repair: Repair): Promise<boolean> {
    const installed = this.installed;
    // A full sync replaced the table, or will: it measures and repairs the drift itself.
    if (installed === undefined || this.fullWanted !== undefined || repair.epoch !== this.epoch) {
      repair.done(undefined);
      return true;
    }
    const counts = { missing: 0, extra: 0, changed: 0 };
    const ops: string[] = [];
    for (const [key, { kind, cookie }] of repair.drift) {
      if (!untouched(repair.touched, key, cookie)) continue;
      const flow = installed.get(key);
      ops.push(flow ? `add ${flow.text}` : `delete_strict ${key}`);
      counts[kind]++;
    }
    try {
      await this.options.ofctl.bundle(this.bridge, ops);
    } catch (error) {
      this.failed(error);
      repair.done(undefined);
      return false;
    }
    this.metrics.ops += ops.length;
    this.metrics.flowsAdded += counts.missing;
    this.metrics.flowsChanged += counts.changed;
    this.metrics.flowsDeleted += counts.extra;
    this.metrics.driftRepaired += driftTotal(counts);
    if (ops.length > 0)
      this.logger.warn(
        { bridge: this.bridge, reason: 'periodic', ...counts },
        'repaired flow drift',
      );
    repair.done(counts);
    return true;
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
