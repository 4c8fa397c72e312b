/**
 * The imperative shell of OVN following: monitors the Northbound (and Southbound) database with
 * the project's OVSDB client, and after each batch of updates (debounced) translates the whole
 * snapshot (./translate.ts), reads what locus holds from the sink, and issues the difference
 * (./diff.ts), one command at a time, each with the OVN row it follows as its cause.
 *
 * Stateless across restarts by design: what locus holds is read back each time, so a restart
 * over an unchanged Northbound issues nothing, and one over a changed Northbound issues only
 * the difference. A command locus refuses is reported and left (the next OVN change tries it
 * again); a sink that cannot be reached is retried with backoff.
 */
import type { Logger } from 'pino';
import { Backoff, type BackoffPolicy } from '../lib/retry.js';
import { OvsdbClient } from '../ovs/ovsdb/client.js';
import type { Replica } from '../ovs/ovsdb/replica.js';
import { diff, type LocusCommand } from './diff.js';
import {
  type NorthboundTables,
  northboundMonitor,
  type OvnCause,
  type OvnSnapshot,
  type SouthboundTables,
  southboundMonitor,
  type TablesSnapshot,
} from './nb-model.js';
import { CommandRefusedError, type CommandSink } from './sink.js';
import { type Skipped, translate, type UnkeyedSwitch } from './translate.js';

export interface OvnFollowerOptions {
  /** The Northbound database: `unix:/path/ovnnb_db.sock` or `tcp:host:port`. */
  readonly nb: string;
  /** The Southbound database, for chassis; without it locus' chassis are left alone. */
  readonly sb?: string;
  readonly sink: CommandSink;
  readonly logger: Logger;
  /** Updates arriving within this long are one sync (default 30 ms). */
  readonly debounceMs?: number;
  /** Waits between syncs that failed (locus unreachable); default 100 ms growing to 5 s. */
  readonly backoff?: BackoffPolicy;
  /**
   * How long a geneve switch without `requested-tnl-key` waits for ovn-northd's
   * Datapath_Binding (its tunnel key) before it is created without segmentation id; default 10 s.
   * Only with `sb`.
   */
  readonly bindingWaitMs?: number;
}

/** What the last sync did, for logs and tests. */
export interface SyncReport {
  readonly commands: number;
  readonly refused: number;
  readonly skipped: number;
  /** Log position of the last command issued so far. */
  readonly position: bigint;
}

const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 100, maxMs: 5_000, jitter: 'equal' };

export class OvnFollower {
  private readonly nbClient: OvsdbClient;
  private readonly sbClient: OvsdbClient | undefined;
  private readonly nbReplica: Replica<NorthboundTables>;
  private readonly sbReplica: Replica<SouthboundTables> | undefined;
  private readonly logger: Logger;
  private readonly backoff: Backoff;
  /** OVSDB update batches seen, and how many of them the last finished sync covered. */
  private seen = 0;
  private done = 0;
  private running = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private lastPosition = 0n;
  private previousCauses: ReadonlyMap<string, OvnCause> = new Map();
  private reported = new Set<string>();
  private waiters: { target: number; resolve: (position: bigint) => void }[] = [];
  private lastReport: SyncReport = { commands: 0, refused: 0, skipped: 0, position: 0n };
  /** Switches waiting for their Datapath_Binding: the timer that ends the wait. */
  private readonly bindingWaits = new Map<string, NodeJS.Timeout>();
  /** Switches whose wait is over: wanted without segmentation id. */
  private readonly bindingWaitOver = new Set<string>();
  /** Switches logged as having no segmentation id (once each). */
  private readonly flaggedUnkeyed = new Set<string>();

  constructor(private readonly options: OvnFollowerOptions) {
    this.logger = options.logger;
    this.backoff = new Backoff(options.backoff ?? DEFAULT_BACKOFF);
    const ovsdbLogger = options.logger.child({ component: 'ovsdb' });
    this.nbClient = new OvsdbClient({
      endpoint: options.nb,
      database: 'OVN_Northbound',
      logger: ovsdbLogger,
    });
    this.nbReplica = this.nbClient.monitor<NorthboundTables>(northboundMonitor);
    this.nbReplica.onUpdate(() => this.updated());
    if (options.sb !== undefined) {
      this.sbClient = new OvsdbClient({
        endpoint: options.sb,
        database: 'OVN_Southbound',
        logger: ovsdbLogger,
      });
      this.sbReplica = this.sbClient.monitor<SouthboundTables>(southboundMonitor);
      this.sbReplica.onUpdate(() => this.updated());
    }
  }

