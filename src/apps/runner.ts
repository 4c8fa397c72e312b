/**
 * The app runner: the imperative shell around the pure apps. It folds the log into the topology
 * in order, asks every app which ports an event affects, reconciles those ports, and appends the
 * resulting locality events to each port's stream with the expected revision.
 *
 * Exactly-once effect: decisions are differences against the port's facts, checked against the
 * lport machine before they are appended; a lost race re-reads and re-decides; event ids are
 * derived from the cause; the checkpoint is saved after every event that appended anything, so a
 * restart re-decides only events whose effects are either complete (nothing left to do) or absent.
 */
import type { Logger } from 'pino';
import type { Ack } from '../../machines/lport.rules.js';
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
import { StreamNotFoundError, WrongExpectedVersionError } from '../store/errors.js';
import { owns, type Partition } from '../store/esdb/partitions.js';
import type { EventStore, RecordedEvent, Subscription } from '../store/event-store.js';
import { type LocalityApp, portOf } from './app.js';
import type { CheckpointStore } from './checkpoints.js';
import { classification } from './classification.js';
import { dhcp, l3 } from './distributed.js';
import { dnat, trunk } from './follower.js';
import { type PortLocality, PortLocalityFold, refusalOf } from './port-locality.js';
import { provider, tunnel } from './remote.js';
import type { RemoteFlows } from './remote-flows.js';
import { Topology } from './topology.js';

export const allApps: readonly LocalityApp[] = [
  classification,
  dnat,
  trunk,
  l3,
  dhcp,
  tunnel,
  provider,
];

const localityTypes = new Set<string>(localityEventTypes);
const isLocalityEvent = (event: DomainEvent): boolean => localityTypes.has(event.type);

export interface AppRunnerOptions {
  readonly store: EventStore;
  readonly remoteFlows: RemoteFlows;
  readonly checkpoints: CheckpointStore;
  readonly logger: Logger;
  readonly apps?: readonly LocalityApp[];
  /** Checkpoint name; instances sharing the work use distinct names per partition. */
  readonly name?: string;
  /** Attempts per port when other writers keep winning the race. */
  readonly maxAttempts?: number;
  readonly clock?: () => Date;
  /**
   * This instance's share of the work when several run (competing consumers): every instance
   * folds the whole log, and reconciles only the ports whose id hashes into its partition.
   */
  readonly partition?: Partition;
}

export interface AppRunnerMetrics {
  processed: number;
  appended: number;
  refused: number;
  conflicts: number;
  skipped: number;
  gaveUp: number;
  /** Acks not made because the chassis could not install their flows yet. */
  deferred: number;
}

export class AppRunner {
  readonly topology = new Topology();
  readonly metrics: AppRunnerMetrics = {
    processed: 0,
    appended: 0,
    refused: 0,
    conflicts: 0,
    skipped: 0,
    gaveUp: 0,
    deferred: 0,
  };
  private readonly apps: readonly LocalityApp[];
  private readonly name: string;
  private readonly partition: Partition;
  private readonly maxAttempts: number;
  private readonly clock: () => Date;
  /** Last position folded into the topology. */
  private position = 0n;
  /** Events at or below this were fully handled by an earlier run: fold, don't decide. */
  private checkpoint: bigint | undefined;
  private subscription: Subscription | undefined;
  /** Ports this runner appended to, as they are after its appends, until the fold catches up. */
  private readonly ahead = new Map<string, PortLocality>();
  private loop: Promise<void> | undefined;
  private stopping: AbortController | undefined;

  constructor(private readonly options: AppRunnerOptions) {
    this.apps = options.apps ?? allApps;
    this.partition = options.partition ?? { index: 0, count: 1 };
    this.name =
      options.name ??
      (this.partition.count === 1
        ? 'apps'
        : `apps-${this.partition.index}-of-${this.partition.count}`);
    this.maxAttempts = options.maxAttempts ?? 8;
    this.clock = options.clock ?? (() => new Date());
  }

