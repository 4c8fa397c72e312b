/**
 * The in-process agents' flows, as the app runner's RemoteFlows: one FlowReconciler per chassis
 * bridge, each pulling its desired flows from the topology the runner folds whenever it syncs —
 * kept incrementally per chassis (../chassis-desired.ts, equal to chassisViewOf → flowsFor), so
 * a sync costs what changed.
 *
 *  - `install({chassis, portId, owner})` resolves once that chassis' applied flows reach the
 *    port toward that owner — at once when an earlier sync already put them in (the first
 *    install after a topology change installs every port it made reachable, so the next
 *    thousand installs cost nothing), or once the sync under way brings them, else after a
 *    sync of its own. It rejects when the chassis cannot
 *    reach the port (no tunnel port of that type, no patch port, …): no flows, no ack.
 *  - `remove`/`removeEverywhere` resolve once the chassis' flows no longer hold the port's
 *    remote flows as they were (a sync from the current topology, where the ack is gone).
 *  - Local and distributed ports have no RemoteFlows call: the topology tells which chassis an
 *    applied event may change (../view-changes.ts), and those chassis sync once per tick of
 *    changes; the others do not sync at all. `refresh()` syncs now.
 *
 * Chassis without an agent here go to `fallback` (or are refused).
 */
import type { Logger } from 'pino';
import type { RemoteFlows, RemoteFlowTarget } from '../../domain/remote-flows.js';
import type { Topology } from '../../domain/topology.js';
import { type AppliedView, ChassisDesired } from '../chassis-desired.js';
import { type ChassisPorts, reachesRemotely } from '../chassis-view.js';
import type { PipelineOptions } from '../pipeline/pipeline.js';
import { ViewChangeTracker, type ViewDirt } from '../view-changes.js';
import { type Applied, type Desired, FlowReconciler } from './flow-reconciler.js';
import { mgmtSocketProbe, type Ofctl, spawnOfctl } from './ofctl.js';

/** What a chassis' applied flows were made from: its view's ports and unreachable ports. */
export type ChassisFlows = AppliedView;

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
  /** The topology the apps decide on (the one the runner folds; chassis follow its changes). */
  readonly topology: Topology;
  readonly logger: Logger;
  /** For chassis without an agent in this process. */
  readonly fallback?: RemoteFlows;
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
  private readonly desired = new Map<string, ChassisDesired>();
  /** How to stop following the topology; set while it is followed. */
  private unfollow: (() => void) | undefined;
  /** Chassis to sync at the next tick. */
  private readonly due = new Set<string>();
  private tick: NodeJS.Immediate | undefined;

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
      desired: (full) => this.desiredOf(chassis.chassis, chassis.ports, full),
      antiEntropyIntervalMs: chassis.antiEntropyIntervalMs,
      probe: chassis.probe ?? mgmtSocketProbe(bridge, chassis.env?.OVS_RUNDIR),
      probeIntervalMs: chassis.probeIntervalMs,
    });
    this.agents.set(chassis.chassis, reconciler);
    this.desired.set(chassis.chassis, new ChassisDesired(chassis.chassis, this.options.pipeline));
    // Follow before the first sync: it computes the flows from the topology of that moment,
    // and a runner still catching up (after a restart) moves on while ovs-ofctl works; only
    // changes noted from before the sync tell that it must run again.
    this.follow();
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
    this.desired.delete(chassis);
    await reconciler?.stop();
  }

  reconciler(chassis: string): FlowReconciler<ChassisFlows> | undefined {
    return this.agents.get(chassis);
  }

  /**
   * Desired flows of a chassis from the current topology, with what changed since the last;
   * `whole` recomputes every entry rather than the dirty ones (full syncs).
   */
  desiredOf(
    chassis: string,
    ports: ChassisPorts | (() => ChassisPorts),
    whole = false,
  ): Desired<ChassisFlows> {
    const topology = this.options.topology;
    this.follow();
    // A chassis without an agent (or one just removed) gets a one-off computation.
    const desired = this.desired.get(chassis) ?? new ChassisDesired(chassis, this.options.pipeline);
    if (whole) desired.markAll();
    const handout = desired.next(topology, typeof ports === 'function' ? ports() : ports);
    return {
      flows: handout.flows,
      context: desired.applied,
      delta: handout.delta,
      onApplied: handout.commit,
    };
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
    // The sync the topology change started may be bringing them: no second sync then.
    await reconciler.settled();
    if (reaches(reconciler.applied)) return;
    const applied = await reconciler.refresh();
    if (reaches(applied)) return;
    throw new RemoteFlowsUnavailableError(
      target.chassis,
      target.portId,
      target.owner,
      applied.context.unreachable.get(target.portId) ??
        'the chassis does not want the port (topology moved on)',
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
    this.unfollow?.();
    this.unfollow = undefined;
    if (this.tick) clearImmediate(this.tick);
    this.tick = undefined;
    this.due.clear();
    await Promise.all([...this.agents.values()].map((reconciler) => reconciler.stop()));
  }

  /** Listens to the topology's applied events, from the first chassis on. */
  private follow(): void {
    if (this.unfollow) return;
    const mark = (affects: (desired: ChassisDesired) => boolean) => {
      for (const [chassis, desired] of this.desired) if (affects(desired)) this.schedule(chassis);
    };
    const dirt: ViewDirt = {
      port: (t, portId) => mark((desired) => desired.markPort(t, portId)),
      switch: (t, switchId) => mark((desired) => desired.markSwitch(t, switchId)),
      everything: () => mark((desired) => desired.markAll()),
    };
    this.unfollow = this.options.topology.listen(new ViewChangeTracker(dirt));
  }

  /** One sync per dirty chassis per tick: a burst of events costs one. */
  private schedule(chassis: string): void {
    this.due.add(chassis);
    this.tick ??= setImmediate(() => {
      this.tick = undefined;
      const due = [...this.due];
      this.due.clear();
      for (const id of due)
        this.agents
          .get(id)
          ?.refresh()
          .catch(() => undefined);
    });
  }
}
