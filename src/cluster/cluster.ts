/**
 * One locus instance's membership in the cluster of instances sharing a database: it registers
 * and heartbeats, spreads the apps' virtual partitions over the live instances (./assignment.ts),
 * holds a lease for each partition it decides and, on whichever instance gets it first, the one
 * `projector` lease (./lease-store.ts). See docs/cluster.md.
 *
 * Two loops. The heartbeat (every `heartbeatMs`) records the instance as live and renews every
 * lease held; a lease it fails to renew is dropped at once (the partition revoked from the
 * runner, the projector stopped). A partition lease whose local deadline passes (the database
 * unreachable, or this process' event loop stalled) is renewed at once, the runner's decisions
 * waiting for the answer (its gate), and dropped only if that renewal fails: kept at the same
 * epoch, nobody else took it meanwhile. The projector stops when its deadline passes. The
 * rebalance (after each heartbeat, one at a time, never holding the heartbeat up) hands over
 * partitions: one assigned elsewhere is released by the runner first (page in flight finished,
 * checkpoint saved) and only then in the database; one assigned here is acquired when its lease
 * is free or expired (never from a live holder), then given to the runner.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { type Partition, VIRTUAL_PARTITIONS, virtualPartitionsOf } from '../apps/partitions.js';
import type { Database } from '../db/schema.js';
import { partitionsOf } from './assignment.js';
import { type HeldLease, LeaseStore } from './lease-store.js';

export const CLUSTER_HEARTBEAT_MS = 1_000;
/** A lease (and an instance) not renewed for this long is free: a kill -9 is taken over < 5 s. */
export const CLUSTER_TTL_MS = 3_000;
/**
 * Alone on its database (embedded PGlite), nobody can take a lease over, so the heartbeat only
 * keeps the status current: every 10 s instead of every second, whose statements (the
 * instance row and 33 leases renewed) held PGlite's one connection for 10–20 ms each time,
 * ahead of the API's queries (bench/README, "The embedded point query").
 */
export const SOLE_HEARTBEAT_MS = 10_000;
export const SOLE_TTL_MS = 30_000;

export const PROJECTOR_LEASE = 'projector';

/** The lease of virtual partition `partition`: `apps-p07`. */
export function partitionLease(partition: number): string {
  return `apps-p${String(partition).padStart(2, '0')}`;
}

function partitionOfLease(name: string): number | undefined {
  const match = /^apps-p(\d+)$/.exec(name);
  return match ? Number(match[1]) : undefined;
}

/** Who decides the partitions this instance holds: the app runner. */
export interface PartitionHolder {
  /** Start deciding these partitions (their leases are held now). */
  acquire(partitions: readonly number[]): Promise<void>;
  /**
   * Stop deciding them gracefully: finish the page in flight and save their checkpoints. The
   * leases are released when this resolves.
   */
  release(partitions: readonly number[]): Promise<void>;
  /** Stop deciding them at once: the leases are lost (another instance may hold them already). */
  revoke(partitions: readonly number[]): void;
  /**
   * Optional: the cluster's gate, to ask right before every append of decisions. It answers a
   * promise while leases whose local deadline passed are being renewed (the event loop stalled
   * past the deadline): decisions wait for it, and those of partitions revoked meanwhile are
   * not made.
   */
  gateDecisions?(gate: () => Promise<void> | undefined): void;
  /**
   * Ready to take partitions (the runner has folded the log as it was when it started). Until
   * then the others keep them; alone, the instance takes them all the same. Absent: ready.
   */
  readonly caughtUp?: boolean;
}

