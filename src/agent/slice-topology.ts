/**
 * The agent's topology of its slice, kept across slice changes: a change is applied as the
 * events that turn the entries the topology holds into the slice's entries now, so that the
 * topology's listeners (ViewChangeTracker → ChassisDesired) name exactly the ports and switches
 * the change touches, and the flows are recomputed for those only — an ack landing in the slice
 * costs one port's view entry, not the chassis' whole table.
 *
 * `topologyOfSlice` (a fresh fold of the whole slice) stays the reference: after an incremental
 * update every changed port's facts (claims in order, acks, reasons) and switch are checked
 * against its entry, and anything the events cannot reproduce (a port that moved to another
 * switch, a port that left the slice and came back — its stream folded as deleted —, a claim
 * order the lport machine would not give) is a rebuild from scratch: correct, only slower.
 */
import type { Ack } from '../../machines/lport.rules.js';
import type { LocalityFold } from '../domain/locality.js';
import { type SliceEntry, type SlicePort, topologyOfSlice } from '../domain/slice.js';
import type { Topology, TopologyListener } from '../domain/topology.js';
import type { DomainEvent } from '../events/index.js';
import { entryOfText } from './slice-state.js';

/** How a slice change reached the topology. */
export type SliceUpdate = 'unchanged' | 'incremental' | 'rebuilt';

export interface SliceTopologyOptions {
  /** A fresh locality fold per topology built. */
  readonly fold: () => LocalityFold;
  /** Attached to every topology built (before anything is applied incrementally). */
  readonly listener?: TopologyListener;
}

type Change = { readonly before: SliceEntry | undefined; readonly after: SliceEntry | undefined };

const ackKey = (ack: Ack) => `${ack.chassis}\u0000${ack.owner}`;
const sameSet = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((x) => b.includes(x));

const parsed = (key: string, text: string | undefined): SliceEntry | undefined =>
  text === undefined ? undefined : entryOfText(key, text);

export class SliceTopology {
  private current: Topology | undefined;
  private detach: (() => void) | undefined;
  /** Topologies built from scratch, updates applied as events, events applied. */
  readonly stats = { rebuilds: 0, incremental: 0, events: 0 };

  constructor(private readonly options: SliceTopologyOptions) {}

  /** The topology (undefined before the first update). */
  get topology(): Topology | undefined {
    return this.current;
  }

  /**
   * Brings the topology to `entries` (the slice now: its entries' JSON texts by key,
   * SliceState.texts). `changed` names every key that may differ from what the topology holds,
   * with its text as the topology last saw it (SliceState.takeChanged, taken at every update):
   * the topology keeps no copy of the slice. Without it (the first update), a rebuild.
   */
  update(
    entries: ReadonlyMap<string, string>,
    changed?: ReadonlyMap<string, string | undefined>,
  ): SliceUpdate {
    if (this.current === undefined || changed === undefined) {
      this.rebuild(entries);
      return 'rebuilt';
    }
    const changes = new Map<string, Change>();
    for (const [key, before] of changed) {
      const after = entries.get(key);
      if (before !== after)
        changes.set(key, { before: parsed(key, before), after: parsed(key, after) });
    }
    if (changes.size === 0) return 'unchanged';
    const events = eventsOf(changes.values(), this.current);
    if (events !== undefined) {
      for (const event of events) this.current.apply(event);
      this.stats.events += events.length;
      if (this.matches(changes.values())) {
        this.stats.incremental++;
        return 'incremental';
      }
    }
    this.rebuild(entries);
    return 'rebuilt';
  }

  private rebuild(entries: ReadonlyMap<string, string>): void {
    this.detach?.();
    // An array: topologyOfSlice reads its argument once per kind.
    this.current = topologyOfSlice(
      [...entries].map(([key, text]) => entryOfText(key, text)),
      this.options.fold(),
    );
    const listener = this.options.listener;
    this.detach = listener === undefined ? undefined : this.current.listen(listener);
    this.stats.rebuilds++;
  }

  /** Whether every changed port now folds to what its entry says. */
  private matches(changes: Iterable<Change>): boolean {
    const topology = this.current as Topology;
    for (const { after } of changes) {
      if (after?.kind !== 'port') continue;
      const { port, claims, acks, reasons } = after.value;
      const facts = topology.portLocality(port.id);
      const held = topology.ports.get(port.id);
      if (!facts.exists || facts.deleted || held?.switchId !== port.switchId) return false;
      if (facts.claims.length !== claims.length || facts.claims.some((c, i) => c !== claims[i]))
        return false;
      if (!sameSet(facts.reasons, reasons)) return false;
      if (!sameSet(facts.acks.map(ackKey), acks.map(ackKey))) return false;
    }
    return true;
  }
}

