/**
 * Whether packets can go from one chassis to a port's owner over the port's switch, from the
 * chassis' and the switch's documents alone: a tunnel network (geneve, vxlan) needs both chassis
 * to list the switch's network type among their tunnel types, a provider network (vlan, flat)
 * needs both to map its physical network to a bridge. A chassis that cannot reach the owner is
 * never offered a remote view (the tunnel/provider apps, src/apps/remote.ts) and programs no
 * flows toward it (src/ovs/chassis-view.ts); the read model reports the reason
 * (GET /v1/ports/:id `unreachable`). One function for all three, so they agree.
 *
 * Pure, and over the documents' fields only: the read model passes its rows, the apps and the
 * flow computation the topology's documents.
 */
import type { Chassis, NetworkType, TunnelType } from '../events/index.js';

/** The switch fields reachability reads (a LogicalSwitch, or its read-model row: null for absent). */
export interface SwitchFacts {
  readonly id: string;
  readonly networkType: NetworkType;
  readonly segmentationId?: number | null;
  readonly physicalNetwork?: string | null;
}

/** The chassis fields reachability reads. */
export type ChassisFacts = Pick<Chassis, 'id' | 'tunnelTypes' | 'bridgeMappings'>;

export type Reachability = { readonly ok: true } | { readonly ok: false; readonly reason: string };

const REACHABLE: Reachability = Object.freeze({ ok: true });
const unreachable = (reason: string): Reachability => ({ ok: false, reason });

export const isTunnelNetwork = (type: NetworkType): type is TunnelType =>
  type === 'geneve' || type === 'vxlan';

/**
 * Whether `chassis` can send packets to `owner` on switch `ls`, and if not why. The switch's own
 * gaps (a tunnel network without a VNI, a provider network without a physnet or VLAN id) come
 * first: no chassis reaches anyone there.
 */
export function reachability(
  ls: SwitchFacts,
  chassis: ChassisFacts,
  owner: ChassisFacts,
): Reachability {
  const type = ls.networkType;
  if (isTunnelNetwork(type)) {
    if (ls.segmentationId == null) return unreachable(`switch ${ls.id} has no segmentation id`);
    if (!chassis.tunnelTypes.includes(type))
      return unreachable(
        `chassis ${chassis.id} has no ${type} tunnel (switch ${ls.id} is ${type})`,
      );
    if (!owner.tunnelTypes.includes(type))
      return unreachable(`owner ${owner.id} has no ${type} tunnel (switch ${ls.id} is ${type})`);
    return REACHABLE;
  }
  const physnet = ls.physicalNetwork;
  if (physnet == null) return unreachable(`switch ${ls.id} has no physical network`);
  if (type === 'vlan' && ls.segmentationId == null)
    return unreachable(`switch ${ls.id} has no VLAN id`);
  if (!hasMapping(chassis, physnet))
    return unreachable(`chassis ${chassis.id} has no bridge mapping for ${physnet}`);
  if (!hasMapping(owner, physnet))
    return unreachable(`owner ${owner.id} has no bridge mapping for ${physnet}`);
  return REACHABLE;
}

const hasMapping = (chassis: ChassisFacts, physnet: string): boolean =>
  Object.hasOwn(chassis.bridgeMappings, physnet);
