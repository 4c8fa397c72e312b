/**
 * OVN → locus, pure: a snapshot of the Northbound (and Southbound) rows becomes the locus model
 * it describes, each document with the OVN row it comes from (its cause), and every row or
 * value locus cannot express, with the reason. docs/ovn.md has the mapping as a table.
 *
 * Ids: a port is its Logical_Switch_Port's `name` (the iface-id a hypervisor's interface
 * carries, what Neutron and operators see); a switch or router is its row's `name` when that
 * is a valid locus id and unique, else its row uuid; a chassis is its Southbound `name`;
 * a subnet, a floating IP (with its floating port `fip-<uuid>`) and nothing else are row uuids;
 * a trunk segmentation is its child port's name (a sub-port has one parent).
 */
import { cidrProblem, ipProblem, tunnelIpProblem, unicastMacProblem } from '../events/addresses.js';
import type {
  Chassis,
  ChildPortSegmentation,
  DeviceOwner,
  FloatingIp,
  LogicalPort,
  LogicalRouter,
  LogicalSwitch,
  Subnet,
  TunnelType,
} from '../events/index.js';
import { Id, PhysicalNetwork } from '../events/primitives.js';
import type { LocusModel, ModelKind } from './locus-model.js';
import type {
  ChassisRow,
  LogicalRouterPortRow,
  LogicalSwitchPortRow,
  LogicalSwitchRow,
  OvnCause,
  OvnSnapshot,
} from './nb-model.js';

/** A row (or part of one) the translation left out, and why. */
export interface Skipped {
  readonly table: string;
  readonly uuid: string;
  /** The row's name, when it has one. */
  readonly name?: string;
  readonly reason: string;
}

/**
 * A geneve switch whose segmentation id neither the NB (`other_config:requested-tnl-key`) nor
 * a Southbound Datapath_Binding gives. `waiting`: a Southbound is followed and the binding may
 * still come (ovn-northd writes it after the NB row), so the switch and what sits on it are
 * held back (see `Desired.held`); else the switch is wanted without segmentation id.
 */
export interface UnkeyedSwitch {
  readonly uuid: string;
  readonly name: string;
  readonly id: string;
  readonly waiting: boolean;
}

/** A document the translation cannot decide: locus' copy, when it holds one, stands. */
export interface Held {
  readonly kind: ModelKind;
  readonly id: string;
}

export interface TranslateOptions {
  /**
   * Logical_Switch uuids whose wait for a Datapath_Binding is over: wanted without segmentation
   * id. (The follower keeps the time; the translation stays a function of its inputs.)
   */
  readonly bindingWaitOver?: ReadonlySet<string>;
}

export interface Desired {
  readonly model: LocusModel;
  /** `kind:id` → the OVN row the document comes from. */
  readonly causes: ReadonlyMap<string, OvnCause>;
  readonly skipped: readonly Skipped[];
  /** Whether chassis are followed (a Southbound was given): if not, locus' are left alone. */
  readonly followsChassis: boolean;
  readonly unkeyed: readonly UnkeyedSwitch[];
  /**
   * Left as locus holds them (created from the model when locus has none and the model has
   * one): a switch without known segmentation id (unknown is not "none"), and, while it waits
   * for its Datapath_Binding, the switch and its dependents (ports, subnets, segmentations,
   * floating IPs and routers using those ports), which are out of the model until then.
   */
  readonly held: readonly Held[];
}

export const causeKey = (kind: ModelKind, id: string): string => `${kind}:${id}`;

const ID = new RegExp(Id.pattern ?? '');
const PHYSNET = new RegExp(PhysicalNetwork.pattern ?? '');
const isId = (text: string): boolean => ID.test(text);

/** The VLAN ids 802.1Q leaves to networks. */
const isVlan = (tag: number | null): tag is number => tag !== null && tag >= 1 && tag <= 4094;

/** A port's VLAN: ovn-northd's `tag`, else the `tag_request` it copies it from (0: none). */
const vlanOf = (lsp: LogicalSwitchPortRow): number | null =>
  lsp.tag ?? (lsp.tag_request === 0 ? null : lsp.tag_request);

/** A row's name as its locus id when valid and unique among `rows`, else its uuid. */
function idsByName<R extends { readonly _uuid: string; readonly name: string }>(
  rows: Iterable<R>,
): Map<string, string> {
  const list = [...rows];
  const count = new Map<string, number>();
  for (const row of list) count.set(row.name, (count.get(row.name) ?? 0) + 1);
  return new Map(
    list.map((row) => [
      row._uuid,
      isId(row.name) && count.get(row.name) === 1 ? row.name : row._uuid,
    ]),
  );
}

