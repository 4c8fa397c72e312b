/**
 * Commands as data: one entry per command, naming the stream it writes, the fold of that
 * stream, the other streams it reads (references) and the pure decider. The generic shell
 * (./handler.ts) runs any entry, and the HTTP command routes are generated from the entries'
 * names (src/http/routes/commands.ts).
 *
 * Nothing here does I/O: references are asked of a `ReferenceReader`, which the shell
 * implements over the event store and tests replace with answers.
 */
import type {
  Chassis,
  ChildPortSegmentation,
  FloatingIp,
  LogicalPort,
  LogicalRouter,
  LogicalSwitch,
  OvsPort,
  Subnet,
} from '../events/index.js';
import { chassisStream, lportStream, problemsOf } from '../events/index.js';
import {
  type AckInput,
  type AckReferences,
  ackRemote,
  needsSwitch,
  type WithdrawInput,
  withdrawAck,
} from './acks.js';
import type { SwitchAddressing } from './address-book.js';
import {
  type ChassisChanges,
  chassisFold,
  createChassis,
  deleteChassis,
  type OvsPortBatchInput,
  removeOvsPort,
  reportOvsPort,
  reportOvsPorts,
  updateChassis,
} from './chassis.js';
import { type Decision, invalid } from './decision.js';
import { associateFloatingIp, createFloatingIp, deleteFloatingIp } from './floating-ips.js';
import {
  type DocumentOf,
  documentFold,
  type EntityKind,
  type StreamFold,
  sameDocument,
  streamOfEntity,
} from './lifecycle.js';
import {
  changesAddresses,
  createPort,
  deletePort,
  type PortAddressing,
  type PortChanges,
  type PortStream,
  portFold,
  updatePort,
} from './ports.js';
import {
  addInterface,
  clearGateway,
  createRouter,
  deleteRouter,
  portsOfRouter,
  removeInterface,
  setGateway,
} from './routers.js';
import { createSegmentation, deleteSegmentation } from './segmentations.js';
import { createSubnet, deleteSubnet, type SubnetChanges, updateSubnet } from './subnets.js';
import { createSwitch, deleteSwitch } from './switches.js';

/** What a command may ask about streams other than its own (answered from the log). */
export interface ReferenceReader {
  /** Whether the entity exists and is not deleted. */
  isLive(kind: EntityKind, id: string): Promise<boolean>;
  /** The subset of `portIds` that are live ports. */
  livePorts(portIds: readonly string[]): Promise<ReadonlySet<string>>;
  /** The document of the entity when it is live, else undefined. */
  liveDocument<K extends EntityKind>(kind: K, id: string): Promise<DocumentOf<K> | undefined>;
  /** Ids of the live documents of `kind` that satisfy `predicate`, sorted (a log scan: rare). */
  liveWhere<K extends EntityKind>(
    kind: K,
    predicate: (document: DocumentOf<K>) => boolean,
  ): Promise<string[]>;
  /** The addresses of the switch's live ports and the networks of its live subnets, now. */
  switchAddressing(switchId: string): Promise<SwitchAddressing>;
}

/**
 * One command: `I` its input, `S` its stream's folded state, `C` what it reads elsewhere
 * (undefined: nothing), `R` the resource it answers with.
 */
export interface Command<I, S, C, R> {
  /** The command's name, as metrics and logs know it (its key in the table). */
  readonly name: string;
  /** The one stream the command appends to, all-or-nothing. */
  readonly stream: (input: I) => string;
  readonly fold: StreamFold<S>;
  /**
   * Reads the referenced streams, knowing the command's own state (a switch that is not live
   * needs no scan for its users). Checked when deciding, not at the append: see ./handler.ts.
   */
  readonly references: (input: I, state: S, read: ReferenceReader) => Promise<C>;
  readonly decide: (input: I, state: S, references: C) => Decision<R>;
  /**
   * The lane the command queues in within this process (default: its stream's). Commands
   * whose decisions depend on each other across streams share one (see createPort).
   */
  readonly lane?: (input: I) => string;
  /**
   * Whether queued commands of one stream may be decided together with it, against one read,
   * and appended at once (default true: ./handler.ts). False for a command whose references
   * read its own stream through the log (a port's addresses, checked against its switch's
   * ports as the log holds them): in a group it would not see the events decided before it.
   */
  readonly groups?: boolean;
}

// biome-ignore lint/suspicious/noExplicitAny: the existential of a heterogeneous table
export type AnyCommand = Command<any, any, any, any>;

const nothing = async (): Promise<undefined> => undefined;

