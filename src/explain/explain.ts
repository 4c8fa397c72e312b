/**
 * Why a port has its locality on a chassis, as the chain of rules that decided it, each link
 * with the events that made it. Pure: it folds the events it is given (the port's stream and
 * the streams it depends on, ./read.ts) into the apps' own topology with the lport machine's
 * fold, exactly as the app runner does, and asks the deciders themselves — the machine for the
 * view's state and the owner rule, classification for who claims, the domain's selective
 * topology and reachability for remote views, the apps' `reconcile` for anything still to
 * decide — so the explanation cannot disagree with what locus decided. Only the words are its
 * own.
 */
import { lportFacts } from '../../machines/lport.facts.js';
import { ackOf } from '../../machines/lport.rules.js';
import type { EventRef, ExplainLink, PortExplanation, ViewExplanation } from '../api/responses.js';
import { eventHref } from '../api/responses.js';
import type { LocalityApp } from '../apps/app.js';
import { classification, classifies } from '../apps/classification.js';
import { dhcp, l3 } from '../apps/distributed.js';
import { dnat, trunk } from '../apps/follower.js';
import { PortLocalityFold } from '../apps/port-locality.js';
import { provider, tunnel } from '../apps/remote.js';
import type { PortLocality } from '../domain/locality.js';
import { portOf } from '../domain/locality.js';
import { isTunnelNetwork } from '../domain/reachability.js';
import { reachabilityIn, remoteInterest, wantedAck } from '../domain/remote-acks.js';
import { Topology } from '../domain/topology.js';
import { decodeEvent, parseStreamName } from '../events/index.js';
import type { RecordedEvent } from '../store/event-store.js';
import { Provenance } from './provenance.js';

/** Every app, in the runner's order: any of them with something left to append is named. */
const apps: readonly LocalityApp[] = [classification, dnat, trunk, l3, dhcp, tunnel, provider];

/** Local ports named as a chassis' interest in a switch (the rule needs one). */
const INTEREST_EXAMPLES = 3;

export type ExplainResult =
  | { readonly ok: true; readonly explanation: PortExplanation }
  | { readonly ok: false; readonly unknown: 'port' | 'chassis' };

/** The folded log an explanation reads: the apps' topology and the events behind its facts. */
export interface ExplainState {
  readonly topology: Topology;
  readonly provenance: Provenance;
  /** Position of the last event folded. */
  readonly position: bigint;
}

/**
 * Folds `events` (in log order) as the app runner does, remembering which event made each fact.
 * Events this version cannot read are skipped (an lport one keeps its stream's revision).
 */
export function foldForExplain(events: Iterable<RecordedEvent>): ExplainState {
  const topology = new Topology(new PortLocalityFold());
  const provenance = new Provenance();
  let position = 0n;
  for (const recorded of events) {
    if (recorded.position > position) position = recorded.position;
    const decoded = decodeEvent(recorded.type, recorded.data, recorded.metadata.schemaVersion);
    if (!decoded.ok) {
      const stream = parseStreamName(recorded.streamName);
      if (stream?.category === 'lport') topology.skipUnreadable(stream.id, recorded.revision);
      continue;
    }
    const event = decoded.event;
    const portId = portOf(event);
    const before = portId === undefined ? undefined : topology.portLocality(portId);
    topology.apply(event, recorded.revision);
    const after = portId === undefined ? undefined : topology.portLocality(portId);
    provenance.observe(recorded, event, before, after);
  }
  return { topology, provenance, position };
}

/** An event as an explanation cites it. */
export function refOf(recorded: RecordedEvent): EventRef {
  return {
    id: recorded.id,
    type: recorded.type,
    stream: recorded.streamName,
    revision: String(recorded.revision),
    position: String(recorded.position),
    time: recorded.recordedAt,
    app: recorded.metadata.app,
    ...causeOf(recorded.metadata.cause),
    href: eventHref(recorded.id),
  };
}

