/**
 * The in-process agents' flows, as the app runner's RemoteFlows: one FlowReconciler per chassis
 * bridge, each pulling its desired flows from the runner's topology (chassisViewOf → flowsFor)
 * whenever it syncs.
 *
 *  - `install({chassis, portId, owner})` resolves once that chassis' applied flows reach the
 *    port toward that owner — at once when an earlier sync already put them in (the first
 *    install after a topology change installs every port it made reachable, so the next
 *    thousand installs cost nothing), else after a sync. It rejects when the chassis cannot
 *    reach the port (no tunnel port of that type, no patch port, …): no flows, no ack.
 *  - `remove`/`removeEverywhere` resolve once the chassis' flows no longer hold the port's
 *    remote flows as they were (a sync from the current topology, where the ack is gone).
 *  - Local and distributed ports have no RemoteFlows call: with `position` (the runner's head
 *    position) every chassis re-syncs shortly after the topology moves; `refresh()` syncs now.
 *
 * Chassis without an agent here go to `fallback` (or are refused).
 */
import type { Logger } from 'pino';
import type { RemoteFlows, RemoteFlowTarget } from '../../apps/remote-flows.js';
import type { Topology } from '../../apps/topology.js';
import {
  type ChassisPorts,
  type ChassisView,
  chassisViewOf,
  portsById,
  reachesRemotely,
  type ViewPort,
} from '../chassis-view.js';
import { FlowCache, flowsFor, type PipelineOptions } from '../pipeline/pipeline.js';
import { type Applied, type Desired, FlowReconciler } from './flow-reconciler.js';
import { mgmtSocketProbe, type Ofctl, spawnOfctl } from './ofctl.js';

/** What a chassis' flows were made from. */
export interface ChassisFlows {
  readonly view: ChassisView;
  readonly ports: ReadonlyMap<string, ViewPort>;
}

export interface OvsChassisOptions {
  readonly chassis: string;
  /** Default `br-int`. */
  readonly bridge?: string;
  /** Environment for this chassis' ovs-ofctl; OVS_RUNDIR selects its ovs-vswitchd. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The chassis' tunnel and patch ports; a function is read at every sync. */
  readonly ports: ChassisPorts | (() => ChassisPorts);
  readonly ofctl?: Ofctl;
  readonly antiEntropyIntervalMs?: number;
  readonly probeIntervalMs?: number;
  /** Default: the bridge's management socket under env.OVS_RUNDIR. */
  readonly probe?: () => Promise<string | undefined>;
}

export interface OvsRemoteFlowsOptions {
  /** The topology the apps decide on (the runner's). */
  readonly topology: () => Topology;
  /** The runner's head position: when it moves, every chassis re-syncs. */
  readonly position?: () => bigint;
  readonly logger: Logger;
  /** For chassis without an agent in this process. */
  readonly fallback?: RemoteFlows;
  /** How often `position` is checked; default 50 ms. */
  readonly followIntervalMs?: number;
  readonly pipeline?: PipelineOptions;
}

export class RemoteFlowsUnavailableError extends Error {
  constructor(
    readonly chassis: string,
    readonly portId: string,
    readonly owner: string,
    readonly reason: string,
  ) {
    super(`chassis ${chassis} cannot install flows to port ${portId} on ${owner}: ${reason}`);
    this.name = 'RemoteFlowsUnavailableError';
  }
}

export class OvsRemoteFlows implements RemoteFlows {
  private readonly agents = new Map<string, FlowReconciler<ChassisFlows>>();
  private readonly caches = new Map<string, FlowCache>();
  private follow: NodeJS.Timeout | undefined;
  private followedPosition: bigint | undefined;

  constructor(private readonly options: OvsRemoteFlowsOptions) {}