/** The live document a command's folded state holds, whatever the stream's fold. */
function documentIn(state: unknown): unknown {
  const lifecycle = (value: unknown) =>
    (value as { status?: string } | undefined)?.status === 'live'
      ? (value as { document: unknown }).document
      : undefined;
  const streams = state as { port?: unknown; chassis?: unknown } | undefined;
  return lifecycle(state) ?? lifecycle(streams?.port) ?? lifecycle(streams?.chassis);
}

/** The value at a JSON pointer (`/ips/0`), undefined when there is none. */
function at(document: unknown, pointer: string): unknown {
  let value = document;
  for (const token of pointer.split('/').slice(1)) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[token.replaceAll('~1', '/').replaceAll('~0', '~')];
  }
  return value;
}

/**
 * The decided events, checked against the catalogue's schemas before the shell appends them,
 * so a command from any source (HTTP, the CLI writing directly, a follower) appends nothing
 * the schemas refuse: a failing event is refused as invalid input (400, naming the field).
 * A value the current version already holds is let through: it was valid when written, before
 * a newer check, and an update of another field (a live migration) must not fail on it.
 */
function checked<R>(decision: Decision<R>, state: unknown): Decision<R> {
  if (!decision.ok) return decision;
  const current = documentIn(state);
  for (const event of decision.events) {
    const problems = problemsOf(event.type, event.data).filter(
      (problem) =>
        current === undefined ||
        problem.field === '/' ||
        !sameDocument(at(current, problem.field), at(event.data, problem.field)),
    );
    if (problems.length > 0)
      return invalid(
        `the ${event.type} it would append is invalid: ${problems.map((p) => `${p.field} ${p.reason}`).join('; ')}`,
        ...problems,
      );
  }
  return decision;
}

/** An entry that reads no other stream. */
function command<I, S, R>(
  name: string,
  spec: Omit<Command<I, S, undefined, R>, 'name' | 'references'>,
): Command<I, S, undefined, R> {
  return {
    name,
    references: nothing,
    ...spec,
    decide: (i, s, c) => checked(spec.decide(i, s, c), s),
  };
}

/** An entry that reads other streams before deciding. */
function referring<I, S, C, R>(
  name: string,
  spec: Omit<Command<I, S, C, R>, 'name'>,
): Command<I, S, C, R> {
  return { name, ...spec, decide: (i, s, c) => checked(spec.decide(i, s, c), s) };
}

/** A command that names its target by id (deletes, and updates with their changes). */
export interface Target {
  readonly id: string;
}
export interface Changes<T> extends Target {
  readonly changes: T;
}
/** A router and the port it attaches, detaches or makes its gateway. */
export interface RouterPort {
  readonly routerId: string;
  readonly portId: string;
}

// Created once: the shell keeps a stream's state between commands only for the same fold object.
const switchFold = documentFold('switch');
const subnetFold = documentFold('subnet');
const routerFold = documentFold('router');
const fipFold = documentFold('fip');
const segmentationFold = documentFold('segmentation');

const switchStream = ({ id }: Target) => streamOfEntity('switch', id);
const subnetStream = ({ id }: Target) => streamOfEntity('subnet', id);
const portStream = ({ id }: Target) => lportStream(id);
const routerStream = ({ routerId }: { readonly routerId: string }) =>
  streamOfEntity('router', routerId);
const fipStream = ({ id }: Target) => streamOfEntity('fip', id);
const segmentationStream = ({ id }: Target) => streamOfEntity('segmentation', id);

const livePorts = async (ports: readonly string[], read: ReferenceReader) => ({
  livePorts: await read.livePorts(ports),
});

/** The switch of a live port, read only when an ack decision may append (it names the app). */
const portSwitch = async (
  state: PortStream,
  read: ReferenceReader,
  chassis: string,
  owner?: string,
): Promise<AckReferences> => ({
  lswitch:
    state.port.status === 'live' && needsSwitch(state, chassis, owner)
      ? await read.liveDocument('switch', state.port.document.switchId)
      : undefined,
});

