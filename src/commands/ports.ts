/**
 * Logical port commands. A port's stream also carries its locality events, so the lport
 * machine's port-wide facts are folded beside the document and every model event is offered
 * to the machine: a deleted port is final and refuses everything after. `machine` is the
 * production machine's fold everywhere but in tests that run a variant of the machine.
 */
import { lportFacts, type PortMachine } from '../../machines/lport.facts.js';
import {
  initialFacts,
  type LportEvent,
  type PortFacts,
  toLportEvent,
} from '../../machines/lport.rules.js';
import type { DomainEvent, LogicalPort } from '../events/index.js';
import {
  accept,
  alreadyExists,
  type Decision,
  notFound,
  reject,
  unchanged,
  unknownReference,
  unknownTarget,
} from './decision.js';
import {
  absent,
  definedOnly,
  evolveLifecycle,
  type Lifecycle,
  type StreamFold,
  sameDocument,
} from './lifecycle.js';

export interface PortStream {
  readonly port: Lifecycle<LogicalPort>;
  readonly facts: PortFacts;
}

/** The fold of a port's stream under `machine`. */
export const portFoldOf = (machine: PortMachine): StreamFold<PortStream> => ({
  initial: { port: absent, facts: initialFacts() },
  evolve(state, event) {
    const lportEvent = toLportEvent(event);
    // Events in the log were accepted when appended; one the machine refuses (a foreign
    // writer) is not folded, exactly as the apps' fold does.
    const facts =
      lportEvent === undefined
        ? state.facts
        : (machine.apply(state.facts, lportEvent) ?? state.facts);
    return { port: evolveLifecycle('port', state.port, event), facts };
  },
});

export const portFold: StreamFold<PortStream> = portFoldOf(lportFacts);

/** Fields a PATCH may change. The switch is fixed for a port's life (as in Neutron). */
export type PortChanges = Partial<
  Pick<LogicalPort, 'macs' | 'ips' | 'deviceOwner' | 'requestedChassis'>
>;

/** The machine's refusal of a model event, as a 409 naming port, view, state and event. */
function refused(machine: PortMachine, portId: string, facts: PortFacts, event: LportEvent) {
  const refusal = machine.refusal(portId, facts, event);
  if (refusal === null) return undefined;
  return reject({
    kind: 'refused',
    code: refusal.code,
    detail: refusal.message,
    errors: [{ field: '/id', reason: refusal.detail }],
  });
}

/**
 * Creates a port on a live switch. An id that was deleted cannot be reused: the machine's
 * deleted state is final, so the create is refused (409) rather than resurrecting the history.
 */
export function createPort(
  port: LogicalPort,
  stream: PortStream,
  refs: { readonly switchLive: boolean },
  machine: PortMachine = lportFacts,
): Decision<LogicalPort> {
  if (stream.port.status === 'live') return alreadyExists('port', port.id);
  const refusal = refused(machine, port.id, stream.facts, {
    type: 'LogicalPortCreated',
    requestedChassis: port.requestedChassis,
  });
  if (refusal) return refusal;
  if (!refs.switchLive) {
    return notFound(
      `port ${port.id} names an unknown switch`,
      unknownReference('/switchId', 'switch', port.switchId),
    );
  }
  return accept([{ type: 'LogicalPortCreated', data: port }], port, true);
}

/**
 * Merges `changes` into the current document and emits the whole new version. A PATCH that
 * changes nothing appends nothing (retries are harmless).
 */
export function updatePort(
  id: string,
  changes: PortChanges,
  stream: PortStream,
  machine: PortMachine = lportFacts,
): Decision<LogicalPort> {
  if (stream.port.status === 'absent') return unknownTarget('port', id);
  const current = stream.port.document;
  const next: LogicalPort = { ...current, ...definedOnly(changes) };
  const refusal = refused(machine, id, stream.facts, {
    type: 'LogicalPortUpdated',
    requestedChassis: next.requestedChassis,
  });
  if (refusal) return refusal;
  if (sameDocument(current, next)) return unchanged(current);
  return accept([{ type: 'LogicalPortUpdated', data: next }], next);
}

export function deletePort(
  id: string,
  stream: PortStream,
  machine: PortMachine = lportFacts,
): Decision<{ id: string }> {
  if (stream.port.status === 'absent') return unknownTarget('port', id);
  const refusal = refused(machine, id, stream.facts, { type: 'LogicalPortDeleted' });
  if (refusal) return refusal;
  const event: DomainEvent = { type: 'LogicalPortDeleted', data: { id } };
  return accept([event], { id });
}
