/** Floating IP commands: a floating port, associated with at most one fixed port. */
import type { FloatingIp } from '../events/index.js';
import {
  accept,
  alreadyExists,
  type Decision,
  type FieldError,
  invalid,
  notFound,
  unchanged,
  unknownReference,
  unknownTarget,
} from './decision.js';
import type { Lifecycle } from './lifecycle.js';
import type { LivePorts } from './routers.js';

export function createFloatingIp(
  fip: FloatingIp,
  current: Lifecycle<FloatingIp>,
  refs: LivePorts,
): Decision<FloatingIp> {
  if (current.status === 'live') return alreadyExists('floating IP', fip.id);
  if (fip.fixedPortId === fip.floatingPortId) return associatedWithItself(fip, '/fixedPortId');
  const unknown: FieldError[] = [];
  if (!refs.livePorts.has(fip.floatingPortId)) {
    unknown.push(unknownReference('/floatingPortId', 'port', fip.floatingPortId));
  }
  if (fip.fixedPortId !== null && !refs.livePorts.has(fip.fixedPortId)) {
    unknown.push(unknownReference('/fixedPortId', 'port', fip.fixedPortId));
  }
  if (unknown.length > 0) return notFound(`floating IP ${fip.id} names unknown ports`, ...unknown);
  return accept([{ type: 'FloatingIpCreated', data: fip }], fip, true);
}

/** Associates the floating IP with `portId`, or disassociates it (null). */
export function associateFloatingIp(
  id: string,
  portId: string | null,
  current: Lifecycle<FloatingIp>,
  refs: LivePorts,
): Decision<FloatingIp> {
  if (current.status !== 'live') return unknownTarget('floating IP', id);
  const fip = current.document;
  if (fip.fixedPortId === portId) return unchanged(fip);
  if (portId !== null) {
    if (portId === fip.floatingPortId) return associatedWithItself(fip, '/portId');
    if (!refs.livePorts.has(portId)) {
      return notFound(`no port ${portId}`, unknownReference('/portId', 'port', portId));
    }
  }
  const next = { ...fip, fixedPortId: portId };
  return accept([{ type: 'FloatingIpUpdated', data: next }], next);
}

export function deleteFloatingIp(
  id: string,
  current: Lifecycle<FloatingIp>,
): Decision<{ id: string }> {
  if (current.status !== 'live') return unknownTarget('floating IP', id);
  return accept([{ type: 'FloatingIpDeleted', data: { id } }], { id });
}

function associatedWithItself(fip: FloatingIp, field: string) {
  return invalid(`floating IP ${fip.id} cannot be associated with its own floating port`, {
    field,
    reason: `port ${fip.floatingPortId} is the floating port itself`,
  });
}
