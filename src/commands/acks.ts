/**
 * An agent's acknowledgements, through the API: chassis C installed (or removed) the flows that
 * reach port P on its owner. `ackRemote` appends RemoteCreated{portId, chassis, owner} to the
 * port's stream, `withdrawAck` RemoteDeleted{portId, chassis}. The lport machine decides: an ack
 * for an owner that no longer is (a stale ack), by the owner itself, or on a distributed port is
 * its refusal (409), with its own words.
 *
 * Idempotent, so an agent re-acks freely after a restart and coexists with any other writer of
 * the same ack: acking the owner C already acks, or withdrawing an ack C does not hold, appends
 * nothing.
 *
 * The events are recorded as the app the design names for acks: `tunnel` on geneve/vxlan
 * switches, `provider` on vlan/flat ones (the agent stays the actor).
 */
import { lportFacts, type PortMachine } from '../../machines/lport.facts.js';
import { ackOf, type LportEvent } from '../../machines/lport.rules.js';
import { isTunnelNetwork } from '../domain/reachability.js';
import type { DomainEvent, LogicalSwitch } from '../events/index.js';
import { accept, acceptAs, type Decision, reject, unchanged, unknownTarget } from './decision.js';
import type { PortStream } from './ports.js';

export interface AckInput {
  readonly chassis: string;
  readonly portId: string;
  /** The owner whose flows the chassis installed. */
  readonly owner: string;
}

export interface WithdrawInput {
  readonly chassis: string;
  readonly portId: string;
}

/** The chassis' acknowledgement of the port as it now is (owner null: none). */
export interface AckResource {
  readonly portId: string;
  readonly chassis: string;
  readonly owner: string | null;
}

/** The port's switch, read from the log (undefined: gone, or not needed). */
export interface AckReferences {
  readonly lswitch: LogicalSwitch | undefined;
}

/** The app an ack on `lswitch` is recorded as; the issuer's own when the switch is gone. */
export const ackApp = (lswitch: LogicalSwitch | undefined): string | undefined =>
  lswitch === undefined ? undefined : isTunnelNetwork(lswitch.networkType) ? 'tunnel' : 'provider';

/** Whether deciding may append, so the switch is worth reading: the port is live and not settled. */
export function needsSwitch(stream: PortStream, chassis: string, owner?: string): boolean {
  if (stream.port.status !== 'live') return false;
  const held = ackOf(stream.facts, chassis);
  return owner === undefined ? held !== undefined : held !== owner;
}

const unknownPort = (portId: string) => unknownTarget('port', portId, 'portId');

/** The machine's refusal of `event`, as a 409 naming the field at fault. */
function refused(
  machine: PortMachine,
  portId: string,
  stream: PortStream,
  event: LportEvent,
  field: string,
) {
  const refusal = machine.refusal(portId, stream.facts, event);
  if (refusal === null) return undefined;
  return reject({
    kind: 'refused',
    code: refusal.code,
    detail: refusal.message,
    errors: [{ field, reason: refusal.detail }],
  });
}

/** Decides chassis `chassis`' ack of the port's owner `owner`. */
export function ackRemote(
  { chassis, portId, owner }: AckInput,
  stream: PortStream,
  { lswitch }: AckReferences,
  machine: PortMachine = lportFacts,
): Decision<AckResource> {
  if (stream.port.status !== 'live') return unknownPort(portId);
  const result: AckResource = { portId, chassis, owner };
  if (ackOf(stream.facts, chassis) === owner) return unchanged(result);
  const refusal = refused(
    machine,
    portId,
    stream,
    { type: 'RemoteCreated', chassis, owner },
    '/owner',
  );
  if (refusal) return refusal;
  const event: DomainEvent = { type: 'RemoteCreated', data: { portId, chassis, owner } };
  return withApp(ackApp(lswitch), [event], result);
}

/** Decides the withdrawal of chassis `chassis`' ack of the port. */
export function withdrawAck(
  { chassis, portId }: WithdrawInput,
  stream: PortStream,
  { lswitch }: AckReferences,
  machine: PortMachine = lportFacts,
): Decision<AckResource> {
  if (stream.port.status !== 'live') return unknownPort(portId);
  const result: AckResource = { portId, chassis, owner: null };
  if (ackOf(stream.facts, chassis) === undefined) return unchanged(result);
  const refusal = refused(machine, portId, stream, { type: 'RemoteDeleted', chassis }, 'id');
  if (refusal) return refusal;
  const event: DomainEvent = { type: 'RemoteDeleted', data: { portId, chassis } };
  return withApp(ackApp(lswitch), [event], result);
}

const withApp = (app: string | undefined, events: DomainEvent[], result: AckResource) =>
  app === undefined ? accept(events, result) : acceptAs(app, events, result);

/** An agent's acks and withdrawals sent together (POST /v1/chassis/:id/acks). */
export interface AckBatchInput {
  readonly chassis: string;
  readonly put: readonly { readonly portId: string; readonly owner: string }[];
  readonly withdraw: readonly string[];
}

/** The batch as one command per port: `ackRemote` for a put, `withdrawAck` for a withdrawal. */
export type AckBatchCommand =
  | { readonly name: 'ackRemote'; readonly input: AckInput }
  | { readonly name: 'withdrawAck'; readonly input: WithdrawInput };

/**
 * The commands of a batch, puts first; each port is decided on its own stream, with the
 * revision read, so the batch is the same as the single requests, minus their round trips (the
 * handler appends them in rounds: CommandHandler.runAll). A port named twice is ambiguous: the
 * answer is the ports named twice, and no command.
 */
export function ackBatchCommands(
  batch: AckBatchInput,
): { readonly commands: AckBatchCommand[] } | { readonly duplicates: string[] } {
  const seen = new Set<string>();
  const duplicates = new Set<string>();
  const commands: AckBatchCommand[] = [];
  const note = (portId: string) => {
    if (seen.has(portId)) duplicates.add(portId);
    seen.add(portId);
  };
  for (const { portId, owner } of batch.put) {
    note(portId);
    commands.push({ name: 'ackRemote', input: { chassis: batch.chassis, portId, owner } });
  }
  for (const portId of batch.withdraw) {
    note(portId);
    commands.push({ name: 'withdrawAck', input: { chassis: batch.chassis, portId } });
  }
  return duplicates.size > 0 ? { duplicates: [...duplicates].sort() } : { commands };
}
