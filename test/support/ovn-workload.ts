/**
 * A seeded random OVN workload, driven only as an OVN cloud is driven: `ovn-nbctl` on the
 * Northbound (switches, ports, localports, trunk sub-ports, routers, gateways, floating IPs,
 * requested-chassis, deletions) and `ovs-vsctl` on each chassis' own Open vSwitch (interfaces
 * plugged and unplugged with `external_ids:iface-id`).
 *
 * Pure: `nextOp(state, rng)` picks an operation that makes sense in the current state,
 * `apply(state, op)` records it, and `ovnActions(op)` says what the tools run. The same state
 * tells the differential comparison (./ovn-differential.ts) which allowed difference explains
 * a disagreement, and the REST driver (./ovn-rest-driver.ts) what locus commands mirror an op.
 */
import type { Rng } from './chaos/rng.js';

export type PortKind = 'vif' | 'localport' | 'subport';

export interface PortState {
  readonly name: string;
  readonly switch: string;
  readonly kind: PortKind;
  readonly mac: string;
  readonly ip: string;
  /** Sub-ports: the parent VIF and the VLAN tag. */
  readonly parent?: string;
  readonly tag?: number;
  /** options:requested-chassis, or null. */
  requested: string | null;
  /** Where its interface is plugged: chassis → interface name, in plug order. */
  readonly plugs: Map<string, string>;
}

export interface SwitchState {
  readonly name: string;
  /** 10.<n>.0.0/24 (switches), 172.16.<n>.0/24 (a router's external switch). */
  readonly subnet: number;
  readonly external: boolean;
  hosts: number;
}

export interface RouterState {
  readonly name: string;
  /** switch → the router port (lrp) and its switch-side peer (lsp). */
  readonly interfaces: Map<string, { readonly lrp: string; readonly lsp: string }>;
  /** The distributed gateway port on the router's external switch, bound to `chassis`. */
  gateway: {
    readonly lrp: string;
    readonly lsp: string;
    readonly switch: string;
    chassis: string;
  } | null;
}

export interface FipState {
  readonly name: string;
  readonly router: string;
  readonly port: string;
  readonly externalIp: string;
  readonly externalMac: string;
}

export interface WorkloadState {
  readonly chassis: readonly string[];
  readonly switches: Map<string, SwitchState>;
  readonly ports: Map<string, PortState>;
  readonly routers: Map<string, RouterState>;
  readonly fips: Map<string, FipState>;
  /** chassis → interface → iface-id: what each br-int holds (a deleted port's stay plugged). */
  readonly interfaces: Map<string, Map<string, string>>;
  counter: number;
}

export type Op =
  | { readonly kind: 'add-switch'; readonly switch: string; readonly subnet: number }
  | {
      readonly kind: 'add-port';
      readonly port: string;
      readonly switch: string;
      readonly portKind: PortKind;
      readonly mac: string;
      readonly ip: string;
      readonly parent?: string;
      readonly tag?: number;
    }
  | {
      readonly kind: 'plug';
      readonly port: string;
      readonly chassis: string;
      readonly iface: string;
    }
  | {
      readonly kind: 'unplug';
      readonly port: string;
      readonly chassis: string;
      readonly iface: string;
    }
  /** Live migration: requested-chassis moves to `to`, then the interface is plugged there. */
  | {
      readonly kind: 'migrate';
      readonly port: string;
      readonly from: string;
      readonly to: string;
      readonly iface: string;
    }
  | { readonly kind: 'set-requested'; readonly port: string; readonly chassis: string | null }
  | {
      readonly kind: 'del-port';
      readonly port: string;
      readonly subports: readonly string[];
      /** The floating IPs of the port (and of its sub-ports), deleted with it. */
      readonly fips: readonly string[];
    }
  | { readonly kind: 'add-router'; readonly router: string }
  | {
      readonly kind: 'attach';
      readonly router: string;
      readonly switch: string;
      readonly lrp: string;
      readonly lsp: string;
      readonly mac: string;
      readonly network: string;
    }
  | {
      readonly kind: 'detach';
      readonly router: string;
      readonly switch: string;
      readonly lrp: string;
      readonly lsp: string;
    }
  | {
      readonly kind: 'set-gateway';
      readonly router: string;
      readonly switch: string;
      readonly subnet: number;
      readonly lrp: string;
      readonly lsp: string;
      readonly mac: string;
      readonly network: string;
      readonly chassis: string;
    }
  | {
      readonly kind: 'move-gateway';
      readonly router: string;
      readonly lrp: string;
      readonly chassis: string;
    }
  | {
      readonly kind: 'add-fip';
      readonly fip: string;
      readonly router: string;
      readonly port: string;
      readonly externalIp: string;
      readonly logicalIp: string;
      readonly externalMac: string;
    }
  | {
      readonly kind: 'del-fip';
      readonly fip: string;
      readonly router: string;
      readonly externalIp: string;
    };

