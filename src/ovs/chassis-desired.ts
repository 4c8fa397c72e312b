/**
 * One chassis' desired flows, kept up to date incrementally: the same flows as
 * `flowsFor(chassisViewOf(topology, chassis, ports))` (the oracle in
 * test/ovs/chassis-desired.test.ts), at a cost per sync that follows what changed, not the
 * number of ports.
 *
 * It keeps the view (switches of interest, each port's entry), every cookie group's flows
 * (static, one per switch, one per port) and the merged table. The topology's change
 * notifications (./view-changes.ts) mark ports and switches dirty; `next` recomputes only those:
 *  - a dirty port's entry, and when it changed, its group and its switch's flood group;
 *  - a dirty switch (its document, this chassis' interest in it, `localPortsOn` there): its
 *    entry, its flood group and every port on it;
 *  - everything when the chassis' own tunnel/patch ports change or the topology is a new one.
 * Keys wanted by two groups (two ports with one MAC) go to the first group in `flowsFor`'s
 * order — static, switches by id, ports by id — whatever order the groups changed in.
 *
 * `next` hands out the flows that changed since the previous hand-out (for the reconciler's
 * incremental plan) and the view entries not yet applied; `commit` records them as applied,
 * which is what `applied` (the context acks are checked against) shows.
 *
 * `markSweep` marks what `markAll` marks a part at a time (switches first, their ports only when
 * their entry changed, then the ports), so the periodic anti-entropy repairs what a missed
 * notification left stale in many small syncs rather than one that holds the event loop
 * (120–300 ms at 12,500 ports).
 */
import type { Topology } from '../domain/topology.js';
import { getOrCreate } from '../lib/maps.js';
import {
  type ChassisPorts,
  portEntryOf,
  type SwitchEntry,
  sameSwitchEntry,
  sameViewPort,
  switchViewOf,
  type Unreachable,
  type ViewPort,
} from './chassis-view.js';
import { type Flow, sameFlow } from './pipeline/flow.js';
import { portCookie, staticCookie, switchCookie } from './pipeline/ids.js';
import {
  type FlowConflict,
  type FlowSet,
  type PipelineOptions,
  portFlows,
  staticFlows,
  switchFlows,
} from './pipeline/pipeline.js';
import type { FlowChange, FlowDelta } from './reconciler/plan.js';

/** The view as applied to the bridge: what installs and removals are answered from. */
export interface AppliedView {
  readonly ports: ReadonlyMap<string, ViewPort>;
  /** Ports the chassis should handle but cannot program, with the reason. */
  readonly unreachable: ReadonlyMap<string, string>;
}

export interface Handout {
  /** The whole desired table (live: it changes at the next `next`). */
  readonly flows: FlowSet;
  readonly delta: FlowDelta;
  /** Records the view entries of this hand-out as applied. */
  commit(): void;
}

type Entry = ViewPort | Unreachable;

/**
 * Ports a sweep step recomputes (10–25 µs each): about a millisecond or two, what a bind that
 * shares the step's batch waits for it.
 */
export const SWEEP_STEP_PORTS = 100;

interface Group {
  /** Order of `flowsFor`: 0 static, 1 switches, 2 ports; then by id. */
  readonly rank: number;
  readonly id: string;
  readonly cookie: bigint;
  /** First flow of each key (a group wanting a key twice keeps its first); a handful. */
  readonly flows: readonly Flow[];
}

const flowOf = (group: Group, key: string) => group.flows.find((flow) => flow.key === key);

const before = (a: Group, b: Group) => (a.rank !== b.rank ? a.rank < b.rank : a.id < b.id);
const isPort = (entry: Entry | undefined): entry is ViewPort =>
  entry !== undefined && !('reason' in entry);

export class ChassisDesired {
  /** Key → the flow that wins it. */
  private readonly table = new Map<string, Flow>();
  private readonly groups = new Map<bigint, Group>();
  /** Keys two or more groups want → those groups (the table holds the first's flow). */
  private readonly contenders = new Map<string, Group[]>();

  private topology: Topology | undefined;
  private chassisPorts: ChassisPorts | undefined;
  private all = true;
  private readonly dirtyPorts = new Set<string>();
  private readonly dirtySwitches = new Set<string>();
  /** Switches a sweep marked: their ports are marked only when their entry changed. */
  private readonly sweptSwitches = new Set<string>();
  /** The sweep under way: what is left to mark, switches before ports. */
  private sweepLeft: { switches: string[]; ports: string[] } | undefined;

