/**
 * Row types for the Open_vSwitch database tables the agent reads (the columns it monitors or
 * selects; see /usr/share/openvswitch/vswitch.ovsschema), as decoded by codec.ts.
 */

export interface OpenVSwitchRow {
  readonly _uuid: string;
  readonly bridges: readonly string[];
  readonly next_cfg: number;
  readonly cur_cfg: number;
}

export interface BridgeRow {
  readonly _uuid: string;
  readonly name: string;
  readonly ports: readonly string[];
  readonly datapath_type: string;
  readonly fail_mode: string | null;
  readonly protocols: readonly string[];
  readonly other_config: ReadonlyMap<string, string>;
  readonly external_ids: ReadonlyMap<string, string>;
}

export interface PortRow {
  readonly _uuid: string;
  readonly name: string;
  readonly interfaces: readonly string[];
  readonly external_ids: ReadonlyMap<string, string>;
}

export interface InterfaceRow {
  readonly _uuid: string;
  readonly name: string;
  readonly type: string;
  /** Null until ovs-vswitchd assigns it; -1 when the interface could not be created. */
  readonly ofport: number | null;
  readonly ofport_request: number | null;
  readonly options: ReadonlyMap<string, string>;
  readonly external_ids: ReadonlyMap<string, string>;
  readonly error: string | null;
}

/** Tables of Open_vSwitch by name, for `client.monitor<VswitchTables>(…)`. */
export interface VswitchTables {
  readonly Open_vSwitch: OpenVSwitchRow;
  readonly Bridge: BridgeRow;
  readonly Port: PortRow;
  readonly Interface: InterfaceRow;
}
