/**
 * Logical router commands: a router's interface ports and gateway port. Every port a router
 * uses must be live when it is attached; a port is used once per router (an interface or the
 * gateway, not both).
 */
import type { LogicalRouter } from '../events/index.js';
import {
  accept,
  alreadyExists,
  conflict,
  type Decision,
  type FieldError,
  invalid,
  notFound,
  unchanged,
  unknownReference,
  unknownTarget,
} from './decision.js';
import type { Lifecycle } from './lifecycle.js';

/** Which of the ports a decision names are live (the shell checks them against the log). */
export interface LivePorts {
  readonly livePorts: ReadonlySet<string>;
}

/** The ports a new router uses, in body order, for the shell to check. */
export const portsOfRouter = (router: LogicalRouter): string[] =>
  router.gatewayPortId === null
    ? [...router.interfacePortIds]
    : [...router.interfacePortIds, router.gatewayPortId];

export function createRouter(
  router: LogicalRouter,
  current: Lifecycle<LogicalRouter>,
  refs: LivePorts,
): Decision<LogicalRouter> {
  if (current.status === 'live') return alreadyExists('router', router.id);
  if (router.gatewayPortId !== null && router.interfacePortIds.includes(router.gatewayPortId)) {
    return invalid(`port ${router.gatewayPortId} cannot be both an interface and the gateway`, {
      field: '/gatewayPortId',
      reason: `port ${router.gatewayPortId} is also listed in /interfacePortIds`,
    });
  }
  const unknown: FieldError[] = router.interfacePortIds.flatMap((portId, index) =>
    refs.livePorts.has(portId)
      ? []
      : [unknownReference(`/interfacePortIds/${index}`, 'port', portId)],
  );
  if (router.gatewayPortId !== null && !refs.livePorts.has(router.gatewayPortId)) {
    unknown.push(unknownReference('/gatewayPortId', 'port', router.gatewayPortId));
  }
  if (unknown.length > 0) {
    return notFound(`router ${router.id} names unknown ports`, ...unknown);
  }
  return accept([{ type: 'LogicalRouterCreated', data: router }], router, true);
}

export function deleteRouter(
  id: string,
  current: Lifecycle<LogicalRouter>,
): Decision<{ id: string }> {
  if (current.status !== 'live') return unknownTarget('router', id);
  return accept([{ type: 'LogicalRouterDeleted', data: { id } }], { id });
}

const updated = (router: LogicalRouter): Decision<LogicalRouter> =>
  accept([{ type: 'LogicalRouterUpdated', data: router }], router);

export function addInterface(
  routerId: string,
  portId: string,
  current: Lifecycle<LogicalRouter>,
  refs: LivePorts,
): Decision<LogicalRouter> {
  if (current.status !== 'live') return unknownTarget('router', routerId);
  const router = current.document;
  if (router.interfacePortIds.includes(portId)) {
    const reason = `port ${portId} already is an interface of router ${routerId}`;
    return conflict(reason, { field: '/portId', reason });
  }
  if (router.gatewayPortId === portId) {
    const reason = `port ${portId} is the gateway of router ${routerId}`;
    return conflict(reason, { field: '/portId', reason });
  }
  if (!refs.livePorts.has(portId)) {
    return notFound(`no port ${portId}`, unknownReference('/portId', 'port', portId));
  }
  const next = { ...router, interfacePortIds: [...router.interfacePortIds, portId] };
  return accept([{ type: 'LogicalRouterUpdated', data: next }], next, true);
}

export function removeInterface(
  routerId: string,
  portId: string,
  current: Lifecycle<LogicalRouter>,
): Decision<LogicalRouter> {
  if (current.status !== 'live') return unknownTarget('router', routerId);
  const router = current.document;
  if (!router.interfacePortIds.includes(portId)) {
    const reason = `port ${portId} is not an interface of router ${routerId}`;
    return notFound(reason, { field: 'portId', in: 'path', reason });
  }
  return updated({
    ...router,
    interfacePortIds: router.interfacePortIds.filter((id) => id !== portId),
  });
}

export function setGateway(
  routerId: string,
  portId: string,
  current: Lifecycle<LogicalRouter>,
  refs: LivePorts,
): Decision<LogicalRouter> {
  if (current.status !== 'live') return unknownTarget('router', routerId);
  const router = current.document;
  if (router.gatewayPortId === portId) return unchanged(router);
  if (router.interfacePortIds.includes(portId)) {
    const reason = `port ${portId} is an interface of router ${routerId}`;
    return conflict(reason, { field: '/portId', reason });
  }
  if (!refs.livePorts.has(portId)) {
    return notFound(`no port ${portId}`, unknownReference('/portId', 'port', portId));
  }
  return updated({ ...router, gatewayPortId: portId });
}

export function clearGateway(
  routerId: string,
  current: Lifecycle<LogicalRouter>,
): Decision<LogicalRouter> {
  if (current.status !== 'live') return unknownTarget('router', routerId);
  const router = current.document;
  if (router.gatewayPortId === null) {
    const reason = `router ${routerId} has no gateway`;
    return notFound(reason, { field: 'id', in: 'path', reason });
  }
  return updated({ ...router, gatewayPortId: null });
}
