/**
 * The command shell: reads the command's stream and the entities it references from the log,
 * asks the pure decider, and appends the decided events to that one stream with the revision it
 * read (one append: a command is all-or-nothing). A concurrent writer makes the append fail with
 * WrongExpectedVersionError; the shell then re-reads and re-decides, a bounded number of times.
 *
 * References to other streams (a port's switch, a router's ports) are checked against the log
 * when deciding, not transactionally: a switch deleted between the check and the append of a
 * port on it leaves a dangling reference, which the apps tolerate (they act on what exists).
 * The event store offers no multi-stream condition to close that window.
 */
import { randomUUID } from 'node:crypto';
import type {
  Chassis,
  ChildPortSegmentation,
  DomainEvent,
  FloatingIp,
  LogicalPort,
  LogicalRouter,
  LogicalSwitch,
  OvsPort,
  Subnet,
} from '../events/index.js';
import {
  chassisStream,
  commandCause,
  decodeEvent,
  envelope,
  InvalidEventError,
  lportStream,
  problemsOf,
} from '../events/index.js';
import {
  StreamDeletedError,
  StreamNotFoundError,
  WrongExpectedVersionError,
} from '../store/errors.js';
import type { EventStore, NewEvent, RecordedEvent } from '../store/event-store.js';
import {
  type ChassisChanges,
  chassisFold,
  createChassis,
  deleteChassis,
  removeOvsPort,
  reportOvsPort,
  updateChassis,
} from './chassis.js';
import type { CommandError, CommandErrorKind, Decision } from './decision.js';
import { associateFloatingIp, createFloatingIp, deleteFloatingIp } from './floating-ips.js';
import {
  type DocumentOf,
  documentFold,
  type EntityKind,
  entities,
  foldStream,
  isModelEventOf,
  type Loaded,
  type StreamFold,
  streamOfEntity,
} from './lifecycle.js';
import { createPort, deletePort, type PortChanges, portFold, updatePort } from './ports.js';
import {
  addInterface,
  clearGateway,
  createRouter,
  deleteRouter,
  portsOfRouter,
  removeInterface,
  setGateway,
} from './routers.js';
import { createSegmentation, deleteSegmentation } from './segmentations.js';
import { StreamLanes } from './stream-lanes.js';
import { createSubnet, deleteSubnet, type SubnetChanges, updateSubnet } from './subnets.js';
import { createSwitch, deleteSwitch } from './switches.js';

/** Who issues a command; stamped on every event it appends. */
export interface CommandIssuer {
  /** The emitter recorded in the metadata: `api`, or `agent:<chassis>` for agents. */
  readonly app: string;
  /** The authenticated principal's name, for audit (never its token). */
  readonly actor: string;
  /** Correlates the events with the request (the HTTP request id). */
  readonly commandId?: string;
}

export interface CommandOutcome<R> {
  readonly result: R;
  readonly created: boolean;
  /**
   * Log position of the last event appended, or, when the command changed nothing, of the
   * stream's last event: either way, once the read model has passed it, it shows the result.
   */
  readonly position: bigint;
  readonly appended: number;
}

export class CommandRejectedError extends Error {
  override name = 'CommandRejectedError';
  constructor(readonly rejection: CommandError) {
    super(rejection.detail);
  }
}

/** Other writers kept moving the stream between our read and our append. */
export class ContentionError extends Error {
  override name = 'ContentionError';
  constructor(
    readonly streamName: string,
    readonly attempts: number,
  ) {
    super(`stream ${streamName} kept changing under the command (${attempts} attempts)`);
  }
}

/** The stream holds an event this version cannot read: deciding on it would be a guess. */
export class UnreadableStreamError extends Error {
  override name = 'UnreadableStreamError';
  constructor(
    readonly streamName: string,
    readonly eventType: string,
    readonly reason: string,
  ) {
    super(`stream ${streamName} holds a ${eventType} event this version cannot read (${reason})`);
  }
}

export type CommandOutcomeLabel = 'accepted' | 'unchanged' | CommandErrorKind | 'contention';

/** Hook for metrics: told about every decision and every appended batch. */
export interface CommandObserver {
  decided(command: string, outcome: CommandOutcomeLabel): void;
  appended(events: readonly NewEvent[]): void;
}

export interface CommandHandlerOptions {
  /** Decide-and-append attempts when the stream moves under us (default 5). */
  readonly maxAttempts?: number;
  readonly observer?: CommandObserver;
  readonly clock?: () => Date;
}