export interface WorkloadLimits {
  readonly switches: number;
  readonly ports: number;
  readonly routers: number;
}

export const DEFAULT_LIMITS: WorkloadLimits = { switches: 4, ports: 36, routers: 2 };

export function emptyState(chassis: readonly string[]): WorkloadState {
  return {
    chassis,
    switches: new Map(),
    ports: new Map(),
    routers: new Map(),
    fips: new Map(),
    interfaces: new Map(chassis.map((c) => [c, new Map()])),
    counter: 0,
  };
}

const hex = (n: number) => n.toString(16).padStart(2, '0');
const macOf = (n: number) => `0a:00:00:00:${hex((n >> 8) & 255)}:${hex(n & 255)}`;

function nextHost(sw: SwitchState): string {
  sw.hosts++;
  return sw.external ? `172.16.${sw.subnet}.${sw.hosts + 1}` : `10.${sw.subnet}.0.${sw.hosts + 1}`;
}

/** Ports of the workload's VMs and localports (never a router's peer port). */
const workloadPorts = (state: WorkloadState, kind?: PortKind) =>
  [...state.ports.values()].filter((p) => kind === undefined || p.kind === kind);

const plainSwitches = (state: WorkloadState) =>
  [...state.switches.values()].filter((s) => !s.external);

