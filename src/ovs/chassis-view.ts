/**
 * What one chassis must program, derived purely from the topology: the switches it takes part in
 * and, for every port it handles, where that port's traffic enters (its interface here) and where
 * traffic to it goes (a local interface, a tunnel or provider network toward its owner, or the
 * local service path for distributed and interface-less ports).
 *
 * Remote ports are chosen with the tunnel/provider apps' own rule (src/domain/remote-acks.ts): a
 * chassis programs exactly the ports it is about to acknowledge, so the flows are in before the
 * ack. Selective topology follows: only switches where this chassis has a local port are
 * programmed at all (their remote, distributed and local ports). A remote port the chassis wants
 * but cannot reach by the domain's rule (src/domain/reachability.ts: no shared tunnel type, no
 * bridge mapping for the physnet) is listed unreachable with the domain's reason, the same the
 * read model reports; then come this chassis' own gaps (no tunnel or patch port on its bridge).
 *
 * Ports are sorted by id and switches by id, so the view (and the flows made from it) is a
 * deterministic function of the topology.
 */
import type { PortLocality } from '../domain/locality.js';
import { reachabilityIn, remoteInterest } from '../domain/remote-acks.js';
import { isLive, type Topology } from '../domain/topology.js';
import type { Chassis, NetworkType, TunnelType } from '../events/index.js';

/** The chassis' own OpenFlow ports that do not carry a logical port. */
export interface ChassisPorts {
  /** The flow-based tunnel port (remote_ip=flow, key=flow) of each tunnel type. */
  readonly tunnels?: Partial<Readonly<Record<TunnelType, number>>>;
  /** Patch port toward the bridge of each provider network (physnet → ofport). */
  readonly patches?: Readonly<Record<string, number>>;
}

export interface ViewSwitch {
  readonly id: string;
  readonly networkType: NetworkType;
  readonly segmentationId: number | null;
  /** Tunnel networks: where packets from other chassis enter (tunnel port, VNI). */
  readonly tunnel: { readonly ofport: number; readonly vni: number } | null;
  /** Provider networks: the patch port and VLAN (null: flat) packets enter and leave by. */
  readonly provider: { readonly ofport: number; readonly vlan: number | null } | null;
}

export type ViewDestination =
  /** The port's interface is here: output to it (VLAN-tagged for a trunk sub-port). */
  | { readonly kind: 'local'; readonly ofport: number; readonly vlan: number | null }
  /** Local on `owner`, reached through the tunnel port with tun_id = VNI, tun_dst = `ip`. */
  | {
      readonly kind: 'tunnel';
      readonly owner: string;
      readonly ip: string;
      readonly ofport: number;
      readonly vni: number;
    }
  /** Local on `owner`, reached over the provider network: patch port, VLAN-tagged unless flat. */
  | {
      readonly kind: 'provider';
      readonly owner: string;
      readonly ofport: number;
      readonly vlan: number | null;
    }
  /** Distributed router interface or gateway: answered here (ARP responder for `ips`). */
  | { readonly kind: 'router'; readonly ips: readonly string[] }
  /** Distributed DHCP port: requests go to the local DHCP service. */
  | { readonly kind: 'dhcp' }
  /** Local here without an interface of its own (a floating IP port): the local service path. */
  | { readonly kind: 'service' };

export interface ViewPort {
  readonly id: string;
  readonly switchId: string;
  /** Lower-case, deduplicated. */
  readonly macs: readonly string[];
  /** The interface on this chassis the port's packets enter by, if any. */
  readonly ingress: { readonly ofport: number; readonly vlan: number | null } | null;
  readonly destination: ViewDestination;
}

export interface Unreachable {
  readonly portId: string;
  readonly reason: string;
}

export interface ChassisView {
  readonly chassis: string;
  readonly switches: readonly ViewSwitch[];
  readonly ports: readonly ViewPort[];
  /** Ports this chassis should handle but cannot program (yet), with the reason. */
  readonly unreachable: readonly Unreachable[];
}

const byId = <T extends { id: string }>(a: T, b: T) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const ipv4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const tunnelTypes: readonly NetworkType[] = ['geneve', 'vxlan'];

