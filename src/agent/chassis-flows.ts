/**
 * The chassis' own flows, computed from its slice: slice entries → `topologyOfSlice` (the
 * locality facts folded by the apps' own PortLocalityFold) → the chassis view →
 * `flowsFor`, kept by ChassisDesired (src/ovs/chassis-desired.ts), which the FlowReconciler
 * (src/ovs/reconciler/flow-reconciler.ts) pulls at the start of every batch.
 *
 * One topology is kept (./slice-topology.ts): a slice change is applied to it as events, whose
 * ViewChangeTracker (src/ovs/view-changes.ts) marks in ChassisDesired only the ports and
 * switches they touch, so a batch costs what changed — an ack landing in the slice (its own
 * acks are all it carries of the acks) recomputes one port's entry and sends no flow. Only
 * entries and flows that differ reach the bridge, in one bundle. Changes are coalesced: the
 * slice is applied once per batch, however many diffs arrived while the previous one ran.
 *
 * The periodic anti-entropy recomputes every entry (what a missed notification left stale) a
 * part per batch (ChassisDesired.markSweep) rather than all at once, so a bind waits for at most
 * one part of it.
 *
 * Nothing is programmed before the first snapshot (`start` waits for a slice): the bridge
 * keeps what it holds, so a restarted agent's first full sync compares the dump with the same
 * desired flows and sends no flow change when nothing changed.
 */
import type { Logger } from 'pino';
import { PortLocalityFold } from '../apps/port-locality.js';
import type { Topology } from '../domain/topology.js';
import { type AppliedView, ChassisDesired } from '../ovs/chassis-desired.js';
import type { ChassisPorts } from '../ovs/chassis-view.js';
import { OpenFlowChannel } from '../ovs/openflow/channel.js';
import type { PipelineOptions } from '../ovs/pipeline/pipeline.js';
import { type Applied, type Desired, FlowReconciler } from '../ovs/reconciler/flow-reconciler.js';
import { mgmtSocketProbe, type Ofctl } from '../ovs/reconciler/ofctl.js';
import { ViewChangeTracker } from '../ovs/view-changes.js';
import type { BridgeLayout } from './bridge-setup.js';
import type { SliceState } from './slice-state.js';
import { SliceTopology } from './slice-topology.js';

/** The ports the pipeline addresses, from the bridge layout the agent set up. */
export function chassisPortsOf(layout: BridgeLayout | undefined): ChassisPorts {
  const tunnels: Record<string, number> = {};
  for (const [type, port] of Object.entries(layout?.tunnels ?? {}))
    if (port?.ofport) tunnels[type] = port.ofport;
  const patches: Record<string, number> = {};
  for (const [physnet, port] of Object.entries(layout?.patches ?? {}))
    if (port.ofport) patches[physnet] = port.ofport;
  return { tunnels, patches };
}

/**
 * Where the bridge's management socket is (for its OpenFlow connection): the directory of a `unix:` OVSDB socket
 * (OVS keeps `db.sock` and `<bridge>.mgmt` side by side), else $OVS_RUNDIR or OVS' default.
 */
export function ovsRunDirOf(ovsdb: string): string {
  if (ovsdb.startsWith('unix:')) {
    const path = ovsdb.slice('unix:'.length);
    const slash = path.lastIndexOf('/');
    if (slash > 0) return path.slice(0, slash);
  }
  return process.env.OVS_RUNDIR ?? '/var/run/openvswitch';
}

export interface ChassisFlowsOptions {
  readonly chassis: string;
  /** The slice the flows follow (read at every batch). */
  readonly slice: SliceState;
  /** The chassis' tunnel and patch ports on its bridge (read at every batch). */
  readonly ports: () => ChassisPorts;
  readonly logger: Logger;
  /** Default `br-int`. */
  readonly bridge?: string;
  /** OVS_RUNDIR selects the ovs-vswitchd (its `<bridge>.mgmt` socket, and the restart probe). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * How flows reach the bridge; default a persistent OpenFlow connection to its management
   * socket (src/ovs/openflow/channel.ts), closed on stop. `spawnOfctl` (ovs-ofctl processes)
   * and `MemoryBridge` fit here too.
   */
  readonly ofctl?: Ofctl;
  /** Periodic anti-entropy check period (jittered); 0 disables. Default 60 s. */
  readonly antiEntropyIntervalMs?: number;
  /** How often to look for a restarted ovs-vswitchd; 0 disables. Default 1 s. */
  readonly probeIntervalMs?: number;
  readonly probe?: () => Promise<string | undefined>;
  readonly pipeline?: PipelineOptions;
  /**
   * Called once a batch's flows are on the bridge (the switch confirmed the bundle's commit),
   * with the view they were made from.
   */
  readonly onApplied?: (applied: AppliedView) => void;
}