  /** Position of the last event folded. */
  get headPosition(): bigint {
    return this.position;
  }

  /**
   * Processes everything in the log, including the events this runner appends, until nothing
   * is left. For tests, the CLI and batch runs; `start` is the live mode.
   */
  async catchUp(options: { until?: bigint } = {}): Promise<void> {
    await this.loadCheckpoint();
    const until = options.until;
    for (;;) {
      const page = await this.options.store.readAll({ after: this.position, maxCount: 1000 });
      if (page.length === 0) return;
      for (const recorded of page) {
        if (until !== undefined && recorded.position > until) return;
        await this.handle(recorded);
      }
    }
  }

  /** Follows the log live (catch-up, then live) until `stop`. */
  async start(): Promise<void> {
    await this.loadCheckpoint();
    this.stopping = new AbortController();
    this.loop = this.follow(this.stopping.signal);
  }

  /**
   * A subscription ends when the store fails (unreachable, restarted): resubscribe after the
   * last event handled, with backoff, until stopped — never give up following the log.
   */
  private async follow(stopping: AbortSignal): Promise<void> {
    for (let failures = 0; !stopping.aborted; ) {
      const subscription = this.options.store.subscribeToAll({ after: this.position });
      this.subscription = subscription;
      try {
        for await (const recorded of subscription) {
          await this.handleWithRetry(recorded, stopping);
          failures = 0;
        }
        if (stopping.aborted) return;
        failures++;
      } catch (error) {
        if (stopping.aborted) return;
        failures++;
        this.options.logger.error(
          { err: error, position: String(this.position), failures },
          'app runner subscription failed; resubscribing after its last event',
        );
      }
      await sleep(Math.min(5000, 100 * 2 ** failures), stopping);
    }
  }

  async stop(): Promise<void> {
    this.stopping?.abort();
    await this.subscription?.close();
    await this.loop;
    await this.options.checkpoints.save(this.name, this.position);
  }

  private async loadCheckpoint(): Promise<void> {
    this.checkpoint ??= await this.options.checkpoints.load(this.name);
  }

