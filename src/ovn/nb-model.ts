/**
 * The OVN rows the follower reads: the columns it monitors in the Northbound (`OVN_Northbound`)
 * and Southbound (`OVN_Southbound`) databases, typed as src/ovs/ovsdb/codec.ts decodes them
 * (optional column → value or null, set → sorted array, map → Map). See
 * /usr/share/ovn/ovn-nb.ovsschema and ovn-sb.ovsschema (OVN 23.03).
 *
 * A snapshot is plain maps by row uuid, so the translation (./translate.ts) is a pure function
 * of it and tests write one by hand.
 */

export interface LogicalSwitchRow {
  readonly _uuid: string;
  readonly name: string;
  readonly ports: readonly string[];
  readonly other_config: ReadonlyMap<string, string>;
  readonly external_ids: ReadonlyMap<string, string>;
}

export interface LogicalSwitchPortRow {
  readonly _uuid: string;
  readonly name: string;
  /** "" (a VM's port), router, localnet, localport, virtual, external, vtep, l2gateway… */
  readonly type: string;
  /** "MAC IP…", "unknown", "router", "dynamic", "MAC dynamic". */
  readonly addresses: readonly string[];
  /** What ovn-northd assigned for "dynamic" addresses ("MAC IP…"). */
  readonly dynamic_addresses: string | null;
  readonly options: ReadonlyMap<string, string>;
  /** Set on a trunk's sub-port: the name of its parent port. */
  readonly parent_name: string | null;
  /** The VLAN of a sub-port (with parent_name) or of a localnet port. */
  readonly tag: number | null;
  /** The VLAN asked for (`lsp-add SW PORT PARENT TAG`); ovn-northd copies it to `tag`. */
  readonly tag_request: number | null;
  readonly dhcpv4_options: string | null;
  readonly external_ids: ReadonlyMap<string, string>;
}

export interface LogicalRouterRow {
  readonly _uuid: string;
  readonly name: string;
  readonly ports: readonly string[];
  readonly nat: readonly string[];
  readonly external_ids: ReadonlyMap<string, string>;
}

export interface LogicalRouterPortRow {
  readonly _uuid: string;
  readonly name: string;
  readonly mac: string;
  /** "IP/prefix" each. */
  readonly networks: readonly string[];
  readonly gateway_chassis: readonly string[];
  readonly ha_chassis_group: string | null;
  readonly options: ReadonlyMap<string, string>;
}

export interface NatRow {
  readonly _uuid: string;
  /** dnat, snat or dnat_and_snat. */
  readonly type: string;
  readonly external_ip: string;
  readonly external_mac: string | null;
  readonly logical_ip: string;
  readonly logical_port: string | null;
  readonly external_ids: ReadonlyMap<string, string>;
}

export interface DhcpOptionsRow {
  readonly _uuid: string;
  readonly cidr: string;
  readonly options: ReadonlyMap<string, string>;
  readonly external_ids: ReadonlyMap<string, string>;
}

/** The Northbound tables the follower monitors, by table name. */
export interface NorthboundTables {
  readonly Logical_Switch: LogicalSwitchRow;
  readonly Logical_Switch_Port: LogicalSwitchPortRow;
  readonly Logical_Router: LogicalRouterRow;
  readonly Logical_Router_Port: LogicalRouterPortRow;
  readonly NAT: NatRow;
  readonly DHCP_Options: DhcpOptionsRow;
}

export interface ChassisRow {
  readonly _uuid: string;
  readonly name: string;
  readonly hostname: string;
  readonly encaps: readonly string[];
  readonly external_ids: ReadonlyMap<string, string>;
  readonly other_config: ReadonlyMap<string, string>;
}

export interface EncapRow {
  readonly _uuid: string;
  /** geneve, vxlan or stt. */
  readonly type: string;
  readonly ip: string;
  readonly chassis_name: string;
}

/**
 * ovn-northd's datapath of a logical switch or router: `tunnel_key` is the key it allocated
 * (the switch's VNI on geneve), `external_ids:logical-switch` the NB Logical_Switch's uuid.
 */
export interface DatapathBindingRow {
  readonly _uuid: string;
  readonly tunnel_key: number;
  readonly external_ids: ReadonlyMap<string, string>;
}

/** The Southbound tables the follower monitors. */
export interface SouthboundTables {
  readonly Chassis: ChassisRow;
  readonly Encap: EncapRow;
  readonly Datapath_Binding: DatapathBindingRow;
}

/** The monitored columns of each table (the row types' fields but `_uuid`). */
export const northboundMonitor = {
  Logical_Switch: ['name', 'ports', 'other_config', 'external_ids'],
  Logical_Switch_Port: [
    'name',
    'type',
    'addresses',
    'dynamic_addresses',
    'options',
    'parent_name',
    'tag',
    'tag_request',
    'dhcpv4_options',
    'external_ids',
  ],
  Logical_Router: ['name', 'ports', 'nat', 'external_ids'],
  Logical_Router_Port: [
    'name',
    'mac',
    'networks',
    'gateway_chassis',
    'ha_chassis_group',
    'options',
  ],
  NAT: ['type', 'external_ip', 'external_mac', 'logical_ip', 'logical_port', 'external_ids'],
  DHCP_Options: ['cidr', 'options', 'external_ids'],
} as const satisfies { readonly [T in keyof NorthboundTables]: readonly string[] };

export const southboundMonitor = {
  Chassis: ['name', 'hostname', 'encaps', 'external_ids', 'other_config'],
  Encap: ['type', 'ip', 'chassis_name'],
  Datapath_Binding: ['tunnel_key', 'external_ids'],
} as const satisfies { readonly [T in keyof SouthboundTables]: readonly string[] };

/** Rows of each table by uuid. */
export type TablesSnapshot<Tables> = {
  readonly [T in keyof Tables]: ReadonlyMap<string, Tables[T]>;
};

/** What the translation reads: the Northbound, and the Southbound when it is followed. */
export interface OvnSnapshot {
  readonly nb: TablesSnapshot<NorthboundTables>;
  /**
   * Absent: chassis are not followed (left as locus has them), and a geneve switch without
   * `other_config:requested-tnl-key` has no segmentation id (no Datapath_Binding to read).
   */
  readonly sb?: TablesSnapshot<SouthboundTables>;
}

/** Which OVN row a locus document comes from: recorded in its events' metadata (`cause`). */
export interface OvnCause {
  readonly source: 'ovn-nb' | 'ovn-sb';
  readonly table: string;
  readonly uuid: string;
}