const byName = <R extends { readonly name: string }>(a: R, b: R): number =>
  a.name < b.name ? -1 : a.name > b.name ? 1 : 0;

/** An address of `addresses`: "MAC IP…"; IPs may carry a prefix length (dropped). */
interface Addresses {
  readonly macs: string[];
  readonly ips: string[];
}

export function translate(snapshot: OvnSnapshot, options: TranslateOptions = {}): Desired {
  const nb = snapshot.nb;
  const skipped: Skipped[] = [];
  const causes = new Map<string, OvnCause>();
  const model = {
    chassis: new Map<string, Chassis>(),
    switches: new Map<string, LogicalSwitch>(),
    subnets: new Map<string, Subnet>(),
    ports: new Map<string, LogicalPort>(),
    routers: new Map<string, LogicalRouter>(),
    fips: new Map<string, FloatingIp>(),
    segmentations: new Map<string, ChildPortSegmentation>(),
  };
  const nbCause = (table: string, uuid: string): OvnCause => ({ source: 'ovn-nb', table, uuid });
  const skip = (table: string, row: { _uuid: string; name?: string }, reason: string) =>
    skipped.push({
      table,
      uuid: row._uuid,
      ...(row.name === undefined ? {} : { name: row.name }),
      reason,
    });

  // --- router ports: which are gateways, found by name from their switch-side peers ----------
  const lrpByName = new Map<string, LogicalRouterPortRow>();
  for (const lrp of nb.Logical_Router_Port.values()) lrpByName.set(lrp.name, lrp);
  const isGateway = (lrp: LogicalRouterPortRow) =>
    lrp.gateway_chassis.length > 0 ||
    lrp.ha_chassis_group !== null ||
    lrp.options.has('redirect-chassis');
  const routerIds = idsByName(nb.Logical_Router.values());
  /** LRP uuid → its router's row, and each router's one gateway port (locus has one). */
  const routerOfLrp = new Map<string, string>();
  const gatewayLrp = new Map<string, string>();
  for (const router of [...nb.Logical_Router.values()].sort(byName)) {
    const lrps = router.ports
      .map((uuid) => nb.Logical_Router_Port.get(uuid))
      .filter((lrp): lrp is LogicalRouterPortRow => lrp !== undefined)
      .sort(byName);
    for (const lrp of lrps) routerOfLrp.set(lrp._uuid, router._uuid);
    const gateways = lrps.filter(isGateway);
    const first = gateways[0];
    if (first !== undefined) gatewayLrp.set(router._uuid, first._uuid);
    for (const extra of gateways.slice(1))
      skip(
        'Logical_Router_Port',
        extra,
        `router ${router.name} has more than one gateway port; locus keeps one (${first?.name}), this one becomes an interface`,
      );
  }

  // --- switches ---------------------------------------------------------------------------
  // ovn-northd's tunnel key of each switch (the Datapath_Binding naming it), when followed.
  const boundKeys = new Map<string, number>();
  for (const binding of [...(snapshot.sb?.Datapath_Binding.values() ?? [])].sort((a, b) =>
    a._uuid < b._uuid ? -1 : 1,
  )) {
    const ls = binding.external_ids.get('logical-switch');
    if (ls !== undefined && !boundKeys.has(ls) && isVni(binding.tunnel_key))
      boundKeys.set(ls, binding.tunnel_key);
  }
  const unkeyed: UnkeyedSwitch[] = [];
  const held: Held[] = [];
  const switchIds = idsByName(nb.Logical_Switch.values());
  const switchOfLsp = new Map<string, LogicalSwitchRow>();
  for (const ls of [...nb.Logical_Switch.values()].sort(byName)) {
    for (const uuid of ls.ports) if (!switchOfLsp.has(uuid)) switchOfLsp.set(uuid, ls);
    const id = switchIds.get(ls._uuid) as string;
    const lsps = ls.ports
      .map((uuid) => nb.Logical_Switch_Port.get(uuid))
      .filter((lsp): lsp is LogicalSwitchPortRow => lsp !== undefined)
      .sort(byName);
    const localnets = lsps.filter((lsp) => lsp.type === 'localnet');
    let lswitch: LogicalSwitch = { id, networkType: 'geneve' };
    // The NB's requested key wins; else the one ovn-northd allocated.
    const requested = Number(ls.other_config.get('requested-tnl-key'));
    const key = isVni(requested) ? requested : boundKeys.get(ls._uuid);
    if (key !== undefined) lswitch = { ...lswitch, segmentationId: key };
    for (const [index, localnet] of localnets.entries()) {
      const physnet = localnet.options.get('network_name') ?? '';
      if (index > 0) {
        skip(
          'Logical_Switch_Port',
          localnet,
          `switch ${ls.name} has more than one localnet port; locus maps one provider network (${localnets[0]?.name})`,
        );
        continue;
      }
      if (!PHYSNET.test(physnet)) {
        skip(
          'Logical_Switch_Port',
          localnet,
          `localnet port has no valid options:network_name (${JSON.stringify(physnet)}): switch ${ls.name} is followed as an overlay`,
        );
        continue;
      }
      const vlan = vlanOf(localnet);
      lswitch = isVlan(vlan)
        ? { id, networkType: 'vlan', segmentationId: vlan, physicalNetwork: physnet }
        : { id, networkType: 'flat', physicalNetwork: physnet };
    }
    model.switches.set(id, lswitch);
    causes.set(causeKey('switches', id), nbCause('Logical_Switch', ls._uuid));
    if (lswitch.networkType === 'geneve' && lswitch.segmentationId === undefined) {
      const waiting = snapshot.sb !== undefined && !options.bindingWaitOver?.has(ls._uuid);
      unkeyed.push({ uuid: ls._uuid, name: ls.name, id, waiting });
      held.push({ kind: 'switches', id });
    }
  }

  // --- ports ------------------------------------------------------------------------------
  // requested-chassis may name a chassis by its hostname (OVN accepts both): locus' is the name.
  const chassisByHostname = new Map<string, string>();
  const chassisNames = new Set<string>();
  for (const row of snapshot.sb?.Chassis.values() ?? []) {
    chassisNames.add(row.name);
    if (row.hostname !== '' && !chassisByHostname.has(row.hostname))
      chassisByHostname.set(row.hostname, row.name);
  }
  const chassisOfRequest = (requested: string): string =>
    chassisNames.has(requested) ? requested : (chassisByHostname.get(requested) ?? requested);

  const parse = (lsp: LogicalSwitchPortRow, lrp: LogicalRouterPortRow | undefined): Addresses => {
    const macs: string[] = [];
    const ips: string[] = [];
    const add = (mac: string | undefined, addresses: readonly string[]) => {
      if (mac !== undefined) {
        const problem = unicastMacProblem(mac);
        if (problem !== undefined) {
          skip('Logical_Switch_Port', lsp, `address ${mac} left out: ${problem}`);
          return;
        }
        const lower = mac.toLowerCase();
        if (!macs.includes(lower)) macs.push(lower);
      }
      for (const raw of addresses) {
        const ip = raw.split('/')[0] ?? raw;
        const problem = ipProblem(ip);
        if (problem !== undefined) skip('Logical_Switch_Port', lsp, `IP left out: ${problem}`);
        else if (!ips.includes(ip)) ips.push(ip);
      }
    };
    for (const entry of lsp.addresses) {
      const words = entry.trim().split(/\s+/).filter(Boolean);
      const [first, ...rest] = words;
      if (first === undefined || first === 'unknown') continue; // flooding: no address to hold
      if (first === 'router') {
        if (lrp === undefined)
          skip(
            'Logical_Switch_Port',
            lsp,
            'addresses "router" without a router port to take them from',
          );
        else add(lrp.mac, lrp.networks);
      } else if (first === 'dynamic' || rest[0] === 'dynamic') {
        // ovn-northd's assignment; none yet means no address to follow until it has made one.
        const assigned = (lsp.dynamic_addresses ?? '').trim().split(/\s+/).filter(Boolean);
        const [mac, ...assignedIps] = assigned;
        if (mac !== undefined) add(first === 'dynamic' ? mac : first, assignedIps);
        else if (first !== 'dynamic') add(first, []);
      } else add(first, rest);
    }
    return { macs: macs.slice(0, 16), ips: ips.slice(0, 64) };
  };

  const routerLsps = new Map<string, string>(); // LRP uuid → LSP name
  const subPorts: LogicalSwitchPortRow[] = [];
  const dhcpUsers = new Map<string, { switchId: string; port: string }>();
  for (const lsp of [...nb.Logical_Switch_Port.values()].sort(byName)) {
    const ls = switchOfLsp.get(lsp._uuid);
    if (ls === undefined) continue; // not on a switch: OVN collects it
    if (lsp.type === 'localnet') continue; // the switch's provider network, above
    const switchId = switchIds.get(ls._uuid) as string;
    if (!isId(lsp.name)) {
      skip('Logical_Switch_Port', lsp, 'its name is not a valid locus port id');
      continue;
    }
    let deviceOwner: DeviceOwner;
    let lrp: LogicalRouterPortRow | undefined;
    let requestedChassis: string | null = null;
    if (lsp.type === '') {
      if (lsp.parent_name !== null) {
        deviceOwner = 'trunk_subport';
        subPorts.push(lsp);
      } else {
        deviceOwner = 'compute';
        const requested = (lsp.options.get('requested-chassis') ?? '').split(',')[0]?.trim() ?? '';
        if (requested !== '') {
          if (isId(chassisOfRequest(requested))) requestedChassis = chassisOfRequest(requested);
          else
            skip('Logical_Switch_Port', lsp, `requested-chassis ${requested} is not a chassis id`);
        }
      }
    } else if (lsp.type === 'router') {
      const peer = lsp.options.get('router-port');
      lrp = peer === undefined ? undefined : lrpByName.get(peer);
      const router = lrp === undefined ? undefined : routerOfLrp.get(lrp._uuid);
      deviceOwner =
        lrp !== undefined && router !== undefined && gatewayLrp.get(router) === lrp._uuid
          ? 'router_gateway'
          : 'router_interface';
      if (lrp === undefined)
        skip(
          'Logical_Switch_Port',
          lsp,
          `options:router-port names no Logical_Router_Port (${peer ?? 'none'}): an interface of no router`,
        );
      else if (!routerLsps.has(lrp._uuid)) routerLsps.set(lrp._uuid, lsp.name);
    } else if (lsp.type === 'localport') {
      deviceOwner = 'dhcp';
    } else {
      skip('Logical_Switch_Port', lsp, `type ${lsp.type} has no locus counterpart`);
      continue;
    }
    const { macs, ips } = parse(lsp, lrp);
    model.ports.set(lsp.name, {
      id: lsp.name,
      switchId,
      macs,
      ips,
      deviceOwner,
      requestedChassis,
    });
    causes.set(causeKey('ports', lsp.name), nbCause('Logical_Switch_Port', lsp._uuid));
    if (lsp.dhcpv4_options !== null && !dhcpUsers.has(lsp.dhcpv4_options))
      dhcpUsers.set(lsp.dhcpv4_options, { switchId, port: lsp.name });
  }

  // --- subnets: the DHCP options a switch's ports use, and a switch's other_config:subnet ----
  for (const options of nb.DHCP_Options.values()) {
    const user = dhcpUsers.get(options._uuid);
    if (user === undefined) {
      skip('DHCP_Options', options, 'no port uses it, so its switch is unknown');
      continue;
    }
    const problem = cidrProblem(options.cidr);
    if (problem !== undefined) {
      skip('DHCP_Options', options, `cidr: ${problem}`);
      continue;
    }
    const router = options.options.get('router');
    const subnet: Subnet = {
      id: options._uuid,
      switchId: user.switchId,
      cidr: options.cidr,
      dhcpEnabled: true,
      ...(router !== undefined && ipProblem(router) === undefined ? { gatewayIp: router } : {}),
    };
    model.subnets.set(subnet.id, subnet);
    causes.set(causeKey('subnets', subnet.id), nbCause('DHCP_Options', options._uuid));
  }
  for (const ls of nb.Logical_Switch.values()) {
    const cidr = ls.other_config.get('subnet');
    if (cidr === undefined) continue;
    const switchId = switchIds.get(ls._uuid) as string;
    if (cidrProblem(cidr) !== undefined) {
      skip('Logical_Switch', ls, `other_config:subnet: ${cidrProblem(cidr)}`);
      continue;
    }
    const covered = [...model.subnets.values()].some(
      (subnet) => subnet.switchId === switchId && subnet.cidr === cidr,
    );
    if (covered) continue;
    const id = `${ls._uuid}-subnet`;
    model.subnets.set(id, { id, switchId, cidr, dhcpEnabled: false });
    causes.set(causeKey('subnets', id), nbCause('Logical_Switch', ls._uuid));
  }

  // --- routers and their floating IPs -----------------------------------------------------
  const lspUuid = new Map<string, string>();
  for (const lsp of nb.Logical_Switch_Port.values()) lspUuid.set(lsp.name, lsp._uuid);
  for (const router of [...nb.Logical_Router.values()].sort(byName)) {
    const id = routerIds.get(router._uuid) as string;
    const gateway = gatewayLrp.get(router._uuid);
    const gatewayPortId = gateway === undefined ? null : (routerLsps.get(gateway) ?? null);
    const interfacePortIds: string[] = [];
    for (const uuid of router.ports) {
      const lrp = nb.Logical_Router_Port.get(uuid);
      if (lrp === undefined || uuid === gateway) continue;
      const port = routerLsps.get(uuid);
      if (port === undefined) {
        skip(
          'Logical_Router_Port',
          lrp,
          'no router-type switch port peers with it: it has no locus port',
        );
        continue;
      }
      if (!interfacePortIds.includes(port)) interfacePortIds.push(port);
    }
    interfacePortIds.sort();
    model.routers.set(id, { id, interfacePortIds, gatewayPortId });
    causes.set(causeKey('routers', id), nbCause('Logical_Router', router._uuid));

    const external = gatewayPortId === null ? undefined : model.ports.get(gatewayPortId);
    const attached = new Set(
      [...interfacePortIds, ...(gatewayPortId === null ? [] : [gatewayPortId])].flatMap((port) => {
        const switchId = model.ports.get(port)?.switchId;
        return switchId === undefined ? [] : [switchId];
      }),
    );
    for (const natUuid of router.nat) {
      const nat = nb.NAT.get(natUuid);
      if (nat === undefined) continue;
      if (nat.type !== 'dnat_and_snat') {
        skip(
          'NAT',
          nat,
          `${nat.type} has no locus counterpart (only dnat_and_snat, a floating IP)`,
        );
        continue;
      }
      if (external === undefined) {
        skip(
          'NAT',
          nat,
          `router ${router.name} has no gateway port on a switch to hold the floating port`,
        );
        continue;
      }
      if (ipProblem(nat.external_ip) !== undefined) {
        skip('NAT', nat, `external_ip: ${ipProblem(nat.external_ip)}`);
        continue;
      }
      const floatingPortId = `fip-${nat._uuid}`;
      const mac =
        nat.external_mac !== null && unicastMacProblem(nat.external_mac) === undefined
          ? [nat.external_mac.toLowerCase()]
          : [];
      model.ports.set(floatingPortId, {
        id: floatingPortId,
        switchId: external.switchId,
        macs: mac,
        ips: [nat.external_ip],
        deviceOwner: 'floatingip',
        requestedChassis: null,
      });
      causes.set(causeKey('ports', floatingPortId), nbCause('NAT', nat._uuid));
      let fixedPortId: string | null = null;
      if (nat.logical_port !== null && model.ports.has(nat.logical_port))
        fixedPortId = nat.logical_port;
      else
        for (const port of model.ports.values())
          if (
            attached.has(port.switchId) &&
            port.deviceOwner === 'compute' &&
            port.ips.includes(nat.logical_ip)
          ) {
            fixedPortId = port.id;
            break;
          }
      model.fips.set(nat._uuid, { id: nat._uuid, floatingPortId, fixedPortId });
      causes.set(causeKey('fips', nat._uuid), nbCause('NAT', nat._uuid));
    }
  }

  // --- trunk sub-ports ----------------------------------------------------------------------
  for (const lsp of subPorts) {
    const parent = lsp.parent_name as string;
    if (!model.ports.has(parent)) {
      skip(
        'Logical_Switch_Port',
        lsp,
        `parent_name ${parent} is no followed port: no segmentation`,
      );
      continue;
    }
    const tag = vlanOf(lsp);
    if (!isVlan(tag)) {
      skip(
        'Logical_Switch_Port',
        lsp,
        `tag ${tag ?? 'none'} is not a VLAN id (1-4094): no segmentation`,
      );
      continue;
    }
    model.segmentations.set(lsp.name, {
      id: lsp.name,
      parentPortId: parent,
      childPortId: lsp.name,
      segmentationType: 'vlan',
      segmentationId: tag,
    });
    causes.set(causeKey('segmentations', lsp.name), nbCause('Logical_Switch_Port', lsp._uuid));
  }

  // --- chassis, from the Southbound ---------------------------------------------------------
  if (snapshot.sb !== undefined) {
    const sb = snapshot.sb;
    for (const row of [...sb.Chassis.values()].sort(byName)) {
      const chassis = chassisOf(row, sb.Encap, (reason) => skip('Chassis', row, reason));
      if (chassis === undefined) continue;
      model.chassis.set(chassis.id, chassis);
      causes.set(causeKey('chassis', chassis.id), {
        source: 'ovn-sb',
        table: 'Chassis',
        uuid: row._uuid,
      });
    }
  }
  holdBack(
    model,
    causes,
    unkeyed.filter((entry) => entry.waiting).map((entry) => entry.id),
    held,
  );
  return { model, causes, skipped, followsChassis: snapshot.sb !== undefined, unkeyed, held };
}

