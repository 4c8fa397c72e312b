/**
 * The chassis agent's observation shell: one OVSDB session to the chassis' ovsdb-server,
 * bridge setup at start (and again after every reconnect, in case OVS lost its database),
 * a monitor on Bridge/Port/Interface, and the interface observer's events delivered to a
 * ReportSink. Observing only (`observeOnly`), it sets nothing up: the session only reads.
 *
 * Delivery: an interface usually appears first without an ofport and gets one a moment later,
 * so OVSDB changes are coalesced until every interface they bring has its ofport (then at
 * once: a bind is reported as soon as OVS has numbered its port), or for `settleMs` at most;
 * then the observer's diff is reported. One report is in flight at a time; what it did not
 * record is diffed again after a back-off, so a failing sink loses nothing and duplicates
 * nothing.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Chassis } from '../events/model.js';
import { Backoff, type BackoffPolicy, withBounds } from '../lib/retry.js';
import { OvsdbClient } from '../ovs/ovsdb/client.js';
import type { Replica } from '../ovs/ovsdb/replica.js';
import { type BridgeLayout, setupBridges } from './bridge-setup.js';
import { InterfaceObserver, OBSERVED_COLUMNS, type ObservedTables } from './interface-observer.js';
import { ReportError, type ReportSink } from './sinks.js';

/** Waits before a failed report is diffed and sent again; `retry` in the options sets its bounds. */
export const AGENT_REPORT_BACKOFF: BackoffPolicy = {
  initialMs: 200,
  maxMs: 10_000,
  jitter: 'equal',
};

export interface ChassisAgentOptions {
  readonly chassis: Chassis;
  /** `unix:/…/db.sock`, `tcp:host:port`, or a client to share (then not closed by stop()). */
  readonly ovsdb: string | OvsdbClient;
  readonly sink: ReportSink;
  readonly logger: Logger;
  /** Default `br-int`. */
  readonly integrationBridge?: string;
  /** Bridges' datapath type: `system` (default), `netdev`, `dummy` (tests). */
  readonly datapathType?: string;
  /** Longest coalescing of OVSDB changes waiting for an ofport. Default 50 ms. */
  readonly settleMs?: number;
  /** Back-off after a failed report: first delay and cap. Defaults 200 ms and 10 s. */
  readonly retry?: { readonly initialMs?: number; readonly maxMs?: number };
  /** How long bridge setup waits for ovs-vswitchd. Default 10 s. */
  readonly vswitchdTimeoutMs?: number;
  /**
   * Observe only (beside another controller, e.g. ovn-controller, that owns the bridge): no
   * bridge setup at all — nothing created, nothing changed — and the integration bridge's
   * interfaces reported as they appear (none while the bridge does not exist). Default false.
   */
  readonly observeOnly?: boolean;
}

/**
 * Calls `fire` in `delayMs`; when due now, once the OVSDB updates already read are handled (an
 * Immediate: a 0 ms timer waits 1 ms at least, on every bind).
 */
function wakeUp(delayMs: number, fire: () => void): { cancel(): void } {
  if (delayMs > 0) {
    const timer = setTimeout(fire, delayMs);
    return { cancel: () => clearTimeout(timer) };
  }
  const immediate = setImmediate(fire);
  return { cancel: () => clearImmediate(immediate) };
}

export class ChassisAgent {
  readonly client: OvsdbClient;
  private readonly ownsClient: boolean;
  private readonly logger: Logger;
  private replica: Replica<ObservedTables> | undefined;
  private observer: InterfaceObserver | undefined;
  private currentLayout: BridgeLayout | undefined;
  private readonly layoutListeners = new Set<(layout: BridgeLayout) => void>();
  private readonly unsubscribe: (() => void)[] = [];
  /** The pending report's wake-up: a timer, or an Immediate when due now. */
  private timer: { cancel(): void } | undefined;
  /** When `timer` fires (performance.now() ms). */
  private timerDue = 0;
  private flushing: Promise<boolean> | undefined;
  private dirty = false;
  /** A caller of `flush` waits: what is pending goes now, ofports or not. */
  private forced = false;
  private readonly reportBackoff: Backoff;
  private started = false;
  private stopped = false;