export const commandTable = {
  // --- chassis and the interfaces their agents observe ----------------------------------------
  createChassis: command('createChassis', {
    stream: (chassis: Chassis) => chassisStream(chassis.id),
    fold: chassisFold,
    decide: (chassis, state) => createChassis(chassis, state),
  }),
  updateChassis: command('updateChassis', {
    stream: ({ id }: Changes<ChassisChanges>) => chassisStream(id),
    fold: chassisFold,
    decide: ({ id, changes }, state) => updateChassis(id, changes, state),
  }),
  deleteChassis: command('deleteChassis', {
    stream: ({ id }: Target) => chassisStream(id),
    fold: chassisFold,
    decide: ({ id }, state) => deleteChassis(id, state),
  }),
  reportOvsPort: command('reportOvsPort', {
    stream: (observed: OvsPort) => chassisStream(observed.chassis),
    fold: chassisFold,
    decide: (observed, state) => reportOvsPort(observed.chassis, observed, state),
  }),
  reportOvsPorts: command('reportOvsPorts', {
    stream: ({ chassis }: OvsPortBatchInput) => chassisStream(chassis),
    fold: chassisFold,
    decide: (batch, state) => reportOvsPorts(batch, state),
  }),
  removeOvsPort: command('removeOvsPort', {
    stream: ({ chassis }: { readonly chassis: string; readonly name: string }) =>
      chassisStream(chassis),
    fold: chassisFold,
    decide: ({ chassis, name }, state) => removeOvsPort(chassis, name, state),
  }),

  // --- switches and subnets -------------------------------------------------------------------
  createSwitch: command('createSwitch', {
    stream: (lswitch: LogicalSwitch) => switchStream(lswitch),
    fold: switchFold,
    decide: (lswitch, state) => createSwitch(lswitch, state),
  }),
  deleteSwitch: referring('deleteSwitch', {
    stream: switchStream,
    fold: switchFold,
    references: async ({ id }, state, read) =>
      state.status === 'live'
        ? {
            ports: await read.liveWhere('port', (port) => port.switchId === id),
            subnets: await read.liveWhere('subnet', (subnet) => subnet.switchId === id),
          }
        : { ports: [], subnets: [] },
    decide: ({ id }, state, users) => deleteSwitch(id, state, users),
  }),
  createSubnet: referring('createSubnet', {
    stream: (subnet: Subnet) => subnetStream(subnet),
    fold: subnetFold,
    references: async (subnet, _state, read) => ({
      switchLive: await read.isLive('switch', subnet.switchId),
    }),
    decide: (subnet, state, refs) => createSubnet(subnet, state, refs),
  }),
  updateSubnet: command('updateSubnet', {
    stream: (input: Changes<SubnetChanges>) => subnetStream(input),
    fold: subnetFold,
    decide: ({ id, changes }, state) => updateSubnet(id, changes, state),
  }),
  deleteSubnet: command('deleteSubnet', {
    stream: subnetStream,
    fold: subnetFold,
    decide: ({ id }, state) => deleteSubnet(id, state),
  }),

  // --- ports ----------------------------------------------------------------------------------
  // A port's MACs and IPs are unique on its switch: decided against the switch's ports as the
  // log holds them just before deciding (the address book reads up to the head). What makes
  // that race-free enough: within one process, creates on one switch queue in the switch's
  // lane, so of two racing for one address the second sees the first's. Not closed: an address
  // PATCH racing a create (it queues in its port's lane: its input does not name the switch),
  // and writers in other processes (more server instances, the CLI writing directly): the
  // store has no condition across streams, so two such commands within one read-to-append
  // round trip (milliseconds) can both pass, and the duplicate is then in the log.
  createPort: referring('createPort', {
    stream: (port: LogicalPort) => portStream(port),
    lane: (port) => `addresses:switch-${port.switchId}`,
    groups: false,
    fold: portFold,
    references: async (port, _state, read): Promise<{ switchLive: boolean } & PortAddressing> => {
      const switchLive = await read.isLive('switch', port.switchId);
      return {
        switchLive,
        addressing: switchLive ? await read.switchAddressing(port.switchId) : undefined,
      };
    },
    decide: (port, state, refs) => createPort(port, state, refs),
  }),
  updatePort: referring('updatePort', {
    stream: (input: Changes<PortChanges>) => portStream(input),
    groups: false,
    fold: portFold,
    references: async ({ changes }, state, read): Promise<PortAddressing> => {
      if (state.port.status !== 'live') return {};
      const changed = changesAddresses(changes, state.port.document);
      if (!changed.macs && !changed.ips) return {};
      return { addressing: await read.switchAddressing(state.port.document.switchId) };
    },
    decide: ({ id, changes }, state, refs) => updatePort(id, changes, state, undefined, refs),
  }),
  deletePort: command('deletePort', {
    stream: portStream,
    fold: portFold,
    decide: ({ id }, state) => deletePort(id, state),
  }),

  // --- an agent's acknowledgements of remote ports (the machine decides) ----------------------
  ackRemote: referring('ackRemote', {
    stream: ({ portId }: AckInput) => lportStream(portId),
    fold: portFold,
    references: (input, state, read) => portSwitch(state, read, input.chassis, input.owner),
    decide: (input, state, refs) => ackRemote(input, state, refs),
  }),
  withdrawAck: referring('withdrawAck', {
    stream: ({ portId }: WithdrawInput) => lportStream(portId),
    fold: portFold,
    references: (input, state, read) => portSwitch(state, read, input.chassis),
    decide: (input, state, refs) => withdrawAck(input, state, refs),
  }),

  // --- routers --------------------------------------------------------------------------------
  createRouter: referring('createRouter', {
    stream: (router: LogicalRouter) => streamOfEntity('router', router.id),
    fold: routerFold,
    references: (router, _state, read) => livePorts(portsOfRouter(router), read),
    decide: (router, state, refs) => createRouter(router, state, refs),
  }),
  deleteRouter: command('deleteRouter', {
    stream: ({ id }: Target) => streamOfEntity('router', id),
    fold: routerFold,
    decide: ({ id }, state) => deleteRouter(id, state),
  }),
  addRouterInterface: referring('addRouterInterface', {
    stream: (input: RouterPort) => routerStream(input),
    fold: routerFold,
    references: ({ portId }, _state, read) => livePorts([portId], read),
    decide: ({ routerId, portId }, state, refs) => addInterface(routerId, portId, state, refs),
  }),
  removeRouterInterface: command('removeRouterInterface', {
    stream: (input: RouterPort) => routerStream(input),
    fold: routerFold,
    decide: ({ routerId, portId }, state) => removeInterface(routerId, portId, state),
  }),
  setRouterGateway: referring('setRouterGateway', {
    stream: (input: RouterPort) => routerStream(input),
    fold: routerFold,
    references: ({ portId }, _state, read) => livePorts([portId], read),
    decide: ({ routerId, portId }, state, refs) => setGateway(routerId, portId, state, refs),
  }),
  clearRouterGateway: command('clearRouterGateway', {
    stream: (input: { readonly routerId: string }) => routerStream(input),
    fold: routerFold,
    decide: ({ routerId }, state) => clearGateway(routerId, state),
  }),

  // --- floating IPs and trunk segmentations ---------------------------------------------------
  createFloatingIp: referring('createFloatingIp', {
    stream: (fip: FloatingIp) => fipStream(fip),
    fold: fipFold,
    references: (fip, _state, read) =>
      livePorts(
        fip.fixedPortId === null ? [fip.floatingPortId] : [fip.floatingPortId, fip.fixedPortId],
        read,
      ),
    decide: (fip, state, refs) => createFloatingIp(fip, state, refs),
  }),
  associateFloatingIp: referring('associateFloatingIp', {
    stream: (input: { readonly id: string; readonly portId: string | null }) => fipStream(input),
    fold: fipFold,
    references: ({ portId }, _state, read) => livePorts(portId === null ? [] : [portId], read),
    decide: ({ id, portId }, state, refs) => associateFloatingIp(id, portId, state, refs),
  }),
  deleteFloatingIp: command('deleteFloatingIp', {
    stream: fipStream,
    fold: fipFold,
    decide: ({ id }, state) => deleteFloatingIp(id, state),
  }),
  createSegmentation: referring('createSegmentation', {
    stream: (segmentation: ChildPortSegmentation) => segmentationStream(segmentation),
    fold: segmentationFold,
    references: (segmentation, _state, read) =>
      livePorts([segmentation.parentPortId, segmentation.childPortId], read),
    decide: (segmentation, state, refs) => createSegmentation(segmentation, state, refs),
  }),
  deleteSegmentation: command('deleteSegmentation', {
    stream: segmentationStream,
    fold: segmentationFold,
    decide: ({ id }, state) => deleteSegmentation(id, state),
  }),
} as const;

export type CommandTable = typeof commandTable;
export type CommandName = keyof CommandTable;

/** The input, folded state, references and result of the command named `N`. */
export type InputOf<N extends CommandName> =
  CommandTable[N] extends Command<infer I, infer _S, infer _C, infer _R> ? I : never;
export type StateOf<N extends CommandName> =
  CommandTable[N] extends Command<infer _I, infer S, infer _C, infer _R> ? S : never;
export type ReferencesOf<N extends CommandName> =
  CommandTable[N] extends Command<infer _I, infer _S, infer C, infer _R> ? C : never;
export type ResultOf<N extends CommandName> =
  CommandTable[N] extends Command<infer _I, infer _S, infer _C, infer R> ? R : never;
