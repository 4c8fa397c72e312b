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
 * applied), so it keeps only its cookie (the group's own bigint, shared by its flows), its key
 * (the string the tables are keyed by, shared with them) and its actions as printed (one flat
 * string): the canonical text, the match fields and the actions list are derived when asked —
 * the text when a flow is sent or compared with a dumped one, the rest only by tests. (Keeping
 * the text, the match spec and its bigints was ~250 bytes a flow more: ~2.7 MiB at 5,000 ports.)
 */
class BuiltFlow implements Flow {
  constructor(
    readonly cookie: bigint,
    readonly key: string,
    /** The actions as printed after ` actions=` (`drop` for none). */
    readonly printed: string,
  ) {}

  get table(): number {
    return Number(this.key.slice('table='.length, this.key.indexOf(',')));
  }

  get priority(): number {
    const at = this.key.indexOf(',priority=') + ',priority='.length;
    const end = this.key.indexOf(',', at);
    return Number(this.key.slice(at, end < 0 ? undefined : end));
  }

  get match(): readonly MatchField[] {
    // key = table=…,priority=…[,name[=value]…]: no match value holds a comma.
    return this.key
      .split(',')
      .slice(2)
      .map((field): MatchField => {
        const eq = field.indexOf('=');
        return eq < 0 ? [field, ''] : [field.slice(0, eq), field.slice(eq + 1)];
      });
  }

  get actions(): readonly string[] {
    return this.printed === 'drop' ? [] : this.printed.split(',');
  }

  get text(): string {
    const comma = this.key.indexOf(',');
    // `table=0` is not printed; the rest of the key is the text's own table/priority/match.
    const table = this.key.startsWith('table=0,') ? '' : `${this.key.slice(0, comma)}, `;
    return `cookie=${hex(this.cookie)}, ${table}${this.key.slice(comma + 1)} actions=${this.printed}`;
  }
}

/** A flow whose actions cannot be read back from their printed form (one holds a comma). */
class ListedFlow extends BuiltFlow {
  readonly #actions: readonly string[];

  constructor(cookie: bigint, key: string, printed: string, actions: readonly string[]) {
    super(cookie, key, printed);
    this.#actions = actions;
  }

  override get actions(): readonly string[] {
    return this.#actions;
  }
}

export function flow(spec: FlowSpec): Flow {
  const m = matchText(matchFields(spec.match ?? {}));
  const printed = spec.actions.length === 0 ? 'drop' : spec.actions.join(',');
  // Joined, not a template literal: a flat string, not a tree of its pieces.
  const key = ['table=', spec.table, ',priority=', spec.priority, m === '' ? '' : ',', m].join('');
  const readable =
    spec.actions.length === 0 ||
    spec.actions.every((a) => a !== '' && a !== 'drop' && !a.includes(','));
  return readable
    ? new BuiltFlow(spec.cookie, key, printed)
    : new ListedFlow(spec.cookie, key, printed, spec.actions);
}

/**
 * Whether two flows print the same text, without printing built ones: the same key, cookie and
 * actions (a built flow's text is made of nothing else).
 */
export function sameFlow(a: { readonly text: string }, b: { readonly text: string }): boolean {
  if (a === b) return true;
  if (a instanceof BuiltFlow && b instanceof BuiltFlow)
    return a.key === b.key && a.cookie === b.cookie && a.printed === b.printed;
  return a.text === b.text;
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
