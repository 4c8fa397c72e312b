/**
 * Logical port commands. A port's stream also carries its locality events, so the lport
 * machine's port-wide facts are folded beside the document and every model event is offered
 * to the machine: a deleted port is final and refuses everything after. `machine` is the
 * production machine's fold everywhere but in tests that run a variant of the machine.
 */
import { applyEach, lportFacts, type PortMachine } from '../../machines/lport.facts.js';
import {
  initialFacts,
  type LportEvent,
  type PortFacts,
  toLportEvents,
} from '../../machines/lport.rules.js';
import { contains, ipKey, macKey, parseCidr, parseIp } from '../events/addresses.js';
import type { DomainEvent, LogicalPort } from '../events/index.js';
import type { SwitchAddressing } from './address-book.js';
import {
  accept,
  alreadyExists,
  conflict,
  type Decision,
  type FieldError,
  invalid,
  notFound,
  type Rejected,
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
    const lportEvents = toLportEvents(event);
    // Events in the log were accepted when appended; one the machine refuses (a foreign
    // writer) is not folded, exactly as the apps' fold does.
    const facts =
      lportEvents === undefined
        ? state.facts
        : (applyEach(machine, state.facts, lportEvents) ?? state.facts);
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

/** What a port command reads of its switch: its ports' addresses and its subnets, if known. */
export interface PortAddressing {
  readonly addressing?: SwitchAddressing | undefined;
}

/** One text per IP whatever its spelling; a value written before the syntax check, as is. */
const ipIdentity = (ip: string): string => {
  const parsed = parseIp(ip);
  return parsed === undefined ? ip.toLowerCase() : ipKey(parsed);
};

/** `field/i` of every value that repeats an earlier one of the same list. */
function repeats(values: readonly string[], key: (value: string) => string, field: string) {
  const seen = new Map<string, number>();
  return values.flatMap((value, index): FieldError[] => {
    const first = seen.get(key(value));
    if (first === undefined) {
      seen.set(key(value), index);
      return [];
    }
    return [
      { field: `${field}/${index}`, reason: `${value} is already listed at ${field}/${first}` },
    ];
  });
}

/** Which address lists a command sets (an update that keeps a list is not re-checked). */
interface Changed {
  readonly macs: boolean;
  readonly ips: boolean;
}

/**
 * A port's addresses on its switch: no MAC or IP listed twice; each IP inside one of the
 * switch's subnets when it has any (400); no MAC or IP another live port of the switch holds
 * (409). Only the lists the command sets are checked, so a port written before these rules
 * keeps its addresses through an update of another field. Without `addressing` (a caller
 * that read nothing) only the port's own lists are checked.
 */
function addressRules(
  port: LogicalPort,
  addressing: SwitchAddressing | undefined,
  changed: Changed,
): Rejected | undefined {
  const wrong: FieldError[] = [
    ...(changed.macs ? repeats(port.macs, macKey, '/macs') : []),
    ...(changed.ips ? repeats(port.ips, ipIdentity, '/ips') : []),
  ];
  const subnets = addressing?.subnets ?? [];
  if (changed.ips && subnets.length > 0) {
    // A subnet written before the CIDR check may not parse: it contains nothing.
    const networks = subnets.flatMap((subnet) => parseCidr(subnet.cidr) ?? []);
    const cidrs = subnets.map((subnet) => subnet.cidr).join(', ');
    port.ips.forEach((ip, index) => {
      const parsed = parseIp(ip);
      if (parsed !== undefined && !networks.some((network) => contains(network, parsed)))
        wrong.push({
          field: `/ips/${index}`,
          reason: `${ip} is in none of the subnets of switch ${port.switchId} (${cidrs})`,
        });
    });
  }
  if (wrong.length > 0)
    return invalid(`port ${port.id}: ${wrong.map((e) => e.reason).join('; ')}`, ...wrong);
  if (addressing === undefined) return undefined;
  const holders = (list: 'macs' | 'ips', key: (value: string) => string) => {
    const held = new Map<string, string>();
    for (const [id, other] of addressing.ports)
      if (id !== port.id) for (const value of other[list]) held.set(key(value), id);
    return held;
  };
  const taken: FieldError[] = [];
  const check = (list: 'macs' | 'ips', key: (value: string) => string, what: string) => {
    const held = holders(list, key);
    port[list].forEach((value, index) => {
      const holder = held.get(key(value));
      if (holder !== undefined)
        taken.push({
          field: `/${list}/${index}`,
          reason: `${what} ${value} is already port ${holder}'s on switch ${port.switchId}`,
        });
    });
  };
  if (changed.macs) check('macs', macKey, 'MAC');
  if (changed.ips) check('ips', ipIdentity, 'IP');
  if (taken.length > 0)
    return conflict(`port ${port.id}: ${taken.map((e) => e.reason).join('; ')}`, ...taken);
  return undefined;
}

/**
 * Creates a port on a live switch. An id that was deleted cannot be reused: the machine's
 * deleted state is final, so the create is refused (409) rather than resurrecting the history.
 * Its addresses must fit the switch (see addressRules).
 */
export function createPort(
  port: LogicalPort,
  stream: PortStream,
  refs: { readonly switchLive: boolean } & PortAddressing,
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
  const unfit = addressRules(port, refs.addressing, { macs: true, ips: true });
  if (unfit) return unfit;
  return accept([{ type: 'LogicalPortCreated', data: port }], port, true);
}

/** Whether `changes` gives `current` other addresses (an update then reads its switch's). */
export const changesAddresses = (changes: PortChanges, current: LogicalPort): Changed => ({
  macs: changes.macs !== undefined && !sameDocument(changes.macs, current.macs),
  ips: changes.ips !== undefined && !sameDocument(changes.ips, current.ips),
});

/**
 * Merges `changes` into the current document and emits the whole new version. A PATCH that
 * changes nothing appends nothing (retries are harmless). New addresses must fit the switch.
 */
export function updatePort(
  id: string,
  changes: PortChanges,
  stream: PortStream,
  machine: PortMachine = lportFacts,
  refs: PortAddressing = {},
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
  const unfit = addressRules(next, refs.addressing, changesAddresses(changes, current));
  if (unfit) return unfit;
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