/** Which ops can run now, with their weights; each builds its op from the rng. */
function candidates(
  state: WorkloadState,
  rng: Rng,
  limits: WorkloadLimits,
): (readonly [number, () => Op])[] {
  const next = () => ++state.counter;
  const switches = plainSwitches(state);
  const vifs = workloadPorts(state, 'vif');
  const plugged = vifs.filter((p) => p.plugs.size > 0);
  const unplugged = [...state.ports.values()].filter(
    (p) => p.kind !== 'subport' && p.plugs.size === 0,
  );
  const out: (readonly [number, () => Op])[] = [];
  const newPort = (portKind: PortKind, sw: SwitchState, extra: Partial<Op> = {}): Op => {
    const n = next();
    return {
      kind: 'add-port',
      port: `${portKind === 'vif' ? 'p' : portKind === 'localport' ? 'lp' : 'sp'}${n}`,
      switch: sw.name,
      portKind,
      mac: macOf(n),
      ip: nextHost(sw),
      ...extra,
    } as Op;
  };

  if (switches.length < limits.switches)
    out.push([
      switches.length === 0 ? 100 : 4,
      () => {
        const n = next();
        return { kind: 'add-switch', switch: `sw${n}`, subnet: n };
      },
    ]);
  if (switches.length > 0 && state.ports.size < limits.ports) {
    out.push([14, () => newPort('vif', rng.pick(switches))]);
    out.push([2, () => newPort('localport', rng.pick(switches))]);
  }
  if (vifs.length > 0 && state.ports.size < limits.ports)
    out.push([
      3,
      () => {
        const parent = rng.pick(vifs);
        return newPort('subport', rng.pick(switches), {
          parent: parent.name,
          tag: rng.between(1, 4094),
        });
      },
    ]);
  if (unplugged.length > 0)
    out.push([
      22,
      () => {
        const port = rng.pick(unplugged);
        const chassis = port.requested ?? rng.pick(state.chassis);
        return { kind: 'plug', port: port.name, chassis, iface: `t${next()}` };
      },
    ]);
  // A second interface for a port without requested-chassis: OVN and locus differ on purpose.
  // OVN's controllers then take the port from each other every few seconds: one such port at a
  // time, soon unplugged again (the flapping keeps every controller busy).
  // A migration (requested-chassis on one of two interfaces) is finished soon too: OVN claims a
  // trunk's sub-ports on both chassis meanwhile, and they flap.
  const contested = vifs.filter((p) => p.plugs.size >= 2);
  const doubles = vifs.filter((p) => p.plugs.size === 1 && p.requested === null);
  if (contested.length > 0)
    out.push([
      40,
      () => {
        const port = rng.pick(contested);
        // The migration's source (any but the requested chassis), else either.
        const sources = [...port.plugs].filter(([c]) => c !== port.requested);
        const [chassis, iface] = rng.pick(sources.length > 0 ? sources : [...port.plugs]);
        return { kind: 'unplug', port: port.name, chassis, iface };
      },
    ]);
  if (contested.length === 0 && doubles.length > 0)
    out.push([
      1,
      () => {
        const port = rng.pick(doubles);
        const chassis = rng.pick(state.chassis.filter((c) => !port.plugs.has(c)));
        return { kind: 'plug', port: port.name, chassis, iface: `t${next()}` };
      },
    ]);
  const anyPlugged = [...state.ports.values()].filter((p) => p.plugs.size > 0);
  if (anyPlugged.length > 0)
    out.push([
      9,
      () => {
        const port = rng.pick(anyPlugged);
        // The oldest interface first: the end of a migration.
        const [chassis, iface] = [...port.plugs][0] as [string, string];
        return { kind: 'unplug', port: port.name, chassis, iface };
      },
    ]);
  const movable = plugged.filter((p) => p.plugs.size === 1);
  if (movable.length > 0)
    out.push([
      8,
      () => {
        const port = rng.pick(movable);
        const from = [...port.plugs.keys()][0] as string;
        const to = rng.pick(state.chassis.filter((c) => c !== from));
        return { kind: 'migrate', port: port.name, from, to, iface: `t${next()}` };
      },
    ]);
  const requested = vifs.filter((p) => p.requested !== null);
  if (requested.length > 0)
    out.push([3, () => ({ kind: 'set-requested', port: rng.pick(requested).name, chassis: null })]);
  // requested-chassis naming a chassis where the port is not plugged: differ on purpose.
  if (plugged.length > 0)
    out.push([
      1,
      () => {
        const port = rng.pick(plugged);
        const elsewhere = state.chassis.filter((c) => !port.plugs.has(c));
        return { kind: 'set-requested', port: port.name, chassis: rng.pick(elsewhere) };
      },
    ]);
  const deletable = workloadPorts(state);
  if (deletable.length > 6)
    out.push([
      5,
      () => {
        const port = rng.pick(deletable);
        const subports = [...state.ports.values()]
          .filter((p) => p.parent === port.name)
          .map((p) => p.name);
        const gone = new Set([port.name, ...subports]);
        const fips = [...state.fips.values()].filter((f) => gone.has(f.port)).map((f) => f.name);
        return { kind: 'del-port', port: port.name, subports, fips };
      },
    ]);
  if (state.routers.size < limits.routers && switches.length > 0)
    out.push([3, () => ({ kind: 'add-router', router: `r${next()}` })]);
  for (const router of state.routers.values()) {
    const free = switches.filter(
      (s) =>
        !router.interfaces.has(s.name) &&
        // One router per switch: two routers on one subnet would need distinct gateway IPs.
        ![...state.routers.values()].some((r) => r.interfaces.has(s.name)),
    );
    if (free.length > 0)
      out.push([
        4,
        () => {
          const sw = rng.pick(free);
          const n = next();
          return {
            kind: 'attach',
            router: router.name,
            switch: sw.name,
            // Unique: locus never reuses a deleted port's id (a detached one's included).
            lrp: `${router.name}-${sw.name}-${n}`,
            lsp: `${sw.name}-${router.name}-${n}`,
            mac: macOf(n),
            network: `10.${sw.subnet}.0.1/24`,
          };
        },
      ]);
    const attachedWithoutFips = [...router.interfaces.keys()].filter(
      (sw) =>
        ![...state.fips.values()].some(
          (f) => f.router === router.name && state.ports.get(f.port)?.switch === sw,
        ),
    );
    if (attachedWithoutFips.length > 0)
      out.push([
        1,
        () => {
          const sw = rng.pick(attachedWithoutFips);
          const ends = router.interfaces.get(sw) as { lrp: string; lsp: string };
          return { kind: 'detach', router: router.name, switch: sw, ...ends };
        },
      ]);
    if (router.gateway === null && router.interfaces.size > 0)
      out.push([
        3,
        () => {
          const n = next();
          return {
            kind: 'set-gateway',
            router: router.name,
            switch: `ext-${router.name}`,
            subnet: n % 250,
            lrp: `${router.name}-gw`,
            lsp: `ext-${router.name}-gw`,
            mac: macOf(n),
            network: `172.16.${n % 250}.1/24`,
            chassis: rng.pick(state.chassis),
          };
        },
      ]);
    const gateway = router.gateway;
    if (gateway !== null) {
      out.push([
        1,
        () => ({
          kind: 'move-gateway',
          router: router.name,
          lrp: gateway.lrp,
          chassis: rng.pick(state.chassis.filter((c) => c !== gateway.chassis)),
        }),
      ]);
      const ext = state.switches.get(gateway.switch) as SwitchState;
      const eligible = vifs.filter(
        (p) =>
          router.interfaces.has(p.switch) &&
          ![...state.fips.values()].some((f) => f.port === p.name),
      );
      if (eligible.length > 0)
        out.push([
          4,
          () => {
            const port = rng.pick(eligible);
            const n = next();
            return {
              kind: 'add-fip',
              fip: `fip${n}`,
              router: router.name,
              port: port.name,
              externalIp: nextHost(ext),
              logicalIp: port.ip,
              externalMac: macOf(n),
            };
          },
        ]);
    }
  }
  if (state.fips.size > 0)
    out.push([
      2,
      () => {
        const fip = rng.pick([...state.fips.values()]);
        return { kind: 'del-fip', fip: fip.name, router: fip.router, externalIp: fip.externalIp };
      },
    ]);
  return out;
}