/** The outside record (an OVN row) a command followed, when its metadata names one. */
function causeOf(cause: unknown): Pick<EventRef, 'cause'> {
  if (typeof cause !== 'object' || cause === null) return {};
  const { source, table, uuid } = cause as Record<string, unknown>;
  return typeof source === 'string' && typeof table === 'string' && typeof uuid === 'string'
    ? { cause: { source, table, uuid } }
    : {};
}

const refs = (...events: (RecordedEvent | undefined)[]): EventRef[] => {
  const seen = new Set<string>();
  const out: EventRef[] = [];
  for (const event of events)
    if (event !== undefined && !seen.has(event.id)) {
      seen.add(event.id);
      out.push(refOf(event));
    }
  return out.sort((a, b) => (BigInt(a.position) < BigInt(b.position) ? -1 : 1));
};

const link = (
  rule: string,
  holds: boolean,
  says: string,
  ...events: (RecordedEvent | undefined)[]
): ExplainLink => ({ rule, holds, says, events: refs(...events) });

const list = (items: readonly string[]) => (items.length === 0 ? 'none' : items.join(', '));

/** The explanation of `portId` (for `chassis` only, or every chassis with a view). */
export function explain(state: ExplainState, portId: string, chassis?: string): ExplainResult {
  const { topology, provenance } = state;
  const facts = topology.portLocality(portId);
  if (!facts.exists) return { ok: false, unknown: 'port' };
  if (chassis !== undefined && !knowsChassis(state, facts, chassis)) {
    return { ok: false, unknown: 'chassis' };
  }
  const words = new Words(state, portId, facts);
  const viewers = chassis === undefined ? viewersOf(topology, portId, facts) : [chassis];
  const document = provenance.documents.get(`lport-${portId}`);
  const data = document?.data as { switchId?: string; deviceOwner?: string } | undefined;
  const explanation: PortExplanation = {
    portId,
    switchId: data?.switchId ?? null,
    deviceOwner: (data?.deviceOwner as PortExplanation['deviceOwner']) ?? null,
    owner: facts.owner,
    requestedChassis: facts.requestedChassis,
    deleted: facts.deleted,
    reasons: [...facts.reasons],
    chain: words.portChain(),
    views: viewers.map((viewer) => words.view(viewer)),
    position: String(state.position),
  };
  return { ok: true, explanation };
}

/** A chassis the log names: its stream, or the port's claims, acks or requested chassis. */
function knowsChassis(state: ExplainState, facts: PortLocality, chassis: string): boolean {
  const stream = `chassis-${chassis}`;
  return (
    state.provenance.documents.has(stream) ||
    state.provenance.deletions.has(stream) ||
    facts.claims.includes(chassis) ||
    ackOf(facts, chassis) !== undefined ||
    facts.requestedChassis === chassis
  );
}

/**
 * Every chassis with a view: the claims and acks, the chassis that want the port remotely, the
 * requested chassis; for a distributed port, every live chassis.
 */
export function viewersOf(topology: Topology, portId: string, facts: PortLocality): string[] {
  const viewers = new Set<string>([...facts.claims, ...facts.acks.map((ack) => ack.chassis)]);
  const distributed = facts.reasons.length > 0 && !facts.deleted;
  // A distributed port is seen by the live chassis only (as the read model lists it).
  if (facts.requestedChassis !== null && !distributed) viewers.add(facts.requestedChassis);
  for (const chassis of topology.chassis.keys()) {
    if (distributed) viewers.add(chassis);
    else if (remoteInterest(topology, portId, facts, chassis) !== null) viewers.add(chassis);
  }
  return [...viewers].sort();
}

/** The rules in words, for one port. */
class Words {
  private readonly topology: Topology;
  private readonly provenance: Provenance;
  private readonly stream: string;

  constructor(
    state: ExplainState,
    private readonly portId: string,
    private readonly facts: PortLocality,
  ) {
    this.topology = state.topology;
    this.provenance = state.provenance;
    this.stream = `lport-${portId}`;
  }

  private claimOf(portId: string, chassis: string): RecordedEvent | undefined {
    return this.provenance.claims.get(portId)?.get(chassis);
  }

  private doc(stream: string): RecordedEvent | undefined {
    return this.provenance.documents.get(stream);
  }