  /** Starts the chassis' reconciler: a full sync from the current topology, then it follows. */
  async addChassis(chassis: OvsChassisOptions): Promise<FlowReconciler<ChassisFlows>> {
    if (this.agents.has(chassis.chassis))
      throw new Error(`chassis ${chassis.chassis} already has a reconciler`);
    const bridge = chassis.bridge ?? 'br-int';
    const logger = this.options.logger.child({ chassis: chassis.chassis, bridge });
    const reconciler = new FlowReconciler<ChassisFlows>({
      bridge,
      ofctl: chassis.ofctl ?? spawnOfctl({ env: chassis.env }),
      logger,
      desired: () => this.desiredOf(chassis.chassis, chassis.ports),
      antiEntropyIntervalMs: chassis.antiEntropyIntervalMs,
      probe: chassis.probe ?? mgmtSocketProbe(bridge, chassis.env?.OVS_RUNDIR),
      probeIntervalMs: chassis.probeIntervalMs,
    });
    this.agents.set(chassis.chassis, reconciler);
    this.caches.set(chassis.chassis, new FlowCache());
    // Follow before the first sync: it computes the flows from the topology of that moment,
    // and a runner still catching up (after a restart) moves on while ovs-ofctl works; only a
    // position noted before the sync tells that it must run again.
    this.startFollowing();
    try {
      await reconciler.start();
    } catch (error) {
      logger.warn({ err: error }, 'initial flow sync failed; retrying in the background');
    }
    return reconciler;
  }

  async removeChassis(chassis: string): Promise<void> {
    const reconciler = this.agents.get(chassis);
    this.agents.delete(chassis);
    this.caches.delete(chassis);
    await reconciler?.stop();
  }

  reconciler(chassis: string): FlowReconciler<ChassisFlows> | undefined {
    return this.agents.get(chassis);
  }

  /** Desired flows of a chassis from the current topology. */
  desiredOf(chassis: string, ports: ChassisPorts | (() => ChassisPorts)): Desired<ChassisFlows> {
    const view = chassisViewOf(
      this.options.topology(),
      chassis,
      typeof ports === 'function' ? ports() : ports,
    );
    const flows = flowsFor(view, this.options.pipeline, this.caches.get(chassis));
    return { flows, context: { view, ports: portsById(view) } };
  }

  async install(target: RemoteFlowTarget): Promise<void> {
    const reconciler = this.agents.get(target.chassis);
    if (!reconciler) {
      if (this.options.fallback) return this.options.fallback.install(target);
      throw new RemoteFlowsUnavailableError(
        target.chassis,
        target.portId,
        target.owner,
        'no agent for this chassis',
      );
    }
    const reaches = (applied: Applied<ChassisFlows> | undefined) =>
      reachesRemotely(applied?.context.ports.get(target.portId), target.owner);
    if (reaches(reconciler.applied)) return;
    const applied = await reconciler.refresh();
    if (reaches(applied)) return;
    const why = applied.context.view.unreachable.find((u) => u.portId === target.portId);
    throw new RemoteFlowsUnavailableError(
      target.chassis,
      target.portId,
      target.owner,
      why?.reason ?? 'the chassis does not want the port (topology moved on)',
    );
  }

  async remove(chassis: string, portId: string): Promise<void> {
    const reconciler = this.agents.get(chassis);
    if (!reconciler) {
      if (this.options.fallback) await this.options.fallback.remove(chassis, portId);
      return;
    }
    const port = reconciler.applied?.context.ports.get(portId);
    const remote = port?.destination.kind === 'tunnel' || port?.destination.kind === 'provider';
    if (reconciler.applied && !remote) return;
    await reconciler.refresh();
  }

  async removeEverywhere(portId: string): Promise<void> {
    const syncs: Promise<unknown>[] = [];
    for (const reconciler of this.agents.values())
      if (!reconciler.applied || reconciler.applied.context.ports.has(portId))
        syncs.push(reconciler.refresh());
    await Promise.all(syncs);
    await this.options.fallback?.removeEverywhere(portId);
  }

  /** Syncs every chassis (or one) to the current topology now. */
  async refresh(chassis?: string): Promise<void> {
    const targets =
      chassis === undefined
        ? [...this.agents.values()]
        : [this.agents.get(chassis)].filter((r) => r !== undefined);
    await Promise.all(targets.map((reconciler) => reconciler.refresh()));
  }

  async stop(): Promise<void> {
    if (this.follow) clearInterval(this.follow);
    this.follow = undefined;
    await Promise.all([...this.agents.values()].map((reconciler) => reconciler.stop()));
  }

  private startFollowing(): void {
    const position = this.options.position;
    if (!position || this.follow) return;
    this.followedPosition = position();
    this.follow = setInterval(() => {
      const now = position();
      if (now === this.followedPosition) return;
      this.followedPosition = now;
      for (const reconciler of this.agents.values()) reconciler.refresh().catch(() => undefined);
    }, this.options.followIntervalMs ?? 50).unref();
  }
}
