/**
 * Observation: which interfaces on the integration bridge carry a logical port
 * (`external_ids:iface-id`), as OvsPort documents, and the events that bring what this
 * chassis has reported in line with what OVS shows.
 *
 * The observer is level-based: each time, it derives the whole observed set from the OVSDB
 * replica and diffs it against the reported set (`OvsPortCreated` for a new name,
 * `OvsPortUpdated` when ofport, iface-id or type changed, `OvsPortDeleted` for a name gone).
 * The reported set starts from the log (what the chassis' stream says it has), so after an
 * agent or ovsdb-server restart only real differences are emitted; it advances only when the
 * sink confirms (`acknowledge`), so a failed report is simply diffed again.
 */
import type { DomainEvent } from '../events/catalogue.js';
import type { OvsPort } from '../events/model.js';
import type { OvsdbLogger } from '../ovs/ovsdb/client.js';
import type { MonitorSpec, Replica } from '../ovs/ovsdb/replica.js';
import type { BridgeRow, InterfaceRow, PortRow } from '../ovs/ovsdb/vswitch.js';
import { ovsPortProblems } from './ovs-port-check.js';

export interface ObservedTables {
  readonly Bridge: BridgeRow;
  readonly Port: PortRow;
  readonly Interface: InterfaceRow;
}

/** What the observer needs replicated. */
export const OBSERVED_COLUMNS: MonitorSpec<ObservedTables> = {
  Bridge: ['name', 'ports'],
  Port: ['name', 'interfaces'],
  Interface: ['name', 'type', 'ofport', 'external_ids'],
};

export const IFACE_ID_KEY = 'iface-id';

/** Highest OpenFlow port number for a physical/virtual port (OFPP_MAX - 1). */
const MAX_OFPORT = 65_279;

/** The tables the observer reads (a Replica satisfies it). */
export interface ObservedState {
  table<T extends keyof ObservedTables & string>(name: T): ReadonlyMap<string, ObservedTables[T]>;
}

/**
 * The OvsPorts on `integrationBridge`: one per interface with an `iface-id`. ofport is null
 * until ovs-vswitchd assigns one, and when it failed (-1). Interfaces whose name or iface-id
 * would not make a valid OvsPort are passed to `onInvalid` and left out.
 */
export function observeOvsPorts(
  state: ObservedState,
  chassis: string,
  integrationBridge: string,
  onInvalid: (ovsPort: OvsPort, reason: string) => void = () => {},
  validated?: ValidatedPorts,
): Map<string, OvsPort> {
  const observed = new Map<string, OvsPort>();
  const bridge = [...state.table('Bridge').values()].find((b) => b.name === integrationBridge);
  if (!bridge) return observed;
  const ports = state.table('Port');
  const interfaces = state.table('Interface');
  for (const portUuid of bridge.ports) {
    for (const ifaceUuid of ports.get(portUuid)?.interfaces ?? []) {
      const iface = interfaces.get(ifaceUuid);
      const ifaceId = iface?.external_ids.get(IFACE_ID_KEY);
      if (!iface || ifaceId === undefined) continue;
      const ofport =
        iface.ofport !== null && iface.ofport >= 1 && iface.ofport <= MAX_OFPORT
          ? iface.ofport
          : null;
      const known = validated?.get(iface.name);
      if (
        known !== undefined &&
        known.ofport === ofport &&
        known.ifaceId === ifaceId &&
        known.type === iface.type &&
        known.chassis === chassis
      ) {
        observed.set(iface.name, known);
        continue;
      }
      const ovsPort: OvsPort = { chassis, name: iface.name, ofport, ifaceId, type: iface.type };
      const problems = ovsPortProblems(ovsPort);
      if (problems.length > 0)
        onInvalid(ovsPort, problems.map((p) => `${p.field} ${p.reason}`).join('; '));
      else {
        observed.set(iface.name, ovsPort);
        validated?.set(iface.name, ovsPort);
      }
    }
  }
  return observed;
}

/**
 * OvsPorts already found valid, by interface name: an unchanged interface is not validated
 * again (a schema check per interface per OVSDB update is most of an update's cost at
 * thousands of interfaces).
 */
export type ValidatedPorts = Map<string, OvsPort>;

const samePort = (a: OvsPort, b: OvsPort): boolean =>
  a.ofport === b.ofport && a.ifaceId === b.ifaceId && a.type === b.type;