type Operation = { readonly name: string; readonly stream: string };

/** Concurrent reads when checking many references (a router's interfaces). */
const REFERENCE_READS = 16;
/** Page size of the backwards read that finds an entity's latest model event. */
const LIFECYCLE_PAGE = 64;
/** Page size of the log scan that finds a switch's users. */
const SCAN_PAGE = 1000;

/** A kept fold's state (StreamFold.keep) and where its stream stood. */
interface Kept {
  readonly fold: StreamFold<unknown>;
  readonly loaded: Loaded<unknown>;
}

/** Streams whose folds are kept at most (a few per chassis; least recently used go first). */
const KEPT_STREAMS = 1_000;

export class CommandHandler {
  private readonly maxAttempts: number;
  private readonly lanes = new StreamLanes();
  private readonly clock: () => Date;
  private readonly kept = new Map<string, Kept>();

  constructor(
    private readonly store: EventStore,
    private readonly options: CommandHandlerOptions = {},
  ) {
    this.maxAttempts = options.maxAttempts ?? 5;
    this.clock = options.clock ?? (() => new Date());
  }

  // --- chassis and agents -------------------------------------------------------------------

  createChassis(chassis: Chassis, issuer: CommandIssuer): Promise<CommandOutcome<Chassis>> {
    return this.execute(
      { name: 'createChassis', stream: chassisStream(chassis.id) },
      issuer,
      chassisFold,
      noReferences,
      (state) => createChassis(chassis, state),
    );
  }

  updateChassis(id: string, changes: ChassisChanges, issuer: CommandIssuer) {
    return this.execute(
      { name: 'updateChassis', stream: chassisStream(id) },
      issuer,
      chassisFold,
      noReferences,
      (state) => updateChassis(id, changes, state),
    );
  }

  deleteChassis(id: string, issuer: CommandIssuer) {
    return this.execute(
      { name: 'deleteChassis', stream: chassisStream(id) },
      issuer,
      chassisFold,
      noReferences,
      (state) => deleteChassis(id, state),
    );
  }

  reportOvsPort(observed: OvsPort, issuer: CommandIssuer): Promise<CommandOutcome<OvsPort>> {
    return this.execute(
      { name: 'reportOvsPort', stream: chassisStream(observed.chassis) },
      issuer,
      chassisFold,
      noReferences,
      (state) => reportOvsPort(observed.chassis, observed, state),
    );
  }

  removeOvsPort(chassisId: string, name: string, issuer: CommandIssuer) {
    return this.execute(
      { name: 'removeOvsPort', stream: chassisStream(chassisId) },
      issuer,
      chassisFold,
      noReferences,
      (state) => removeOvsPort(chassisId, name, state),
    );
  }

  // --- switches and subnets -----------------------------------------------------------------

  createSwitch(lswitch: LogicalSwitch, issuer: CommandIssuer) {
    return this.execute(
      { name: 'createSwitch', stream: streamOfEntity('switch', lswitch.id) },
      issuer,
      documentFold('switch'),
      noReferences,
      (state) => createSwitch(lswitch, state),
    );
  }

  deleteSwitch(id: string, issuer: CommandIssuer) {
    return this.execute(
      { name: 'deleteSwitch', stream: streamOfEntity('switch', id) },
      issuer,
      documentFold('switch'),
      async (state) =>
        state.status === 'live'
          ? {
              ports: await this.scanLive('port', (port) => port.switchId === id),
              subnets: await this.scanLive('subnet', (subnet) => subnet.switchId === id),
            }
          : { ports: [], subnets: [] },
      (state, users) => deleteSwitch(id, state, users),
    );
  }

  createSubnet(subnet: Subnet, issuer: CommandIssuer): Promise<CommandOutcome<Subnet>> {
    return this.execute(
      { name: 'createSubnet', stream: streamOfEntity('subnet', subnet.id) },
      issuer,
      documentFold('subnet'),
      async () => ({ switchLive: await this.isLive('switch', subnet.switchId) }),
      (state, refs) => createSubnet(subnet, state, refs),
    );
  }

  updateSubnet(id: string, changes: SubnetChanges, issuer: CommandIssuer) {
    return this.execute(
      { name: 'updateSubnet', stream: streamOfEntity('subnet', id) },
      issuer,
      documentFold('subnet'),
      noReferences,
      (state) => updateSubnet(id, changes, state),
    );
  }