type MutableModel = {
  readonly [K in ModelKind]: LocusModel[K] extends ReadonlyMap<string, infer V>
    ? Map<string, V>
    : never;
};

const isVni = (key: number): boolean => Number.isInteger(key) && key >= 1 && key <= 16_777_215;

/**
 * Takes the switches waiting for their Datapath_Binding out of the model, with everything
 * that needs them (a switch's segmentation id cannot change once created, so it must not be
 * created before its key is known), and records each as held: locus' copy stands.
 */
function holdBack(
  model: MutableModel,
  causes: Map<string, OvnCause>,
  switchIds: readonly string[],
  held: Held[],
): void {
  if (switchIds.length === 0) return;
  const known = new Set(held.map((entry) => causeKey(entry.kind, entry.id)));
  const out = (kind: ModelKind, id: string) => {
    model[kind].delete(id);
    causes.delete(causeKey(kind, id));
    if (!known.has(causeKey(kind, id))) held.push({ kind, id });
  };
  const switches = new Set(switchIds);
  for (const id of switches) out('switches', id);
  const ports = new Set<string>();
  for (const port of [...model.ports.values()])
    if (switches.has(port.switchId)) {
      ports.add(port.id);
      out('ports', port.id);
    }
  for (const subnet of [...model.subnets.values()])
    if (switches.has(subnet.switchId)) out('subnets', subnet.id);
  for (const seg of [...model.segmentations.values()])
    if (ports.has(seg.parentPortId) || ports.has(seg.childPortId)) out('segmentations', seg.id);
  for (const fip of [...model.fips.values()])
    if (ports.has(fip.floatingPortId) || (fip.fixedPortId !== null && ports.has(fip.fixedPortId)))
      out('fips', fip.id);
  for (const router of [...model.routers.values()])
    if (
      (router.gatewayPortId !== null && ports.has(router.gatewayPortId)) ||
      router.interfacePortIds.some((port) => ports.has(port))
    )
      out('routers', router.id);
}

