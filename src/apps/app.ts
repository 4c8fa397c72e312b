/**
 * A locality app is a pure, level-triggered decider:
 *  - `affected` names the ports whose locality an event may change (the runner asks before and
 *    after folding the event into the topology, so removals are seen too);
 *  - `reconcile` compares what the app wants for one port with the port's current facts and
 *    returns the locality events that close the gap — nothing when they already agree.
 * Because decisions are differences against the log's facts, re-running them after a crash or
 * a lost race emits nothing twice.
 */
import type { PortLocality } from '../domain/locality.js';
import type { Topology } from '../domain/topology.js';
import type { DomainEvent } from '../events/index.js';

export type AppName = 'classification' | 'dnat' | 'trunk' | 'l3' | 'dhcp' | 'tunnel' | 'provider';

export interface LocalityApp {
  readonly name: AppName;
  /**
   * Decides local claims (LocalCreated/LocalDeleted), the one order-sensitive fact: the runner
   * tracks what such an app wants while nobody holds a port's partition (./claim-track.ts).
   */
  readonly claims?: boolean;
  affected(topology: Topology, event: DomainEvent): Iterable<string>;
  reconcile(topology: Topology, portId: string, port: PortLocality): DomainEvent[];
}

/** LocalDeleted for claims no longer wanted, then LocalCreated for new ones, in desired order. */
export function claimChanges(
  portId: string,
  desired: readonly string[],
  actual: readonly string[],
): DomainEvent[] {
  const events: DomainEvent[] = [];
  for (const chassis of actual)
    if (!desired.includes(chassis))
      events.push({ type: 'LocalDeleted', data: { portId, chassis } });
  for (const chassis of desired)
    if (!actual.includes(chassis)) events.push({ type: 'LocalCreated', data: { portId, chassis } });
  return events;
}

/** Distributed reason changes limited to the reasons an app manages (by prefix). */
export function reasonChanges(
  portId: string,
  desired: readonly string[],
  actual: readonly string[],
  managed: (reason: string) => boolean,
): DomainEvent[] {
  const events: DomainEvent[] = [];
  for (const reason of actual)
    if (managed(reason) && !desired.includes(reason))
      events.push({ type: 'DistributedDeleted', data: { portId, reason } });
  for (const reason of desired)
    if (!actual.includes(reason))
      events.push({ type: 'DistributedCreated', data: { portId, reason } });
  return events;
}
