/**
 * The desired flows of one chassis: a pure function of its view (src/ovs/chassis-view.ts).
 * Table layout in ./tables.ts and ./README.md; cookies and keys in ./ids.ts.
 *
 * Every flow belongs to exactly one cookie group: the static defaults, one logical switch
 * (ingress from other chassis, flooding) or one logical port (everything else about the port),
 * so a port's change touches only its own group and, when it changes the flood list, its
 * switch's group.
 */
import {
  type ChassisView,
  sameViewPort,
  type ViewDestination,
  type ViewPort,
  type ViewSwitch,
} from '../chassis-view.js';
import { act, type Flow, flow } from './flow.js';
import { portCookie, portKey, staticCookie, switchCookie, switchKey } from './ids.js';
import {
  arpReply,
  arpRequest,
  dhcpClientPort,
  dhcpServerPort,
  priorities,
  tables,
} from './tables.js';

export interface FlowConflict {
  /** The flow key two groups wanted. */
  readonly key: string;
  /** Cookie of the group that kept it (the first in view order: static, switches, ports by id). */
  readonly kept: bigint;
  readonly dropped: bigint;
}

export interface FlowSet {
  /** One flow per key (table, priority, match), in generation order. */
  readonly flows: ReadonlyMap<string, Flow>;
  /** Keys wanted twice (two ports with one MAC on a switch, two DHCP ports on a switch…). */
  readonly conflicts: readonly FlowConflict[];
}

export interface PipelineOptions {
  /**
   * Flood unknown unicast too (default: drop it). locus knows every port's MACs, so a unicast
   * frame to an unknown MAC is for a port that is gone or not here yet: flooding it would
   * send a deleted or moved port's traffic to every chassis of the switch.
   */
  readonly floodUnknownUnicast?: boolean;
}

/** Broadcast and multicast: the group bit of the destination MAC. */
export const multicastMac = '01:00:00:00:00:00/01:00:00:00:00:00';

/**
 * Remembers each port's flows with the view entry they were made from, so a recomputation
 * rebuilds only the ports whose entry changed (and hands the reconciler the very same Flow
 * objects for the rest, which compare equal at once). Optional: flowsFor gives the same flows
 * with or without it.
 */
export class FlowCache {
  private entries = new Map<string, { readonly port: ViewPort; readonly flows: Flow[] }>();
  private next = new Map<string, { readonly port: ViewPort; readonly flows: Flow[] }>();

  portFlows(port: ViewPort): Flow[] {
    let entry = this.entries.get(port.id);
    if (!entry || !sameViewPort(entry.port, port)) entry = { port, flows: portFlows(port) };
    this.next.set(port.id, entry);
    return entry.flows;
  }

  /** Ends a computation: ports it did not see are forgotten. */
  sweep(): void {
    this.entries = this.next;
    this.next = new Map();
  }

  get size(): number {
    return this.entries.size;
  }
}

export function flowsFor(
  view: ChassisView,
  options: PipelineOptions = {},
  cache?: FlowCache,
): FlowSet {
  const flows = new Map<string, Flow>();
  const conflicts: FlowConflict[] = [];
  const add = (f: Flow) => {
    const existing = flows.get(f.key);
    if (existing) conflicts.push({ key: f.key, kept: existing.cookie, dropped: f.cookie });
    else flows.set(f.key, f);
  };
  for (const f of staticFlows()) add(f);
  const bySwitch = new Map<string, ViewPort[]>();
  for (const port of view.ports) {
    let list = bySwitch.get(port.switchId);
    if (!list) {
      list = [];
      bySwitch.set(port.switchId, list);
    }
    list.push(port);
  }
  for (const ls of view.switches)
    for (const f of switchFlows(ls, bySwitch.get(ls.id) ?? [], options)) add(f);
  for (const port of view.ports)
    for (const f of cache ? cache.portFlows(port) : portFlows(port)) add(f);
  cache?.sweep();
  return { flows, conflicts };
}

/** An empty flow set (what an unknown chassis wants). */
export const noFlows: FlowSet = { flows: new Map(), conflicts: [] };

/** Table defaults: unknown traffic is dropped; table 10 falls through to L2. */
export function staticFlows(): Flow[] {
  const cookie = staticCookie;
  const priority = priorities.default;
  return [
    flow({ cookie, table: tables.ingress, priority, actions: [] }),
    flow({ cookie, table: tables.services, priority, actions: [act.goto(tables.l2)] }),
    flow({ cookie, table: tables.l2, priority, actions: [] }),
    flow({ cookie, table: tables.egress, priority, actions: [] }),
    flow({ cookie, table: tables.reply, priority, actions: [act.inPort] }),
    flow({ cookie, table: tables.local, priority, actions: [] }),
  ];
}