/** `physnet:bridge,physnet:bridge` → the mappings locus can hold (the rest reported). */
function bridgeMappings(text: string, skip: (reason: string) => void): Record<string, string> {
  const mappings: Record<string, string> = {};
  for (const pair of text.split(',')) {
    if (pair.trim() === '') continue;
    const [physnet = '', bridge = ''] = pair.trim().split(':');
    if (PHYSNET.test(physnet) && PHYSNET.test(bridge)) mappings[physnet] = bridge;
    else skip(`bridge mapping ${JSON.stringify(pair)} left out: not physnet:bridge`);
  }
  return mappings;
}

function chassisOf(
  row: ChassisRow,
  encaps: ReadonlyMap<string, { type: string; ip: string }>,
  skip: (reason: string) => void,
): Chassis | undefined {
  if (!isId(row.name)) {
    skip('its name is not a valid locus chassis id');
    return undefined;
  }
  const tunnels = row.encaps
    .map((uuid) => encaps.get(uuid))
    .filter((encap) => encap !== undefined)
    .filter((encap): encap is { type: TunnelType; ip: string } => {
      if (encap.type === 'geneve' || encap.type === 'vxlan') return true;
      skip(`encap ${encap.type} left out: locus tunnels are geneve or vxlan`);
      return false;
    })
    .sort((a, b) => (a.type === b.type ? 0 : a.type === 'geneve' ? -1 : 1));
  const first = tunnels[0];
  if (first === undefined) {
    skip('no geneve or vxlan encap: locus needs a tunnel endpoint');
    return undefined;
  }
  const problem = tunnelIpProblem(first.ip);
  if (problem !== undefined) {
    skip(`encap ip: ${problem}`);
    return undefined;
  }
  const text =
    row.other_config.get('ovn-bridge-mappings') ??
    row.external_ids.get('ovn-bridge-mappings') ??
    '';
  return {
    id: row.name,
    tunnelIp: first.ip,
    tunnelTypes: [...new Set(tunnels.map((tunnel) => tunnel.type))],
    bridgeMappings: bridgeMappings(text, skip),
  };
}