/** Events turning `reported` into `observed`: deletions first, then by name. */
export function diffOvsPorts(
  reported: ReadonlyMap<string, OvsPort>,
  observed: ReadonlyMap<string, OvsPort>,
): DomainEvent[] {
  // Only the differences are sorted: usually none or a few of thousands of interfaces.
  const deleted: DomainEvent[] = [];
  for (const [name, old] of reported)
    if (!observed.has(name))
      deleted.push({ type: 'OvsPortDeleted', data: { chassis: old.chassis, name } });
  const upserts: DomainEvent[] = [];
  for (const [name, now] of observed) {
    const old = reported.get(name);
    if (!old) upserts.push({ type: 'OvsPortCreated', data: now });
    else if (old !== now && !samePort(old, now))
      upserts.push({ type: 'OvsPortUpdated', data: now });
  }
  return [...deleted.sort(byName), ...upserts.sort(byName)];
}

const byName = (a: DomainEvent, b: DomainEvent): number => {
  const x = (a.data as { name: string }).name;
  const y = (b.data as { name: string }).name;
  return x < y ? -1 : x > y ? 1 : 0;
};

/** Folds OvsPort events (a chassis stream) into the OvsPorts they describe. */
export function foldOvsPorts(events: Iterable<{ type: string; data: unknown }>): OvsPort[] {
  const ports = new Map<string, OvsPort>();
  for (const { type, data } of events) {
    if (type === 'OvsPortCreated' || type === 'OvsPortUpdated') {
      const port = data as OvsPort;
      ports.set(port.name, port);
    } else if (type === 'OvsPortDeleted') {
      ports.delete((data as { name: string }).name);
    }
  }
  return [...ports.values()];
}

export interface InterfaceObserverOptions {
  readonly chassis: string;
  /** Default `br-int`. */
  readonly integrationBridge?: string;
  /** What the log says this chassis has (from the sink); empty when unknown. */
  readonly reported?: Iterable<OvsPort>;
  readonly logger?: OvsdbLogger;
}

export class InterfaceObserver {
  readonly chassis: string;
  readonly integrationBridge: string;
  private reportedPorts = new Map<string, OvsPort>();
  private readonly warned = new Set<string>();
  private readonly validated: ValidatedPorts = new Map();
  private readonly logger: OvsdbLogger | undefined;

  constructor(options: InterfaceObserverOptions) {
    this.chassis = options.chassis;
    this.integrationBridge = options.integrationBridge ?? 'br-int';
    this.logger = options.logger;
    this.reset(options.reported ?? []);
  }

  /** The OvsPorts as last reported (acknowledged by the sink). */
  get reported(): ReadonlyMap<string, OvsPort> {
    return this.reportedPorts;
  }

  /** Replaces the reported set, e.g. after re-reading the log. */
  reset(reported: Iterable<OvsPort>): void {
    this.reportedPorts = new Map();
    for (const port of reported)
      if (port.chassis === this.chassis) this.reportedPorts.set(port.name, port);
  }

  /** What OVS shows now, from the monitored tables. */
  observe(state: ObservedState | Replica<ObservedTables>): Map<string, OvsPort> {
    const observed = observeOvsPorts(
      state,
      this.chassis,
      this.integrationBridge,
      (port, reason) => {
        if (this.warned.has(port.name)) return;
        this.warned.add(port.name);
        this.logger?.warn(
          { interface: port.name, ifaceId: port.ifaceId, reason },
          'ignoring interface',
        );
      },
      this.validated,
    );
    // Interfaces gone are forgotten (the cache holds what OVS shows, no more).
    if (this.validated.size > observed.size)
      for (const name of this.validated.keys())
        if (!observed.has(name)) this.validated.delete(name);
    return observed;
  }

  /** The events that would bring the reported set to what `state` shows. */
  changes(state: ObservedState | Replica<ObservedTables>): DomainEvent[] {
    return diffOvsPorts(this.reportedPorts, this.observe(state));
  }

  /** Records that the sink accepted these events (in order). */
  acknowledge(events: readonly DomainEvent[]): void {
    for (const event of events) {
      if (event.type === 'OvsPortCreated' || event.type === 'OvsPortUpdated')
        this.reportedPorts.set(event.data.name, event.data);
      else if (event.type === 'OvsPortDeleted') this.reportedPorts.delete(event.data.name);
    }
  }
}