  /** The port-wide chain: the port, its deletion, distributed reasons, claims and owner. */
  portChain(): ExplainLink[] {
    const { facts, portId } = this;
    const chain: ExplainLink[] = [];
    const document = this.doc(this.stream);
    const port = document?.data as { switchId: string; deviceOwner: string } | undefined;
    chain.push(
      link(
        'port',
        true,
        `${portId} is on switch ${port?.switchId ?? '?'}, device owner ${port?.deviceOwner ?? '?'}`,
        document,
      ),
    );
    if (facts.deleted) {
      chain.push(
        link(
          'deleted',
          true,
          `port ${portId} was deleted: every view is deleted and the port accepts nothing more`,
          this.provenance.deletions.get(this.stream),
        ),
      );
      return chain;
    }
    chain.push(...this.distributedLinks(port?.deviceOwner));
    if (facts.reasons.length === 0) {
      chain.push(...this.claimLinks(port?.deviceOwner));
      chain.push(this.ownerLink());
    }
    const pending = this.pendingDecisions();
    if (pending !== undefined) chain.push(pending);
    return chain;
  }

  private distributedLinks(deviceOwner: string | undefined): ExplainLink[] {
    const { facts, topology } = this;
    const links: ExplainLink[] = [];
    for (const reason of facts.reasons) {
      const created = this.provenance.reasons.get(this.portId)?.get(reason);
      const [kind, subject = ''] = splitReason(reason);
      if (kind === 'router-interface' || kind === 'router-gateway') {
        const role = kind === 'router-interface' ? 'an interface' : 'its gateway';
        links.push(
          link(
            'distributed',
            true,
            `router ${subject} uses the port as ${role} (l3): every chassis handles its traffic itself`,
            created,
            this.doc(`router-${subject}`),
          ),
        );
      } else if (kind === 'dhcp') {
        const subnets = [...topology.subnetsBySwitch.get(subject)].filter(
          (id) => topology.subnets.get(id)?.dhcpEnabled,
        );
        links.push(
          link(
            'distributed',
            true,
            `the port is switch ${subject}'s DHCP port and the switch has DHCP-enabled subnets (${list(subnets.sort())}) (dhcp): every chassis answers DHCP itself`,
            created,
            ...subnets.map((id) => this.doc(`subnet-${id}`)),
          ),
        );
      } else {
        links.push(link('distributed', true, `distributed for ${reason}`, created));
      }
    }
    if (facts.reasons.length === 0) {
      if (deviceOwner === 'router_interface' || deviceOwner === 'router_gateway') {
        links.push(
          link(
            'distributed',
            false,
            `a ${deviceOwner} port is distributed only while a router uses it: none does (l3)`,
          ),
        );
      } else if (deviceOwner === 'dhcp') {
        const switchId = topology.ports.get(this.portId)?.switchId ?? '?';
        links.push(
          link(
            'distributed',
            false,
            `a DHCP port is distributed only while its switch ${switchId} has a DHCP-enabled subnet: it has none (dhcp)`,
          ),
        );
      }
    }
    return links;
  }