/**
 * The events that turn `topology` (holding the `before` entries) into the `after` ones, in an
 * order the fold accepts: documents before the ports that refer to them, a port's claims before
 * its acks, removals last. Undefined when a change cannot be told as events (a rebuild).
 */
function eventsOf(changes: Iterable<Change>, topology: Topology): DomainEvent[] | undefined {
  const byKind = {
    chassis: [] as Change[],
    switch: [] as Change[],
    port: [] as Change[],
    segmentation: [] as Change[],
    interface: [] as Change[],
  };
  for (const change of changes) {
    const kind = (change.after ?? change.before)?.kind;
    if (kind !== undefined) byKind[kind].push(change);
  }
  const events: DomainEvent[] = [];
  /** Interfaces and segmentations go first, then the ports, then switches and chassis. */
  const early: DomainEvent[] = [];
  const removals: DomainEvent[] = [];
  for (const { before, after } of byKind.chassis) {
    if (after?.kind === 'chassis')
      events.push({ type: before ? 'ChassisUpdated' : 'ChassisCreated', data: after.value });
    else if (before?.kind === 'chassis')
      removals.push({ type: 'ChassisDeleted', data: { id: before.value.id } });
  }
  for (const { before, after } of byKind.switch) {
    if (after?.kind === 'switch')
      events.push({
        type: before ? 'LogicalSwitchUpdated' : 'LogicalSwitchCreated',
        data: after.value,
      });
    else if (before?.kind === 'switch')
      removals.push({ type: 'LogicalSwitchDeleted', data: { id: before.value.id } });
  }
  const portRemovals: DomainEvent[] = [];
  for (const { before, after } of byKind.port) {
    if (after?.kind === 'port') {
      const was = before?.kind === 'port' ? before.value : undefined;
      if (was !== undefined && was.port.switchId !== after.value.port.switchId) return undefined;
      if (was === undefined) events.push({ type: 'LogicalPortCreated', data: after.value.port });
      else if (JSON.stringify(was.port) !== JSON.stringify(after.value.port))
        events.push({ type: 'LogicalPortUpdated', data: after.value.port });
      events.push(...factEvents(after.value, topology));
    } else if (before?.kind === 'port')
      portRemovals.push({ type: 'LogicalPortDeleted', data: { id: before.value.port.id } });
  }
  for (const { before, after } of byKind.segmentation) {
    if (after?.kind === 'segmentation')
      events.push({
        type: before ? 'ChildPortSegmentationUpdated' : 'ChildPortSegmentationCreated',
        data: after.value,
      });
    else if (before?.kind === 'segmentation')
      early.push({ type: 'ChildPortSegmentationDeleted', data: { id: before.value.id } });
  }
  for (const { before, after } of byKind.interface) {
    if (after?.kind === 'interface')
      events.push({ type: before ? 'OvsPortUpdated' : 'OvsPortCreated', data: after.value });
    else if (before?.kind === 'interface')
      early.push({
        type: 'OvsPortDeleted',
        data: { chassis: before.value.chassis, name: before.value.name },
      });
  }
  return [...early, ...events, ...portRemovals, ...removals];
}

/**
 * The locality events that turn the port's facts as the topology folds them now into the
 * entry's: claims gone, claims new (in the entry's order), reasons, then acks. Where the lport
 * machine reads them otherwise (it refuses one, or a claim change drops an ack by itself),
 * `matches` sees the difference and the update is a rebuild.
 */
function factEvents(entry: SlicePort, topology: Topology): DomainEvent[] {
  const portId = entry.port.id;
  // Facts as they will be after LogicalPortCreated/Updated (neither touches claims or acks).
  const facts = topology.portLocality(portId);
  const events: DomainEvent[] = [];
  for (const chassis of facts.claims)
    if (!entry.claims.includes(chassis))
      events.push({ type: 'LocalDeleted', data: { portId, chassis } });
  for (const chassis of entry.claims)
    if (!facts.claims.includes(chassis))
      events.push({ type: 'LocalCreated', data: { portId, chassis } });
  for (const reason of facts.reasons)
    if (!entry.reasons.includes(reason))
      events.push({ type: 'DistributedDeleted', data: { portId, reason } });
  for (const reason of entry.reasons)
    if (!facts.reasons.includes(reason))
      events.push({ type: 'DistributedCreated', data: { portId, reason } });
  const wanted = new Set(entry.acks.map(ackKey));
  const held = new Set(facts.acks.map(ackKey));
  for (const ack of facts.acks)
    if (!wanted.has(ackKey(ack)))
      events.push({ type: 'RemoteDeleted', data: { portId, chassis: ack.chassis } });
  for (const ack of entry.acks)
    if (!held.has(ackKey(ack)))
      events.push({
        type: 'RemoteCreated',
        data: { portId, chassis: ack.chassis, owner: ack.owner },
      });
  return events;
}