export function chassisViewOf(
  topology: Topology,
  chassisId: string,
  ports: ChassisPorts,
): ChassisView {
  const me = topology.chassis.get(chassisId);
  if (!me) return { chassis: chassisId, switches: [], ports: [], unreachable: [] };

  // Switches of interest: where this chassis has a local port (claims, and remoteInterest's index).
  const switchIds = new Set<string>();
  for (const portId of topology.claimedPortsByChassis.get(chassisId)) {
    const switchId = topology.ports.get(portId)?.switchId;
    if (switchId !== undefined) switchIds.add(switchId);
  }

  const switches: ViewSwitch[] = [];
  const viewPorts: ViewPort[] = [];
  const unreachable: Unreachable[] = [];
  for (const switchId of switchIds) {
    const ls = switchViewOf(topology, me, switchId, ports);
    if (!ls) continue;
    switches.push(ls.view);
    for (const portId of topology.portsBySwitch.get(switchId)) {
      const port = portEntryOf(topology, chassisId, ls, portId);
      if (port === null) continue;
      if ('reason' in port) unreachable.push(port);
      else viewPorts.push(port);
    }
  }
  switches.sort(byId);
  viewPorts.sort(byId);
  unreachable.sort((a, b) => (a.portId < b.portId ? -1 : a.portId > b.portId ? 1 : 0));
  return { chassis: chassisId, switches, ports: viewPorts, unreachable };
}

/** A switch of interest as the chassis programs it, and why its remote ports are unreachable. */
export interface SwitchEntry {
  readonly view: ViewSwitch;
  /** Set when the chassis cannot reach the switch's remote ports (no tunnel/patch port…). */
  readonly unreachable: string | null;
}

/** The view of one switch for chassis `me`; null when the switch is unknown. */
export function switchViewOf(
  topology: Topology,
  me: Chassis,
  switchId: string,
  ports: ChassisPorts,
): SwitchEntry | null {
  const chassisId = me.id;
  const ls = topology.switches.get(switchId);
  if (!ls) return null;
  const segmentationId = ls.segmentationId ?? null;
  let tunnel: ViewSwitch['tunnel'] = null;
  let provider: ViewSwitch['provider'] = null;
  let unreachableWhy: string | null = null;
  if (tunnelTypes.includes(ls.networkType)) {
    const ofport = ports.tunnels?.[ls.networkType as TunnelType];
    if (segmentationId === null) unreachableWhy = `switch ${switchId} has no segmentation id`;
    else if (ofport === undefined)
      unreachableWhy = `chassis ${chassisId} has no ${ls.networkType} tunnel port`;
    else tunnel = { ofport, vni: segmentationId };
  } else {
    const physnet = ls.physicalNetwork;
    const ofport = physnet === undefined ? undefined : ports.patches?.[physnet];
    if (physnet === undefined) unreachableWhy = `switch ${switchId} has no physical network`;
    else if (me.bridgeMappings[physnet] === undefined)
      unreachableWhy = `chassis ${chassisId} has no bridge mapping for ${physnet}`;
    else if (ofport === undefined)
      unreachableWhy = `chassis ${chassisId} has no patch port for ${physnet}`;
    else if (ls.networkType === 'vlan' && segmentationId === null)
      unreachableWhy = `switch ${switchId} has no VLAN id`;
    else provider = { ofport, vlan: ls.networkType === 'vlan' ? segmentationId : null };
  }
  const view: ViewSwitch = {
    id: switchId,
    networkType: ls.networkType,
    segmentationId,
    tunnel,
    provider,
  };
  return { view, unreachable: unreachableWhy };
}

/** Whether two switch entries program the same flows. */
export function sameSwitchEntry(a: SwitchEntry, b: SwitchEntry): boolean {
  const x = a.view;
  const y = b.view;
  return (
    a.unreachable === b.unreachable &&
    x.id === y.id &&
    x.networkType === y.networkType &&
    x.segmentationId === y.segmentationId &&
    x.tunnel?.ofport === y.tunnel?.ofport &&
    x.tunnel?.vni === y.tunnel?.vni &&
    (x.provider === null) === (y.provider === null) &&
    x.provider?.ofport === y.provider?.ofport &&
    x.provider?.vlan === y.provider?.vlan
  );
}

/**
 * What chassis `chassisId` makes of port `portId` on a switch of its view: a view port, why it
 * cannot program it, or null when it does not handle the port (or the port is not live).
 */
export function portEntryOf(
  topology: Topology,
  chassisId: string,
  ls: SwitchEntry,
  portId: string,
): ViewPort | Unreachable | null {
  const facts = topology.portLocality(portId);
  if (!isLive(topology, facts, portId)) return null;
  return portView(topology, chassisId, ls.view, portId, facts, ls.unreachable);
}