export class ChassisFlows {
  readonly reconciler: FlowReconciler<AppliedView>;
  private readonly desired: ChassisDesired;
  private readonly slice: SliceTopology;
  /** The OpenFlow connections this made (none when given an `ofctl`). */
  private readonly channel: OpenFlowChannel | undefined;
  private sliceChanged = true;
  private builtFrom = -1;
  private started = false;

  constructor(private readonly options: ChassisFlowsOptions) {
    const bridge = options.bridge ?? 'br-int';
    this.desired = new ChassisDesired(options.chassis, options.pipeline);
    const desired = this.desired;
    this.slice = new SliceTopology({
      fold: () => new PortLocalityFold(),
      listener: new ViewChangeTracker({
        port: (topology, portId) => desired.markPort(topology, portId),
        switch: (topology, switchId) => desired.markSwitch(topology, switchId),
        everything: () => desired.markAll(),
      }),
    });
    // The reconciler and the channel name the bridge themselves.
    const logger = options.logger.child({ stage: 'reconciler' });
    this.channel =
      options.ofctl === undefined
        ? new OpenFlowChannel({
            ...(options.env?.OVS_RUNDIR === undefined ? {} : { rundir: options.env.OVS_RUNDIR }),
            logger,
          })
        : undefined;
    this.reconciler = new FlowReconciler<AppliedView>({
      bridge,
      ofctl: options.ofctl ?? (this.channel as OpenFlowChannel),
      logger,
      desired: (full) => this.desiredNow(full),
      sweep: () => this.sweepStep(),
      antiEntropyIntervalMs: options.antiEntropyIntervalMs,
      probe: options.probe ?? mgmtSocketProbe(bridge, options.env?.OVS_RUNDIR),
      probeIntervalMs: options.probeIntervalMs,
    });
  }

  /** Topologies built from scratch, slice changes applied as events, events applied. */
  get stats(): {
    readonly rebuilds: number;
    readonly incremental: number;
    readonly events: number;
  } {
    return this.slice.stats;
  }

  /** The view the bridge holds (live: updated at every applied batch). */
  get applied(): AppliedView {
    return this.desired.applied;
  }

  /** The slice version the flows were last computed from (SliceState.version). */
  get computedFrom(): number {
    return this.builtFrom;
  }

  get running(): boolean {
    return this.started;
  }

  /**
   * First full sync (dump, compare, repair) from the slice, then the periodic and restart
   * checks. Call once the slice holds a snapshot.
   */
  async start(): Promise<void> {
    if (this.started) return;
    if (!this.options.slice.ready) throw new Error('no slice yet: nothing to program');
    this.started = true;
    await this.reconciler.start();
  }

  /** The slice changed: recompute at the next batch, and ask for one. */
  changed(): Promise<Applied<AppliedView>> | undefined {
    this.sliceChanged = true;
    return this.sync();
  }

  /** Applies the current desired flows (the chassis' own ports may have moved). */
  sync(): Promise<Applied<AppliedView>> | undefined {
    if (!this.started) return undefined;
    const applied = this.reconciler.refresh();
    applied.catch(() => undefined);
    return applied;
  }

  async stop(): Promise<void> {
    this.started = false;
    await this.reconciler.stop();
    await this.channel?.close();
  }

  /** The periodic check's recompute, a part per batch; true once it is complete. */
  private sweepStep(): boolean {
    const topology = this.slice.topology;
    return topology === undefined || this.desired.markSweep(topology);
  }

  private desiredNow(full: boolean): Desired<AppliedView> {
    if (this.sliceChanged || this.slice.topology === undefined) {
      this.builtFrom = this.options.slice.version;
      const first = this.slice.topology === undefined;
      const changed = this.options.slice.takeChanged();
      // The first update folds every entry; after it, only those the feed changed.
      this.slice.update(this.options.slice.texts, first ? undefined : changed);
      this.sliceChanged = false;
    }
    if (full) this.desired.markAll();
    const handout = this.desired.next(this.slice.topology as Topology, this.options.ports());
    return {
      flows: handout.flows,
      context: this.desired.applied,
      delta: handout.delta,
      onApplied: () => {
        handout.commit();
        this.options.onApplied?.(this.desired.applied);
      },
    };
  }
}
