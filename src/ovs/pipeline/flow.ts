/**
 * OpenFlow flows as structured values with one canonical text form: exactly what
 * `ovs-ofctl -O OpenFlow13 dump-flows --no-stats` prints for the flow (without the leading space).
 * Desired and actual flows are compared by that text, so the builders below emit every field and
 * action in Open vSwitch's own print order and number format (hex `0x…` for registers, metadata
 * and tun_id, `0` for zero, decimal for ports/VLANs/ARP opcodes, lower-case MACs).
 *
 * test/ovs/reconciler.int.test.ts round-trips a full pipeline through a real ovs-vswitchd to
 * keep this honest.
 */

/** One match field, `[name, value]`; a bare keyword (`arp`, `udp`) has value `''`. */
export type MatchField = readonly [name: string, value: string];

export interface Flow {
  readonly cookie: bigint;
  readonly table: number;
  readonly priority: number;
  readonly match: readonly MatchField[];
  /** Actions in print form; empty means drop. */
  readonly actions: readonly string[];
  /** `table=…,priority=…[,match]`: what identifies the flow in its bridge (strict match). */
  readonly key: string;
  /** The canonical text: what dump-flows --no-stats prints. */
  readonly text: string;
}

/** Match fields the pipeline uses; rendered in Open vSwitch's print order. */
export interface MatchSpec {
  readonly protocol?: 'arp' | 'ip' | 'udp';
  /** reg0: 1 when the packet entered from another chassis (tunnel or provider network). */
  readonly reg0?: number;
  /** Destination port key: xreg2, printed as reg4 (high word) and reg5 (low word). */
  readonly xreg2?: bigint;
  /** Source port key: xreg3, printed as reg6 (high word) and reg7 (low word). */
  readonly xreg3?: bigint;
  readonly tunId?: number;
  readonly metadata?: bigint;
  readonly inPort?: number;
  /** A VLAN id (`dl_vlan=`), or `'untagged'` (`vlan_tci=0x0000/0x1fff`). */
  readonly vlan?: number | 'untagged';
  readonly dlDst?: string;
  readonly arpTpa?: string;
  readonly arpOp?: number;
  readonly tpSrc?: number;
  readonly tpDst?: number;
}

export const hex = (value: bigint | number): string =>
  value === 0 || value === 0n ? '0' : `0x${value.toString(16)}`;

const word = (value: bigint, shift: bigint): string => hex((value >> shift) & 0xffffffffn);

export function matchFields(spec: MatchSpec): MatchField[] {
  const fields: MatchField[] = [];
  if (spec.protocol !== undefined) fields.push([spec.protocol, '']);
  if (spec.reg0 !== undefined) fields.push(['reg0', hex(spec.reg0)]);
  if (spec.xreg2 !== undefined) {
    fields.push(['reg4', word(spec.xreg2, 32n)]);
    fields.push(['reg5', word(spec.xreg2, 0n)]);
  }
  if (spec.xreg3 !== undefined) {
    fields.push(['reg6', word(spec.xreg3, 32n)]);
    fields.push(['reg7', word(spec.xreg3, 0n)]);
  }
  if (spec.tunId !== undefined) fields.push(['tun_id', hex(spec.tunId)]);
  if (spec.metadata !== undefined) fields.push(['metadata', hex(spec.metadata)]);
  if (spec.inPort !== undefined) fields.push(['in_port', String(spec.inPort)]);
  if (spec.vlan === 'untagged') fields.push(['vlan_tci', '0x0000/0x1fff']);
  else if (spec.vlan !== undefined) fields.push(['dl_vlan', String(spec.vlan)]);
  if (spec.dlDst !== undefined) fields.push(['dl_dst', spec.dlDst.toLowerCase()]);
  if (spec.arpTpa !== undefined) fields.push(['arp_tpa', spec.arpTpa]);
  if (spec.arpOp !== undefined) fields.push(['arp_op', String(spec.arpOp)]);
  if (spec.tpSrc !== undefined) fields.push(['tp_src', String(spec.tpSrc)]);
  if (spec.tpDst !== undefined) fields.push(['tp_dst', String(spec.tpDst)]);
  return fields;
}

const matchText = (fields: readonly MatchField[]): string =>
  fields.map(([name, value]) => (value === '' ? name : `${name}=${value}`)).join(',');

export interface FlowSpec {
  readonly cookie: bigint;
  readonly table: number;
  readonly priority: number;
  readonly match?: MatchSpec;
  readonly actions: readonly string[];
}

/**
 * A built flow. An agent holds one per flow of its chassis (~2 a port, shared by desired and
 * applied), so it is kept small: `key` and `text` are joined into flat strings (template
 * literals would keep trees of their pieces), and the match fields and actions, which only
 * tests read, are derived when asked: the match from its spec, the actions from the text
 * (kept as given only when that could not give them back).
 */
class BuiltFlow implements Flow {
  readonly #match: MatchSpec;
  readonly #actions: readonly string[] | undefined;