function portView(
  topology: Topology,
  chassisId: string,
  ls: ViewSwitch,
  portId: string,
  facts: PortLocality,
  remoteUnreachable: string | null,
): ViewPort | Unreachable | null {
  const lport = topology.ports.get(portId);
  if (!lport) return null;
  const macs =
    lport.macs.length === 1
      ? [(lport.macs[0] as string).toLowerCase()]
      : [...new Set(lport.macs.map((mac) => mac.toLowerCase()))];
  const claimed = facts.claims.includes(chassisId);
  const ingress = claimed ? interfaceOn(topology, chassisId, portId) : null;

  if (facts.reasons.length > 0) {
    if (facts.reasons.some((reason) => reason.startsWith('router-'))) {
      const ips = lport.ips.filter((ip) => ipv4.test(ip));
      return viewPort(portId, ls.id, macs, null, { kind: 'router', ips });
    }
    return viewPort(portId, ls.id, macs, null, { kind: 'dhcp' });
  }

  const interest = remoteInterest(topology, portId, facts, chassisId);
  if (interest !== null) {
    const { owner } = interest;
    const reach = reachabilityIn(topology, chassisId, owner, interest.switchId);
    if (!reach.ok) return { portId, reason: reach.reason };
    if (remoteUnreachable !== null) return { portId, reason: remoteUnreachable };
    if (ls.tunnel) {
      const target = topology.chassis.get(owner);
      if (!target) return { portId, reason: `owner ${owner} is unknown` };
      return viewPort(portId, ls.id, macs, ingress, {
        kind: 'tunnel',
        owner,
        ip: target.tunnelIp,
        ofport: ls.tunnel.ofport,
        vni: ls.tunnel.vni,
      });
    }
    if (ls.provider)
      return viewPort(portId, ls.id, macs, ingress, {
        kind: 'provider',
        owner,
        ofport: ls.provider.ofport,
        vlan: ls.provider.vlan,
      });
    return { portId, reason: `switch ${ls.id} is not reachable from ${chassisId}` };
  }

  if (!claimed || facts.owner !== chassisId) return null;
  if (ingress)
    return viewPort(portId, ls.id, macs, ingress, {
      kind: 'local',
      ofport: ingress.ofport,
      vlan: ingress.vlan,
    });
  if (lport.deviceOwner === 'floatingip')
    return viewPort(portId, ls.id, macs, null, { kind: 'service' });
  return { portId, reason: `no interface with an ofport on ${chassisId} yet` };
}

/** One shape for every view port (keeps property access monomorphic on 10⁴-port views). */
const viewPort = (
  id: string,
  switchId: string,
  macs: readonly string[],
  ingress: ViewPort['ingress'],
  destination: ViewDestination,
): ViewPort => ({ id, switchId, macs, ingress, destination });

/** Whether two view ports program the same flows. */
export function sameViewPort(a: ViewPort, b: ViewPort): boolean {
  if (a.id !== b.id || a.switchId !== b.switchId || a.macs.length !== b.macs.length) return false;
  for (let i = 0; i < a.macs.length; i++) if (a.macs[i] !== b.macs[i]) return false;
  if (a.ingress !== b.ingress) {
    if (a.ingress === null || b.ingress === null) return false;
    if (a.ingress.ofport !== b.ingress.ofport || a.ingress.vlan !== b.ingress.vlan) return false;
  }
  const x = a.destination;
  const y = b.destination;
  switch (x.kind) {
    case 'local':
      return y.kind === 'local' && x.ofport === y.ofport && x.vlan === y.vlan;
    case 'tunnel':
      return (
        y.kind === 'tunnel' &&
        x.owner === y.owner &&
        x.ip === y.ip &&
        x.ofport === y.ofport &&
        x.vni === y.vni
      );
    case 'provider':
      return (
        y.kind === 'provider' && x.owner === y.owner && x.ofport === y.ofport && x.vlan === y.vlan
      );
    case 'router':
      return (
        y.kind === 'router' &&
        x.ips.length === y.ips.length &&
        x.ips.every((ip, i) => ip === y.ips[i])
      );
    default:
      return x.kind === y.kind;
  }
}

/** The interface carrying the port on this chassis: its own, or its trunk parent's + VLAN. */
function interfaceOn(
  topology: Topology,
  chassisId: string,
  portId: string,
): { ofport: number; vlan: number | null } | null {
  const own = ofportOn(topology, chassisId, portId);
  if (own !== null) return { ofport: own, vlan: null };
  for (const segmentationId of topology.segmentationsByChild.get(portId)) {
    const segmentation = topology.segmentations.get(segmentationId);
    if (!segmentation) continue;
    const parent = ofportOn(topology, chassisId, segmentation.parentPortId);
    if (parent !== null) return { ofport: parent, vlan: segmentation.segmentationId };
  }
  return null;
}

function ofportOn(topology: Topology, chassisId: string, portId: string): number | null {
  for (const ovsPort of topology.interfacesOf(portId))
    if (ovsPort.chassis === chassisId && ovsPort.ofport !== null) return ovsPort.ofport;
  return null;
}

/** Whether the view reaches `portId` remotely toward `owner` (what an ack promises). */
export function reachesRemotely(port: ViewPort | undefined, owner: string): boolean {
  const destination = port?.destination;
  return (
    (destination?.kind === 'tunnel' || destination?.kind === 'provider') &&
    destination.owner === owner
  );
}

/** The view's ports by id. */
export function portsById(view: ChassisView): Map<string, ViewPort> {
  return new Map(view.ports.map((port) => [port.id, port]));
}