/** Ingress from other chassis and flooding (broadcast and multicast) of one switch. */
export function switchFlows(
  ls: ViewSwitch,
  ports: readonly ViewPort[],
  options: PipelineOptions = {},
): Flow[] {
  const cookie = switchCookie(ls.id);
  const metadata = switchKey(ls.id);
  const fromRemote = [act.setMetadata(metadata), act.setReg(0, 1), act.goto(tables.l2)];
  const flows: Flow[] = [];
  if (ls.tunnel)
    flows.push(
      flow({
        cookie,
        table: tables.ingress,
        priority: priorities.exact,
        match: { tunId: ls.tunnel.vni, inPort: ls.tunnel.ofport },
        actions: fromRemote,
      }),
    );
  if (ls.provider)
    flows.push(
      flow({
        cookie,
        table: tables.ingress,
        priority: priorities.exact,
        match: { inPort: ls.provider.ofport, vlan: ls.provider.vlan ?? 'untagged' },
        actions: ls.provider.vlan === null ? fromRemote : [act.popVlan, ...fromRemote],
      }),
    );

  const local: string[] = [];
  const seenLocal = new Set<string>();
  const tunnels = new Map<string, string[]>();
  for (const port of ports) {
    const d = port.destination;
    if (d.kind === 'local') {
      const id = `${d.ofport}/${d.vlan}`;
      if (!seenLocal.has(id)) {
        seenLocal.add(id);
        local.push(...outputTo(d.ofport, d.vlan, true));
      }
    } else if (d.kind === 'tunnel') {
      const id = `${d.owner}\u0000${d.ip}`;
      if (!tunnels.has(id)) tunnels.set(id, tunnelTo(d.vni, d.ip, d.ofport));
    }
  }
  const remote: string[] = [];
  for (const id of [...tunnels.keys()].sort()) remote.push(...(tunnels.get(id) ?? []));
  if (ls.provider) remote.push(...outputTo(ls.provider.ofport, ls.provider.vlan, true));
  const dlDst = options.floodUnknownUnicast ? undefined : multicastMac;
  flows.push(
    flow({
      cookie,
      table: tables.l2,
      priority: priorities.floodFromRemote,
      match: { reg0: 1, metadata, dlDst },
      actions: local,
    }),
    flow({
      cookie,
      table: tables.l2,
      priority: priorities.flood,
      match: { metadata, dlDst },
      actions: [...local, ...remote],
    }),
  );
  return flows;
}

/** Everything about one port: ingress, L2 lookup, egress, and its services. */
export function portFlows(port: ViewPort): Flow[] {
  const cookie = portCookie(port.id);
  const key = portKey(port.id);
  const metadata = switchKey(port.switchId);
  const flows: Flow[] = [];
  const exact = priorities.exact;

  if (port.ingress) {
    const classify = [act.setMetadata(metadata), act.setXreg(3, key), act.goto(tables.services)];
    flows.push(
      port.ingress.vlan === null
        ? flow({
            cookie,
            table: tables.ingress,
            priority: exact,
            match: { inPort: port.ingress.ofport },
            actions: classify,
          })
        : flow({
            cookie,
            table: tables.ingress,
            priority: priorities.subport,
            match: { inPort: port.ingress.ofport, vlan: port.ingress.vlan },
            actions: [act.popVlan, ...classify],
          }),
    );
  }

  for (const mac of port.macs)
    flows.push(
      flow({
        cookie,
        table: tables.l2,
        priority: exact,
        match: { metadata, dlDst: mac },
        actions: [act.setXreg(2, key), act.goto(tables.egress)],
      }),
    );

  // Answers built here go back to a trunk sub-port with its VLAN tag (popped on ingress).
  if (port.ingress && port.ingress.vlan !== null)
    flows.push(
      flow({
        cookie,
        table: tables.reply,
        priority: exact,
        match: { xreg3: key },
        actions: [act.pushVlan, act.setVlanVid(port.ingress.vlan), act.inPort],
      }),
    );

  const d = port.destination;
  flows.push(
    flow({
      cookie,
      table: tables.egress,
      priority: exact,
      match:
        d.kind === 'tunnel' || d.kind === 'provider' ? { reg0: 0, xreg2: key } : { xreg2: key },
      actions: egressActions(d),
    }),
  );

  if (d.kind === 'router') {
    const mac = port.macs[0];
    if (mac !== undefined)
      for (const ip of d.ips)
        flows.push(
          flow({
            cookie,
            table: tables.services,
            priority: exact,
            match: { protocol: 'arp', metadata, arpTpa: ip, arpOp: arpRequest },
            actions: arpResponder(mac, ip),
          }),
        );
  }
  if (d.kind === 'dhcp')
    flows.push(
      flow({
        cookie,
        table: tables.services,
        priority: exact,
        match: { protocol: 'udp', metadata, tpSrc: dhcpClientPort, tpDst: dhcpServerPort },
        actions: [act.setXreg(2, key), act.goto(tables.local)],
      }),
      flow({
        cookie,
        table: tables.local,
        priority: exact,
        match: { xreg2: key },
        actions: [act.controller],
      }),
    );
  return flows;
}

function egressActions(d: ViewDestination): string[] {
  switch (d.kind) {
    case 'local':
      return outputTo(d.ofport, d.vlan, false);
    case 'tunnel':
      return tunnelTo(d.vni, d.ip, d.ofport);
    case 'provider':
      return outputTo(d.ofport, d.vlan, false);
    case 'router':
    case 'dhcp':
    case 'service':
      return [act.goto(tables.local)];
  }
}

/** Output, tagged with `vlan` when set; `restore` pops the tag again (inside a flood list). */
function outputTo(ofport: number, vlan: number | null, restore: boolean): string[] {
  if (vlan === null) return [act.output(ofport)];
  const tagged = [act.pushVlan, act.setVlanVid(vlan), act.output(ofport)];
  return restore ? [...tagged, act.popVlan] : tagged;
}

function tunnelTo(vni: number, ip: string, ofport: number): string[] {
  return [act.setTunId(vni), act.setTunDst(ip), act.output(ofport)];
}

/** Turns an ARP request for `ip` into the reply from `mac`, sent back to the asker (table 35). */
function arpResponder(mac: string, ip: string): string[] {
  return [
    act.moveEthSrcToDst,
    act.setEthSrc(mac),
    act.setArpOp(arpReply),
    act.moveArpShaToTha,
    act.setArpSha(mac),
    act.moveArpSpaToTpa,
    act.setArpSpa(ip),
    act.goto(tables.reply),
  ];
}
