/**
 * Given/when/then for the apps: append model events as the API would, let the runner catch up
 * (including on its own output), and return the locality events that followed, each with the
 * app that emitted it and the type of the event that caused it.
 */
import { pino } from 'pino';
import { InMemoryCheckpoints } from '../../src/apps/checkpoints.js';
import { AppRunner } from '../../src/apps/runner.js';
import { InMemoryRemoteFlows } from '../../src/domain/remote-flows.js';
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

export interface Outcome {
  readonly type: string;
  readonly data: Record<string, unknown>;
  readonly app: string;
  /** Type of the event named by the causation id. */
  readonly causedBy: string;
}

const locality = new Set<string>(localityEventTypes);

export class Scenario {
  readonly flows = new InMemoryRemoteFlows({ hosts: 'all' });
  readonly checkpoints = new InMemoryCheckpoints();
  runner: AppRunner;
  private seen = 0n;

  /**
   * @param send how a model event reaches the log: appended directly (default) or through
   *   the HTTP API (see http-driver.ts).
   * @param afterEach runs once the apps have caught up on each event (e.g. the projector).
   */
  constructor(
    readonly store: EventStore,
    private readonly send?: (event: DomainEvent) => Promise<void>,
    private readonly afterEach?: () => Promise<void>,
  ) {
    this.runner = this.newRunner();
  }

  newRunner(): AppRunner {
    return new AppRunner({
      store: this.store,
      remoteFlows: this.flows,
      checkpoints: this.checkpoints,
      logger: pino({ level: 'silent' }),
    });
  }

  /** Simulates a crash and restart: a fresh runner resumes from the saved checkpoint. */
  restart(): void {
    this.runner = this.newRunner();
  }

  /** Appends the model events (as the API would, one command each) and runs the apps. */
  async given(...events: DomainEvent[]): Promise<Outcome[]> {
    for (const event of events) {
      await this.append(event);
      await this.runner.catchUp();
      await this.afterEach?.();
    }
    return this.outcomes();
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
        causedBy: byId.get(r.metadata.causationId)?.type ?? 'unknown',
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
  type: 'LocalCreated',
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