  /**
   * Connects and waits (up to `timeoutMs`) for the first snapshots; the first sync follows at
   * once. An OVN not reachable by then is logged and tried on in the background (the OVSDB
   * client reconnects with backoff): following starts when it answers.
   */
  async start(timeoutMs = 30_000): Promise<void> {
    this.nbClient.start();
    this.sbClient?.start();
    const where = { nb: this.options.nb, sb: this.options.sb, sink: this.options.sink.describe };
    const ready = Promise.all([this.nbReplica.ready, this.sbReplica?.ready]).then(() => {
      this.logger.info(where, 'following OVN');
      return true;
    });
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const arrived = await Promise.race([ready, waited]);
    clearTimeout(timer);
    if (!arrived && !this.stopped)
      this.logger.warn(where, `no snapshot from OVN after ${timeoutMs} ms; still trying`);
  }

  /** Log position of the last command issued (0 before any). */
  get position(): bigint {
    return this.lastPosition;
  }

  get report(): SyncReport {
    return this.lastReport;
  }

  /** Whether no sync runs nor waits and every update seen is synced. */
  get idle(): boolean {
    return !this.running && this.timer === undefined && this.done >= this.seen;
  }

  /**
   * Resolves, with the log position of the last command issued, once locus holds what the
   * Northbound (and Southbound) held when it was called: an echo on each OVSDB session first
   * makes sure every update committed before the call has arrived. In process, locus' app
   * runner has folded that position too (its topology shows it); the read model may lag.
   */
  async synced(timeoutMs = 60_000): Promise<bigint> {
    await Promise.all([this.nbReplica.ready, this.sbReplica?.ready]);
    await Promise.all([this.nbClient.echo(), this.sbClient?.echo()]);
    const position = await this.covered(this.seen, timeoutMs);
    await this.options.sink.folded?.(position);
    return position;
  }