  deleteSubnet(id: string, issuer: CommandIssuer) {
    return this.execute(
      { name: 'deleteSubnet', stream: streamOfEntity('subnet', id) },
      issuer,
      documentFold('subnet'),
      noReferences,
      (state) => deleteSubnet(id, state),
    );
  }

  // --- ports --------------------------------------------------------------------------------

  createPort(port: LogicalPort, issuer: CommandIssuer): Promise<CommandOutcome<LogicalPort>> {
    return this.execute(
      { name: 'createPort', stream: lportStream(port.id) },
      issuer,
      portFold,
      async () => ({ switchLive: await this.isLive('switch', port.switchId) }),
      (state, refs) => createPort(port, state, refs),
    );
  }

  updatePort(id: string, changes: PortChanges, issuer: CommandIssuer) {
    return this.execute(
      { name: 'updatePort', stream: lportStream(id) },
      issuer,
      portFold,
      noReferences,
      (state) => updatePort(id, changes, state),
    );
  }

  deletePort(id: string, issuer: CommandIssuer) {
    return this.execute(
      { name: 'deletePort', stream: lportStream(id) },
      issuer,
      portFold,
      noReferences,
      (state) => deletePort(id, state),
    );
  }

  // --- routers ------------------------------------------------------------------------------

  createRouter(router: LogicalRouter, issuer: CommandIssuer) {
    return this.execute(
      { name: 'createRouter', stream: streamOfEntity('router', router.id) },
      issuer,
      documentFold('router'),
      async () => ({ livePorts: await this.livePorts(portsOfRouter(router)) }),
      (state, refs) => createRouter(router, state, refs),
    );
  }

  deleteRouter(id: string, issuer: CommandIssuer) {
    return this.execute(
      { name: 'deleteRouter', stream: streamOfEntity('router', id) },
      issuer,
      documentFold('router'),
      noReferences,
      (state) => deleteRouter(id, state),
    );
  }

  addRouterInterface(routerId: string, portId: string, issuer: CommandIssuer) {
    return this.execute(
      { name: 'addRouterInterface', stream: streamOfEntity('router', routerId) },
      issuer,
      documentFold('router'),
      async () => ({ livePorts: await this.livePorts([portId]) }),
      (state, refs) => addInterface(routerId, portId, state, refs),
    );
  }

  removeRouterInterface(routerId: string, portId: string, issuer: CommandIssuer) {
    return this.execute(
      { name: 'removeRouterInterface', stream: streamOfEntity('router', routerId) },
      issuer,
      documentFold('router'),
      noReferences,
      (state) => removeInterface(routerId, portId, state),
    );
  }

  setRouterGateway(routerId: string, portId: string, issuer: CommandIssuer) {
    return this.execute(
      { name: 'setRouterGateway', stream: streamOfEntity('router', routerId) },
      issuer,
      documentFold('router'),
      async () => ({ livePorts: await this.livePorts([portId]) }),
      (state, refs) => setGateway(routerId, portId, state, refs),
    );
  }

  clearRouterGateway(routerId: string, issuer: CommandIssuer) {
    return this.execute(
      { name: 'clearRouterGateway', stream: streamOfEntity('router', routerId) },
      issuer,
      documentFold('router'),
      noReferences,
      (state) => clearGateway(routerId, state),
    );
  }

  // --- floating IPs and trunk segmentations -------------------------------------------------

  createFloatingIp(fip: FloatingIp, issuer: CommandIssuer) {
    const ports =
      fip.fixedPortId === null ? [fip.floatingPortId] : [fip.floatingPortId, fip.fixedPortId];
    return this.execute(
      { name: 'createFloatingIp', stream: streamOfEntity('fip', fip.id) },
      issuer,
      documentFold('fip'),
      async () => ({ livePorts: await this.livePorts(ports) }),
      (state, refs) => createFloatingIp(fip, state, refs),
    );
  }

  associateFloatingIp(id: string, portId: string | null, issuer: CommandIssuer) {
    return this.execute(
      { name: 'associateFloatingIp', stream: streamOfEntity('fip', id) },
      issuer,
      documentFold('fip'),
      async () => ({ livePorts: await this.livePorts(portId === null ? [] : [portId]) }),
      (state, refs) => associateFloatingIp(id, portId, state, refs),
    );
  }

