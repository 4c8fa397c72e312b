/** Subnet commands: a subnet belongs to a live switch for its whole life. */
import { contains, parseCidr, parseIp } from '../events/addresses.js';
import type { Subnet } from '../events/index.js';
import {
  accept,
  alreadyExists,
  type Decision,
  invalid,
  notFound,
  type Rejected,
  unchanged,
  unknownReference,
  unknownTarget,
} from './decision.js';
import { definedOnly, type Lifecycle, sameDocument } from './lifecycle.js';

/** Fields a PATCH may change; `gatewayIp: null` removes the gateway. */
export interface SubnetChanges {
  readonly cidr?: string;
  readonly gatewayIp?: string | null;
  readonly dhcpEnabled?: boolean;
}

/**
 * A gateway inside its subnet. Checked when the command sets the network or the gateway, so a
 * subnet written before the check keeps working through updates of other fields.
 */
function gatewayProblem(subnet: Subnet): Rejected | undefined {
  if (subnet.gatewayIp === undefined) return undefined;
  const network = parseCidr(subnet.cidr);
  const gateway = parseIp(subnet.gatewayIp);
  if (network === undefined || gateway === undefined || contains(network, gateway))
    return undefined;
  const reason = `the gateway ${subnet.gatewayIp} is not in ${subnet.cidr}`;
  return invalid(`subnet ${subnet.id}: ${reason}`, { field: '/gatewayIp', reason });
}

export function createSubnet(
  subnet: Subnet,
  current: Lifecycle<Subnet>,
  refs: { readonly switchLive: boolean },
): Decision<Subnet> {
  if (current.status === 'live') return alreadyExists('subnet', subnet.id);
  if (!refs.switchLive) {
    return notFound(
      `subnet ${subnet.id} names an unknown switch`,
      unknownReference('/switchId', 'switch', subnet.switchId),
    );
  }
  const problem = gatewayProblem(subnet);
  if (problem) return problem;
  return accept([{ type: 'SubnetCreated', data: subnet }], subnet, true);
}

export function updateSubnet(
  id: string,
  changes: SubnetChanges,
  current: Lifecycle<Subnet>,
): Decision<Subnet> {
  if (current.status !== 'live') return unknownTarget('subnet', id);
  const { gatewayIp, ...rest } = changes;
  const merged: Subnet = { ...current.document, ...definedOnly(rest) };
  if (gatewayIp !== undefined) {
    if (gatewayIp === null) delete (merged as { gatewayIp?: string }).gatewayIp;
    else merged.gatewayIp = gatewayIp;
  }
  if (sameDocument(current.document, merged)) return unchanged(current.document);
  const problem = changes.cidr !== undefined || gatewayIp ? gatewayProblem(merged) : undefined;
  if (problem) return problem;
  return accept([{ type: 'SubnetUpdated', data: merged }], merged);
}

export function deleteSubnet(id: string, current: Lifecycle<Subnet>): Decision<{ id: string }> {
  if (current.status !== 'live') return unknownTarget('subnet', id);
  return accept([{ type: 'SubnetDeleted', data: { id } }], { id });
}
