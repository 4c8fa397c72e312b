/** Trunk segmentation commands: a child (sub-)port carried by a parent (trunk) port on a VLAN. */
import type { ChildPortSegmentation } from '../events/index.js';
import {
  accept,
  alreadyExists,
  type Decision,
  type FieldError,
  invalid,
  notFound,
  unknownReference,
  unknownTarget,
} from './decision.js';
import type { Lifecycle } from './lifecycle.js';
import type { LivePorts } from './routers.js';

export function createSegmentation(
  segmentation: ChildPortSegmentation,
  current: Lifecycle<ChildPortSegmentation>,
  refs: LivePorts,
): Decision<ChildPortSegmentation> {
  const { id, parentPortId, childPortId } = segmentation;
  if (current.status === 'live') return alreadyExists('segmentation', id);
  if (parentPortId === childPortId) {
    return invalid(`segmentation ${id}: a port cannot be its own sub-port`, {
      field: '/childPortId',
      reason: `port ${childPortId} is also the parent port`,
    });
  }
  const unknown: FieldError[] = [];
  if (!refs.livePorts.has(parentPortId)) {
    unknown.push(unknownReference('/parentPortId', 'port', parentPortId));
  }
  if (!refs.livePorts.has(childPortId)) {
    unknown.push(unknownReference('/childPortId', 'port', childPortId));
  }
  if (unknown.length > 0) return notFound(`segmentation ${id} names unknown ports`, ...unknown);
  return accept([{ type: 'ChildPortSegmentationCreated', data: segmentation }], segmentation, true);
}

export function deleteSegmentation(
  id: string,
  current: Lifecycle<ChildPortSegmentation>,
): Decision<{ id: string }> {
  if (current.status !== 'live') return unknownTarget('segmentation', id);
  return accept([{ type: 'ChildPortSegmentationDeleted', data: { id } }], { id });
}