/** Who runs the single job of the projector lease: the read-model projector. */
export interface RoleHolder {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** What this instance does now. */
export interface ClusterRole {
  readonly instanceId: string;
  /** The apps' virtual partitions this instance decides. */
  readonly partitions: ReadonlySet<number>;
  /** Of how many (the same on every instance). */
  readonly partitionCount: number;
  readonly projector: boolean;
  /** The epoch (fencing token) of every lease held, by lease name. */
  readonly epochs: ReadonlyMap<string, bigint>;
  /** Partitions set by LOCUS_PARTITION rather than leased. */
  readonly static: boolean;
}

/** A live instance, for `locus status` and GET /v1/cluster. */
export interface ClusterMember {
  readonly instanceId: string;
  readonly url: string | null;
  readonly startedAt: Date;
  readonly heartbeatAt: Date;
  /** By the database's clock. */
  readonly heartbeatAgeMs: number;
  /** Leased partitions, ascending (an instance with a static LOCUS_PARTITION leases none). */
  readonly partitions: readonly number[];
  readonly projector: boolean;
}

export interface ClusterOptions {
  readonly db: Kysely<Database>;
  readonly logger: Logger;
  /** Unique per process; default `<hostname>-<pid>-<random>`. */
  readonly instanceId?: string;
  /** Where this instance's API answers, shown to operators. */
  readonly url?: string;
  /** The app runner; absent: the instance decides nothing (leases no partition). */
  readonly partitions?: PartitionHolder;
  /** The projector; absent: the instance never takes the projector lease. */
  readonly projector?: RoleHolder;
  /** LOCUS_PARTITION: a static share of the partitions, not leased (see docs/cluster.md). */
  readonly partition?: Partition;
  /**
   * The database is this process's alone (embedded PGlite): take every lease at once, even one
   * a crashed predecessor left unexpired, and heartbeat slowly (SOLE_HEARTBEAT_MS).
   */
  readonly sole?: boolean;
  readonly heartbeatMs?: number;
  readonly ttlMs?: number;
}

interface Lease {
  readonly epoch: bigint;
  /** performance.now() after which the database may have let the lease go. */
  deadline: number;
}

export class Cluster {
  readonly instanceId: string;
  private readonly store: LeaseStore;
  private readonly heartbeatMs: number;
  private readonly ttlMs: number;
  private readonly staticPartitions: readonly number[] | undefined;
  /** Leases held, by name. */
  private readonly leases = new Map<string, Lease>();
  /** Partitions given to the runner (leased, or static). */
  private readonly deciding = new Set<number>();
  private projecting = false;
  private readonly listeners = new Set<(role: ClusterRole) => void>();
  private current: ClusterRole;
  private timer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private rebalancing: Promise<void> | undefined;
  /** Runner and projector hand-overs, one at a time, in order. */
  private handovers: Promise<void> = Promise.resolve();
  /** Stopping: no more rebalancing. */
  private leaving = false;
  /** Stopped: no more heartbeats. */
  private stopped = false;
  /** A renewal of partition leases whose local deadline passed, under way (see lapse). */
  private lapsed: Promise<void> | undefined;

  constructor(private readonly options: ClusterOptions) {
    this.instanceId =
      options.instanceId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.store = new LeaseStore(options.db);
    this.heartbeatMs =
      options.heartbeatMs ?? (options.sole ? SOLE_HEARTBEAT_MS : CLUSTER_HEARTBEAT_MS);
    this.ttlMs = options.ttlMs ?? (options.sole ? SOLE_TTL_MS : CLUSTER_TTL_MS);
    this.staticPartitions =
      options.partition === undefined ? undefined : virtualPartitionsOf(options.partition);
    this.current = this.snapshot();
    options.partitions?.gateDecisions?.(() => this.gate());
  }

  /** Whether this instance takes partitions by lease (a runner, no static share). */
  private get leasesPartitions(): boolean {
    return this.options.partitions !== undefined && this.staticPartitions === undefined;
  }

  get role(): ClusterRole {
    return this.current;
  }

  /** Calls `listener` after every change of role; returns a function that stops it. */
  onChange(listener: (role: ClusterRole) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Joins: the first heartbeat and hand-over run before this resolves (alone on its database,
   * the instance holds everything then); a database unreachable now is retried by the loop.
   */
  async start(): Promise<void> {
    if (this.staticPartitions !== undefined && this.options.partitions !== undefined) {
      await this.options.partitions.acquire(this.staticPartitions);
      for (const partition of this.staticPartitions) this.deciding.add(partition);
      this.changed();
    }
    await this.tick();
    // Heartbeats go on while the first hand-over waits for the runner: they renew its leases.
    this.schedule();
    await this.rebalancing;
  }

  /**
   * Leaves gracefully: the runner releases its partitions (checkpoints saved), the projector
   * stops, then every lease is released and the instance deregistered, so the others take
   * over at their next heartbeat instead of after the TTL.
   */
  async stop(): Promise<void> {
    if (this.leaving) return;
    // No more hand-overs; heartbeats go on renewing the leases while the runner releases.
    this.leaving = true;
    await this.rebalancing;
    await this.handovers;
    const partitions = [...this.deciding];
    try {
      if (partitions.length > 0) await this.options.partitions?.release(partitions);
    } catch (error) {
      this.options.logger.warn({ err: error }, 'cluster: the runner failed to release');
    }
    this.deciding.clear();
    if (this.projecting) {
      this.projecting = false;
      await this.options.projector
        ?.stop()
        .catch((error: unknown) =>
          this.options.logger.warn({ err: error }, 'cluster: stopping the projector failed'),
        );
    }
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.expiryTimer);
    await this.ticking;
    await this.lapsed;
    const names = [...this.leases.keys()];
    this.leases.clear();
    this.changed();
    try {
      await this.store.release(names, this.instanceId);
      await this.store.deregister(this.instanceId);
    } catch (error) {
      this.options.logger.warn(
        { err: error },
        'cluster: releasing the leases failed; they expire after their TTL',
      );
    }
  }

