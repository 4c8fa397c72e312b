/** Subnet commands: a subnet belongs to a live switch for its whole life. */
import type { Subnet } from '../events/index.js';
import {
  accept,
  alreadyExists,
  type Decision,
  notFound,
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
  return accept([{ type: 'SubnetUpdated', data: merged }], merged);
}

export function deleteSubnet(id: string, current: Lifecycle<Subnet>): Decision<{ id: string }> {
  if (current.status !== 'live') return unknownTarget('subnet', id);
  return accept([{ type: 'SubnetDeleted', data: { id } }], { id });
}
