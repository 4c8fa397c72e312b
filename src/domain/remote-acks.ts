/**
 * Selective topology: chassis C wants flows toward port P, local on another chassis, only when
 * C has a local port on P's switch, so remote state grows with interest, not with chassis ×
 * ports. The tunnel and provider apps acknowledge what this wants; a chassis' flow computation
 * installs the same.
 */
import type { PortLocality } from './locality.js';
import type { Topology } from './topology.js';

/** The owner chassis `chassis` should have acknowledged for the port, or null for none. */
export function wantedAck(
  topology: Topology,
  portId: string,
  port: PortLocality,
  chassis: string,
): string | null {
  const owner = port.owner;
  if (owner === null || owner === chassis || port.reasons.length > 0) return null;
  if (!topology.chassis.has(chassis) || !topology.chassis.has(owner)) return null;
  const switchId = topology.ports.get(portId)?.switchId;
  if (switchId === undefined || topology.localPortsOn(chassis, switchId).size === 0) return null;
  return owner;
}