  /** A transient failure (store unreachable) must not skip an event: retry it with backoff. */
  private async handleWithRetry(recorded: RecordedEvent, stopping: AbortSignal): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.handle(recorded);
        return;
      } catch (error) {
        if (stopping.aborted) throw error;
        const delay = Math.min(5000, 100 * 2 ** attempt);
        this.options.logger.warn(
          { err: error, position: String(recorded.position), attempt, delay },
          'app runner failed on an event, retrying',
        );
        await sleep(delay, stopping);
      }
    }
  }

  private async handle(recorded: RecordedEvent): Promise<void> {
    if (recorded.position <= this.position) return;
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
      return;
    }
    const event = decoded.event;
    const deciding = recorded.position > (this.checkpoint ?? 0n);
    const affected = deciding ? this.affectedBy(event) : undefined;
    const portId = portOf(event);
    const acksBefore = deciding && portId ? this.topology.portLocality(portId).acks.slice() : [];
    this.topology.apply(event, recorded.revision);
    this.position = recorded.position;
    this.metrics.processed++;
    if (!affected) return;
    this.collectAffected(event, affected);

    if (event.type === 'LogicalPortDeleted')
      await this.options.remoteFlows.removeEverywhere(event.data.id);
    else if (portId) await this.removeFlowsOfDroppedAcks(portId, acksBefore);
    let appended = 0;
    for (const [app, ports] of affected)
      for (const portId of ports)
        if (owns(this.partition, portId)) appended += await this.reconcile(app, portId, recorded);
    if (appended > 0) await this.options.checkpoints.save(this.name, recorded.position);
  }

  /** Acks the machine dropped (owner changed, no claim left): those flows point nowhere now. */
  private async removeFlowsOfDroppedAcks(portId: string, before: readonly Ack[]): Promise<void> {
    if (before.length === 0) return;
    const after = this.topology.portLocality(portId).acks;
    for (const ack of before)
      if (!after.some((a) => a.chassis === ack.chassis && a.owner === ack.owner))
        await this.options.remoteFlows.remove(ack.chassis, portId);
  }

  private affectedBy(event: DomainEvent): Map<LocalityApp, Set<string>> {
    const affected = new Map<LocalityApp, Set<string>>();
    // Level-triggered on the port itself: every app re-checks a port whose locality changed.
    // Usually a no-op (the change was decided on the `ahead` view). After a restart it is not:
    // a predecessor lagging behind the commands appended decisions after model events it
    // never handled; re-deciding those events, this runner saw a fold without its
    // predecessor's later decisions, so one that should undo them (a trunk parent deleted)
    // decided nothing. Folding them now brings the port back to what the apps want.
    const own = isLocalityEvent(event) ? portOf(event) : undefined;
    for (const app of this.apps) affected.set(app, new Set(own === undefined ? [] : [own]));
    this.collectAffected(event, affected);
    return affected;
  }

  private collectAffected(event: DomainEvent, into: Map<LocalityApp, Set<string>>): void {
    for (const app of this.apps) {
      const ports = into.get(app);
      if (ports) for (const portId of app.affected(this.topology, event)) ports.add(portId);
    }
  }

  /** Brings one port to what one app wants; returns the number of events appended. */
  private async reconcile(app: LocalityApp, portId: string, cause: RecordedEvent): Promise<number> {
    let port: PortLocality = this.currentPort(portId);
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      const checked = this.checked(app, portId, port, app.reconcile(this.topology, portId, port));
      const decisions = await this.withFlowsInstalled(checked);
      if (decisions.length === 0) return 0;
      const events = decisions.map((decision, index) =>
        envelope(decision, {
          app: app.name,
          cause: causedBy(cause),
          id: deterministicId(cause.id, app.name, portId, String(index), JSON.stringify(decision)),
          time: this.clock(),
        }),
      );
      try {
        const result = await this.options.store.appendToStream(lportStream(portId), events, {
          expectedRevision: port.revision < 0n ? 'no_stream' : port.revision,
        });
        this.metrics.appended += events.length;
        let after = port;
        for (const decision of decisions) after = PortLocalityFold.evolve(portId, after, decision);
        this.ahead.set(portId, { ...after, revision: result.nextExpectedRevision });
        return events.length;
      } catch (error) {
        if (!(error instanceof WrongExpectedVersionError)) throw error;
        // Another writer (or our own earlier run) moved the port: re-read and re-decide.
        this.metrics.conflicts++;
        const fresh = await this.readPort(portId);
        if (!fresh) return 0;
        port = fresh;
      }
    }
    this.metrics.gaveUp++;
    this.options.logger.error(
      { app: app.name, portId, attempts: this.maxAttempts },
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

  /**
   * Installs (or removes) the flows behind each ack decision first. An ack whose flows cannot
   * be installed yet is not made: the chassis' agent may still be behind this runner (it
   * programs from the folded topology, the runner may decide on its own unfolded appends);
   * the event that catches it up triggers the same reconcile again.
   */
  private async withFlowsInstalled(decisions: readonly DomainEvent[]): Promise<DomainEvent[]> {
    // All at once: the acks of one port are on different chassis (an owner change's remove and
    // re-install on one chassis coalesce in its reconciler), so waiting for each in turn would
    // add up their flow syncs.
    const kept = await Promise.all(
      decisions.map(async (decision) => {
        if (decision.type === 'RemoteCreated') {
          try {
            await this.options.remoteFlows.install(decision.data);
          } catch (error) {
            this.metrics.deferred++;
            this.options.logger.debug({ err: error, ack: decision.data }, 'ack deferred');
            return false;
          }
        }
        if (decision.type === 'RemoteDeleted')
          await this.options.remoteFlows.remove(decision.data.chassis, decision.data.portId);
        return true;
      }),
    );
    return decisions.filter((_, index) => kept[index]);
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

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