  /** This chassis' claimed ports → their switch; switch → how many (the switches of interest). */
  private readonly claimedOn = new Map<string, string>();
  private readonly interest = new Map<string, number>();
  private readonly switches = new Map<string, SwitchEntry>();
  private readonly entries = new Map<string, Entry>();
  /** Switch → ports with an entry there (the switch it had when it was computed). */
  private readonly entriesOn = new Map<string, Set<string>>();
  /** That switch for the unreachable entries (a view port names its own): a handful. */
  private readonly unreachableOn = new Map<string, string>();
  /**
   * Switch → each tunnel endpoint its view ports are reached through → how many: a switch's
   * flood flows list each endpoint once, so a remote port that comes or goes changes them only
   * when its endpoint's count comes from or goes to 0.
   */
  private readonly tunnelsOn = new Map<string, Map<string, number>>();

  /** Flow keys changed since the last hand-out, with their flow then. */
  private readonly pending = new Map<string, Flow | undefined>();
  private readonly removedGroups = new Set<bigint>();
  /** Ports whose entry changed since the last commit. */
  private readonly unapplied = new Set<string>();
  private readonly appliedPorts = new Map<string, ViewPort>();
  private readonly appliedUnreachable = new Map<string, string>();
  readonly applied: AppliedView = {
    ports: this.appliedPorts,
    unreachable: this.appliedUnreachable,
  };

  private readonly flowSet: FlowSet;

  constructor(
    readonly chassis: string,
    private readonly options: PipelineOptions = {},
  ) {
    const self = this;
    this.flowSet = {
      flows: this.table,
      get conflicts() {
        return self.conflicts();
      },
    };
  }

  /** Marks a port dirty; whether this chassis may be affected (and must sync). */
  markPort(topology: Topology, portId: string): boolean {
    if (this.all) return true;
    const switchId = topology.ports.get(portId)?.switchId;
    const relevant =
      this.entries.has(portId) ||
      this.claimedOn.has(portId) ||
      (switchId !== undefined && (this.switches.has(switchId) || this.interest.has(switchId))) ||
      topology.claimedPortsByChassis.get(this.chassis).has(portId);
    if (relevant) this.dirtyPorts.add(portId);
    return relevant;
  }

  /** Marks a switch dirty; whether this chassis may be affected. */
  markSwitch(_topology: Topology, switchId: string): boolean {
    if (this.all) return true;
    const relevant = this.switches.has(switchId) || this.interest.has(switchId);
    if (relevant) this.dirtySwitches.add(switchId);
    return relevant;
  }

  markAll(): boolean {
    this.all = true;
    return true;
  }

  /** Whether a sync would find anything to recompute. */
  get dirty(): boolean {
    return (
      this.all ||
      this.dirtyPorts.size > 0 ||
      this.dirtySwitches.size > 0 ||
      this.sweptSwitches.size > 0
    );
  }

  /**
   * Marks the next part of what `markAll` would recompute, about `ports` ports' worth; the next
   * `next` recomputes it. True once the sweep (begun by the first call after the last one) is
   * complete: what changed meanwhile was marked by its notifications anyway.
   */
  markSweep(topology: Topology, ports = SWEEP_STEP_PORTS): boolean {
    this.sweepLeft ??= this.sweepOf(topology);
    const left = this.sweepLeft;
    let budget = ports;
    while (budget > 0 && left.switches.length > 0) {
      const switchId = left.switches.pop() as string;
      this.sweptSwitches.add(switchId);
      // Its flood flows list every view port on it.
      budget -= 1 + (this.entriesOn.get(switchId)?.size ?? 0);
    }
    for (; budget > 0 && left.ports.length > 0; budget--)
      this.dirtyPorts.add(left.ports.pop() as string);
    if (left.switches.length > 0 || left.ports.length > 0) return false;
    this.sweepLeft = undefined;
    return true;
  }

  /** The switches and ports `markEverything` marks, a switch's ports included. */
  private sweepOf(topology: Topology): { switches: string[]; ports: string[] } {
    const { switches, ports } = this.everything(topology);
    for (const switchId of switches)
      for (const portId of topology.portsBySwitch.get(switchId)) ports.add(portId);
    return { switches: [...switches], ports: [...ports] };
  }