  constructor(
    readonly cookie: bigint,
    readonly table: number,
    readonly priority: number,
    match: MatchSpec,
    actions: readonly string[],
    readonly key: string,
    readonly text: string,
  ) {
    this.#match = match;
    const fromText =
      actions.length === 0 || actions.every((a) => a !== '' && a !== 'drop' && !a.includes(','));
    this.#actions = fromText ? undefined : actions;
  }

  get match(): readonly MatchField[] {
    return matchFields(this.#match);
  }

  get actions(): readonly string[] {
    if (this.#actions) return this.#actions;
    const printed = this.text.slice(this.text.indexOf(' actions=') + ' actions='.length);
    return printed === 'drop' ? [] : printed.split(',');
  }
}

export function flow(spec: FlowSpec): Flow {
  const matchSpec = spec.match ?? {};
  const m = matchText(matchFields(matchSpec));
  const actions = spec.actions.length === 0 ? 'drop' : spec.actions.join(',');
  const tail = m === '' ? '' : `,${m}`;
  return new BuiltFlow(
    spec.cookie,
    spec.table,
    spec.priority,
    matchSpec,
    spec.actions,
    ['table=', spec.table, ',priority=', spec.priority, tail].join(''),
    [
      'cookie=',
      hex(spec.cookie),
      ', ',
      spec.table === 0 ? '' : `table=${spec.table}, `,
      'priority=',
      spec.priority,
      tail,
      ' actions=',
      actions,
    ].join(''),
  );
}

/** Actions, in print form. */
export const act = {
  output: (ofport: number) => `output:${ofport}`,
  inPort: 'IN_PORT',
  goto: (table: number) => `goto_table:${table}`,
  controller: 'CONTROLLER:65535',
  pushVlan: 'push_vlan:0x8100',
  popVlan: 'pop_vlan',
  /** OFPVID_PRESENT | vid, printed in decimal. */
  setVlanVid: (vid: number) => `set_field:${4096 + vid}->vlan_vid`,
  setMetadata: (value: bigint) => `set_field:${hex(value)}->metadata`,
  setReg: (reg: number, value: number) => `set_field:${hex(value)}->reg${reg}`,
  setXreg: (xreg: number, value: bigint) => `set_field:${hex(value)}->xreg${xreg}`,
  setTunId: (vni: number) => `set_field:${hex(vni)}->tun_id`,
  setTunDst: (ip: string) => `set_field:${ip}->tun_dst`,
  setEthSrc: (mac: string) => `set_field:${mac.toLowerCase()}->eth_src`,
  setArpOp: (op: number) => `set_field:${op}->arp_op`,
  setArpSha: (mac: string) => `set_field:${mac.toLowerCase()}->arp_sha`,
  setArpSpa: (ip: string) => `set_field:${ip}->arp_spa`,
  moveEthSrcToDst: 'move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[]',
  moveArpShaToTha: 'move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[]',
  moveArpSpaToTpa: 'move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[]',
} as const;

/** A flow as dumped by the switch: enough to compare it with a desired one and to delete it. */
export interface DumpedFlow {
  readonly cookie: bigint;
  readonly table: number;
  readonly priority: number;
  readonly key: string;
  readonly text: string;
}

/** Printed flow attributes that are not match fields. */
const notMatch = new Set([
  'cookie',
  'duration',
  'table',
  'n_packets',
  'n_bytes',
  'idle_timeout',
  'hard_timeout',
  'idle_age',
  'hard_age',
  'importance',
  'send_flow_rem',
  'reset_counts',
  'no_packet_counts',
  'no_byte_counts',
  'check_overlap',
  'priority',
]);

/** Parses one line of `dump-flows --no-stats`; undefined for a line that is not a flow. */
export function parseDumpedFlow(line: string): DumpedFlow | undefined {
  const text = line.trim();
  const at = text.indexOf(' actions=');
  if (at < 0) return undefined;
  let cookie = 0n;
  let table = 0;
  let priority = 32768;
  const match: string[] = [];
  // Attributes end with ", " or, for flags such as reset_counts, a bare space.
  for (const field of text.slice(0, at).split(/[\s,]+/)) {
    if (field === '') continue;
    const eq = field.indexOf('=');
    const name = eq < 0 ? field : field.slice(0, eq);
    const value = eq < 0 ? '' : field.slice(eq + 1);
    if (name === 'cookie') cookie = BigInt(value);
    else if (name === 'table') table = Number(value);
    else if (name === 'priority') priority = Number(value);
    else if (!notMatch.has(name)) match.push(field);
  }
  const m = match.join(',');
  return {
    cookie,
    table,
    priority,
    key: `table=${table},priority=${priority}${m === '' ? '' : `,${m}`}`,
    text,
  };
}

/** Parses a whole dump. */
export function parseDump(output: string): DumpedFlow[] {
  const flows: DumpedFlow[] = [];
  for (const line of output.split('\n')) {
    const parsed = parseDumpedFlow(line);
    if (parsed) flows.push(parsed);
  }
  return flows;
}
