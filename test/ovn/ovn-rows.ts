/**
 * Hand-written OVN rows for the translation and diff tests: each builder fills the columns a
 * real row has (empty sets and maps), with a uuid derived from its name unless given.
 */
import type {
  ChassisRow,
  DatapathBindingRow,
  DhcpOptionsRow,
  EncapRow,
  LogicalRouterPortRow,
  LogicalRouterRow,
  LogicalSwitchPortRow,
  LogicalSwitchRow,
  NatRow,
  OvnSnapshot,
} from '../../src/ovn/nb-model.js';

let counter = 0;
/** A uuid-shaped id, unique per call. */
export const uuid = (): string =>
  `00000000-0000-4000-8000-${(++counter).toString(16).padStart(12, '0')}`;

const map = (entries: Record<string, string> = {}) => new Map(Object.entries(entries));

export const ls = (
  name: string,
  ports: LogicalSwitchPortRow[] = [],
  extra: Partial<LogicalSwitchRow> = {},
): LogicalSwitchRow => ({
  _uuid: uuid(),
  name,
  ports: ports.map((port) => port._uuid),
  other_config: map(),
  external_ids: map(),
  ...extra,
});

export const lsp = (
  name: string,
  extra: Omit<Partial<LogicalSwitchPortRow>, 'options'> & { options?: Record<string, string> } = {},
): LogicalSwitchPortRow => ({
  _uuid: uuid(),
  name,
  type: '',
  addresses: [],
  dynamic_addresses: null,
  parent_name: null,
  tag: null,
  tag_request: null,
  dhcpv4_options: null,
  external_ids: map(),
  ...extra,
  options: map(extra.options),
});

export const lr = (
  name: string,
  ports: LogicalRouterPortRow[] = [],
  nat: NatRow[] = [],
): LogicalRouterRow => ({
  _uuid: uuid(),
  name,
  ports: ports.map((port) => port._uuid),
  nat: nat.map((row) => row._uuid),
  external_ids: map(),
});

export const lrp = (
  name: string,
  mac: string,
  networks: string[],
  extra: Partial<LogicalRouterPortRow> = {},
): LogicalRouterPortRow => ({
  _uuid: uuid(),
  name,
  mac,
  networks,
  gateway_chassis: [],
  ha_chassis_group: null,
  options: map(),
  ...extra,
});

export const nat = (
  extra: Partial<NatRow> & Pick<NatRow, 'type' | 'external_ip' | 'logical_ip'>,
): NatRow => ({
  _uuid: uuid(),
  external_mac: null,
  logical_port: null,
  external_ids: map(),
  ...extra,
});

export const dhcp = (cidr: string, options: Record<string, string> = {}): DhcpOptionsRow => ({
  _uuid: uuid(),
  cidr,
  options: map(options),
  external_ids: map(),
});

export const encap = (chassis: string, type: string, ip: string): EncapRow => ({
  _uuid: uuid(),
  type,
  ip,
  chassis_name: chassis,
});

export const chassis = (
  name: string,
  encaps: EncapRow[],
  otherConfig: Record<string, string> = {},
): ChassisRow => ({
  _uuid: uuid(),
  name,
  hostname: name,
  encaps: encaps.map((row) => row._uuid),
  external_ids: map(),
  other_config: map(otherConfig),
});

/** ovn-northd's Datapath_Binding of a switch, with the tunnel key it allocated. */
export const binding = (switchUuid: string, tunnelKey: number): DatapathBindingRow => ({
  _uuid: uuid(),
  tunnel_key: tunnelKey,
  external_ids: map({ 'logical-switch': switchUuid }),
});

const byUuid = <R extends { _uuid: string }>(rows: readonly R[]) =>
  new Map(rows.map((row) => [row._uuid, row]));

/** A snapshot of the rows given (a Southbound only when chassis, encaps or bindings are). */
export function snapshot(rows: {
  switches?: LogicalSwitchRow[];
  ports?: LogicalSwitchPortRow[];
  routers?: LogicalRouterRow[];
  routerPorts?: LogicalRouterPortRow[];
  nats?: NatRow[];
  dhcp?: DhcpOptionsRow[];
  chassis?: ChassisRow[];
  encaps?: EncapRow[];
  bindings?: DatapathBindingRow[];
}): OvnSnapshot {
  const nb = {
    Logical_Switch: byUuid(rows.switches ?? []),
    Logical_Switch_Port: byUuid(rows.ports ?? []),
    Logical_Router: byUuid(rows.routers ?? []),
    Logical_Router_Port: byUuid(rows.routerPorts ?? []),
    NAT: byUuid(rows.nats ?? []),
    DHCP_Options: byUuid(rows.dhcp ?? []),
  };
  if (rows.chassis === undefined && rows.encaps === undefined && rows.bindings === undefined)
    return { nb };
  return {
    nb,
    sb: {
      Chassis: byUuid(rows.chassis ?? []),
      Encap: byUuid(rows.encaps ?? []),
      Datapath_Binding: byUuid(rows.bindings ?? []),
    },
  };
}