  deleteFloatingIp(id: string, issuer: CommandIssuer) {
    return this.execute(
      { name: 'deleteFloatingIp', stream: streamOfEntity('fip', id) },
      issuer,
      documentFold('fip'),
      noReferences,
      (state) => deleteFloatingIp(id, state),
    );
  }

  createSegmentation(segmentation: ChildPortSegmentation, issuer: CommandIssuer) {
    return this.execute(
      { name: 'createSegmentation', stream: streamOfEntity('segmentation', segmentation.id) },
      issuer,
      documentFold('segmentation'),
      async () => ({
        livePorts: await this.livePorts([segmentation.parentPortId, segmentation.childPortId]),
      }),
      (state, refs) => createSegmentation(segmentation, state, refs),
    );
  }

  deleteSegmentation(id: string, issuer: CommandIssuer) {
    return this.execute(
      { name: 'deleteSegmentation', stream: streamOfEntity('segmentation', id) },
      issuer,
      documentFold('segmentation'),
      noReferences,
      (state) => deleteSegmentation(id, state),
    );
  }

  // --- the loop -----------------------------------------------------------------------------

  private async execute<S, C, R>(
    operation: Operation,
    issuer: CommandIssuer,
    fold: StreamFold<S>,
    references: (state: S) => Promise<C>,
    decide: (state: S, references: C) => Decision<R>,
  ): Promise<CommandOutcome<R>> {
    return this.lanes.run(operation.stream, () =>
      this.decideAndAppend(operation, issuer, fold, references, decide),
    );
  }

