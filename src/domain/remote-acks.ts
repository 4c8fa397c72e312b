/**
 * Selective topology: chassis C wants flows toward port P, local on another chassis, only when
 * C has a local port on P's switch, so remote state grows with interest, not with chassis ×
 * ports. It is offered a remote view only when it can also reach P's owner over that switch
 * (./reachability.ts): shared tunnel type, or both mapping the provider network. The tunnel and
 * provider apps acknowledge what this wants; a chassis' flow computation installs the same.
 */
import type { PortLocality } from './locality.js';
import { type Reachability, reachability } from './reachability.js';
import type { Topology } from './topology.js';

/** What chassis C's interest in a remote port rests on: the port's owner and switch. */
export interface RemoteInterest {
  readonly owner: string;
  readonly switchId: string;
}

/**
 * The owner and switch of the port when `chassis` wants to reach it remotely by selective
 * topology (a bound, non-distributed port owned by another known chassis, on a switch where
 * `chassis` has a local port), whether or not it can; null when it does not.
 */
export function remoteInterest(
  topology: Topology,
  portId: string,
  port: PortLocality,
  chassis: string,
): RemoteInterest | null {
  const owner = port.owner;
  if (owner === null || owner === chassis || port.reasons.length > 0) return null;
  if (!topology.chassis.has(chassis) || !topology.chassis.has(owner)) return null;
  const switchId = topology.ports.get(portId)?.switchId;
  if (switchId === undefined || topology.localPortsOn(chassis, switchId).size === 0) return null;
  return { owner, switchId };
}

/** Whether `chassis` reaches `owner` over switch `switchId`, from the topology's documents. */
export function reachabilityIn(
  topology: Topology,
  chassis: string,
  owner: string,
  switchId: string,
): Reachability {
  const ls = topology.switches.get(switchId);
  const from = topology.chassis.get(chassis);
  const to = topology.chassis.get(owner);
  if (ls === undefined) return { ok: false, reason: `switch ${switchId} is unknown` };
  if (from === undefined) return { ok: false, reason: `chassis ${chassis} is unknown` };
  if (to === undefined) return { ok: false, reason: `owner ${owner} is unknown` };
  return reachability(ls, from, to);
}

/** The owner chassis `chassis` should have acknowledged for the port, or null for none. */
export function wantedAck(
  topology: Topology,
  portId: string,
  port: PortLocality,
  chassis: string,
): string | null {
  const interest = remoteInterest(topology, portId, port, chassis);
  if (interest === null) return null;
  return reachabilityIn(topology, chassis, interest.owner, interest.switchId).ok
    ? interest.owner
    : null;
}