  /** Who claims the port, and which rule (and events) made each claim. */
  private claimLinks(deviceOwner: string | undefined): ExplainLink[] {
    const { facts, topology, portId } = this;
    const links: ExplainLink[] = [];
    const leader = this.leader();
    if (leader !== undefined) {
      links.push(leader.link);
      // The app's rule (src/apps/follower.ts): one claim, on the leader's owner.
      const leaderFacts = leader.portId === null ? undefined : topology.portLocality(leader.portId);
      const leaderOwner = leaderFacts?.deleted === false ? leaderFacts.owner : null;
      for (const chassis of facts.claims) {
        const leaderClaim =
          leader.portId === null ? undefined : this.claimOf(leader.portId, chassis);
        const others = leaderFacts?.claims.filter((c) => c !== chassis && c !== leaderOwner) ?? [];
        const also =
          leaderOwner === chassis && others.length > 0
            ? `; ${list(others)} ${others.length === 1 ? 'claims' : 'claim'} the leader too, and the port is not local there`
            : '';
        links.push(
          link(
            'claim',
            true,
            leader.portId === null
              ? `${chassis} claims the port`
              : leaderOwner === chassis
                ? `${chassis} claims the port because it owns its leader ${leader.portId} (${leader.app})${also}`
                : `${chassis} claims the port, but its leader ${leader.portId} is owned by ${leaderOwner ?? 'no chassis'}: the claim is still to move (${leader.app})`,
            this.claimOf(portId, chassis),
            leaderClaim,
            // The leader's own owner rule: its requested chassis, when that is what picked it.
            leader.portId !== null && leaderFacts?.requestedChassis === chassis
              ? this.provenance.requested.get(leader.portId)
              : undefined,
          ),
        );
      }
      if (facts.claims.length === 0) {
        const why =
          leader.portId === null
            ? 'it follows no port'
            : leaderOwner === null
              ? `its leader ${leader.portId} is local nowhere`
              : `its leader ${leader.portId} is owned by ${leaderOwner}: the claim is still to be made`;
        links.push(link('claims', false, `no chassis claims the port: ${why}`));
      }
      return links;
    }
    if (classifies(topology, portId)) {
      for (const chassis of facts.claims) {
        const carriers = topology.interfacesOf(portId).filter((i) => i.chassis === chassis);
        const names = carriers.map((i) => `${i.name} (ofport ${i.ofport ?? 'none yet'})`);
        links.push(
          link(
            'claim',
            true,
            carriers.length > 0
              ? `${chassis} claims the port: its interface ${names.join(', ')} carries iface-id ${portId} (classification)`
              : `${chassis} claims the port (classification has yet to release it: no interface of ${chassis} carries it)`,
            this.claimOf(portId, chassis),
            ...carriers.map((i) => this.provenance.interfaces.get(`${i.chassis}\u0000${i.name}`)),
          ),
        );
      }
      if (facts.claims.length === 0) links.push(this.noInterfaceLink());
      return links;
    }
    if (deviceOwner === 'floatingip' || deviceOwner === 'trunk_subport') {
      links.push(
        link(
          'claims',
          facts.claims.length > 0,
          `a ${deviceOwner} port outside any ${deviceOwner === 'floatingip' ? 'floating IP' : 'trunk'} follows no port: it is local nowhere`,
        ),
      );
      return links;
    }
    for (const chassis of facts.claims)
      links.push(link('claim', true, `${chassis} claims the port`, this.claimOf(portId, chassis)));
    if (facts.claims.length === 0)
      links.push(link('claims', false, `no chassis claims the port (device owner ${deviceOwner})`));
    return links;
  }

  /** Why classification sees no interface for the port on a live chassis. */
  private noInterfaceLink(): ExplainLink {
    const { topology, portId } = this;
    const observed = [...topology.ovsPortsByIface.get(portId)];
    if (observed.length === 0) {
      return link(
        'interface',
        false,
        `no interface on any chassis carries iface-id ${portId} (external_ids:iface-id in Open vSwitch): nothing claims the port`,
      );
    }
    const names = observed.map((i) => `${i.name} on ${i.chassis}`);
    return link(
      'interface',
      false,
      `interfaces carrying iface-id ${portId} are on chassis that are not registered (${names.join(', ')}): nothing claims the port`,
      ...observed.map((i) => this.provenance.interfaces.get(`${i.chassis}\u0000${i.name}`)),
      ...observed.map((i) => this.provenance.deletions.get(`chassis-${i.chassis}`)),
    );
  }