/** The next operation for `state` (which it does not change: see apply). */
export function nextOp(
  state: WorkloadState,
  rng: Rng,
  limits: WorkloadLimits = DEFAULT_LIMITS,
): Op {
  return rng.weighted(candidates(state, rng, limits))();
}

/** Records `op` in `state`. */
export function apply(state: WorkloadState, op: Op): void {
  switch (op.kind) {
    case 'add-switch':
      state.switches.set(op.switch, {
        name: op.switch,
        subnet: op.subnet,
        external: false,
        hosts: 1,
      });
      return;
    case 'add-port':
      state.ports.set(op.port, {
        name: op.port,
        switch: op.switch,
        kind: op.portKind,
        mac: op.mac,
        ip: op.ip,
        ...(op.parent === undefined ? {} : { parent: op.parent, tag: op.tag as number }),
        requested: null,
        plugs: new Map(),
      });
      return;
    case 'plug':
      state.ports.get(op.port)?.plugs.set(op.chassis, op.iface);
      state.interfaces.get(op.chassis)?.set(op.iface, op.port);
      return;
    case 'unplug':
      state.ports.get(op.port)?.plugs.delete(op.chassis);
      state.interfaces.get(op.chassis)?.delete(op.iface);
      return;
    case 'migrate': {
      const port = state.ports.get(op.port) as PortState;
      port.requested = op.to;
      port.plugs.set(op.to, op.iface);
      state.interfaces.get(op.to)?.set(op.iface, op.port);
      return;
    }
    case 'set-requested':
      (state.ports.get(op.port) as PortState).requested = op.chassis;
      return;
    case 'del-port':
      // The interfaces stay plugged (their iface-id names a port no longer there).
      for (const name of [...op.subports, op.port]) state.ports.delete(name);
      for (const name of op.fips) state.fips.delete(name);
      return;
    case 'add-router':
      state.routers.set(op.router, { name: op.router, interfaces: new Map(), gateway: null });
      return;
    case 'attach':
      state.routers.get(op.router)?.interfaces.set(op.switch, { lrp: op.lrp, lsp: op.lsp });
      return;
    case 'detach':
      state.routers.get(op.router)?.interfaces.delete(op.switch);
      return;
    case 'set-gateway':
      state.switches.set(op.switch, {
        name: op.switch,
        subnet: op.subnet,
        external: true,
        hosts: 1,
      });
      (state.routers.get(op.router) as RouterState).gateway = {
        lrp: op.lrp,
        lsp: op.lsp,
        switch: op.switch,
        chassis: op.chassis,
      };
      return;
    case 'move-gateway': {
      const gateway = state.routers.get(op.router)?.gateway;
      if (gateway) gateway.chassis = op.chassis;
      return;
    }
    case 'add-fip':
      state.fips.set(op.fip, {
        name: op.fip,
        router: op.router,
        port: op.port,
        externalIp: op.externalIp,
        externalMac: op.externalMac,
      });
      return;
    case 'del-fip':
      state.fips.delete(op.fip);
      return;
  }
}