  /** Brings the desired flows up to date and hands out what changed since the last call. */
  next(topology: Topology, ports: ChassisPorts): Handout {
    if (topology !== this.topology || !samePorts(ports, this.chassisPorts)) this.all = true;
    this.topology = topology;
    this.chassisPorts = ports;
    if (this.all) {
      this.markEverything(topology);
      this.sweptSwitches.clear();
    }
    this.all = false;
    const me = topology.chassis.get(this.chassis);

    // 1. Interest: the switches where this chassis claims a port.
    const claimed = topology.claimedPortsByChassis.get(this.chassis);
    for (const portId of this.dirtyPorts) {
      const now = me && claimed.has(portId) ? topology.ports.get(portId)?.switchId : undefined;
      const was = this.claimedOn.get(portId);
      if (now === was) continue;
      if (was !== undefined) {
        this.claimedOn.delete(portId);
        const count = (this.interest.get(was) ?? 1) - 1;
        if (count === 0) {
          this.interest.delete(was);
          this.dirtySwitches.add(was);
        } else this.interest.set(was, count);
      }
      if (now !== undefined) {
        this.claimedOn.set(portId, now);
        const count = (this.interest.get(now) ?? 0) + 1;
        this.interest.set(now, count);
        if (count === 1) this.dirtySwitches.add(now);
      }
    }

    // 2. Switches: entry, flood group, and every port on them (a swept switch's only when its
    // entry changed: the sweep marks the ports itself).
    const floodDirty = new Set<string>();
    for (const switchId of this.sweptSwitches)
      if (this.dirtySwitches.has(switchId)) this.sweptSwitches.delete(switchId);
    for (const switchId of [...this.dirtySwitches, ...this.sweptSwitches]) {
      const entry =
        me && this.interest.has(switchId) ? switchViewOf(topology, me, switchId, ports) : null;
      const old = this.switches.get(switchId);
      const same = entry !== null && old !== undefined && sameSwitchEntry(old, entry);
      if (entry === null) this.switches.delete(switchId);
      else if (!same) this.switches.set(switchId, entry);
      floodDirty.add(switchId);
      if (same && this.sweptSwitches.has(switchId)) continue;
      for (const portId of topology.portsBySwitch.get(switchId)) this.dirtyPorts.add(portId);
      for (const portId of this.entriesOn.get(switchId) ?? []) this.dirtyPorts.add(portId);
    }

    // 3. Ports: entries; a changed view port changes its group and its switch's flood group.
    const portsDirty = new Set<string>();
    for (const portId of this.dirtyPorts) {
      const entry = this.entryOf(topology, portId);
      const old = this.entries.get(portId);
      if (old === entry || (old && entry && sameEntry(old, entry))) continue;
      const oldSwitch = isPort(old) ? old.switchId : this.unreachableOn.get(portId);
      if (oldSwitch !== undefined) {
        this.entriesOn.get(oldSwitch)?.delete(portId);
        if (this.entriesOn.get(oldSwitch)?.size === 0) this.entriesOn.delete(oldSwitch);
        this.unreachableOn.delete(portId);
      }
      if (entry === undefined) this.entries.delete(portId);
      else {
        this.entries.set(portId, entry);
        let switchId: string;
        if (isPort(entry)) switchId = entry.switchId;
        else {
          // entryOf gives an entry only to a port on a known switch.
          switchId = topology.ports.get(portId)?.switchId as string;
          this.unreachableOn.set(portId, switchId);
        }
        let set = this.entriesOn.get(switchId);
        if (!set) {
          set = new Set();
          this.entriesOn.set(switchId, set);
        }
        set.add(portId);
      }
      this.unapplied.add(portId);
      if (isPort(old) || isPort(entry)) portsDirty.add(portId);
      if (isPort(old) && this.floodChanged(old, -1)) floodDirty.add(old.switchId);
      if (isPort(entry) && this.floodChanged(entry, 1)) floodDirty.add(entry.switchId);
    }
    this.dirtyPorts.clear();
    this.dirtySwitches.clear();
    this.sweptSwitches.clear();

    // 4. Groups.
    if (!this.groups.has(staticCookie)) this.setGroup(0, '', staticCookie, staticFlows());
    for (const switchId of floodDirty) {
      const entry = this.switches.get(switchId);
      const cookie = switchCookie(switchId);
      if (entry)
        this.setGroup(
          1,
          switchId,
          cookie,
          switchFlows(entry.view, this.viewPortsOn(switchId), this.options),
        );
      else this.removeGroup(cookie);
    }
    for (const portId of portsDirty) {
      const entry = this.entries.get(portId);
      const cookie = portCookie(portId);
      if (isPort(entry)) this.setGroup(2, portId, cookie, portFlows(entry));
      else this.removeGroup(cookie);
    }
    return this.handOut();
  }