  /** The port a follower follows (dnat: a floating port; trunk: a sub-port), if it is one. */
  private leader():
    | { portId: string | null; app: 'dnat' | 'trunk'; link: ExplainLink }
    | undefined {
    const { topology, portId } = this;
    const fipId = first(topology.fipsByFloatingPort.get(portId));
    if (fipId !== undefined) {
      const fip = topology.fips.get(fipId);
      const fixed = fip?.fixedPortId ?? null;
      const says =
        fixed === null
          ? `floating IP ${fipId} is associated with no port: its floating port is released (dnat)`
          : `the port is floating IP ${fipId}'s floating port: it is local on the fixed port ${fixed}'s owner, and follows it (dnat)`;
      return {
        portId: fixed,
        app: 'dnat',
        link: link('leader', fixed !== null, says, this.doc(`fip-${fipId}`)),
      };
    }
    const segmentationId = first(topology.segmentationsByChild.get(portId));
    if (segmentationId !== undefined) {
      const segmentation = topology.segmentations.get(segmentationId);
      const parent = segmentation?.parentPortId ?? null;
      return {
        portId: parent,
        app: 'trunk',
        link: link(
          'leader',
          parent !== null,
          `the port is a sub-port of trunk port ${parent} (segmentation ${segmentationId}, VLAN ${segmentation?.segmentationId ?? '?'}): it is local on its parent's owner, and follows it (trunk)`,
          this.doc(`segmentation-${segmentationId}`),
        ),
      };
    }
    return undefined;
  }

  /** The owner rule: the requested chassis if it claims the port, else the earliest claim. */
  private ownerLink(): ExplainLink {
    const { facts, portId } = this;
    const owner = facts.owner;
    const requested = facts.requestedChassis;
    const requestedBy = this.provenance.requested.get(portId);
    if (owner === null) {
      return link(
        'owner',
        false,
        `no active claim, so no owner: no chassis can reach the port remotely${requested === null ? '' : ` (${this.unclaimedRequest(requested)})`}`,
        requested === null ? undefined : requestedBy,
      );
    }
    const claim = this.claimOf(portId, owner);
    const others = facts.claims.filter((chassis) => chassis !== owner);
    const also =
      others.length > 0
        ? `; ${list(others)} ${others.length === 1 ? 'claims' : 'claim'} it too (a live migration), remote peers send to ${owner}`
        : '';
    if (requested === owner) {
      return link(
        'owner',
        true,
        `${owner} is the owner: the requested chassis claims the port (owner rule: requested chassis first)${also}`,
        requestedBy,
        claim,
      );
    }
    return link(
      'owner',
      true,
      `${owner} is the owner: the earliest active claim (claims in order: ${list(facts.claims)}; ${requested === null ? 'no requested chassis' : this.unclaimedRequest(requested)})${also}`,
      claim,
      requested === null ? undefined : requestedBy,
    );
  }

  /** Why the requested chassis is not the owner: it does not claim the port (or is unknown). */
  private unclaimedRequest(requested: string): string {
    const known = this.topology.chassis.has(requested);
    return `requested chassis ${requested} does not claim it${known ? '' : ', and is not a registered chassis'}`;
  }

  /** An app that would still append for the port: the log is ahead of its decisions. */
  private pendingDecisions(): ExplainLink | undefined {
    const decisions: string[] = [];
    for (const app of apps) {
      for (const event of app.reconcile(this.topology, this.portId, this.facts)) {
        const data = event.data as { chassis?: string; reason?: string };
        decisions.push(`${app.name}: ${event.type} ${data.chassis ?? data.reason ?? ''}`.trim());
      }
    }
    if (decisions.length === 0) return undefined;
    return link(
      'pending-decision',
      true,
      `the apps have yet to decide on the latest events: ${decisions.join('; ')}`,
    );
  }