/** One tool run: an ovn-nbctl transaction (commands joined by `--`) or ovs-vsctl on a chassis. */
export type OvnAction =
  | { readonly tool: 'nbctl'; readonly commands: readonly (readonly string[])[] }
  | { readonly tool: 'vsctl'; readonly chassis: string; readonly args: readonly string[] };

const plugArgs = (iface: string, port: string): string[] => [
  'add-port',
  'br-int',
  iface,
  '--',
  'set',
  'Interface',
  iface,
  'type=internal',
  `external_ids:iface-id=${port}`,
];

/** A switch's VNI (`other_config:requested-tnl-key`), and an external switch's. */
export const vniOf = (subnet: number): number => 100 + subnet;
export const externalVniOf = (subnet: number): number => 1000 + subnet;

/**
 * Stands for the uuid of a switch's DHCP_Options row in an nbctl command: the runner looks it up
 * (`find DHCP_Options external_ids:switch=…`), as Neutron knows it from creating it.
 */
export const dhcpOf = (sw: string): string => `@dhcp:${sw}`;

/** What the OVN side runs for `op`, in order (`state` as before the op). */
export function ovnActions(op: Op, state: WorkloadState): OvnAction[] {
  const nb = (...commands: string[][]): OvnAction => ({ tool: 'nbctl', commands });
  switch (op.kind) {
    case 'add-switch':
      // Its subnet's DHCP options, as Neutron makes them; its VIFs and localports use them.
      return [
        nb(
          ['ls-add', op.switch],
          // The VNI, as Neutron asks for its segmentation id (locus needs one on a geneve switch).
          [
            'set',
            'Logical_Switch',
            op.switch,
            `other_config:requested-tnl-key=${vniOf(op.subnet)}`,
          ],
          [
            'create',
            'DHCP_Options',
            `cidr=10.${op.subnet}.0.0/24`,
            `external_ids:switch=${op.switch}`,
            `options:router=10.${op.subnet}.0.1`,
            'options:lease_time=3600',
            `options:server_id=10.${op.subnet}.0.1`,
            'options:server_mac=0a:00:00:00:ff:ff',
          ],
        ),
      ];
    case 'add-port': {
      const add =
        op.portKind === 'subport'
          ? ['lsp-add', op.switch, op.port, op.parent as string, String(op.tag)]
          : ['lsp-add', op.switch, op.port];
      return [
        nb(
          add,
          ['lsp-set-addresses', op.port, `${op.mac} ${op.ip}`],
          ...(op.portKind === 'localport' ? [['lsp-set-type', op.port, 'localport']] : []),
          ...(op.portKind === 'subport'
            ? []
            : [['lsp-set-dhcpv4-options', op.port, dhcpOf(op.switch)]]),
        ),
      ];
    }
    case 'plug':
      return [{ tool: 'vsctl', chassis: op.chassis, args: plugArgs(op.iface, op.port) }];
    case 'unplug':
      return [{ tool: 'vsctl', chassis: op.chassis, args: ['del-port', 'br-int', op.iface] }];
    case 'migrate':
      return [
        nb(['lsp-set-options', op.port, `requested-chassis=${op.to}`]),
        { tool: 'vsctl', chassis: op.to, args: plugArgs(op.iface, op.port) },
      ];
    case 'set-requested':
      return [
        nb(
          op.chassis === null
            ? ['remove', 'Logical_Switch_Port', op.port, 'options', 'requested-chassis']
            : ['lsp-set-options', op.port, `requested-chassis=${op.chassis}`],
        ),
      ];
    case 'del-port': {
      const nats = op.fips.flatMap((name) => {
        const fip = state.fips.get(name);
        return fip ? [['lr-nat-del', fip.router, 'dnat_and_snat', fip.externalIp]] : [];
      });
      return [nb(...nats, ...[...op.subports, op.port].map((p) => ['lsp-del', p]))];
    }
    case 'add-router':
      return [nb(['lr-add', op.router])];
    case 'attach':
      return [
        nb(
          ['lrp-add', op.router, op.lrp, op.mac, op.network],
          ['lsp-add', op.switch, op.lsp],
          ['lsp-set-type', op.lsp, 'router'],
          ['lsp-set-addresses', op.lsp, 'router'],
          ['lsp-set-options', op.lsp, `router-port=${op.lrp}`],
        ),
      ];
    case 'detach':
      return [nb(['lsp-del', op.lsp], ['lrp-del', op.lrp])];
    case 'set-gateway':
      return [
        nb(
          ['ls-add', op.switch],
          [
            'set',
            'Logical_Switch',
            op.switch,
            `other_config:requested-tnl-key=${externalVniOf(op.subnet)}`,
          ],
          ['lrp-add', op.router, op.lrp, op.mac, op.network],
          ['lsp-add', op.switch, op.lsp],
          ['lsp-set-type', op.lsp, 'router'],
          ['lsp-set-addresses', op.lsp, 'router'],
          ['lsp-set-options', op.lsp, `router-port=${op.lrp}`],
          ['lrp-set-gateway-chassis', op.lrp, op.chassis, '10'],
        ),
      ];
    case 'move-gateway':
      // One gateway chassis at a time: the old one's row goes, the new one's comes.
      return [
        nb(
          ['clear', 'Logical_Router_Port', op.lrp, 'gateway_chassis'],
          ['lrp-set-gateway-chassis', op.lrp, op.chassis, '10'],
        ),
      ];
    case 'add-fip':
      return [
        nb([
          'lr-nat-add',
          op.router,
          'dnat_and_snat',
          op.externalIp,
          op.logicalIp,
          op.port,
          op.externalMac,
        ]),
      ];
    case 'del-fip':
      return [nb(['lr-nat-del', op.router, 'dnat_and_snat', op.externalIp])];
  }
}

/** One line for logs and failure messages. */
export function describeOp(op: Op): string {
  const { kind, ...rest } = op;
  return `${kind} ${Object.entries(rest)
    .filter(([key]) => !['mac', 'externalMac'].includes(key))
    .map(([key, value]) => `${key}=${Array.isArray(value) ? value.join(',') : String(value)}`)
    .join(' ')}`;
}