  /** Events reported, reports failed, bridge setups run. */
  readonly stats = { reported: 0, failedReports: 0, setups: 0 };

  constructor(private readonly options: ChassisAgentOptions) {
    this.logger = options.logger.child({ part: 'interfaces' });
    this.reportBackoff = new Backoff(withBounds(AGENT_REPORT_BACKOFF, options.retry));
    this.ownsClient = typeof options.ovsdb === 'string';
    this.client =
      typeof options.ovsdb === 'string'
        ? new OvsdbClient({
            endpoint: options.ovsdb,
            logger: this.logger.child({ stage: 'ovsdb' }),
          })
        : options.ovsdb;
  }

  /** The ports the pipeline addresses (after start()). */
  get layout(): BridgeLayout | undefined {
    return this.currentLayout;
  }

  /** Called whenever a bridge setup yields a different layout. */
  onLayout(listener: (layout: BridgeLayout) => void): () => void {
    this.layoutListeners.add(listener);
    return () => this.layoutListeners.delete(listener);
  }

  /**
   * Connects, sets up the bridges, reads what the log says this chassis has, starts
   * observing and reports the first differences (in the background). Resolves with the
   * bridge layout.
   */
  async start(): Promise<BridgeLayout> {
    if (this.started) throw new Error('agent already started');
    this.started = true;
    try {
      return await this.run();
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  private async run(): Promise<BridgeLayout> {
    this.client.start();
    await this.client.waitConnected();
    const layout = await this.setup();
    const reported = await this.options.sink.reported();
    if (reported === undefined)
      this.logger.info('the sink cannot list reported interfaces; re-reporting all');
    this.observer = new InterfaceObserver({
      chassis: this.options.chassis.id,
      integrationBridge: layout.integrationBridge,
      reported: reported ?? [],
      logger: this.logger,
    });
    const replica = this.client.monitor<ObservedTables>(OBSERVED_COLUMNS);
    this.replica = replica;
    await replica.ready;
    this.warnOfWithdrawals(this.observer, replica);
    this.unsubscribe.push(
      replica.onUpdate((update) => {
        if (update.resync)
          this.logger.info({ changes: update.changes.length }, 'ovsdb resynced after reconnect');
        this.schedule(this.complete() ? 0 : (this.options.settleMs ?? 50));
      }),
      this.client.onState((state) => {
        if (state === 'connected' && !this.stopped)
          this.setup().catch((error: unknown) =>
            this.logger.error({ err: error }, 'bridge setup after reconnect failed'),
          );
      }),
    );
    this.logger.info(
      { reported: this.observer.reported.size, layout },
      'agent started; observing interfaces',
    );
    this.schedule(0);
    return layout;
  }

  /**
   * A start that finds interfaces the log holds on this chassis missing from its Open vSwitch
   * reports them gone, which withdraws the claims of the ports they carried: say so, once, with
   * the count and the likely why, rather than leave ports unbound without a word.
   */
  private warnOfWithdrawals(observer: InterfaceObserver, replica: Replica<ObservedTables>) {
    const gone = observer
      .changes(replica)
      .flatMap((e) => (e.type === 'OvsPortDeleted' ? [observer.reported.get(e.data.name)] : []));
    const claims = gone.filter((port) => port?.ifaceId);
    if (gone.length === 0) return;
    this.logger.warn(
      {
        interfaces: gone.length,
        claims: claims.length,
        ports: claims.slice(0, 10).map((port) => port?.ifaceId),
      },
      `withdrawing ${claims.length} claims: ${gone.length} interfaces the log has on this chassis are not in its Open vSwitch (a first run without Open vSwitch, whose interfaces were reported directly, or a reset OVS database); plug them into this chassis' Open vSwitch to claim the ports again`,
    );
  }

  /** Reports whatever is pending now and resolves when nothing is left (or a report failed). */
  async flush(): Promise<void> {
    this.timer?.cancel();
    this.timer = undefined;
    if (this.flushing) {
      this.dirty = true;
      this.forced = true;
      await this.flushing;
      return;
    }
    this.flushing = this.deliver().finally(() => {
      this.flushing = undefined;
    });
    const waiting = await this.flushing;
    // Changes that came in during the report and still wait for their ofports get the settle
    // too: sent at once, each would cost a second report (OvsPortUpdated) when OVS numbers it.
    if (waiting) this.schedule(this.options.settleMs ?? 50);
  }

  /** Whether everything observed has been reported. */
  get isSettled(): boolean {
    if (!this.observer || !this.replica) return false;
    return (
      this.timer === undefined &&
      this.flushing === undefined &&
      this.observer.changes(this.replica).length === 0
    );
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
    for (const unsubscribe of this.unsubscribe) unsubscribe();
    await this.flushing;
    if (this.ownsClient) await this.client.close();
    else if (this.replica) await this.client.unmonitor(this.replica);
    this.logger.info(this.stats, 'agent stopped');
  }

  private async setup(): Promise<BridgeLayout> {
    const { chassis, integrationBridge, datapathType, vswitchdTimeoutMs } = this.options;
    if (this.options.observeOnly) {
      // The bridge is another controller's: only its name matters (what the observer watches).
      const layout: BridgeLayout = {
        integrationBridge: integrationBridge ?? 'br-int',
        tunnels: {},
        patches: {},
      };
      this.currentLayout ??= layout;
      return this.currentLayout;
    }
    const result = await setupBridges(this.client, {
      chassis,
      ...(integrationBridge === undefined ? {} : { integrationBridge }),
      ...(datapathType === undefined ? {} : { datapathType }),
      ...(vswitchdTimeoutMs === undefined ? {} : { vswitchdTimeoutMs }),
      logger: this.logger,
    });
    this.stats.setups++;
    const { changed, ...layout } = result;
    if (changed) this.logger.info({ layout }, 'bridges set up');
    if (JSON.stringify(layout) !== JSON.stringify(this.currentLayout)) {
      this.currentLayout = layout;
      for (const listener of this.layoutListeners) listener(layout);
    }
    return layout;
  }

  /** Whether every change observed has what a report needs (an ofport for a new interface). */
  private complete(): boolean {
    const { observer, replica } = this;
    if (!observer || !replica) return true;
    return observer
      .changes(replica)
      .every(
        (event) =>
          (event.type !== 'OvsPortCreated' && event.type !== 'OvsPortUpdated') ||
          event.data.ofport !== null,
      );
  }

  /** Reports in `delayMs`, or sooner if already scheduled sooner. */
  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.flushing) {
      this.dirty = true;
      return;
    }
    const due = performance.now() + delayMs;
    if (this.timer) {
      if (this.timerDue <= due) return;
      this.timer.cancel();
    }
    this.timerDue = due;
    this.timer = wakeUp(delayMs, () => {
      this.timer = undefined;
      void this.flush();
    });
  }

  /** Reports until nothing is pending; true when changes wait for ofports (not reported yet). */
  private async deliver(): Promise<boolean> {
    const { observer, replica } = this;
    if (!observer || !replica) return false;
    do {
      this.dirty = false;
      this.forced = false;
      const events = observer.changes(replica);
      if (events.length === 0) continue;
      try {
        await this.options.sink.report(events);
        observer.acknowledge(events);
        this.stats.reported += events.length;
        this.reportBackoff.reset();
        this.logger.debug(
          { events: events.map((e) => `${e.type} ${(e.data as { name: string }).name}`) },
          'reported interfaces',
        );
      } catch (error) {
        this.stats.failedReports++;
        if (error instanceof ReportError) observer.acknowledge(events.slice(0, error.recorded));
        const delay = this.reportBackoff.next();
        this.logger.error({ err: error, retryInMs: delay }, 'reporting interfaces failed');
        this.dirty = false;
        // Retry after the back-off (unless stopped meanwhile).
        setTimeout(() => this.schedule(0), delay).unref();
        return false;
      }
      if (this.dirty && !this.forced && !this.stopped && !this.complete()) {
        this.dirty = false;
        return true;
      }
    } while (this.dirty && !this.stopped);
    return false;
  }
}