  /**
   * Counts a view port in (1) or out (-1) of its switch's flood flows; whether they may change.
   * They read only the local outputs (in port order: any local port recomputes them) and the
   * distinct tunnel endpoints (switchFlows).
   */
  private floodChanged(port: ViewPort, delta: 1 | -1): boolean {
    const d = port.destination;
    if (d.kind === 'local') return true;
    if (d.kind !== 'tunnel') return false;
    const key = `${d.owner}\u0000${d.ip}\u0000${d.vni}\u0000${d.ofport}`;
    const counts = getOrCreate(this.tunnelsOn, port.switchId, () => new Map<string, number>());
    const count = (counts.get(key) ?? 0) + delta;
    if (count > 0) counts.set(key, count);
    else {
      counts.delete(key);
      if (counts.size === 0) this.tunnelsOn.delete(port.switchId);
    }
    return count === 0 || (delta === 1 && count === 1);
  }

  /** Every port and switch this chassis had or may now have. */
  private markEverything(topology: Topology): void {
    const { switches, ports } = this.everything(topology);
    for (const id of ports) this.dirtyPorts.add(id);
    for (const id of switches) this.dirtySwitches.add(id);
  }

  /** Every switch and port a full recompute marks (a switch's other ports come with it). */
  private everything(topology: Topology): { switches: Set<string>; ports: Set<string> } {
    const switches = new Set([...this.switches.keys(), ...this.interest.keys()]);
    for (const group of this.groups.values()) if (group.rank === 1) switches.add(group.id);
    const ports = new Set([
      ...this.entries.keys(),
      ...this.claimedOn.keys(),
      ...topology.claimedPortsByChassis.get(this.chassis),
    ]);
    return { switches, ports };
  }

  private entryOf(topology: Topology, portId: string): Entry | undefined {
    const switchId = topology.ports.get(portId)?.switchId;
    const ls = switchId === undefined ? undefined : this.switches.get(switchId);
    if (!ls) return undefined;
    return portEntryOf(topology, this.chassis, ls, portId) ?? undefined;
  }