  /** Resolves once a finished sync covered `target` update batches. */
  private covered(target: number, timeoutMs: number): Promise<bigint> {
    if (this.done >= target && !this.running) return Promise.resolve(this.lastPosition);
    return new Promise<bigint>((resolve, reject) => {
      const waiter = {
        target,
        resolve: (position: bigint) => {
          clearTimeout(timer);
          resolve(position);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`OVN not synced into locus after ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const timer of this.bindingWaits.values()) clearTimeout(timer);
    this.bindingWaits.clear();
    await Promise.all([this.nbClient.close(), this.sbClient?.close()]);
  }

  private updated(): void {
    this.seen++;
    this.schedule(this.options.debounceMs ?? 30);
  }

  /** Both snapshots are in: before that, a missing table would read as "everything deleted". */
  private get ready(): boolean {
    return this.nbReplica.isSynced && (this.sbReplica?.isSynced ?? true);
  }

  private schedule(delayMs: number): void {
    // The last snapshot's arrival schedules again (it is an update too).
    if (this.stopped || this.running || this.timer !== undefined || !this.ready) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, delayMs);
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    this.running = true;
    const target = this.seen;
    let retryIn: number | undefined;
    try {
      this.lastReport = await this.sync();
      this.done = target;
      this.backoff.reset();
    } catch (error) {
      retryIn = this.backoff.next();
      this.logger.warn(
        { err: error, retryInMs: retryIn, failures: this.backoff.attempts },
        'OVN sync failed; retrying',
      );
    } finally {
      this.running = false;
    }
    if (this.stopped) return;
    if (retryIn !== undefined) this.schedule(retryIn);
    else if (this.seen > this.done) this.schedule(this.options.debounceMs ?? 30);
    const ready = this.waiters.filter((w) => this.done >= w.target);
    this.waiters = this.waiters.filter((w) => this.done < w.target);
    for (const waiter of ready) waiter.resolve(this.lastPosition);
  }

  /** The snapshot as the replicas hold it now. */
  private snapshot(): OvnSnapshot {
    const tables = <T extends { [K in keyof T]: object }>(
      replica: Replica<T>,
      names: readonly (keyof T & string)[],
    ) => Object.fromEntries(names.map((name) => [name, replica.table(name)])) as TablesSnapshot<T>;
    const nb = tables(this.nbReplica, Object.keys(northboundMonitor) as (keyof NorthboundTables)[]);
    if (this.sbReplica === undefined) return { nb };
    return {
      nb,
      sb: tables(this.sbReplica, Object.keys(southboundMonitor) as (keyof SouthboundTables)[]),
    };
  }

  private async sync(): Promise<SyncReport> {
    const desired = translate(this.snapshot(), { bindingWaitOver: this.bindingWaitOver });
    this.reportSkipped(desired.skipped);
    this.trackUnkeyed(desired.unkeyed);
    const current = await this.options.sink.read(this.lastPosition);
    const commands = diff(desired.model, current, {
      followsChassis: desired.followsChassis,
      causes: desired.causes,
      previousCauses: this.previousCauses,
      held: desired.held,
    });
    let refused = 0;
    for (const command of commands) {
      if (this.stopped) break;
      try {
        const issued = await this.options.sink.issue(command);
        if (issued.position > this.lastPosition) this.lastPosition = issued.position;
        this.logger.debug(
          { command: command.name, input: command.input, cause: command.cause },
          'issued',
        );
      } catch (error) {
        if (!(error instanceof CommandRefusedError)) throw error;
        refused++;
        this.reportRefusal(command, error);
      }
    }
    this.previousCauses = desired.causes;
    if (commands.length > 0)
      this.logger.info(
        {
          commands: commands.length,
          refused,
          skipped: desired.skipped.length,
          position: String(this.lastPosition),
        },
        'OVN changes applied to locus',
      );
    return {
      commands: commands.length,
      refused,
      skipped: desired.skipped.length,
      position: this.lastPosition,
    };
  }

  /**
   * Geneve switches without a known segmentation id: one waiting for its Datapath_Binding gets
   * a timer that ends the wait (a sync follows); one created without id is logged once.
   */
  private trackUnkeyed(unkeyed: readonly UnkeyedSwitch[]): void {
    const now = new Set(unkeyed.map((entry) => entry.uuid));
    for (const [uuid, timer] of this.bindingWaits)
      if (!now.has(uuid)) {
        clearTimeout(timer);
        this.bindingWaits.delete(uuid);
      }
    for (const uuid of this.bindingWaitOver) if (!now.has(uuid)) this.bindingWaitOver.delete(uuid);
    for (const uuid of this.flaggedUnkeyed) if (!now.has(uuid)) this.flaggedUnkeyed.delete(uuid);
    const waitMs = this.options.bindingWaitMs ?? 10_000;
    for (const entry of unkeyed) {
      const row = { switch: entry.id, table: 'Logical_Switch', uuid: entry.uuid };
      if (entry.waiting) {
        if (this.bindingWaits.has(entry.uuid)) continue;
        this.logger.info(
          { ...row, waitMs },
          'switch waits for its Southbound Datapath_Binding (tunnel key) before it is created',
        );
        const timer = setTimeout(() => {
          this.bindingWaits.delete(entry.uuid);
          if (this.stopped) return;
          this.bindingWaitOver.add(entry.uuid);
          this.updated();
        }, waitMs);
        timer.unref();
        this.bindingWaits.set(entry.uuid, timer);
      } else if (!this.flaggedUnkeyed.has(entry.uuid)) {
        this.flaggedUnkeyed.add(entry.uuid);
        this.logger.warn(
          row,
          this.sbReplica === undefined
            ? 'geneve switch without other_config:requested-tnl-key and no Southbound followed (--sb): it has no segmentation id in locus'
            : `no Datapath_Binding names the switch after ${waitMs} ms: it has no segmentation id in locus`,
        );
      }
    }
  }

  /** Each skipped row once (not at every sync), at info: OVN has them on purpose. */
  private reportSkipped(skipped: readonly Skipped[]): void {
    const now = new Set<string>();
    for (const item of skipped) {
      const key = `${item.table}/${item.uuid}/${item.reason}`;
      now.add(key);
      if (!this.reported.has(key)) this.logger.info(item, 'OVN row left out');
    }
    for (const key of this.reported) if (key.startsWith('refused:')) now.add(key);
    this.reported = now;
  }

  private reportRefusal(command: LocusCommand, error: CommandRefusedError): void {
    const key = `refused:${command.name}:${JSON.stringify(command.input)}:${error.message}`;
    if (this.reported.has(key)) return;
    if (this.reported.size > 10_000) this.reported.clear();
    this.reported.add(key);
    this.logger.warn(
      { command: command.name, input: command.input, cause: command.cause, status: error.status },
      error.message,
    );
  }
}
