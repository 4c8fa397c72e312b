/**
 * Given/when/then for the apps: append model events as the API would, let the runner catch up
 * (including on its own output) and every chassis' agent ack what its flows reach (simulated:
 * test/support/simulated-agents.ts) until nothing changes, and return the locality events that
 * followed, each with the app that recorded it and the type of the event that caused it.
 *
 * Acks come only from agents: the server's tunnel and provider apps withdraw acks nobody should
 * hold, an agent's ack is recorded as app `tunnel`/`provider` with the agent as its actor.
 */
import { pino } from 'pino';
import { InMemoryCheckpoints } from '../../src/apps/checkpoints.js';
import { AppRunner } from '../../src/apps/runner.js';
import {
  type Chassis,
  commandCause,
  type DomainEvent,
  envelope,
  type LogicalPort,
  type LogicalSwitch,
  localityEventTypes,
  streamOf,
} from '../../src/events/index.js';
import type { EventStore, RecordedEvent } from '../../src/store/event-store.js';
import { type AckSink, SimulatedAgents } from '../support/simulated-agents.js';

export interface Outcome {
  readonly type: string;
  readonly data: Record<string, unknown>;
  readonly app: string;
  /** Who issued it: `agent:<chassis>` for an agent's ack, absent for the apps. */
  readonly actor: string | undefined;
  /** Type of the event named by the causation id; `command` for a command's (an agent's ack). */
  readonly causedBy: string;
}

const locality = new Set<string>(localityEventTypes);

export class Scenario {
  readonly checkpoints = new InMemoryCheckpoints();
  runner: AppRunner;
  /** Every chassis' agent; `agents.noAgent(c)` for a chassis that runs none. */
  readonly agents: SimulatedAgents;
  private seen = 0n;
  /** The runner dies right after handling this position (see crashAfter). */
  private crashAt: bigint | undefined;

  /**
   * @param send how a model event reaches the log: appended directly (default) or through
   *   the HTTP API (see http-driver.ts).
   * @param afterEach runs once the apps and agents have settled on each event (e.g. the
   *   projector).
   * @param acks how the agents' acks reach the log (default: the ack commands directly).
   */
  constructor(
    readonly store: EventStore,
    private readonly send?: (event: DomainEvent) => Promise<void>,
    private readonly afterEach?: () => Promise<void>,
    acks?: AckSink,
  ) {
    this.runner = this.newRunner();
    this.agents = new SimulatedAgents({
      store,
      ...(acks ? { acks } : {}),
      catchUp: () => this.catchUp(),
    });
  }

  /**
   * The runner dies right after handling log position `position`, wherever that falls (in the
   * middle of a settle, with the agents still running), and a new one takes over from the
   * saved checkpoint.
   */
  crashAfter(position: bigint): void {
    this.crashAt = position;
  }

  /** The server's side of a settle: the runner catches up (crashing once, if asked to). */
  private async catchUp(): Promise<void> {
    if (this.crashAt !== undefined) {
      await this.runner.catchUp({ until: this.crashAt });
      // Below the crash position the runner has handled everything there is.
      if (this.runner.headPosition < this.crashAt) return;
      this.crashAt = undefined;
      this.restart();
    }
    await this.runner.catchUp();
  }

  newRunner(): AppRunner {
    return new AppRunner({
      store: this.store,
      checkpoints: this.checkpoints,
      logger: pino({ level: 'silent' }),
    });
  }

  /** Simulates a crash and restart: a fresh runner resumes from the saved checkpoint. */
  restart(): void {
    this.runner = this.newRunner();
  }

  /**
   * Appends the model events (as the API would, one command each); after each, the apps and
   * the agents run until neither has anything left to append.
   */
  async given(...events: DomainEvent[]): Promise<Outcome[]> {
    for (const event of events) {
      await this.append(event);
      await this.agents.settle();
      await this.afterEach?.();
    }
    return this.outcomes();
  }

  /** The ports chassis `chassis` acks, with the owner acked, as the runner's topology holds. */
  ackedBy(chassis: string): Map<string, string> {
    const acked = new Map<string, string>();
    for (const portId of [...this.runner.topology.ports.keys()].sort())
      for (const ack of this.runner.topology.portLocality(portId).acks)
        if (ack.chassis === chassis) acked.set(portId, ack.owner);
    return acked;
  }

