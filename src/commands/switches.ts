/** Logical switch (network) commands. */
import type { LogicalSwitch, NetworkType } from '../events/index.js';
import {
  accept,
  alreadyExists,
  conflict,
  type Decision,
  type FieldError,
  invalid,
  unknownTarget,
} from './decision.js';
import type { Lifecycle } from './lifecycle.js';

/**
 * The segmentation ids (tunnel keys) each network type can carry: a 24-bit VNI for geneve and
 * vxlan (0 is reserved), a VLAN id for vlan (0 and 4095 are reserved by 802.1Q); a flat network
 * has none. (A gre network, which locus does not model, would take a 32-bit key.)
 */
export const segmentationRanges: Readonly<
  Record<NetworkType, { readonly min: number; readonly max: number; readonly what: string } | null>
> = {
  geneve: { min: 1, max: 16_777_215, what: 'a geneve VNI' },
  vxlan: { min: 1, max: 16_777_215, what: 'a vxlan VNI' },
  vlan: { min: 1, max: 4094, what: 'a VLAN id' },
  flat: null,
};

/** Why the switch's segmentation id does not suit its network type, or undefined. */
export function segmentationProblem(lswitch: LogicalSwitch): FieldError | undefined {
  const { networkType, segmentationId } = lswitch;
  if (segmentationId === undefined) return undefined;
  const range = segmentationRanges[networkType];
  if (range === null)
    return {
      field: '/segmentationId',
      reason: `a ${networkType} network has no segmentation id; leave it out`,
    };
  if (segmentationId < range.min || segmentationId > range.max)
    return {
      field: '/segmentationId',
      reason: `${segmentationId} is not ${range.what}: it must be from ${range.min} to ${range.max}`,
    };
  return undefined;
}

/** Creates a switch; an id that was deleted may be created again (a switch has no history). */
export function createSwitch(
  lswitch: LogicalSwitch,
  current: Lifecycle<LogicalSwitch>,
): Decision<LogicalSwitch> {
  if (current.status === 'live') return alreadyExists('switch', lswitch.id);
  const problem = segmentationProblem(lswitch);
  if (problem) return invalid(`switch ${lswitch.id}: ${problem.reason}`, problem);
  return accept([{ type: 'LogicalSwitchCreated', data: lswitch }], lswitch, true);
}

/** How many ids an in-use message lists before it summarises. */
const LISTED = 10;

const listed = (ids: readonly string[]): string =>
  ids.length <= LISTED
    ? ids.join(', ')
    : `${ids.slice(0, LISTED).join(', ')} and ${ids.length - LISTED} more`;

/** A switch still carrying live ports or subnets cannot go (their references would dangle). */
export function deleteSwitch(
  id: string,
  current: Lifecycle<LogicalSwitch>,
  users: { readonly ports: readonly string[]; readonly subnets: readonly string[] },
): Decision<{ id: string }> {
  if (current.status !== 'live') return unknownTarget('switch', id);
  const problems = [];
  if (users.ports.length > 0) problems.push(`ports ${listed(users.ports)}`);
  if (users.subnets.length > 0) problems.push(`subnets ${listed(users.subnets)}`);
  if (problems.length > 0) {
    const reason = `switch ${id} is in use by ${problems.join(' and ')}`;
    return conflict(reason, { field: 'id', in: 'path', reason });
  }
  return accept([{ type: 'LogicalSwitchDeleted', data: { id } }], { id });
}