  /** The view ports on a switch, by id (the order `switchFlows` lists local outputs in). */
  private viewPortsOn(switchId: string): ViewPort[] {
    const ports: ViewPort[] = [];
    for (const portId of this.entriesOn.get(switchId) ?? []) {
      const entry = this.entries.get(portId);
      if (isPort(entry)) ports.push(entry);
    }
    return ports.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  private setGroup(rank: number, id: string, cookie: bigint, flows: readonly Flow[]): void {
    const keys = new Set<string>();
    const own: Flow[] = [];
    for (const flow of flows)
      if (!keys.has(flow.key)) {
        keys.add(flow.key);
        own.push(flow);
      }
    const old = this.groups.get(cookie);
    if (old && sameFlows(old.flows, own)) return;
    // A copy the size of its flows (a pushed-to array keeps room for 17), with their cookie
    // (the same value, one bigint fewer a group).
    const first = own[0]?.cookie;
    const group: Group = {
      rank,
      id,
      cookie: first === cookie ? first : cookie,
      flows: own.slice(),
    };
    this.groups.set(group.cookie, group);
    this.removedGroups.delete(cookie);
    if (old) for (const flow of old.flows) if (!keys.has(flow.key)) this.release(flow.key, cookie);
    for (const flow of group.flows) this.claim(flow, group);
  }

  private removeGroup(cookie: bigint): void {
    const old = this.groups.get(cookie);
    if (!old) return;
    this.groups.delete(cookie);
    this.removedGroups.add(cookie);
    for (const flow of old.flows) this.release(flow.key, cookie);
  }

  private claim(flow: Flow, group: Group): void {
    const key = flow.key;
    const contenders = this.contenders.get(key);
    if (contenders) {
      const at = contenders.findIndex((g) => g.cookie === group.cookie);
      if (at >= 0) contenders[at] = group;
      else contenders.push(group);
      this.resolve(key, contenders);
      return;
    }
    const holder = this.table.get(key);
    if (holder === undefined || holder.cookie === group.cookie) {
      this.put(key, flow);
      return;
    }
    const other = this.groups.get(holder.cookie);
    const both = other ? [other, group] : [group];
    if (both.length > 1) this.contenders.set(key, both);
    this.resolve(key, both);
  }

  private release(key: string, cookie: bigint): void {
    const contenders = this.contenders.get(key);
    if (!contenders) {
      if (this.table.get(key)?.cookie === cookie) this.put(key, undefined);
      return;
    }
    const rest = contenders.filter((g) => g.cookie !== cookie);
    if (rest.length > 1) this.contenders.set(key, rest);
    else this.contenders.delete(key);
    this.resolve(key, rest);
  }

  /** The first of `groups` in `flowsFor`'s order wins the key. */
  private resolve(key: string, groups: readonly Group[]): void {
    let winner: Group | undefined;
    for (const group of groups) if (!winner || before(group, winner)) winner = group;
    this.put(key, winner && flowOf(winner, key));
  }

  /** Sets the table's flow for `key`, noting the change for the next hand-out. */
  private put(key: string, flow: Flow | undefined): void {
    const old = this.table.get(key);
    if (flow === old) return;
    if (!this.pending.has(key)) this.pending.set(key, old);
    if (flow) this.table.set(key, flow);
    else this.table.delete(key);
  }

  private handOut(): Handout {
    const changes: FlowChange[] = [];
    for (const [key, was] of this.pending) {
      const now = this.table.get(key);
      if (was === undefined || now === undefined ? was !== now : !sameFlow(was, now))
        changes.push({ key, before: was, after: now });
    }
    this.pending.clear();
    const goneCookies = new Set<bigint>();
    for (const cookie of this.removedGroups) if (!this.groups.has(cookie)) goneCookies.add(cookie);
    this.removedGroups.clear();
    const views: [string, Entry | undefined][] = [];
    for (const portId of this.unapplied) views.push([portId, this.entries.get(portId)]);
    return {
      flows: this.flowSet,
      delta: { changes, goneCookies },
      commit: () => {
        for (const [portId, entry] of views) {
          this.unapplied.delete(portId);
          this.appliedPorts.delete(portId);
          this.appliedUnreachable.delete(portId);
          if (isPort(entry)) this.appliedPorts.set(portId, entry);
          else if (entry) this.appliedUnreachable.set(portId, entry.reason);
        }
      },
    };
  }

  private conflicts(): FlowConflict[] {
    const conflicts: FlowConflict[] = [];
    for (const [key, groups] of this.contenders) {
      const kept = this.table.get(key)?.cookie;
      if (kept === undefined) continue;
      for (const group of groups)
        if (group.cookie !== kept) conflicts.push({ key, kept, dropped: group.cookie });
    }
    return conflicts;
  }
}

function sameEntry(a: Entry, b: Entry): boolean {
  if ('reason' in a || 'reason' in b)
    return 'reason' in a && 'reason' in b && a.reason === b.reason;
  return sameViewPort(a, b);
}

function sameFlows(a: readonly Flow[], b: readonly Flow[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!sameFlow(a[i] as Flow, b[i] as Flow)) return false;
  return true;
}

function sameRecord(
  a: Readonly<Record<string, number | undefined>> | undefined,
  b: Readonly<Record<string, number | undefined>> | undefined,
): boolean {
  const x = Object.entries(a ?? {}).filter(([, v]) => v !== undefined);
  const y = Object.entries(b ?? {}).filter(([, v]) => v !== undefined);
  return x.length === y.length && x.every(([k, v]) => b?.[k] === v);
}

/** Whether two sets of the chassis' own ports are the same (they are re-read at every sync). */
export function samePorts(a: ChassisPorts, b: ChassisPorts | undefined): boolean {
  return b !== undefined && sameRecord(a.tunnels, b.tunnels) && sameRecord(a.patches, b.patches);
}