  /** Appends one model event as the API would, without running the apps. */
  async append(event: DomainEvent): Promise<void> {
    if (this.send) return this.send(event);
    await this.store.appendToStream(streamOf(event), [
      envelope(event, { app: 'api', cause: commandCause() }),
    ]);
  }

  /** Locality events appended since the last call. */
  async outcomes(): Promise<Outcome[]> {
    const recorded = await this.store.readAll({ after: this.seen });
    const byId = new Map<string, RecordedEvent>();
    for (const r of await this.store.readAll()) byId.set(r.id, r);
    if (recorded.length > 0) this.seen = recorded[recorded.length - 1]?.position ?? this.seen;
    return recorded
      .filter((r) => locality.has(r.type))
      .map((r) => ({
        type: r.type,
        data: r.data as Record<string, unknown>,
        app: r.metadata.app,
        actor: typeof r.metadata.actor === 'string' ? r.metadata.actor : undefined,
        causedBy: byId.get(r.metadata.causationId)?.type ?? 'command',
      }));
  }

  /** Every locality event of the log, in order (type + data only). */
  async allLocality(): Promise<{ type: string; data: unknown }[]> {
    return (await this.store.readAll())
      .filter((r) => locality.has(r.type))
      .map((r) => ({ type: r.type, data: r.data }));
  }
}

// ---- model fixtures ----

export const chassis = (id: string, octet: number, extra: Partial<Chassis> = {}): DomainEvent => ({
  type: 'ChassisCreated',
  data: {
    id,
    tunnelIp: `192.0.2.${octet}`,
    tunnelTypes: ['geneve'],
    bridgeMappings: { physnet1: 'br-provider' },
    ...extra,
  },
});

export const lswitch = (id: string, extra: Partial<LogicalSwitch> = {}): DomainEvent => ({
  type: 'LogicalSwitchCreated',
  data: { id, networkType: 'geneve', segmentationId: 100, ...extra },
});

let macCounter = 0;
export const port = (
  id: string,
  switchId: string,
  extra: Partial<LogicalPort> = {},
  type: 'LogicalPortCreated' | 'LogicalPortUpdated' = 'LogicalPortCreated',
): DomainEvent => {
  macCounter++;
  return {
    type,
    data: {
      id,
      switchId,
      macs: [
        `fa:16:3e:00:${(macCounter >> 8).toString(16).padStart(2, '0')}:${(macCounter & 255).toString(16).padStart(2, '0')}`,
      ],
      ips: [],
      deviceOwner: 'compute',
      requestedChassis: null,
      ...extra,
    },
  };
};

export const ovsPort = (
  onChassis: string,
  name: string,
  ifaceId: string,
  ofport = 1,
): DomainEvent => ({
  type: 'OvsPortCreated',
  data: { chassis: onChassis, name, ofport, ifaceId, type: '' },
});

export const ovsPortGone = (onChassis: string, name: string): DomainEvent => ({
  type: 'OvsPortDeleted',
  data: { chassis: onChassis, name },
});

export const local = (portId: string, on: string) => ({
  type: 'LocalCreated' as const,
  data: { portId, chassis: on },
});
export const localGone = (portId: string, on: string) => ({
  type: 'LocalDeleted',
  data: { portId, chassis: on },
});
export const remote = (portId: string, on: string, owner: string) => ({
  type: 'RemoteCreated',
  data: { portId, chassis: on, owner },
});
export const remoteGone = (portId: string, on: string) => ({
  type: 'RemoteDeleted',
  data: { portId, chassis: on },
});
export const distributed = (portId: string, reason: string) => ({
  type: 'DistributedCreated',
  data: { portId, reason },
});
export const distributedGone = (portId: string, reason: string) => ({
  type: 'DistributedDeleted',
  data: { portId, reason },
});

/** Outcomes without the bookkeeping, for exact comparisons. */
export const shape = (outcomes: readonly Outcome[]) =>
  outcomes.map(({ type, data }) => ({ type, data }));