  /** One chassis' view: its state (the machine's), the rules that hold for it, in words. */
  view(chassis: string): ViewExplanation {
    const { facts, topology, portId } = this;
    const locality = lportFacts.stateOf(facts, chassis);
    const chain: ExplainLink[] = [this.chassisLink(chassis)];
    const remote = this.remoteStatus(chassis);
    if (locality === 'deleted') {
      return { chassis, locality, remote: null, conclusion: 'deleted', chain };
    }
    if (locality === 'distributed') {
      return {
        chassis,
        locality,
        remote: null,
        conclusion: `distributed: bound to no chassis, ${chassis} handles its traffic itself (${list(facts.reasons)})`,
        chain,
      };
    }
    const owner = facts.owner;
    if (locality === 'local') {
      chain.push(link('claim', true, `${chassis} claims the port`, this.claimOf(portId, chassis)));
      const conclusion =
        owner === chassis
          ? `local: ${chassis} claims the port and is its owner; remote chassis send its traffic here`
          : `local: ${chassis} claims the port too, but the owner is ${owner} (remote chassis send there)`;
      if (owner !== chassis) chain.push(...this.remoteLinks(chassis));
      return { chassis, locality, remote, conclusion, chain };
    }
    chain.push(...this.remoteLinks(chassis));
    const ack = ackOf(facts, chassis);
    if (locality === 'remote') {
      const conclusion =
        remote === 'unwanted'
          ? `remote toward ${ack}, but the ack is no longer wanted: the ${this.remoteApp()} app withdraws it`
          : `remote: ${chassis}'s agent installed the flows toward the owner ${ack} and acked them`;
      return { chassis, locality, remote, conclusion, chain };
    }
    let conclusion: string;
    if (owner === null) conclusion = 'unbound: the port is local nowhere';
    else if (remote === 'pending')
      conclusion = `unbound until ${chassis} acks: it wants the port and reaches the owner ${owner}, but no agent has confirmed its flows (no agent serves ${chassis}, or it is installing)`;
    else if (remote === 'unreachable')
      conclusion = `unbound: ${chassis} cannot reach the owner ${owner} over switch ${topology.ports.get(portId)?.switchId}`;
    else conclusion = `unbound: ${chassis} does not want the port remotely`;
    return { chassis, locality, remote, conclusion, chain };
  }

  private remoteApp(): 'tunnel' | 'provider' {
    const switchId = this.topology.ports.get(this.portId)?.switchId;
    const type =
      switchId === undefined ? undefined : this.topology.switches.get(switchId)?.networkType;
    return type !== undefined && !isTunnelNetwork(type) ? 'provider' : 'tunnel';
  }

  /** acked, pending, unreachable, unwanted (the domain's rule), or null: not a remote viewer. */
  remoteStatus(chassis: string): ViewExplanation['remote'] {
    const { facts, topology, portId } = this;
    if (facts.deleted || facts.reasons.length > 0 || chassis === facts.owner) return null;
    const ack = ackOf(facts, chassis);
    const interest = remoteInterest(topology, portId, facts, chassis);
    if (ack !== undefined) {
      return wantedAck(topology, portId, facts, chassis) === ack ? 'acked' : 'unwanted';
    }
    if (interest === null) return null;
    const reached = reachabilityIn(topology, chassis, interest.owner, interest.switchId);
    return reached.ok ? 'pending' : 'unreachable';
  }

  private chassisLink(chassis: string): ExplainLink {
    const document = this.topology.chassis.get(chassis);
    const stream = `chassis-${chassis}`;
    if (document === undefined) {
      const deleted = this.provenance.deletions.get(stream);
      return link(
        'chassis',
        false,
        deleted === undefined ? `${chassis} is not registered` : `${chassis} was deleted`,
        deleted,
      );
    }
    const mappings = Object.entries(document.bridgeMappings).map(([net, br]) => `${net}→${br}`);
    return link(
      'chassis',
      true,
      `${chassis} is registered (tunnel IP ${document.tunnelIp}, tunnels ${list(document.tunnelTypes)}, bridge mappings ${list(mappings)})`,
      this.doc(stream),
    );
  }