  /** The live instances and what each holds (by the database). */
  async instances(): Promise<ClusterMember[]> {
    const [instances, leases] = await Promise.all([
      this.store.liveInstances(),
      this.store.heldLeases(),
    ]);
    return instances.map((instance) => {
      const held = leases.filter((lease) => lease.holder === instance.id);
      return {
        instanceId: instance.id,
        url: instance.url,
        startedAt: instance.startedAt,
        heartbeatAt: instance.heartbeatAt,
        heartbeatAgeMs: instance.heartbeatAgeMs,
        partitions: held
          .map((lease) => partitionOfLease(lease.name))
          .filter((partition): partition is number => partition !== undefined)
          .sort((a, b) => a - b),
        projector: held.some((lease) => lease.name === PROJECTOR_LEASE),
      };
    });
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.tick().finally(() => this.schedule());
    }, this.heartbeatMs);
    this.timer.unref();
  }

  /** One heartbeat: register, renew, drop what was lost, then a rebalance unless one runs. */
  private tick(): Promise<void> {
    this.ticking = (async () => {
      const sent = performance.now();
      try {
        await this.store.heartbeat(
          this.instanceId,
          this.options.url ?? null,
          this.ttlMs,
          this.leasesPartitions && this.options.partitions?.caughtUp !== false,
        );
        const held = [...this.leases].map(([name, lease]) => ({ name, epoch: lease.epoch }));
        const renewed = await this.store.renew(held, this.instanceId, this.ttlMs);
        const kept = new Set(renewed.map((lease) => `${lease.name}@${lease.epoch}`));
        const lost: string[] = [];
        for (const { name, epoch } of held) {
          const lease = this.leases.get(name);
          if (lease === undefined || lease.epoch !== epoch) continue;
          if (kept.has(`${name}@${epoch}`)) lease.deadline = this.deadlineFrom(sent);
          else lost.push(name);
        }
        // Together: one revoke and one log line for what one statement refused.
        if (lost.length > 0) this.lose(lost, 'lease lost');
      } catch (error) {
        this.options.logger.warn(
          { err: error, instanceId: this.instanceId },
          'cluster: heartbeat failed; leases are dropped when their deadline passes',
        );
      }
      this.expire();
      if (!this.leaving && this.rebalancing === undefined) {
        this.rebalancing = this.rebalance().finally(() => {
          this.rebalancing = undefined;
        });
      }
    })();
    return this.ticking;
  }

  /** The local deadline of a lease renewed by a statement sent at `sent`: before the database's. */
  private deadlineFrom(sent: number): number {
    return sent + this.ttlMs - Math.min(250, this.ttlMs / 10);
  }

  /**
   * Acts on every lease past its deadline, and arms a timer for the next one. The projector
   * stops at once (its writes wait for nothing). Partition leases are renewed first (lapse):
   * the runner's decisions wait for the answer, and only the leases refused are lost.
   */
  private expire(): void {
    clearTimeout(this.expiryTimer);
    const now = performance.now();
    const expired = [...this.leases]
      .filter(([, lease]) => lease.deadline <= now)
      .map(([name]) => name);
    if (expired.includes(PROJECTOR_LEASE))
      this.lose([PROJECTOR_LEASE], 'lease not renewed in time');
    if (expired.some((name) => name !== PROJECTOR_LEASE)) void this.lapse();
    if (this.stopped || this.leases.size === 0) return;
    const waiting = this.lapsed === undefined ? [...this.leases.values()] : [];
    if (waiting.length === 0) return;
    const next = Math.min(...waiting.map((lease) => lease.deadline));
    this.expiryTimer = setTimeout(() => this.expire(), Math.max(0, next - now));
    this.expiryTimer.unref();
  }

  /**
   * The runner's gate before it appends decisions: undefined while every partition lease is
   * within its local deadline; otherwise the renewal of those past it (started if need be).
   * A stall of the event loop passes deadlines without the expiry timer running: the runner's
   * next append asks here first.
   */
  private gate(): Promise<void> | undefined {
    if (this.lapsed !== undefined) return this.lapsed;
    const now = performance.now();
    for (const [name, lease] of this.leases)
      if (name !== PROJECTOR_LEASE && lease.deadline <= now) return this.lapse();
    return undefined;
  }

  /**
   * Renews the partition leases whose local deadline passed, at their epochs. A renewal by the
   * same holder at the same epoch succeeds even past the database's expiry when nobody acquired
   * the lease meanwhile (an acquisition bumps the epoch), so no one else decided the partition:
   * the lease is kept. Refused, unanswered within the TTL, or failed, it is lost (revoked). The
   * runner's decisions wait for this (gate), so none goes out on a lease that may be another's.
   */
  private lapse(): Promise<void> {
    this.lapsed ??= (async () => {
      const sent = performance.now();
      const past = [...this.leases].filter(
        ([name, lease]) => name !== PROJECTOR_LEASE && lease.deadline <= sent,
      );
      if (past.length === 0) return;
      const due = past.map(([name, lease]) => ({ name, epoch: lease.epoch }));
      const lateMs = Math.round(sent - Math.min(...past.map(([, lease]) => lease.deadline)));
      let renewed: HeldLease[] | undefined;
      try {
        renewed = await this.withinTtl(this.store.renew(due, this.instanceId, this.ttlMs));
      } catch (error) {
        this.options.logger.warn(
          { err: error, instanceId: this.instanceId },
          'cluster: renewing leases past their deadline failed',
        );
      }
      const kept = new Set((renewed ?? []).map((lease) => `${lease.name}@${lease.epoch}`));
      const lost: string[] = [];
      const now = performance.now();
      for (const { name, epoch } of due) {
        const lease = this.leases.get(name);
        if (lease === undefined || lease.epoch !== epoch) continue;
        if (kept.has(`${name}@${epoch}`))
          lease.deadline = Math.max(lease.deadline, this.deadlineFrom(sent));
        // Refused: another's. Unanswered: lost unless a heartbeat renewed it meanwhile.
        else if (renewed !== undefined || lease.deadline <= now) lost.push(name);
      }
      const reason = renewed === undefined ? 'lease not renewed in time' : 'lease lost';
      if (lost.length > 0) this.lose(lost, reason);
      if (kept.size > 0)
        this.options.logger.warn(
          { instanceId: this.instanceId, leases: kept.size, lateMs },
          'cluster: leases renewed past their deadline (nobody took them meanwhile)',
        );
    })().finally(() => {
      this.lapsed = undefined;
      this.expire();
    });
    return this.lapsed;
  }

  /** The promise's answer, or a rejection when it takes longer than the TTL. */
  private async withinTtl<T>(promise: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('no answer within the lease TTL')), this.ttlMs);
    });
    try {
      return await Promise.race([promise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops acting on leases at once (no checkpoint: another instance may hold them now). */
  private lose(names: readonly string[], reason: string): void {
    const partitions: number[] = [];
    let projector = false;
    for (const name of names) {
      if (!this.leases.delete(name)) continue;
      const partition = partitionOfLease(name);
      if (partition !== undefined && this.deciding.delete(partition)) partitions.push(partition);
      if (name === PROJECTOR_LEASE && this.projecting) {
        this.projecting = false;
        projector = true;
      }
    }
    if (partitions.length === 0 && !projector) return;
    this.options.logger.warn(
      { instanceId: this.instanceId, partitions, projector, reason },
      'cluster: lost leases; stopped acting on them',
    );
    if (partitions.length > 0) this.options.partitions?.revoke(partitions);
    // At once, not after the hand-overs queued: another instance may be projecting already.
    if (projector)
      void this.options.projector
        ?.stop()
        .catch((error: unknown) =>
          this.options.logger.warn({ err: error }, 'cluster: stopping the projector failed'),
        );
    this.changed();
  }

  /** Runs a hand-over after those before it; a failure is logged (the next rebalance retries). */
  private handover(step: () => Promise<void> | undefined): Promise<void> {
    this.handovers = this.handovers
      .then(step)
      .catch((error: unknown) =>
        this.options.logger.warn({ err: error }, 'cluster: a hand-over step failed'),
      );
    return this.handovers;
  }

  /** Releases what is assigned elsewhere, then acquires what is assigned here and free. */
  private async rebalance(): Promise<void> {
    try {
      if (this.leasesPartitions) {
        // Only instances that take partitions by lease share them (not a static share, nor
        // one without a runner).
        const others = (await this.store.liveInstances())
          .filter((instance) => instance.decides && instance.id !== this.instanceId)
          .map((instance) => instance.id);
        // Still folding the log: take nothing while others decide (alone, take everything).
        const ready = this.options.partitions?.caughtUp !== false || others.length === 0;
        const deciders = ready ? [...others, this.instanceId] : others;
        const mine = new Set(partitionsOf(this.instanceId, deciders));
        const leaving = [...this.leases.keys()]
          .map(partitionOfLease)
          .filter((partition): partition is number => partition !== undefined)
          .filter((partition) => !mine.has(partition));
        if (leaving.length > 0) await this.release(leaving);
        const wanted = [...mine].filter((partition) => !this.leases.has(partitionLease(partition)));
        if (wanted.length > 0 && !this.leaving) await this.acquire(wanted);
      }
      if (this.options.projector !== undefined && !this.projecting && !this.leaving)
        await this.acquireProjector();
    } catch (error) {
      this.options.logger.warn(
        { err: error, instanceId: this.instanceId },
        'cluster: rebalance failed; retried at the next heartbeat',
      );
    }
  }

  private async release(partitions: readonly number[]): Promise<void> {
    await this.handover(async () => {
      await this.options.partitions?.release(partitions);
      for (const partition of partitions) this.deciding.delete(partition);
      this.changed();
    });
    // Only leases still ours: one lost meanwhile is someone else's now.
    const names = partitions.map(partitionLease).filter((name) => this.leases.delete(name));
    await this.store.release(names, this.instanceId);
    this.options.logger.info(
      { instanceId: this.instanceId, partitions },
      'cluster: released partitions',
    );
    this.changed();
  }

  private async acquire(partitions: readonly number[]): Promise<void> {
    const sent = performance.now();
    const won = await this.store.acquire(
      partitions.map(partitionLease),
      this.instanceId,
      this.ttlMs,
      {
        force: this.options.sole,
      },
    );
    if (won.length === 0) return;
    const gained = this.keep(won, sent);
    if (gained.length === 0) return;
    await this.handover(async () => {
      // Lost again while waiting for an earlier hand-over: not ours to decide.
      const still = gained.filter((partition) => this.leases.has(partitionLease(partition)));
      if (still.length === 0) return;
      await this.options.partitions?.acquire(still);
      // A lease lost while the runner took the partition: not ours to decide after all.
      const lost = still.filter((partition) => !this.leases.has(partitionLease(partition)));
      if (lost.length > 0) this.options.partitions?.revoke(lost);
      for (const partition of still) if (!lost.includes(partition)) this.deciding.add(partition);
      this.options.logger.info(
        { instanceId: this.instanceId, partitions: still },
        'cluster: acquired partitions',
      );
      this.changed();
    });
    this.expire();
  }

  private async acquireProjector(): Promise<void> {
    const sent = performance.now();
    const won = await this.store.acquire([PROJECTOR_LEASE], this.instanceId, this.ttlMs, {
      force: this.options.sole,
    });
    if (won.length === 0) return;
    this.keep(won, sent);
    await this.handover(async () => {
      if (!this.leases.has(PROJECTOR_LEASE) || this.projecting) return;
      await this.options.projector?.start();
      // Lost while starting: stop again.
      if (!this.leases.has(PROJECTOR_LEASE)) {
        await this.options.projector?.stop();
        return;
      }
      this.projecting = true;
      this.options.logger.info({ instanceId: this.instanceId }, 'cluster: projector acquired');
      this.changed();
    });
    this.expire();
  }

  /** Records leases won; returns the partitions among them. */
  private keep(won: readonly HeldLease[], sent: number): number[] {
    const partitions: number[] = [];
    for (const lease of won) {
      this.leases.set(lease.name, { epoch: lease.epoch, deadline: this.deadlineFrom(sent) });
      const partition = partitionOfLease(lease.name);
      if (partition !== undefined) partitions.push(partition);
    }
    return partitions;
  }

  private snapshot(): ClusterRole {
    return {
      instanceId: this.instanceId,
      partitions: new Set([...this.deciding].sort((a, b) => a - b)),
      partitionCount: VIRTUAL_PARTITIONS,
      projector: this.projecting,
      epochs: new Map([...this.leases].map(([name, lease]) => [name, lease.epoch])),
      static: this.staticPartitions !== undefined,
    };
  }

  private changed(): void {
    const next = this.snapshot();
    const before = this.current;
    this.current = next;
    const same =
      before.projector === next.projector &&
      before.partitions.size === next.partitions.size &&
      [...next.partitions].every((partition) => before.partitions.has(partition)) &&
      before.epochs.size === next.epochs.size &&
      [...next.epochs].every(([name, epoch]) => before.epochs.get(name) === epoch);
    if (same) return;
    for (const listener of this.listeners) {
      try {
        listener(next);
      } catch (error) {
        this.options.logger.warn({ err: error }, 'cluster: a role listener failed');
      }
    }
  }
}