  private async decideAndAppend<S, C, R>(
    operation: Operation,
    issuer: CommandIssuer,
    fold: StreamFold<S>,
    references: (state: S) => Promise<C>,
    decide: (state: S, references: C) => Decision<R>,
  ): Promise<CommandOutcome<R>> {
    const observer = this.options.observer;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      const loaded = await this.load(operation.stream, fold);
      const decision = decide(loaded.state, await references(loaded.state));
      if (!decision.ok) {
        observer?.decided(operation.name, decision.error.kind);
        throw new CommandRejectedError(decision.error);
      }
      if (decision.events.length === 0) {
        observer?.decided(operation.name, 'unchanged');
        const position = loaded.position ?? (await this.store.headPosition());
        return { result: decision.result, created: false, position, appended: 0 };
      }
      const events = decision.events.map((event) => this.envelope(event, issuer));
      try {
        const appended = await this.store.appendToStream(operation.stream, events, {
          expectedRevision: loaded.revision ?? 'no_stream',
        });
        observer?.decided(operation.name, 'accepted');
        observer?.appended(events);
        return {
          result: decision.result,
          created: decision.created,
          position: appended.position,
          appended: events.length,
        };
      } catch (error) {
        if (!(error instanceof WrongExpectedVersionError)) throw error;
        // Someone else appended to the stream since we read it: re-read and re-decide.
      }
    }
    observer?.decided(operation.name, 'contention');
    throw new ContentionError(operation.stream, this.maxAttempts);
  }

  private envelope(event: DomainEvent, issuer: CommandIssuer): NewEvent {
    // Deciders build events from validated input; a failure here is a defect, not bad input.
    const problems = problemsOf(event.type, event.data);
    if (problems.length > 0) throw new InvalidEventError(event.type, problems);
    const wrapped = envelope(event, {
      app: issuer.app,
      cause: commandCause(issuer.commandId ?? randomUUID()),
      time: this.clock(),
    });
    return { ...wrapped, metadata: { ...wrapped.metadata, actor: issuer.actor } };
  }

  /**
   * Folds a whole stream; a stream that does not exist folds to the initial state. A kept
   * fold (StreamFold.keep) continues from the state of the previous load and reads only the
   * events appended since (by anyone).
   */
  private async load<S>(stream: string, fold: StreamFold<S>): Promise<Loaded<S>> {
    if (!fold.keep) return this.loadWhole(stream, fold);
    const kept = this.kept.get(stream);
    this.kept.delete(stream);
    let loaded: Loaded<S>;
    if (kept?.fold === fold && kept.loaded.revision !== undefined) {
      const previous = kept.loaded as Loaded<S>;
      const records = await this.store.readStream(stream, {
        fromRevision: (previous.revision as bigint) + 1n,
      });
      let state = previous.state;
      for (const recorded of records) state = fold.evolve(state, this.decode(recorded));
      const last = records.at(-1);
      loaded = last ? { state, revision: last.revision, position: last.position } : previous;
    } else loaded = await this.loadWhole(stream, fold);
    if (loaded.revision !== undefined) {
      this.kept.set(stream, { fold: fold as StreamFold<unknown>, loaded });
      if (this.kept.size > KEPT_STREAMS) {
        const oldest = this.kept.keys().next().value;
        if (oldest !== undefined) this.kept.delete(oldest);
      }
    }
    return loaded;
  }

  private async loadWhole<S>(stream: string, fold: StreamFold<S>): Promise<Loaded<S>> {
    let records: RecordedEvent[];
    try {
      records = await this.store.readStream(stream);
    } catch (error) {
      if (error instanceof StreamNotFoundError) {
        return { state: fold.initial, revision: undefined, position: undefined };
      }
      throw error;
    }
    const state = foldStream(
      fold,
      records.map((recorded) => this.decode(recorded)),
    );
    const last = records.at(-1);
    // Every event may be hidden by truncation; the revision still comes from the stream.
    const revision = last?.revision ?? (await this.store.streamRevision(stream));
    return { state, revision, position: last?.position };
  }

  private decode(recorded: RecordedEvent): DomainEvent {
    const decoded = decodeEvent(recorded.type, recorded.data, recorded.metadata.schemaVersion);
    if (!decoded.ok)
      throw new UnreadableStreamError(recorded.streamName, recorded.type, decoded.reason);
    return decoded.event;
  }

  /**
   * Whether an entity is live: its stream's latest model event is a Created or Updated. Read
   * backwards, so a port with a long locality history costs a page, not the whole stream.
   */
  private async isLive(kind: EntityKind, id: string): Promise<boolean> {
    const stream = streamOfEntity(kind, id);
    let fromRevision: bigint | undefined;
    for (;;) {
      let page: RecordedEvent[];
      try {
        page = await this.store.readStream(stream, {
          direction: 'backwards',
          maxCount: LIFECYCLE_PAGE,
          ...(fromRevision === undefined ? {} : { fromRevision }),
        });
      } catch (error) {
        if (error instanceof StreamNotFoundError || error instanceof StreamDeletedError)
          return false;
        throw error;
      }
      for (const recorded of page) {
        if (isModelEventOf(kind, recorded)) return !recorded.type.endsWith('Deleted');
      }
      const oldest = page.at(-1);
      if (page.length < LIFECYCLE_PAGE || oldest === undefined || oldest.revision === 0n) {
        return false;
      }
      fromRevision = oldest.revision - 1n;
    }
  }

  /** The subset of `portIds` that are live ports. */
  private async livePorts(portIds: readonly string[]): Promise<ReadonlySet<string>> {
    const unique = [...new Set(portIds)];
    const live = new Set<string>();
    for (let i = 0; i < unique.length; i += REFERENCE_READS) {
      const batch = unique.slice(i, i + REFERENCE_READS);
      const answers = await Promise.all(batch.map((id) => this.isLive('port', id)));
      batch.forEach((id, index) => {
        if (answers[index]) live.add(id);
      });
    }
    return live;
  }

  /**
   * Ids of the live documents of `kind` that satisfy `predicate`, by scanning the model events
   * of that category in the log. Costs one pass over those events: only switch deletion (rare)
   * uses it, and it keeps only the matching ids in memory.
   */
  private async scanLive<K extends EntityKind>(
    kind: K,
    predicate: (document: DocumentOf<K>) => boolean,
  ): Promise<string[]> {
    const { category, model } = entities[kind];
    const matching = new Set<string>();
    let after = 0n;
    for (;;) {
      const page = await this.store.readAll({
        after,
        maxCount: SCAN_PAGE,
        filter: { streamPrefixes: [`${category}-`], eventTypePrefixes: [model] },
      });
      for (const recorded of page) {
        if (!isModelEventOf(kind, recorded)) continue;
        const event = this.decode(recorded);
        const document = event.data as DocumentOf<K>;
        if (event.type.endsWith('Deleted') || !predicate(document)) matching.delete(document.id);
        else matching.add(document.id);
      }
      const last = page.at(-1);
      if (page.length < SCAN_PAGE || last === undefined) return [...matching].sort();
      after = last.position;
    }
  }
}

const noReferences = async (): Promise<undefined> => undefined;