  /** Selective topology, reachability and the ack, for a chassis that is not the owner. */
  private remoteLinks(chassis: string): ExplainLink[] {
    const { facts, topology, portId } = this;
    const owner = facts.owner;
    const links: ExplainLink[] = [];
    const switchId = topology.ports.get(portId)?.switchId;
    if (owner === null) {
      links.push(link('owner', false, 'no chassis claims the port: there is no owner to reach'));
    }
    const interest = remoteInterest(topology, portId, facts, chassis);
    if (interest !== null) {
      const locals = [...topology.localPortsOn(chassis, interest.switchId)].sort();
      const shown = locals.slice(0, INTEREST_EXAMPLES);
      links.push(
        link(
          'interest',
          true,
          `${chassis} has ${locals.length} local port${locals.length === 1 ? '' : 's'} on switch ${interest.switchId} (${shown.join(', ')}${locals.length > shown.length ? ', …' : ''}): it wants the switch's remote ports (selective topology)`,
          ...shown.map((id) => this.claimOf(id, chassis)),
        ),
      );
    } else if (owner !== null && owner !== chassis && facts.reasons.length === 0) {
      const reason = !topology.chassis.has(chassis)
        ? `chassis ${chassis} is not registered`
        : !topology.chassis.has(owner)
          ? `the owner ${owner} is not a registered chassis`
          : switchId === undefined
            ? 'the port is on no known switch'
            : `${chassis} has no local port on switch ${switchId}`;
      links.push(
        link(
          'interest',
          false,
          `${reason}: ${chassis} does not want the port remotely (selective topology)`,
          owner !== null && !topology.chassis.has(owner)
            ? this.provenance.deletions.get(`chassis-${owner}`)
            : undefined,
        ),
      );
    }
    const ack = ackOf(facts, chassis);
    const target = interest?.owner ?? ack ?? null;
    if (target !== null && switchId !== undefined && (interest !== null || ack !== undefined)) {
      links.push(this.reachabilityLink(chassis, target, switchId));
    }
    if (ack !== undefined) {
      const acked = this.provenance.acks.get(portId)?.get(chassis);
      const by = acked?.metadata.app ?? `agent:${chassis}`;
      const wanted = wantedAck(topology, portId, facts, chassis);
      links.push(
        link(
          'ack',
          wanted === ack,
          wanted === ack
            ? `${chassis}'s agent installed its flows toward ${ack} and acked them (${acked?.type ?? 'RemoteCreated'} by ${by})`
            : `${chassis} acked flows toward ${ack}, but ${wanted === null ? 'no ack is wanted any more' : `the owner is now ${wanted}`}: the ${this.remoteApp()} app withdraws it`,
          acked,
        ),
      );
    } else if (interest !== null) {
      const reached = reachabilityIn(topology, chassis, interest.owner, interest.switchId);
      if (reached.ok) {
        links.push(
          link(
            'ack',
            false,
            `no ack from ${chassis} yet: its agent has not confirmed flows toward ${interest.owner} (no agent serves it, or it is installing)`,
          ),
        );
      }
    }
    return links;
  }

  private reachabilityLink(chassis: string, owner: string, switchId: string): ExplainLink {
    const { topology } = this;
    const reached = reachabilityIn(topology, chassis, owner, switchId);
    const ls = topology.switches.get(switchId);
    const events = [
      this.doc(`lswitch-${switchId}`),
      this.doc(`chassis-${chassis}`),
      this.doc(`chassis-${owner}`),
    ];
    if (!reached.ok) return link('reachability', false, reached.reason, ...events);
    let says: string;
    if (ls !== undefined && isTunnelNetwork(ls.networkType)) {
      says = `switch ${switchId} is ${ls.networkType} (VNI ${ls.segmentationId}); ${chassis} and ${owner} both have ${ls.networkType} tunnels`;
    } else {
      const physnet = ls?.physicalNetwork ?? '?';
      const from = topology.chassis.get(chassis)?.bridgeMappings[physnet];
      const to = topology.chassis.get(owner)?.bridgeMappings[physnet];
      says = `switch ${switchId} is ${ls?.networkType} on physical network ${physnet}${ls?.networkType === 'vlan' ? ` (VLAN ${ls.segmentationId})` : ''}; ${chassis} maps it to ${from}, ${owner} to ${to}`;
    }
    return link('reachability', true, `${chassis} reaches ${owner}: ${says}`, ...events);
  }
}

const first = <T>(values: Iterable<T>): T | undefined => {
  for (const value of values) return value;
  return undefined;
};

function splitReason(reason: string): [string, string] {
  const colon = reason.indexOf(':');
  return colon < 0 ? [reason, ''] : [reason.slice(0, colon), reason.slice(colon + 1)];
}
